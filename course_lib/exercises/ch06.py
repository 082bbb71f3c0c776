"""Checkers for the exercises of chapter 6 (supervised fine-tuning).

Each checker takes the learner's function, runs it on fixed cases and prints one verdict line through
:func:`course_lib.grading.run_check`. The reference answers are the package's own functions.
"""

from __future__ import annotations

from course_lib.grading import run_check


def check_linear_decay(lr_factor) -> bool:
    """Exercise 6.1: ``lr_factor(step, total_steps)`` is the multiplier of a linear-decay ``LambdaLR``, the same as
    ``transformers.get_linear_schedule_with_warmup`` without warmup."""

    def check():
        import torch

        cases = [(0, 10, 1.0), (5, 10, 0.5), (10, 10, 0.0), (12, 10, 0.0), (1, 4, 0.75)]
        for step, total, want in cases:
            got = float(lr_factor(step, total))
            if abs(got - want) > 1e-9:
                return False, f"lr_factor({step}, {total}) should be {want}, got {got}"
        from transformers import get_linear_schedule_with_warmup

        reference = get_linear_schedule_with_warmup(  # what the course's training loops use
            torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1), 0, 10).lr_lambdas[0]
        for step in range(10):
            if abs(float(lr_factor(step, 10)) - reference(step)) > 1e-9:
                return False, (f"lr_factor({step}, 10) should equal transformers' linear schedule, "
                               f"{reference(step)}, got {lr_factor(step, 10)}")
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, 4))
        lrs = []
        for _ in range(4):
            lrs.append(round(opt.param_groups[0]["lr"], 6))
            opt.step()
            sched.step()
        if lrs != [0.1, 0.075, 0.05, 0.025]:
            return False, f"inside LambdaLR the learning rates should be [0.1, 0.075, 0.05, 0.025], got {lrs}"
        return True, ""

    return run_check("6.1", check)


def check_majority_accuracy(majority_accuracy) -> bool:
    """Exercise 6.2: the test accuracy of always predicting the most frequent *training* label."""

    def check():
        from course_lib.train.baselines import majority_baseline

        cases = [([0, 1, 1, 2], [1, 1, 0, 2]), ([4, 4, 3], [0, 1, 2, 3, 4]), ([2, 2, 2], [2, 2, 0])]
        for train, test in cases:
            want = majority_baseline(train, test)[1]
            got = float(majority_accuracy(train, test))
            if abs(got - want) > 1e-9:
                return False, f"majority_accuracy({train}, {test}) should be {want:.3f}, got {got:.3f}"
        got = float(majority_accuracy([3, 3, 0], [0, 0, 0, 3]))
        if abs(got - 0.25) > 1e-9:
            return False, "the majority label must come from the training labels, not from the test labels"
        return True, ""

    return run_check("6.2", check)


def check_mask_prompt(mask_prompt) -> bool:
    """Exercise 6.3: labels for completion-only loss: ``-100`` on the prompt positions, the token id elsewhere."""

    def check():
        cases = [([5, 6, 7, 8, 9], 2, [-100, -100, 7, 8, 9]), ([1, 2, 3], 0, [1, 2, 3]),
                 ([4, 4, 4], 3, [-100, -100, -100]), ([11, 12, 13, 14], 1, [-100, 12, 13, 14])]
        for ids, prompt_length, want in cases:
            original = list(ids)
            got = [int(x) for x in mask_prompt(ids, prompt_length)]
            if ids != original:
                return False, "do not modify input_ids in place: return a new list of labels"
            if got != want:
                return False, f"mask_prompt({original}, {prompt_length}) should be {want}, got {got}"
        return True, ""

    return run_check("6.3", check)


def check_token_f1(token_f1) -> bool:
    """Exercise 6.4: SQuAD-style token F1 between a generated answer and the reference."""

    def check():
        from course_lib.chapters.ch06_sft import token_f1 as reference

        cases = [("Return the sum.", "Return the sum."), ("return a list", "Return a list of lines."),
                 ("nothing shared", "Serialize obj"), ("", "Serialize obj"), ("the the cat", "the cat sat")]
        for pred, ref in cases:
            want, got = reference(pred, ref), float(token_f1(pred, ref))
            if abs(got - want) > 1e-6:
                return False, f"token_f1({pred!r}, {ref!r}) should be {want:.3f}, got {got:.3f}"
        return True, ""

    return run_check("6.4", check)


def check_paired_bootstrap(paired_bootstrap) -> bool:
    """Exercise 6.5: a percentile bootstrap interval of the mean paired difference, and why pairing narrows it."""

    def check():
        import numpy as np

        from course_lib.chapters.ch06_sft import paired_bootstrap as reference

        rng = np.random.default_rng(0)
        difficulty = rng.uniform(0, 0.6, size=60)  # some questions are hard for both models
        before = np.clip(difficulty + rng.normal(0, 0.05, 60), 0, 1).tolist()
        after = np.clip(difficulty + 0.04 + rng.normal(0, 0.05, 60), 0, 1).tolist()
        for seed in (0, 1):
            want = reference(before, after, n_resamples=2000, seed=seed)
            got = tuple(float(v) for v in paired_bootstrap(before, after, 2000, seed))
            if not np.allclose(got, want, atol=1e-9):
                return False, (f"with seed={seed} the interval should be ({want[0]:+.4f}, {want[1]:+.4f}), got "
                               f"({got[0]:+.4f}, {got[1]:+.4f}): draw the indices exactly as described")
        # the same scores, unpaired: resample each side on its own
        idx = np.random.default_rng(0).integers(0, 60, size=(2, 2000, 60))
        unpaired = np.asarray(after)[idx[0]].mean(1) - np.asarray(before)[idx[1]].mean(1)
        low, high = np.quantile(unpaired, [0.025, 0.975])
        paired_low, paired_high = paired_bootstrap(before, after, 2000, 0)
        if not (paired_high - paired_low) < (high - low):
            return False, "the paired interval should be narrower than the unpaired one on these scores"
        return True, ""

    return run_check("6.5", check)
