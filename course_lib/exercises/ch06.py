"""Checkers for the exercises of chapter 6 (supervised fine-tuning).

Each checker takes the learner's function, runs it on fixed cases and prints one verdict line through
:func:`course_lib.grading.run_check`. The reference answers are the package's own functions.
"""

from __future__ import annotations

from course_lib.grading import run_check

NARROWER = 0.6  # exercise 6.5: the paired interval must be under this share of the unpaired one's width


def _docs_qa_pairs(split: str) -> list[dict]:
    """The offline dialogues of ``split`` (``train``/``test``, split by module as in the chapter) as prompt/completion
    pairs, read straight from the packaged files (no ``datasets`` call: the check stays fast)."""
    import json

    from course_lib.data import corpora

    files = corpora.docs_qa_files()
    texts = [json.loads(line)["text"] for s in ("train", "test") for line in files[s].read_text("utf-8").splitlines()
             if line.strip()]
    return [corpora.split_dialogue(t) for t in corpora.split_docs_qa_by_module(texts)[split]]


def _lm_tokenizer():
    """SmolLM2-135M-Instruct's tokenizer, the chapter's offline LM: from the converted checkpoint when the chapter
    has cached it, otherwise straight from the packaged GGUF file (the same tokenizer, a few seconds)."""
    from transformers import AutoTokenizer

    from course_lib import hub
    from course_lib.env import cache_dir

    converted = cache_dir("models", "smollm2-135m-instruct")
    if (converted / "tokenizer.json").exists():
        return AutoTokenizer.from_pretrained(converted)
    return AutoTokenizer.from_pretrained(hub.smollm2_gguf_dir(), gguf_file=hub.SMOLLM2_GGUF)


def _trained_share(prompts, completions, tokenizer, max_length: int | None, *, eos: int = 1,
                   pooled: bool = True) -> float:
    """Reference for exercise 6.1 (``eos``/``max_length=None``/``pooled`` give the wrong answers the hints name)."""
    n_prompt = [len(ids) for ids in tokenizer(list(prompts))["input_ids"]]
    n_total = [len(ids) + eos for ids in tokenizer([p + c for p, c in zip(prompts, completions)])["input_ids"]]
    cap = max_length if max_length is not None else max(n_total)
    kept = [min(n, cap) for n in n_total]
    trained = [k - min(n, cap) for k, n in zip(kept, n_prompt)]
    if pooled:
        return sum(trained) / sum(kept)
    return sum(t / k for t, k in zip(trained, kept)) / len(kept)


def check_trained_share(fn) -> bool:
    """Exercise 6.1: ``fn(prompts, completions, tokenizer, max_length) -> share of the kept tokens that carry a
    label`` under completion-only loss, on the chapter's offline training dialogues with SmolLM2's tokenizer, at
    ``max_length`` 48 (some answers cut) and 96 (the fast profile, which cuts none)."""

    def check():
        pairs = _docs_qa_pairs("train")
        prompts, completions = [p["prompt"] for p in pairs], [p["completion"] for p in pairs]
        tokenizer = _lm_tokenizer()
        for max_length in (48, 96):
            want = _trained_share(prompts, completions, tokenizer, max_length)
            got = float(fn(list(prompts), list(completions), tokenizer, max_length))
            if abs(got - want) < 1e-9:
                continue
            if abs(got - _trained_share(prompts, completions, tokenizer, max_length, eos=0)) < 1e-9:
                return False, "the end-of-sequence token appended after the answer is trained too: count it"
            if abs(got - _trained_share(prompts, completions, tokenizer, None)) < 1e-9:
                return False, f"cut every sequence (answer + EOS included) to its first max_length={max_length} tokens"
            if abs(got - _trained_share(prompts, completions, tokenizer, max_length, pooled=False)) < 1e-9:
                return False, "that is the mean of per-dialogue shares: pool the tokens (all trained / all kept)"
            return False, f"at max_length={max_length} expected a share of {want:.4f}, got {got:.4f}"
        return True, ""

    from course_lib.env import quiet_hf

    def quiet_check():
        with quiet_hf():
            return check()

    return run_check("6.1", quiet_check)


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


