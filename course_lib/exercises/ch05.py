"""Checkers for the chapter-5 exercises (LoRA)."""

from __future__ import annotations

import torch

from course_lib.grading import close, run_check


def check_lora_param_count(fn) -> bool:
    """Exercise 5.1: ``fn(in_features, out_features, r) -> (lora_params, full_params)`` of one weight matrix."""

    def check():
        for i, o, r in ((100, 128, 2), (768, 768, 8), (5, 3, 1)):
            got = tuple(fn(i, o, r))
            if got != (r * (i + o), i * o):
                return False, f"for in={i}, out={o}, r={r} expected {(r * (i + o), i * o)}, got {got}"
        return True, ""

    return run_check("5.1", check)


def _case():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 6, generator=g)
    w, b = torch.randn(5, 6, generator=g), torch.randn(5, generator=g)
    a, bb = torch.randn(3, 6, generator=g), torch.randn(5, 3, generator=g)
    return x, w, b, a, bb, 1.5


def check_lora_forward(fn) -> bool:
    """Exercise 5.2: ``fn(x, W, b, A, B, alpha)`` = ``x W^T + b + (alpha / r) x A^T B^T`` with ``r = A.shape[0]``."""

    def check():
        x, w, b, a, bb, alpha = _case()
        r = a.shape[0]
        expected = x @ w.T + b + (alpha / r) * (x @ a.T @ bb.T)
        got = fn(x, w, b, a, bb, alpha)
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != (4, 5):
            return False, "expected a tensor of shape (batch, out_features) = (4, 5)"
        if close(got, x @ w.T + b + alpha * (x @ a.T @ bb.T)):
            return False, "scale the update by alpha / r, not alpha"
        if not close(got, expected):
            return False, "values differ: base output plus the scaled low-rank update"
        return True, ""

    return run_check("5.2", check)


def check_merge_weight(fn) -> bool:
    """Exercise 5.3: ``fn(W, A, B, alpha)`` = ``W + (alpha / r) B A``: one matrix that does both."""

    def check():
        x, w, b, a, bb, alpha = _case()
        got = fn(w.clone(), a, bb, alpha)
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(w.shape):
            return False, f"expected a tensor of W's shape {tuple(w.shape)}"
        if not close(got, w + (alpha / a.shape[0]) * bb @ a):
            return False, "the merged weight is W + (alpha / r) * B @ A"
        if not close(x @ got.T + b, x @ w.T + b + (alpha / 3) * (x @ a.T @ bb.T)):
            return False, "the merged layer should give the unmerged layer's output"
        return True, ""

    return run_check("5.3", check)
