"""Masked mean pooling: the one place the course averages token vectors over real (non-padding) tokens."""

from __future__ import annotations

import torch


def masked_mean(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` ``(B, T, d)`` over the positions where ``attention_mask`` ``(B, T)`` is true/1: ``(B, d)``.

    Padding is left out of both the sum and the count. A row with no real token gives zeros (not NaN).
    """
    if hidden.ndim != 3 or attention_mask.shape != hidden.shape[:2]:
        raise ValueError(f"masked_mean wants hidden (B, T, d) and attention_mask (B, T), got {tuple(hidden.shape)} "
                         f"and {tuple(attention_mask.shape)}")
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)  # (B, d)
