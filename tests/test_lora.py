"""LoRA from scratch: identical at init, merge/unmerge as peft (warnings included), merge_and_unload, equal to peft
on the same weights, what trains, one step leaves the base as it was, dropout, save/load, bad input."""

import copy

import pytest
import torch
from torch import nn

from course_lib.nn.classic import LeNet5, TextClassifier
from course_lib.nn.encoder import TransformerClassifier, TransformerConfig
from course_lib.nn.lora import (
    LinearWithLoRA,
    apply_lora,
    load_lora,
    lora_layers,
    merge_and_unload,
    merge_lora,
    save_lora,
    unmerge_lora,
)


def text_classifier():
    torch.manual_seed(0)
    return TextClassifier(torch.randn(30, 10), num_labels=4, hidden=12)


def tiny_encoder():
    torch.manual_seed(0)
    cfg = TransformerConfig(num_labels=2, nhead=2, dim_feedforward=16, max_len=16, dropout=0.0,
                            classifier_dropout=0.0)
    return TransformerClassifier(torch.randn(20, 8), cfg)


def ids(vocab=20):
    x = torch.randint(2, vocab, (4, 6), generator=torch.Generator().manual_seed(1))
    x[0, 4:] = 1  # padding
    return x


def randomise(model):
    g = torch.Generator().manual_seed(3)
    for layer in lora_layers(model).values():
        layer.lora_A.weight.data = torch.randn(layer.lora_A.weight.shape, generator=g)
        layer.lora_B.weight.data = torch.randn(layer.lora_B.weight.shape, generator=g)


def test_wrapped_model_equals_base_exactly_at_init():
    base = text_classifier()
    model = copy.deepcopy(base)
    apply_lora(model, "fc1", r=2, lora_alpha=4)
    assert torch.equal(model(ids(30)), base(ids(30)))
    layer = model.fc1
    assert layer.scaling == 2.0 and layer.lora_alpha == 4 and torch.count_nonzero(layer.lora_B.weight) == 0
    assert layer.lora_A.weight.shape == (2, 10) and layer.lora_B.weight.shape == (12, 2)
    assert (layer.in_features, layer.out_features) == (10, 12)


def test_merge_equals_unmerged_and_unmerge_restores_weights():
    model = text_classifier()
    apply_lora(model, ["fc1", "fc2"], r=3, lora_alpha=6)
    randomise(model)
    w0 = model.fc1.base_layer.weight.detach().clone()
    unmerged = model(ids(30)).detach()
    merge_lora(model)
    assert model.fc1.merged and not torch.allclose(model.fc1.base_layer.weight, w0, atol=1e-3)
    assert torch.allclose(model(ids(30)), unmerged, atol=1e-5)
    unmerge_lora(model)
    assert not model.fc1.merged
    assert torch.allclose(model.fc1.base_layer.weight, w0, atol=1e-6)
    assert torch.allclose(model(ids(30)), unmerged, atol=1e-5)
    assert torch.linalg.matrix_rank(model.fc1.get_delta_weight()) <= 3


def peft_warning(method: str, merged_first: bool) -> str:
    """The warning peft's own LoRA layer gives for a repeated merge() / unmerge()."""
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(text_classifier(), LoraConfig(r=2, lora_alpha=4, target_modules=["fc1"]))
    layer = model.base_model.model.fc1
    if merged_first:
        layer.merge()
    with pytest.warns(UserWarning) as record:
        getattr(layer, method)()
    return str(record[0].message)


def test_second_merge_or_unmerge_warns_and_does_nothing_as_in_peft():
    layer = LinearWithLoRA(nn.Linear(5, 4), r=2, lora_alpha=4)
    nn.init.normal_(layer.lora_B.weight)
    w0 = layer.base_layer.weight.detach().clone()
    with pytest.warns(UserWarning) as record:
        layer.unmerge()  # never merged
    assert str(record[0].message) == peft_warning("unmerge", merged_first=False)
    assert torch.equal(layer.base_layer.weight, w0) and not layer.merged
    layer.merge()
    merged = layer.base_layer.weight.detach().clone()
    with pytest.warns(UserWarning) as record:
        layer.merge()  # would add the update a second time
    assert str(record[0].message) == peft_warning("merge", merged_first=True)
    assert torch.equal(layer.base_layer.weight, merged) and layer.merged
    layer.unmerge()
    assert torch.allclose(layer.base_layer.weight, w0, atol=1e-6)


