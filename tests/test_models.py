import pytest
import torch

from course_lib.models import (NNet, PositionalEncoding, TextClassifier, TransformerClassifier, TransformerConfig,
                               count_parameters, freeze)
from course_lib.training import save_trainable, load_weights

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
    path = save_trainable(tiny(num_labels=4), tmp_path / "news.safetensors")
    with pytest.raises(ValueError, match="head has 4 outputs but the model's has 2.*replace_head"):
        load_weights(tiny(num_labels=2), path)
    model = load_weights(tiny(num_labels=4), path)
    model.replace_head(2)
    assert model(torch.tensor([[5, 6]])).shape == (1, 2)


def test_text_classifier_and_cnn_shapes():
    emb = torch.randn(V, D)
    clf = TextClassifier(emb, num_labels=3, hidden=16)
    assert clf(torch.tensor([[5, 6, 1, 1], [7, 1, 1, 1]])).shape == (2, 3)
    # padding is left out of the embedding-bag mean
    assert torch.allclose(clf(torch.tensor([[5, 6]])), clf(torch.tensor([[5, 6, 1, 1]])), atol=1e-6)
    assert NNet(10)(torch.zeros(2, 1, 32, 32)).shape == (2, 10)


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
