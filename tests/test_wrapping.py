"""What adapters and LoRA share (course_lib.nn.wrapping): a failed wrap or load leaves the model as it was, layers that
their parent reads instead of calling are refused, nested ``modules_to_save`` are saved and trained whole."""

import copy

import pytest
import torch
from torch import nn

from course_lib.nn.adapters import LinearWithAdapter, add_adapters, load_adapters, save_adapters
from course_lib.nn.classic import TextClassifier
from course_lib.nn.encoder import TransformerClassifier, TransformerConfig
from course_lib.nn.lora import LinearWithLoRA, apply_lora, load_lora, save_lora
from course_lib.nn.wrapping import wrap_linear_layers

WRAPPERS = {  # name: (wrap by name, save, load)
    "lora": (lambda model, targets, **kw: apply_lora(model, targets, r=2, lora_alpha=4, **kw), save_lora, load_lora),
    "adapters": (lambda model, targets, **kw: add_adapters(model, targets, bottleneck_size=4, **kw), save_adapters,
                 load_adapters),
}


def tiny_encoder():
    torch.manual_seed(0)
    cfg = TransformerConfig(num_labels=2, nhead=2, dim_feedforward=16, max_len=16, dropout=0.0,
                            classifier_dropout=0.0)
    return TransformerClassifier(torch.randn(20, 8), cfg)


def ids():
    return torch.randint(2, 20, (3, 6), generator=torch.Generator().manual_seed(1))


def snapshot(model):
    """Everything a wrap could change: which module sits where, the tensors, requires_grad, hooks."""
    return ({n: id(m) for n, m in model.named_modules()}, {k: v.clone() for k, v in model.state_dict().items()},
            {n: p.requires_grad for n, p in model.named_parameters()},
            [n for n, m in model.named_modules() if m._forward_pre_hooks])


def assert_untouched(model, before):
    modules, state, flags, hooks = snapshot(model)
    assert modules == before[0] and flags == before[2] and hooks == before[3]
    assert state.keys() == before[1].keys() and all(torch.equal(state[k], before[1][k]) for k in state)


def half_frozen(model):
    """A model whose requires_grad flags differ from what any wrap would leave, so a change would show."""
    for i, p in enumerate(model.parameters()):
        p.requires_grad = i % 2 == 0
    return model


@pytest.mark.parametrize("kind", WRAPPERS)
@pytest.mark.parametrize("targets, error, match", [
    (["linear1", "self_attn"], TypeError, r"self_attn \(MultiheadAttention\)"),
    (["linear1", "out_proj"], ValueError, r"layers\.0\.self_attn\.out_proj.*F\.multi_head_attention_forward"),
])
def test_a_refused_wrap_names_the_layer_and_leaves_the_model_untouched(kind, targets, error, match):
    wrap = WRAPPERS[kind][0]
    model = half_frozen(tiny_encoder())
    before = snapshot(model)
    with pytest.raises(error, match=match):
        wrap(model, targets, modules_to_save="classifier")
    assert_untouched(model, before)


def test_a_wrapper_that_fails_midway_leaves_the_model_untouched():
    model = half_frozen(tiny_encoder())
    before = snapshot(model)
    with pytest.raises(ValueError, match="bottleneck_size"):  # fits linear1 (16 wide), not linear2 (8 wide)
        add_adapters(model, ["linear1", "linear2"], bottleneck_size=12)
    assert_untouched(model, before)
    built = []

    def wrap(layer):  # the first wrappers are built (and freeze their base layers) before the third one fails
        if len(built) == 2:
            raise RuntimeError("out of memory")
        built.append(LinearWithLoRA(layer, r=2))
        return built[-1]

    with pytest.raises(RuntimeError, match="out of memory"):
        wrap_linear_layers(model, ["linear1", "linear2"], wrap, LinearWithLoRA)
    assert len(built) == 2
    assert_untouched(model, before)


def test_multihead_attention_never_calls_out_proj():
    """Why out_proj is refused: peft's wrapper there is silently skipped, ours would break the attention."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("attn", nn.MultiheadAttention(8, 2, batch_first=True))
    x = torch.randn(2, 5, 8)
    base = model.attn(x, x, x)[0]
    theirs = get_peft_model(copy.deepcopy(model), LoraConfig(r=2, lora_alpha=4, target_modules=["out_proj"]))
    nn.init.normal_(theirs.base_model.model.attn.out_proj.lora_B["default"].weight)
    assert torch.allclose(theirs.base_model.model.attn(x, x, x)[0], base, atol=1e-6)  # the update never runs
    model.attn.out_proj = LinearWithLoRA(model.attn.out_proj, r=2)
    with pytest.raises(AttributeError, match="weight"):
        model.attn(x, x, x)


@pytest.mark.parametrize("kind", WRAPPERS)
def test_a_load_onto_the_wrong_head_is_refused_and_leaves_the_model_untouched(kind, tmp_path):
    wrap, save, load = WRAPPERS[kind]
    model = tiny_encoder()
    model.replace_head(3)
    wrap(model, ["linear1", "linear2"], modules_to_save="classifier")
    path = save(model, tmp_path / "wrapped.safetensors", modules_to_save="classifier")
    fresh = half_frozen(tiny_encoder())  # still the 2-class head
    before = snapshot(fresh)
    with pytest.raises(ValueError, match=r"shape mismatch for 'classifier\.(weight|bias)'.*saved head size"):
        load(fresh, path)
    assert_untouched(fresh, before)


@pytest.mark.parametrize("kind", WRAPPERS)
def test_a_nested_module_to_save_is_saved_and_trained_whole(kind, tmp_path):
    wrap, save, load = WRAPPERS[kind]
    torch.manual_seed(0)
    base = TextClassifier(torch.randn(30, 10), num_labels=4, hidden=12)
    base.fc2 = nn.Sequential(nn.Linear(12, 6), nn.ReLU(), nn.Linear(6, 2))  # a two-layer head
    model = copy.deepcopy(base)
    wrap(model, "fc1", modules_to_save="fc2")
    head = ["fc2.0.bias", "fc2.0.weight", "fc2.2.bias", "fc2.2.weight"]
    assert sorted(n for n, p in model.named_parameters() if p.requires_grad and n.startswith("fc2.")) == head
    with torch.no_grad():
        for p in model.fc2.parameters():
            p.add_(1.0)  # "trained"
    from safetensors.torch import load_file

    saved = sorted(load_file(str(save(model, tmp_path / "w.safetensors", modules_to_save="fc2"))))
    assert [k for k in saved if k.startswith("fc2.")] == head
    assert all(".base_layer." not in k for k in saved)  # the frozen base is shared, never stored again
    fresh = load(copy.deepcopy(base), tmp_path / "w.safetensors")
    x = torch.tensor([[3, 4, 5], [6, 7, 1]])
    assert torch.equal(fresh(x), model(x))
    assert isinstance(fresh.fc1, LinearWithLoRA if kind == "lora" else LinearWithAdapter)
