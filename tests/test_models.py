import pytest
import torch

from course_lib.nn.classic import LeNet5, TextClassifier
from course_lib.nn.encoder import PositionalEncoding, TransformerClassifier, TransformerConfig
from course_lib.nn.params import count_parameters, freeze
from course_lib.train.classifier import load_weights, save_weights

V, D = 50, 8


def tiny(num_labels=2, **kw):
    torch.manual_seed(0)
    emb = torch.randn(V, D)
    return TransformerClassifier(emb, TransformerConfig(num_labels=num_labels, dim_feedforward=16, max_len=32,
                                                        **kw), pad_index=1).eval()


def test_positional_encoding_values_and_bound():
    pe = PositionalEncoding(4, max_len=10, dropout=0.0)
    out = pe(torch.zeros(1, 3, 4))
    assert torch.allclose(out[0, 0], torch.tensor([0.0, 1.0, 0.0, 1.0]))
    assert torch.allclose(out[0, 2, 0], torch.sin(torch.tensor(2.0)))
    assert pe.pe.numel() == 10 * 4  # sized by max_len, never by the vocabulary
    with pytest.raises(ValueError, match="exceeds the positional table"):
        pe(torch.zeros(1, 11, 4))


def test_padding_does_not_change_the_prediction():
    model = tiny()
    ids = torch.tensor([[5, 6, 7]])
    padded = torch.tensor([[5, 6, 7, 1, 1, 1]])
    assert torch.allclose(model(ids), model(padded), atol=1e-5)


def test_examples_of_a_batch_do_not_mix():
    # the source's batch_first=False bug made each review attend to the other reviews of its batch
    model = tiny()
    a = torch.tensor([[5, 6, 7, 8]])
    b = torch.tensor([[9, 10, 11, 12]])
    c = torch.tensor([[13, 14, 15, 16]])
    assert torch.allclose(model(torch.cat([a, b]))[0], model(torch.cat([a, c]))[0], atol=1e-5)


def test_freeze_strategies_count_parameters():
    model = tiny()
    trainable, total = count_parameters(model)
    assert trainable == total - V * D  # word vectors are frozen
    freeze(model, except_=("classifier",))
    assert count_parameters(model)[0] == D * 2 + 2
    freeze(model, except_=("linear2", "classifier"))
    assert count_parameters(model)[0] == 2 * (16 * D + D) + D * 2 + 2


def test_loading_4_class_checkpoint_into_2_class_model_explains_the_head(tmp_path):
    path = save_weights(tiny(num_labels=4), tmp_path / "news.safetensors")
    with pytest.raises(ValueError, match="head has 4 outputs but the model's has 2.*replace_head"):
        load_weights(tiny(num_labels=2), path)
    model = load_weights(tiny(num_labels=4), path)
    model.replace_head(2)
    assert model(torch.tensor([[5, 6]])).shape == (1, 2)


def test_text_classifier_averages_the_word_vectors_without_padding():
    torch.manual_seed(0)
    emb = torch.randn(V, D)
    clf = TextClassifier(emb, num_labels=3, hidden=16)
    expected = clf.fc2(torch.relu(clf.fc1(emb[[5, 6]].mean(0, keepdim=True))))
    assert torch.allclose(clf(torch.tensor([[5, 6]])), expected, atol=1e-6)
    # padding is left out of the embedding-bag mean
    assert torch.allclose(clf(torch.tensor([[5, 6, 1, 1]])), expected, atol=1e-6)


def test_lenet5_has_lenet5s_layers_and_needs_32x32_inputs():
    net = LeNet5(10)
    # LeCun et al. (1998): C1 156, C3 2,416, C5 48,120, F6 10,164 and an 850-weight output layer (84 -> 10)
    assert [sum(p.numel() for p in m.parameters()) for m in (net.conv1, net.conv2, net.fc1, net.fc2, net.fc3)] == [
        156, 2416, 48120, 10164, 850]
    assert net(torch.zeros(2, 1, 32, 32)).shape == (2, 10)
    with pytest.raises(RuntimeError):  # 28x28 MNIST must be padded or resized to 32x32 first
        net(torch.zeros(2, 1, 28, 28))


def test_load_weights_strict_rejects_unknown_tensors_and_accepts_partial_checkpoints(tmp_path):
    from safetensors.torch import save_file

    source, target = tiny(), tiny(dropout=0.0)
    with torch.no_grad():
        for p in source.parameters():
            p.add_(1.0)
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    extra = tmp_path / "extra.safetensors"
    save_file({**state, "adapter.weight": torch.zeros(2)}, str(extra))
    with pytest.raises(ValueError, match=r"unexpected keys \['adapter.weight'\]"):
        load_weights(target, extra)  # strict by default
    loaded = load_weights(target, extra, strict=False)  # the unknown tensor is ignored, the rest loads
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in state.items())
    # a checkpoint of some tensors only (e.g. save_weights(..., names=<the trainable ones>)) loads even when strict,
    # and leaves the other weights as they were
    freeze(source, except_=("classifier",))
    trainable = [n for n, p in source.named_parameters() if p.requires_grad]
    head_only = save_weights(source, tmp_path / "head.safetensors", names=trainable)
    fresh = tiny()
    old_encoder = fresh.transformer_encoder.layers[0].linear1.weight.clone()
    load_weights(fresh, head_only)
    assert torch.equal(fresh.classifier.weight, source.classifier.weight)
    assert torch.equal(fresh.transformer_encoder.layers[0].linear1.weight, old_encoder)
    wrong_head = tmp_path / "wrong.safetensors"  # a shape mismatch is an error, strict or not
    save_file({"classifier.bias": torch.zeros(5)}, str(wrong_head))
    with pytest.raises(ValueError, match="shape mismatch for 'classifier.bias'"):
        load_weights(tiny(), wrong_head, strict=False)


def test_attention_dropout_is_configurable_and_off_by_default():
    model = tiny()
    assert [layer.self_attn.dropout for layer in model.transformer_encoder.layers] == [0.0, 0.0]
    assert model.transformer_encoder.layers[0].dropout.p == 0.1  # the residual stream keeps its dropout
    source_like = tiny(attention_dropout=0.1)
    assert [layer.self_attn.dropout for layer in source_like.transformer_encoder.layers] == [0.1, 0.1]
    # attention-weight dropout acts in training: two passes differ only through it once everything else is off
    quiet = tiny(dropout=0.0, classifier_dropout=0.0, attention_dropout=0.5).train()
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    torch.manual_seed(1)
    first = quiet(ids)
    assert not torch.allclose(first, quiet(ids))
    for layer in quiet.transformer_encoder.layers:
        layer.self_attn.dropout = 0.0
    assert torch.allclose(quiet(ids), quiet(ids))
