"""Checkers for the chapter-5 exercises (LoRA).

Exercises 5.2 and 5.3 run on chapter 4's small real task (:func:`course_lib.exercises.ch04.digits_tasks`): an MLP
pretrained on the real 8x8 digits 0-4, adapted to the digits 5-9 with full-batch Adam, seeded, so that a learner
who follows the stated protocol gets the reference numbers to float rounding.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import nn

from course_lib.exercises.ch04 import (
    _train,
    digits_tasks,
    pretrained_digits_mlp,
    single_thread,
    sweep_point_check,
    wrapped_reference_run,
)
from course_lib.grading import close, run_check


def check_rank_for_energy(fn) -> bool:
    """Exercise 5.1: ``fn(delta_w, share) -> int``: the smallest rank whose best approximation keeps ``share`` of
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

    return run_check("5.1", check)


@lru_cache(maxsize=2)
def _finetuned_fc1(seed: int, steps: int, learning_rate: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Exercise 5.2's reference run: ``fc1.weight`` before and after full fine-tuning, computed once per process."""
    _, task = digits_tasks()
    model = pretrained_digits_mlp()  # built before seeding: the learner copies a model that exists
    torch.manual_seed(seed)
    model.fc3 = nn.Linear(model.fc3.in_features, 5)
    w0 = model.fc1.weight.detach().clone()
    _train(model, task, steps, learning_rate)
    return w0, model.fc1.weight.detach().clone()


def _energy_shares(m: torch.Tensor) -> torch.Tensor:
    s = torch.linalg.svdvals(m) ** 2
    return torch.cumsum(s, 0) / s.sum()


def check_update_energy(fn) -> bool:
    """Exercise 5.2: ``fn(pretrained, task, seed, steps, learning_rate) -> (64,) tensor``: the share of the energy of
    a full fine-tuning update ``fc1.weight - W0`` kept by its best rank-1, rank-2, ... approximations.

    Protocol: seed; copy; a new ``nn.Linear(64, 5)`` head ``fc3``; every parameter trains (full fine-tuning) with
    full-batch Adam for ``steps`` steps; then the cumulative sums of the squared singular values of the update,
    divided by their total.
    """

    def check():
        _, task_b = digits_tasks()
        got = fn(pretrained_digits_mlp(), task_b, 0, 100, 1e-2)
        w0, w1 = _finetuned_fc1(0, 100, 1e-2)
        expected = _energy_shares(w1 - w0)
        got = torch.as_tensor(got, dtype=torch.float32).flatten()
        if got.shape != expected.shape:
            return False, f"expected {expected.numel()} shares (one per singular value of the 64x64 update)"
        if close(got, expected, atol=1e-3):
            return True, ""
        if close(got, _energy_shares(w1), atol=1e-3):
            return False, "those are the shares of the fine-tuned weight: use the update, fc1.weight minus W0"
        s = torch.linalg.svdvals(w1 - w0)
        if close(got, torch.cumsum(s, 0) / s.sum(), atol=1e-3):
            return False, "energy is the squared singular values: square them before accumulating"
        return False, ("the shares differ from the reference. Copy W0 = fc1.weight before training; seed, copy, new "
                       "fc3, train every parameter with full-batch Adam; cumsum(s**2) / sum(s**2)")

    with single_thread():
        return run_check("5.2", check)


def _lora_expected(r: int, seed: int, steps: int, learning_rate: float) -> tuple[float, float]:
    """Exercise 5.3's reference run (:func:`course_lib.exercises.ch04.wrapped_reference_run` with LoRA)."""
    return wrapped_reference_run("lora", r, seed, steps, learning_rate)


def check_lora_accuracy(fn) -> bool:
    """Exercise 5.3: ``fn(pretrained, task, r, seed, steps, learning_rate) -> float`` test accuracy of LoRA of rank
    ``r`` (``lora_alpha = r``) on ``fc1`` and ``fc2`` plus a new head ``fc3``, trained with full-batch Adam."""

    check = sweep_point_check(fn, _lora_expected, (1, 4), "rank",
                              "torch.manual_seed(seed), copy, new fc3, apply_lora(fc1, fc2, r=r, lora_alpha=r, "
                              "modules_to_save=['fc3']), full-batch Adam for `steps` steps")
    with single_thread():
        return run_check("5.3", check)
