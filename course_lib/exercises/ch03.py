"""Checkers for chapter 3's exercises (masked-LM pretraining). Each prints one verdict line via ``run_check``."""

from __future__ import annotations

import math

from course_lib.grading import close, run_check


def check_group_into_blocks(fn) -> bool:
    """Exercise 3.1: ``fn(token_lists, block_size) -> list of blocks`` (concatenate, cut, drop the remainder)."""

    def check():
        lists = [[2, 10, 11, 3], [2, 12, 3], [2, 13, 14, 15, 3]]
        for size, want in ((4, [[2, 10, 11, 3], [2, 12, 3, 2], [13, 14, 15, 3]]),
                           (5, [[2, 10, 11, 3, 2], [12, 3, 2, 13, 14]]), (13, [])):
            got = [list(b) for b in fn(lists, size)]
            if got != want:
                return False, f"block_size={size}: expected {want}, got {got}"
        return True, ""

    return run_check("3.1", check)


def reference_wordpiece(word: str, vocab: set[str], unk: str = "[UNK]") -> list[str]:
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                break
            end -= 1
        if end == start:
            return [unk]
        pieces.append(piece)
        start = end
    return pieces


def check_wordpiece(fn) -> bool:
    """Exercise 3.2: ``fn(word, vocab) -> pieces``: greedy longest-match-first WordPiece with ``##`` pieces."""

    def check():
        vocab = {"un", "##aff", "##able", "##a", "##ff", "aff", "able", "token", "##izer", "##s", "##ization", "x"}
        for word in ("unaffable", "tokenizers", "tokenization", "affable", "x", "unx", "qq"):
            want, got = reference_wordpiece(word, vocab), list(fn(word, vocab))
            if got != want:
                return False, f"{word!r}: expected {want}, got {got}"
        return True, ""

    return run_check("3.2", check)


def check_mlm_perplexity(fn) -> bool:
    """Exercise 3.3: ``fn(logits (B, T, V), labels (B, T)) -> perplexity`` over positions with label != -100."""
    import torch

    def check():
        g = torch.Generator().manual_seed(0)
        logits = torch.randn(2, 6, 11, generator=g)
        labels = torch.full((2, 6), -100)
        labels[0, 1], labels[0, 4], labels[1, 0], labels[1, 5] = 3, 7, 0, 10
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 11), labels.reshape(-1), ignore_index=-100)
        want = math.exp(float(loss))
        got = float(fn(logits, labels))
        if close(got, float(loss), atol=1e-4):
            return False, "that is the loss: perplexity is exp(loss)"
        return close(got, want, atol=1e-3), f"expected {want:.4f}, got {got:.4f} (ignore positions labelled -100)"

    return run_check("3.3", check)


def check_count_masking(fn) -> bool:
    """Exercise 3.4: ``fn(original, input_ids, labels, mask_id) -> {"mask": n, "random": n, "kept": n}``."""
    import torch

    def check():
        original = torch.tensor([[2, 10, 11, 12, 13, 14, 3]])
        seen = torch.tensor([[2, 4, 11, 4, 20, 14, 3]])
        labels = torch.tensor([[-100, 10, -100, 12, 13, 14, -100]])
        want = {"mask": 2, "random": 1, "kept": 1}
        got = {k: int(v) for k, v in dict(fn(original, seen, labels, 4)).items()}
        return got == want, f"expected {want}, got {got} (only positions with a label were chosen)"

    return run_check("3.4", check)


def _partial_word_share(tokens, chosen) -> float:
    """Reference for exercise 3.5 (kept here, not in ``course_lib.chapters.ch03_mlm``: the chapter does not use it)."""
    words, start = [], 0
    for i in range(1, len(tokens) + 1):
        if i == len(tokens) or not tokens[i].startswith("##"):
            words.append(range(start, i))
            start = i
    n_chosen = sum(bool(c) for c in chosen)
    partial = sum(1 for w in words for i in w if chosen[i] and not all(chosen[j] for j in w))
    return partial / n_chosen if n_chosen else 0.0


def check_partial_word_share(fn) -> bool:
    """Exercise 3.5: the share of chosen WordPiece positions whose word keeps a visible piece."""
    import random

    def check():
        tokens = ["the", "act", "##ing", "was", "un", "##be", "##liev", "##able"]
        cases = [([0, 1, 0, 0, 0, 0, 0, 0], 1.0), ([0, 1, 1, 0, 0, 0, 0, 0], 0.0), ([1, 0, 0, 1, 0, 0, 0, 0], 0.0),
                 ([0, 0, 0, 0, 1, 0, 1, 0], 1.0), ([1, 1, 1, 0, 0, 0, 0, 1], 0.25), ([0] * 8, 0.0)]
        for chosen, want in cases:
            got = float(fn(list(tokens), [bool(c) for c in chosen]))
            if abs(got - want) > 1e-9:
                return False, (f"for {tokens} with chosen={chosen} the share should be {want}, got {got} "
                               "(a word is a token plus the ##-pieces after it)")
        rng = random.Random(3)
        vocab = ["the", "movie", "was", "##s", "##ing", "##ly", "un", "##able", "great", "##er"]
        for _ in range(50):
            toks = [rng.choice(vocab[:3])] + [rng.choice(vocab) for _ in range(rng.randint(1, 30))]
            chosen = [rng.random() < 0.3 for _ in toks]
            want, got = _partial_word_share(toks, chosen), float(fn(toks, chosen))
            if abs(got - want) > 1e-9:
                return False, f"for {toks} with chosen={chosen} the share should be {want:.4f}, got {got:.4f}"
        return True, ""

    return run_check("3.5", check)