def test_merge_and_unload_equals_the_wrapped_model_with_plain_linear_layers():
    base = tiny_encoder().eval()
    wrapped = copy.deepcopy(base)
    names = apply_lora(wrapped, ["linear1", "linear2"], r=2, lora_alpha=4, modules_to_save="classifier")
    randomise(wrapped)
    with torch.no_grad():
        expected = wrapped(ids())
        unloaded = merge_and_unload(wrapped)
        got = unloaded(ids())
    assert torch.allclose(got, expected, atol=1e-5)
    assert not torch.allclose(got, base(ids()), atol=1e-3)  # the update is really in the weights
    assert all(type(unloaded.get_submodule(n)) is nn.Linear for n in names) and not lora_layers(unloaded)
    assert all(not m._forward_pre_hooks for m in unloaded.modules())  # no hook left: the fused fast path is back
    assert list(unloaded.state_dict()) == list(base.state_dict())  # the original architecture, key for key


def copy_into_peft(ours, peft_model):
    for name, layer in lora_layers(ours).items():
        target = peft_model.base_model.model.get_submodule(name)
        target.lora_A["default"].weight.data.copy_(layer.lora_A.weight)
        target.lora_B["default"].weight.data.copy_(layer.lora_B.weight)
        assert target.scaling["default"] == layer.scaling


@pytest.mark.parametrize("make, targets, vocab", [(text_classifier, ["fc1"], 30),
                                                  (tiny_encoder, ["linear1", "linear2"], 20)])
def test_equal_to_peft_on_the_same_weights(make, targets, vocab):
    from peft import LoraConfig, get_peft_model

    base = make()
    ours = copy.deepcopy(base)
    apply_lora(ours, targets, r=2, lora_alpha=5)
    randomise(ours)
    theirs = get_peft_model(copy.deepcopy(base), LoraConfig(r=2, lora_alpha=5, target_modules=targets))
    copy_into_peft(ours, theirs)
    ours.eval(), theirs.eval()
    # peft exposes the *base* weight as `weight`; nn.TransformerEncoderLayer's fused eval fast path reads it and
    # skips the LoRA branch, so compare on the Python path (our wrapper forces it on its own, see lora.py)
    previous = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad():
            expected = theirs(ids(vocab))
            got = ours(ids(vocab))
    finally:
        torch.backends.mha.set_fastpath_enabled(previous)
    assert torch.allclose(got, expected, atol=1e-5)
    with torch.no_grad():  # and ours gives the same with the fast path left on
        assert torch.allclose(ours(ids(vocab)), expected, atol=1e-5)
    # merge_and_unload gives the same weights as peft's
    ours_unloaded, theirs_unloaded = merge_and_unload(ours).state_dict(), theirs.merge_and_unload().state_dict()
    assert ours_unloaded.keys() == theirs_unloaded.keys()
    assert all(torch.allclose(ours_unloaded[k], theirs_unloaded[k], atol=1e-6) for k in ours_unloaded)


def test_only_lora_weights_and_head_require_grad():
    model = text_classifier()
    model.fc2 = nn.Linear(12, 2)
    apply_lora(model, "fc1", r=2, lora_alpha=1, modules_to_save="fc2")
    trainable = sorted(n for n, p in model.named_parameters() if p.requires_grad)
    assert trainable == ["fc1.lora_A.weight", "fc1.lora_B.weight", "fc2.bias", "fc2.weight"]
    encoder = tiny_encoder()
    apply_lora(encoder, ["linear1", "linear2"], r=2, lora_alpha=1, modules_to_save="classifier")
    trainable = [n for n, p in encoder.named_parameters() if p.requires_grad]
    assert all(".lora_" in n or n.startswith("classifier.") for n in trainable) and len(trainable) == 10
    with pytest.raises(ValueError, match="already a LinearWithLoRA"):  # not wrapped twice
        apply_lora(encoder, "linear1", r=2, lora_alpha=1)