def _twin_share(train_answers, test_answers, threshold: float = 0.7) -> float:
    from course_lib.chapters.ch06_sft import near_twins

    return len(near_twins(train_answers, test_answers, threshold)) / len(test_answers)


def check_twin_share(twin_share) -> bool:
    """Exercise 6.3: ``twin_share(train_answers, test_answers) -> share of held-out answers with a near-twin``
    (token F1 >= 0.7 with some training answer), on the offline dialogues split by module and split at random."""

    def check():
        import random

        by_module = {split: [p["completion"] for p in _docs_qa_pairs(split)] for split in ("train", "test")}
        pooled = by_module["train"] + by_module["test"]
        shuffled = random.Random(0).sample(pooled, len(pooled))
        n_test = len(by_module["test"])
        at_random = {"train": shuffled[n_test:], "test": shuffled[:n_test]}
        for name, split in (("split by module", by_module), ("split at random", at_random)):
            want = _twin_share(split["train"], split["test"])
            got = float(twin_share(list(split["train"]), list(split["test"])))
            if abs(got - want) < 1e-9:
                continue
            if abs(got - want * n_test) < 1e-9:
                return False, "that is a count: divide by the number of held-out answers"
            if abs(got - _twin_share(split["test"], split["train"])) < 1e-9:
                return False, "that is the share of *training* answers: look for a twin of each held-out answer"
            if abs(got - _twin_share(split["train"], split["test"], 1.0)) < 1e-9:
                return False, "that counts exact matches only: a near-twin has token F1 >= 0.7"
            return False, f"{name}: expected a share of {want:.4f}, got {got:.4f}"
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


def _unpaired_width(before, after, n_resamples: int, seed: int) -> float:
    """Width of the 95% percentile interval when each side is resampled on its own (the pairing thrown away)."""
    import numpy as np

    n = len(before)
    idx = np.random.default_rng(seed).integers(0, n, size=(2, n_resamples, n))
    means = np.asarray(after, dtype=float)[idx[0]].mean(1) - np.asarray(before, dtype=float)[idx[1]].mean(1)
    low, high = np.quantile(means, [0.025, 0.975])
    return float(high - low)


def check_paired_bootstrap(paired_bootstrap) -> bool:
    """Exercise 6.5: a percentile bootstrap interval of the mean paired difference, and why pairing narrows it.

    On scores that share each question's difficulty, the paired interval must be well under the unpaired one (less
    than :data:`NARROWER` of its width: here it is about a quarter): an answer that resamples the two sides on its own
    keeps the difficulty in the difference, gets an interval about as wide as the unpaired one and is turned down
    with that hint before its numbers are compared with the reference's."""

    def check():
        import numpy as np

        from course_lib.chapters.ch06_sft import paired_bootstrap as reference

        rng = np.random.default_rng(0)
        difficulty = rng.uniform(0, 0.6, size=60)  # some questions are hard for both models
        before = np.clip(difficulty + rng.normal(0, 0.05, 60), 0, 1).tolist()
        after = np.clip(difficulty + 0.04 + rng.normal(0, 0.05, 60), 0, 1).tolist()
        unpaired = _unpaired_width(before, after, 2000, seed=0)
        for seed in (0, 1):
            got = tuple(float(v) for v in paired_bootstrap(before, after, 2000, seed))
            if len(got) != 2 or not got[0] <= got[1]:
                return False, f"return the interval as a tuple (low, high) with low <= high, got {got}"
            if not got[1] - got[0] < NARROWER * unpaired:
                return False, (f"your interval is {got[1] - got[0]:.4f} wide, nearly as wide as resampling each side "
                               f"on its own ({unpaired:.4f}): draw one set of question indices and average "
                               "diff[idx] = (after - before)[idx], so that what the two scores of a question share "
                               "cancels in the difference")
            want = reference(before, after, n_resamples=2000, seed=seed)
            if not np.allclose(got, want, atol=1e-9):
                return False, (f"with seed={seed} the interval should be ({want[0]:+.4f}, {want[1]:+.4f}), got "
                               f"({got[0]:+.4f}, {got[1]:+.4f}): draw the indices exactly as described")
        return True, ""

    return run_check("6.5", check)
