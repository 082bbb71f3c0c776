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


def check_rank_for_energy(fn) -> bool:
    """Exercise 5.4: ``fn(delta_w, share) -> int``: the smallest rank whose best approximation keeps ``share`` of
    the update's energy (squared Frobenius norm), from its singular values."""

    def reference(m, share):
        s = torch.linalg.svdvals(m) ** 2
        kept = torch.cumsum(s, 0) / s.sum()
        return int((kept < share - 1e-12).sum().item()) + 1

    def check():
        g = torch.Generator().manual_seed(0)
        for rank, noise in ((2, 0.01), (5, 0.05), (1, 0.0)):
            low = torch.randn(40, rank, generator=g) @ torch.randn(rank, 30, generator=g)
            m = low + noise * torch.randn(40, 30, generator=g)
            for share in (0.5, 0.9, 0.99):
                got, expected = fn(m.clone(), share), reference(m, share)
                if int(got) != expected:
                    return False, (f"a rank-{rank} update plus noise {noise}, share {share}: expected rank "
                                   f"{expected}, got {got}. Square the singular values and accumulate")
        return True, ""

    return run_check("5.4", check)
