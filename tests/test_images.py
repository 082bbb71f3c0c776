import numpy as np
import pytest
import torch

from course_lib.data.images import load_digit_tasks, load_image_tasks, to_32x32
from course_lib.data.loaders import Sizes


def test_to_32x32_pads_28_and_resizes_8():
    assert to_32x32(np.zeros((2, 28, 28))).shape == (2, 1, 32, 32)
    assert to_32x32(np.ones((3, 8, 8))).shape == (3, 1, 32, 32)


def test_digit_tasks_are_disjoint_renumbered_and_capped():
    source, target = load_digit_tasks(Sizes(train=100, validation=20, test=30), seed=0)
    assert source.labels == ["0", "1", "2", "3", "4"] and target.labels == ["5", "6", "7", "8", "9"]
    assert {k: len(v) for k, v in target.splits.items()} == {"train": 100, "validation": 20, "test": 30}
    batch = next(iter(target.loader("train", 16)))
    assert batch["pixel_values"].shape == (16, 1, 32, 32) and batch["labels"].shape == (16,)
    labels = torch.cat([target.splits["train"][i]["labels"].view(1) for i in range(100)])
    assert labels.min() >= 0 and labels.max() <= 4
    again, _ = load_digit_tasks(Sizes(train=100, validation=20, test=30), seed=0)
    assert torch.equal(again.splits["test"][0]["pixel_values"], source.splits["test"][0]["pixel_values"])


def test_overlapping_digit_sets_and_unknown_source_are_rejected():
    with pytest.raises(ValueError, match="share digits"):
        load_digit_tasks(source_digits=(0, 1), target_digits=(1, 2))
    with pytest.raises(ValueError, match="choose one of: hub, offline"):
        load_image_tasks("cloud")


def test_digit_test_rows_do_not_change_with_the_seed():
    sizes = Sizes(train=100, validation=20, test=30)
    a, _ = load_digit_tasks(sizes, seed=0)
    b, _ = load_digit_tasks(sizes, seed=1)
    test_a = torch.stack([a.splits["test"][i]["pixel_values"] for i in range(30)])
    test_b = torch.stack([b.splits["test"][i]["pixel_values"] for i in range(30)])
    z = lambda x: (x - x.mean()) / x.std()  # pixels are standardised with the seed's training mean and std
    assert torch.allclose(z(test_a), z(test_b), atol=1e-5)  # the same test images for every seed
    train_a = torch.stack([a.splits["train"][i]["pixel_values"] for i in range(100)])
    train_b = torch.stack([b.splits["train"][i]["pixel_values"] for i in range(100)])
    # ... while train (and validation) are drawn with the seed
    assert not torch.allclose(z(train_a), z(train_b), atol=1e-3)
    full, _ = load_digit_tasks(Sizes(), seed=0)
    flat = lambda ds: {tuple(ds[i]["pixel_values"].flatten().tolist()) for i in range(len(ds))}
    assert not flat(full.splits["test"]) & flat(full.splits["train"])
