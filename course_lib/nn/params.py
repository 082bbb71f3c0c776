"""Counting and freezing parameters, for any ``nn.Module``."""

from __future__ import annotations

from torch import nn


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total


def freeze(model: nn.Module, *, except_: tuple[str, ...] = ()) -> nn.Module:
    """Set ``requires_grad=False`` on every parameter whose name does not contain one of ``except_``.

    ``freeze(model, except_=("classifier",))`` is linear probing; ``except_=("linear2", "classifier")`` is the
    chapter's partial unfreezing. The (frozen) word embeddings stay frozen either way.
    """
    if isinstance(except_, str):  # a bare string would be read as its characters, and unfreeze nearly everything
        raise TypeError(f"except_ must be a tuple of names, got the string {except_!r}: write except_=({except_!r},)")
    for name, p in model.named_parameters():
        p.requires_grad = any(key in name for key in except_) and not name.startswith("emb.")
    return model
