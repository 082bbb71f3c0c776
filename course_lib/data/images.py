"""Images for chapter 5's CNN experiment: a LeNet-style network pretrained on one task, adapted to another.

=================  ====================================================  ==========================================
SOURCE             pretraining task                                     adaptation task
=================  ====================================================  ==========================================
``offline``        digits 0-4 of scikit-learn's ``load_digits``           digits 5-9 of the same set
``hub``            MNIST digits 0-9 (``ylecun/mnist``)                   EMNIST letters A-Z
                                                                         (``tanganke/emnist_letters``, the source
                                                                         notebook's task)
=================  ====================================================  ==========================================

``load_digits`` holds 1,797 *real* 8x8 scans of handwritten digits (UCI), shipped inside scikit-learn, so the
offline run needs no network. They are upsampled to the 32x32 input of :class:`~course_lib.nn.classic.LeNet5`
(bilinear); MNIST/EMNIST's 28x28 images are padded by 2 pixels on each side, the classic LeNet-5 input.
EMNIST images are stored transposed; we turn them upright. Pixels are scaled to ``[0, 1]`` and then standardised
with the pretraining set's mean and std.

Batches are dicts ``{"pixel_values": (B, 1, 32, 32), "labels": (B,)}`` that
:func:`course_lib.train.classifier.train_classifier` and :func:`~course_lib.train.classifier.evaluate` accept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from course_lib import hub_ids
from course_lib.config import check_source
from course_lib.data.loaders import Sizes

HUB_IDS = {"mnist": hub_ids.MNIST, "emnist_letters": hub_ids.EMNIST_LETTERS}
LETTERS = [chr(ord("A") + i) for i in range(26)]


class ImageDataset(Dataset):
    """``(N, 1, 32, 32)`` float images and ``(N,)`` integer labels; items are ``{"pixel_values", "labels"}``."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        if images.ndim != 4 or images.shape[1:] != (1, 32, 32):
            raise ValueError(f"expected images of shape (N, 1, 32, 32), got {tuple(images.shape)}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels = images.float(), labels.long()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"pixel_values": self.images[i], "labels": self.labels[i]}


@dataclass
class ImageTask:
    """One classification task: its name, label names and ``train``/``validation``/``test`` datasets."""

    name: str
    labels: list[str]
    splits: dict[str, ImageDataset]

    def loader(self, split: str, batch_size: int, seed: int = 0) -> DataLoader:
        shuffle = split == "train"
        generator = torch.Generator().manual_seed(seed) if shuffle else None
        return DataLoader(self.splits[split], batch_size=batch_size, shuffle=shuffle, generator=generator)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in self.splits.items())
        return f"ImageTask({self.name!r}, {len(self.labels)} classes, {sizes})"


def to_32x32(images: np.ndarray) -> torch.Tensor:
    """``(N, h, w)`` images with values in ``[0, 1]`` -> ``(N, 1, 32, 32)``: 28x28 is padded, others resized."""
    x = torch.as_tensor(np.asarray(images), dtype=torch.float32).unsqueeze(1)  # (N, 1, h, w)
    if x.shape[-2:] == (28, 28):
        return torch.nn.functional.pad(x, (2, 2, 2, 2))
    return torch.nn.functional.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)


#: the test rows of an image task are drawn with this fixed seed, whatever the run's seed (as for the text tasks,
#: see ``course_lib.data.loaders.split_and_cap``): every seed is measured on the same test images
TEST_SPLIT_SEED = 1234


