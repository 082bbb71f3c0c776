"""course_lib.experiments.pretrained on a tiny BERT saved here: strategies, frozen parts in eval mode, LoRA = peft."""

import pytest
import torch

from course_lib.experiments import pretrained as P
from course_lib.nn.adapters import LinearWithAdapter
from course_lib.nn.lora import LinearWithLoRA
from course_lib.train.classifier import feature_loader, head_inputs, train_mode


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    from transformers import BertConfig, BertModel

    torch.manual_seed(123)  # not the strategies' seed: 'scratch' must not rebuild the checkpoint by chance
    cfg = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=32,
                     max_position_embeddings=32)
    path = tmp_path_factory.mktemp("tiny-bert")
    BertModel(cfg).save_pretrained(path)
    return str(path)


def batch(n=4, t=7):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 50, (n, t), generator=g)
    mask = torch.ones(n, t, dtype=torch.long)
    mask[0, 4:] = 0
    return ids, mask


def trainable(model):
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_each_strategy_trains_exactly_its_part(tiny_bert):
    cfg = P.PretrainedConfig(unfreeze_top=1, adapter_bottleneck=4, lora_r=2)
    full = P.build("full_finetune", tiny_bert, 2, cfg)
    assert trainable(full) == {n for n, _ in full.named_parameters()}
    probe = P.build("linear_probe", tiny_bert, 2, cfg)
    assert trainable(probe) == {"classifier.weight", "classifier.bias"}
    partial = P.build("partial_unfreeze", tiny_bert, 2, cfg)
    assert all(n.startswith(("encoder.encoder.layer.2.", "classifier.")) for n in trainable(partial))
    assert any(n.startswith("encoder.encoder.layer.2.") for n in trainable(partial))
    adapters = P.build("adapters", tiny_bert, 2, cfg)
    wrapped = [n for n, m in adapters.named_modules() if isinstance(m, LinearWithAdapter)]
    assert len(wrapped) == 6  # attention.output.dense and output.dense in each of 3 layers
    lora = P.build("lora", tiny_bert, 2, cfg)
    assert sorted(n.rsplit(".", 2)[-1] for n, m in lora.named_modules() if isinstance(m, LinearWithLoRA)) == \
        ["query"] * 3 + ["value"] * 3
    with pytest.raises(ValueError, match="Unknown strategy"):
        P.build("nope", tiny_bert, 2, cfg)


def test_pretrained_strategies_start_from_the_checkpoint_and_scratch_does_not(tiny_bert):
    full, scratch = P.build("full_finetune", tiny_bert, 2), P.build("scratch", tiny_bert, 2)
    w = "encoder.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(full.state_dict()[w], scratch.state_dict()[w])
    again = P.build("full_finetune", tiny_bert, 2)
    assert torch.equal(full.state_dict()[w], again.state_dict()[w])
    assert torch.equal(full.classifier.weight, P.build("lora", tiny_bert, 2).classifier.weight)  # same head start


def test_adapters_and_lora_start_equal_to_the_pretrained_model(tiny_bert):
    ids, mask = batch()
    outs = {}
    for name in ("full_finetune", "adapters", "lora"):
        model = P.build(name, tiny_bert, 2).eval()
        outs[name] = model(ids, mask)
    torch.testing.assert_close(outs["adapters"], outs["full_finetune"])
    torch.testing.assert_close(outs["lora"], outs["full_finetune"])


def test_frozen_modules_run_in_eval_mode(tiny_bert):
    probe = train_mode(P.build("linear_probe", tiny_bert, 2))
    assert not probe.encoder.training and probe.classifier.training
    ids, mask = batch()
    torch.testing.assert_close(probe.encoder(input_ids=ids, attention_mask=mask).last_hidden_state,
                               probe.encoder(input_ids=ids, attention_mask=mask).last_hidden_state)  # no dropout
    full = train_mode(P.build("full_finetune", tiny_bert, 2))
    assert all(m.training for m in full.modules())
    partial = train_mode(P.build("partial_unfreeze", tiny_bert, 2, P.PretrainedConfig(unfreeze_top=1)))
    assert not partial.encoder.embeddings.training and partial.encoder.encoder.layer[2].training


def test_probe_features_are_the_heads_inputs_in_eval_mode(tiny_bert):
    model = P.build("linear_probe", tiny_bert, 2)
    ids, mask = batch()
    loader = [{"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 1, 0, 1])}]
    x, y = head_inputs(model, loader)
    assert x.shape == (4, 16) and y.tolist() == [0, 1, 0, 1] and model.training  # the mode is restored
    model.eval()
    torch.testing.assert_close(model.classifier(x), model(ids, mask))
    b = next(iter(feature_loader(x, y, 2, shuffle=False)))
    assert b["features"].shape == (2, 16) and b["labels"].tolist() == [0, 1]


def test_the_course_lora_on_a_bert_equals_peft(tiny_bert):
    """The course's LoRA on MiniLM's attention (query, value) computes what peft's LoRA computes."""
    from peft import LoraConfig, get_peft_model

    ids, mask = batch()
    ours = P.build("lora", tiny_bert, 2, P.PretrainedConfig(lora_r=2, lora_alpha=4.0)).eval()
    theirs = get_peft_model(P.build("full_finetune", tiny_bert, 2),
                            LoraConfig(r=2, lora_alpha=4.0, target_modules=["query", "value"], lora_dropout=0.0,
                                       modules_to_save=["classifier"])).eval()
    torch.manual_seed(3)
    ours_state = {}
    for name, module in ours.named_modules():
        if isinstance(module, LinearWithLoRA):
            module.lora_B.weight.data.normal_()  # a trained-looking update (B starts at zero in both)
            ours_state[name] = (module.lora_A.weight.data.clone(), module.lora_B.weight.data.clone())
    with torch.no_grad():
        for name, module in theirs.named_modules():
            short = name.replace("base_model.model.", "")
            if short in ours_state and hasattr(module, "lora_A"):
                a, b = ours_state[short]
                module.lora_A["default"].weight.copy_(a)
                module.lora_B["default"].weight.copy_(b)
        theirs.base_model.model.classifier.modules_to_save["default"].load_state_dict(ours.classifier.state_dict())
    assert len(ours_state) == 6
    torch.testing.assert_close(ours(ids, mask), theirs(ids, mask), atol=1e-5, rtol=1e-5)


def test_epoch_cap_gives_tiny_budgets_enough_steps():
    cfg = P.PretrainedConfig(batch_size=16, max_epochs=20, min_steps=150)
    assert P.epochs_for(80, cfg) == 30 and P.epochs_for(1600, cfg) == 20
