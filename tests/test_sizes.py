"""Arguments are checked where they enter: dataset sizes, corpus caps, word-vector and loop settings."""

import pytest

from course_lib.data.loaders import Sizes, check_count, split_and_cap


@pytest.mark.parametrize("field", ["train", "validation", "test"])
@pytest.mark.parametrize("bad", [-5, 0, 2.5, "100", True])
def test_sizes_name_the_field_and_the_valid_range(field, bad):
    with pytest.raises(ValueError, match=rf"Sizes\.{field} must be None \(all examples\) or a positive integer"):
        Sizes(**{field: bad})


def test_valid_sizes():
    assert Sizes() == Sizes(None, None, None)
    assert Sizes(train=1, validation=2, test=3).test == 3
    assert check_count("n", None) is None and check_count("n", 4) == 4


def test_split_and_cap_wants_sizes():
    with pytest.raises(TypeError, match="Sizes"):
        split_and_cap({"train": [], "test": []}, {"train": 5}, seed=0)


def test_corpus_caps_are_checked():
    from course_lib.data.corpora import load_corpus

    with pytest.raises(ValueError, match="max_train_lines must be None"):
        load_corpus("offline", max_train_lines=0)
    with pytest.raises(ValueError, match="max_eval_lines must be None"):
        load_corpus("offline", max_eval_lines=-1)


def test_native_loop_settings_are_checked():
    import torch

    from course_lib.train.native import train_native

    model = torch.nn.Linear(2, 2)
    loader = [{"x": torch.zeros(1, 2)}]
    for kwargs, message in [({"epochs": 0, "learning_rate": 1e-3}, "epochs must be a positive integer"),
                            ({"epochs": 1.5, "learning_rate": 1e-3}, "epochs must be a positive integer"),
                            ({"epochs": 1, "learning_rate": 0}, "learning_rate must be positive"),
                            ({"epochs": 1, "learning_rate": 1e-3, "max_grad_norm": 0}, "max_grad_norm")]:
        with pytest.raises(ValueError, match=message):
            train_native(model, loader, **kwargs)
    with pytest.raises(ValueError, match="train_loader is empty"):
        train_native(model, [], epochs=1, learning_rate=1e-3)


def test_batching_settings_are_checked():
    from course_lib.train.batching import LengthGroupedBatchSampler

    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            LengthGroupedBatchSampler([3, 4], bad)
    with pytest.raises(ValueError, match="pool_factor must be a positive integer"):
        LengthGroupedBatchSampler([3, 4], 2, pool_factor=0)
