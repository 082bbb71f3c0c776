"""Length-grouped batching for token-id datasets.

Batches are *length-grouped*: examples are shuffled, cut into pools of ``50 x batch_size``, sorted by length
within a pool and then batched, so a batch holds texts of similar length and is padded only to its own longest
text (capped at ``max_len``). The source padded every batch of random reviews to its longest one (1,000+ tokens).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Sampler

from course_lib.data.text import TextPipeline
from course_lib.env import show_progress


def tokenize_dataset(ds, pipeline: TextPipeline, text_column: str = "text"):
    """Add ``input_ids`` (token ids cut at ``pipeline.max_len``) to a ``datasets.Dataset``."""
    return ds.map(lambda batch: {"input_ids": [pipeline(t) for t in batch[text_column]]}, batched=True,
                  desc="tokenize" if show_progress() else None)


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Shuffled batches of similar-length examples (see the module docstring). Deterministic per ``seed``/epoch."""

    def __init__(self, lengths: Sequence[int], batch_size: int, *, shuffle: bool = True, seed: int = 0,
                 pool_factor: int = 50):
        for name, value in (("batch_size", batch_size), ("pool_factor", pool_factor)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.lengths, self.batch_size, self.shuffle = list(lengths), batch_size, shuffle
        self.seed, self.pool = seed, batch_size * pool_factor
        self.epoch = 0

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        idx = list(range(len(self.lengths)))
        rng = random.Random(self.seed + self.epoch)
        self.epoch += 1
        if self.shuffle:
            rng.shuffle(idx)
        batches = []
        for start in range(0, len(idx), self.pool):
            pool = sorted(idx[start:start + self.pool], key=lambda i: self.lengths[i])
            batches += [pool[i:i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
        if self.shuffle:
            rng.shuffle(batches)
        return iter(batches)


@dataclass
class PadCollator:
    """Pads ``input_ids`` to the longest example of the batch; returns ``input_ids``, ``attention_mask``, ``labels``."""

    pad_index: int

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        longest = max(1, max(len(r["input_ids"]) for r in rows))
        ids = torch.full((len(rows), longest), self.pad_index, dtype=torch.long)  # (B, T)
        for i, r in enumerate(rows):
            ids[i, : len(r["input_ids"])] = torch.as_tensor(r["input_ids"], dtype=torch.long)
        batch = {"input_ids": ids, "attention_mask": ids.ne(self.pad_index)}
        if "label" in rows[0]:
            batch["labels"] = torch.tensor([r["label"] for r in rows], dtype=torch.long)
        return batch


def make_loader(ds, batch_size: int, pad_index: int, *, shuffle: bool = False, seed: int = 0) -> DataLoader:
    """A ``DataLoader`` over a tokenized dataset with length-grouped, padded batches."""
    ds = ds.with_format(None, columns=["input_ids", "label"])
    lengths = [len(x) for x in ds["input_ids"]]
    sampler = LengthGroupedBatchSampler(lengths, batch_size, shuffle=shuffle, seed=seed)
    return DataLoader(ds, batch_sampler=sampler, collate_fn=PadCollator(pad_index))