def _split(images: torch.Tensor, labels: torch.Tensor, sizes: Sizes, seed: int,
           fractions=(0.6, 0.2, 0.2)) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Cut into train/validation/test by ``fractions``, then cap each split at ``sizes``.

    The test rows are fixed: a shuffle with :data:`TEST_SPLIT_SEED` sets them apart, the same for every ``seed``.
    Only the rest is shuffled with ``seed`` into train and validation.
    """
    fixed = torch.randperm(len(labels), generator=torch.Generator().manual_seed(TEST_SPLIT_SEED))
    n_train = int(fractions[0] * len(fixed))
    n_val = int(fractions[1] * len(fixed))
    test, rest = fixed[n_train + n_val:], fixed[:n_train + n_val]
    rest = rest[torch.randperm(len(rest), generator=torch.Generator().manual_seed(seed))]
    parts = {"train": rest[:n_train], "validation": rest[n_train:], "test": test}
    out = {}
    for key, idx in parts.items():
        cap = getattr(sizes, key)
        idx = idx[:cap] if cap is not None else idx
        out[key] = (images[idx], labels[idx])
    return out


def _standardise(splits: dict, mean: float, std: float) -> dict[str, ImageDataset]:
    return {k: ImageDataset((x - mean) / std, y) for k, (x, y) in splits.items()}


def load_digit_tasks(sizes: Sizes = Sizes(), seed: int = 0,
                     source_digits=(0, 1, 2, 3, 4), target_digits=(5, 6, 7, 8, 9)) -> tuple[ImageTask, ImageTask]:
    """Offline: scikit-learn's real 8x8 digits as two tasks (default 0-4 to pretrain, 5-9 to adapt to).

    Labels are renumbered ``0..k-1`` within each task; the label names keep the digits.
    Each task is split 60/20/20 into train/validation/test (the test rows fixed, train/validation seeded),
    then capped by ``sizes``.
    """
    from sklearn.datasets import load_digits

    if set(source_digits) & set(target_digits):
        raise ValueError(f"the two tasks share digits {sorted(set(source_digits) & set(target_digits))}")
    digits = load_digits()
    images = to_32x32(digits.images / 16.0)  # (1797, 1, 32, 32), values in [0, 1]
    target = torch.as_tensor(digits.target)
    tasks, mean, std = [], None, None
    for name, chosen in (("digits_" + "_".join(map(str, (source_digits[0], source_digits[-1]))), source_digits),
                         ("digits_" + "_".join(map(str, (target_digits[0], target_digits[-1]))), target_digits)):
        keep = torch.isin(target, torch.tensor(chosen))
        remap = {d: i for i, d in enumerate(chosen)}
        labels = torch.tensor([remap[int(t)] for t in target[keep]])
        splits = _split(images[keep], labels, sizes, seed)
        if mean is None:  # statistics of the pretraining data, used for both tasks
            mean, std = float(splits["train"][0].mean()), float(splits["train"][0].std())
        tasks.append(ImageTask(name, [str(d) for d in chosen], _standardise(splits, mean, std)))
    return tasks[0], tasks[1]


def _hub_images(hub_id: str, transpose: bool = False):
    from datasets import load_dataset

    ds = load_dataset(hub_id)
    out = {}
    for split in ("train", "test"):
        imgs = np.stack([np.asarray(im, dtype=np.float32) for im in ds[split]["image"]]) / 255.0  # (N, 28, 28)
        if transpose:
            imgs = imgs.transpose(0, 2, 1)
        out[split] = (to_32x32(imgs), torch.as_tensor(ds[split]["label"]))
    return out


def load_hub_tasks(sizes: Sizes = Sizes(), seed: int = 0) -> tuple[ImageTask, ImageTask]:
    """Hub: MNIST digits (pretraining) and EMNIST letters (adaptation), as in the source notebook.

    5% of each ``train`` split is held out for validation (seeded); splits are then capped by ``sizes``.
    """
    tasks, mean, std = [], None, None
    for name, hub_id, labels, transpose in (("mnist", HUB_IDS["mnist"], [str(d) for d in range(10)], False),
                                            ("emnist_letters", HUB_IDS["emnist_letters"], LETTERS, True)):
        raw = _hub_images(hub_id, transpose=transpose)
        x, y = raw["train"]
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
        n_val = len(order) // 20
        parts = {"train": (x[order[n_val:]], y[order[n_val:]]), "validation": (x[order[:n_val]], y[order[:n_val]]),
                 "test": raw["test"]}
        for key in parts:
            cap = getattr(sizes, key)
            if cap is not None:
                parts[key] = (parts[key][0][:cap], parts[key][1][:cap])
        if mean is None:
            mean, std = float(parts["train"][0].mean()), float(parts["train"][0].std())
        tasks.append(ImageTask(name, labels, _standardise(parts, mean, std)))
    return tasks[0], tasks[1]


def load_image_tasks(source: str, sizes: Sizes = Sizes(), seed: int = 0) -> tuple[ImageTask, ImageTask]:
    """The (pretraining, adaptation) image tasks for ``source`` (``"offline"`` or ``"hub"``), see the table above."""
    if check_source(source) == "offline":
        return load_digit_tasks(sizes, seed)
    return load_hub_tasks(sizes, seed)
