"""Adapters: identity at init, frozen base, one step leaves the base as it was, bad input, the encoder fast path,
save/load round trip."""

import copy

import pytest
import torch
from torch import nn

from course_lib.nn.adapters import FeatureAdapter, LinearWithAdapter, add_adapters, load_adapters, save_adapters
from course_lib.nn.encoder import TransformerClassifier, TransformerConfig
from course_lib.nn.params import count_parameters


def tiny_encoder(dropout=0.0):
    torch.manual_seed(0)
    cfg = TransformerConfig(num_labels=2, nhead=2, dim_feedforward=16, max_len=16, dropout=dropout,
                            classifier_dropout=dropout)
    return TransformerClassifier(torch.randn(20, 8), cfg)


def batch():
    ids = torch.randint(2, 20, (3, 7), generator=torch.Generator().manual_seed(1))
    ids[0, 5:] = 1  # padding
    return ids


def randomise_adapters(model):
    g = torch.Generator().manual_seed(2)
    for m in model.modules():
        if isinstance(m, FeatureAdapter):
            m.up.weight.data = torch.randn(m.up.weight.shape, generator=g)


def test_feature_adapter_is_the_identity_at_init_then_a_residual_bottleneck():
    adapter = FeatureAdapter(10, 3)
    x = torch.randn(4, 5, 10)
    assert torch.equal(adapter(x), x)  # zero up-projection: starts as the identity
    assert sum(p.numel() for p in adapter.parameters()) == 10 * 3 + 3 + 3 * 10 + 10
    nn.init.normal_(adapter.up.weight)
    expected = x + torch.relu(x @ adapter.down.weight.T + adapter.down.bias) @ adapter.up.weight.T + adapter.up.bias
    assert torch.allclose(adapter(x), expected, atol=1e-6)


def test_linear_with_adapter_freezes_base_and_defaults_to_half_width():
    layer = nn.Linear(6, 8)
    wrapped = LinearWithAdapter(layer)
    assert wrapped.adapter.bottleneck_size == 4
    assert not any(p.requires_grad for p in wrapped.base_layer.parameters())
    assert all(p.requires_grad for p in wrapped.adapter.parameters())
    x = torch.randn(2, 6)
    assert torch.equal(wrapped(x), layer(x))
    assert (wrapped.in_features, wrapped.out_features) == (6, 8)


@pytest.mark.parametrize("size", [0, -1, 9])
def test_bad_bottleneck_is_a_clear_error(size):
    with pytest.raises(ValueError, match="bottleneck_size"):
        LinearWithAdapter(nn.Linear(6, 8), bottleneck_size=size)


def test_wrapping_a_non_linear_is_a_clear_error():
    with pytest.raises(TypeError, match="LinearWithAdapter wraps an nn.Linear, got Conv2d"):
        LinearWithAdapter(nn.Conv2d(1, 2, 3))
    with pytest.raises(ValueError, match="no module"):
        add_adapters(tiny_encoder(), ["nonexistent"])


def test_add_adapters_to_encoder_trains_only_adapters_and_head():
    model = tiny_encoder()
    names = add_adapters(model, ["linear1", "linear2"], bottleneck_size=4, modules_to_save=["classifier"])
    assert len(names) == 4
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".adapter." in n or n.startswith("classifier.") for n in trainable)
    assert count_parameters(model)[0] == 2 * ((16 * 4 + 4 + 4 * 16 + 16) + (8 * 4 + 4 + 4 * 8 + 8)) + 8 * 2 + 2


def test_one_optimiser_step_leaves_the_base_weights_bit_for_bit_unchanged():
    model = tiny_encoder()
    add_adapters(model, ["linear1", "linear2"], bottleneck_size=4, modules_to_save=["classifier"])
    randomise_adapters(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    # every parameter goes to the optimiser (with weight decay): only requires_grad keeps the base still
    optimiser = torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.1)
    nn.functional.cross_entropy(model(batch()), torch.tensor([0, 1, 0])).backward()
    optimiser.step()
    after = model.state_dict()
    trained = {k for k in after if ".adapter." in k or k.startswith("classifier.")}
    assert len(trained) == 4 * 4 + 2
    assert all(torch.equal(after[k], before[k]) for k in after if k not in trained)
    assert all(not torch.equal(after[k], before[k]) for k in trained)


def test_eval_fast_path_does_not_skip_the_adapters():
    model = tiny_encoder(dropout=0.0)
    reference = copy.deepcopy(model)
    add_adapters(model, ["linear1", "linear2"], bottleneck_size=4)
    randomise_adapters(model)
    ids = batch()
    model.train()  # the Python path; dropout is 0, so train and eval must agree
    expected = model(ids).detach()
    model.eval()
    with torch.no_grad():  # the conditions under which PyTorch would take its fused fast path
        got = model(ids)
        base = reference.eval()(ids)
    assert torch.allclose(got, expected, atol=1e-6)
    assert not torch.allclose(got, base, atol=1e-3)  # the adapters really change the output


def test_save_and_load_adapters_onto_fresh_base_gives_identical_predictions(tmp_path):
    base = tiny_encoder()
    model = copy.deepcopy(base)
    model.replace_head(3)
    add_adapters(model, ["linear1", "linear2"], bottleneck_size=4, modules_to_save=["classifier"])
    randomise_adapters(model)
    path = save_adapters(model, tmp_path / "adapters.safetensors", modules_to_save=["classifier"])
    fresh = copy.deepcopy(base)
    fresh.replace_head(3)
    load_adapters(fresh, path)
    model.eval(), fresh.eval()
    with torch.no_grad():
        assert torch.equal(model(batch()), fresh(batch()))
    from safetensors.torch import load_file

    keys = load_file(str(path))
    assert all(".adapter." in k or k.startswith("classifier.") for k in keys)
    assert sum(v.numel() for v in keys.values()) == count_parameters(model)[0]
    trainable = lambda m: sorted(n for n, p in m.named_parameters() if p.requires_grad)  # noqa: E731
    assert trainable(fresh) == trainable(model) and all(".adapter." in n or n.startswith("classifier.")
                                                        for n in trainable(fresh))