def test_one_optimiser_step_leaves_the_base_weights_bit_for_bit_unchanged():
    model = tiny_encoder()
    apply_lora(model, ["linear1", "linear2"], r=2, lora_alpha=4, modules_to_save="classifier")
    randomise(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    # every parameter goes to the optimiser (with weight decay): only requires_grad keeps the base still
    optimiser = torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.1)
    nn.functional.cross_entropy(model(ids()), torch.tensor([0, 1, 0, 1])).backward()
    optimiser.step()
    after = model.state_dict()
    trained = {k for k in after if ".lora_" in k or k.startswith("classifier.")}
    assert all(torch.equal(after[k], before[k]) for k in after if k not in trained)
    assert all(not torch.equal(after[k], before[k]) for k in trained)


def test_lora_dropout_acts_on_the_lora_branch_only_and_in_training_only():
    torch.manual_seed(0)
    net = LeNet5(5)
    base = copy.deepcopy(net)
    apply_lora(net, "fc2", r=2, lora_alpha=4, lora_dropout=0.5, modules_to_save="fc3")
    x = torch.randn(2, 1, 32, 32)
    net.train()
    assert torch.equal(net(x), base(x))  # B = 0: whatever dropout drops, the base output comes through whole
    randomise(net)
    first = net(x)
    assert not torch.allclose(first, net(x))  # random masks on the LoRA input
    net.eval()
    merged = merge_lora(copy.deepcopy(net))  # the merged layer has no LoRA branch, so no dropout at all
    with torch.no_grad():
        assert torch.allclose(net(x), merged(x), atol=1e-5)  # eval: no dropout, the full update
    with pytest.raises(ValueError, match="lora_dropout"):
        LinearWithLoRA(nn.Linear(3, 4), lora_dropout=1.0)


@pytest.mark.parametrize("kwargs, match", [({"r": 0}, "rank"), ({"r": -2}, "rank"), ({"r": 1.5}, "rank"),
                                           ({"lora_alpha": 0}, "lora_alpha"), ({"lora_alpha": -1.0}, "lora_alpha")])
def test_bad_rank_or_alpha_is_a_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LinearWithLoRA(nn.Linear(3, 4), **kwargs)
    with pytest.raises(ValueError, match=match):
        apply_lora(text_classifier(), "fc1", **kwargs)


def test_wrapping_a_non_linear_or_nothing_is_a_clear_error():
    with pytest.raises(TypeError, match="LinearWithLoRA wraps an nn.Linear, got Conv2d"):
        LinearWithLoRA(nn.Conv2d(1, 6, 5))
    with pytest.raises(TypeError, match=r"nn.Linear layers only; target_modules matched \['conv1 \(Conv2d\)'\]"):
        apply_lora(LeNet5(), "conv1")
    with pytest.raises(ValueError, match="no module"):
        apply_lora(LeNet5(), "fc9")


def test_save_only_lora_and_head_then_rebuild_on_the_base(tmp_path):
    base = text_classifier()
    model = copy.deepcopy(base)
    model.fc2 = nn.Linear(12, 2)
    apply_lora(model, "fc1", r=2, lora_alpha=0.5, modules_to_save="fc2")
    randomise(model)
    path = save_lora(model, tmp_path / "lora.safetensors", modules_to_save="fc2")
    from safetensors.torch import load_file

    assert sorted(load_file(str(path))) == ["fc1.lora_A.weight", "fc1.lora_B.weight", "fc2.bias", "fc2.weight"]
    fresh = copy.deepcopy(base)
    fresh.fc2 = nn.Linear(12, 2)
    load_lora(fresh, path)
    assert (fresh.fc1.r, fresh.fc1.lora_alpha, fresh.fc1.scaling) == (2, 0.5, 0.25)
    assert torch.equal(fresh(ids(30)), model(ids(30)))
    trainable = lambda m: sorted(n for n, p in m.named_parameters() if p.requires_grad)  # noqa: E731
    assert trainable(fresh) == trainable(model) == ["fc1.lora_A.weight", "fc1.lora_B.weight", "fc2.bias", "fc2.weight"]
    with pytest.raises(ValueError, match="no LoRA layers"):
        save_lora(base, tmp_path / "none.safetensors")
