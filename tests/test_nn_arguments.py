"""The models check their arguments where they enter, naming the argument and the valid values."""

import numpy as np
import pytest
from torch import nn

from course_lib.config import positive_int
from course_lib.nn.classic import LeNet5, TextClassifier
from course_lib.nn.encoder import PositionalEncoding, TransformerClassifier, TransformerConfig
from course_lib.nn.params import freeze

VECTORS = np.zeros((5, 4), dtype=np.float32)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_positive_int_refuses_what_is_not_a_count(bad):
    with pytest.raises(ValueError, match="n_things must be a positive integer"):
        positive_int("n_things", bad)
    assert positive_int("n_things", None, none="all") is None and positive_int("n_things", 3) == 3


@pytest.mark.parametrize("kwargs, message", [
    ({"num_labels": 0}, "TransformerConfig.num_labels must be a positive integer"),
    ({"nhead": 1.5}, "TransformerConfig.nhead"),
    ({"max_len": -3}, "TransformerConfig.max_len"),
    ({"dropout": 1.0}, r"TransformerConfig.dropout must be in \[0, 1\)"),
])
def test_encoder_config_is_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TransformerConfig(**kwargs)


def test_encoder_and_positions_are_checked():
    with pytest.raises(ValueError, match="d_model must be a positive even integer"):
        PositionalEncoding(5)
    with pytest.raises(ValueError, match="max_len must be a positive integer"):
        PositionalEncoding(4, max_len=0)
    model = TransformerClassifier(VECTORS)
    with pytest.raises(ValueError, match="num_labels must be a positive integer"):
        model.replace_head(0)


def test_classic_models_are_checked():
    with pytest.raises(ValueError, match="num_labels must be a positive integer"):
        TextClassifier(VECTORS, num_labels=0)
    with pytest.raises(ValueError, match=r"\(V, d\) matrix"):
        TextClassifier(np.zeros(4, dtype=np.float32), num_labels=2)
    with pytest.raises(ValueError, match="num_labels must be a positive integer"):
        LeNet5(num_labels=-1)


def test_freeze_refuses_a_bare_string():
    model = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(TypeError, match=r"write except_=\('classifier',\)"):
        freeze(model, except_="classifier")
