"""Checkers for chapter 3's exercises (masked-LM pretraining). Each prints one verdict line via ``run_check``."""

from __future__ import annotations

import math

from course_lib.grading import close, run_check


def _padding_reference(texts, tokenizer, batch_size: int, by_length: bool, *, ratio: bool = False,
                       limit: int | None = 512) -> float:
    """Reference for exercise 3.1 (``ratio``/``limit`` give the plausible wrong answers the hints name)."""
    lengths = [len(ids) for ids in tokenizer(list(texts), verbose=False)["input_ids"]]  # no over-512 notice
    if limit is not None:
        lengths = [min(n, limit) for n in lengths]
    if by_length:
        lengths = sorted(lengths)
    batches = [lengths[i:i + batch_size] for i in range(0, len(lengths), batch_size)]
    pads = sum(max(b) * len(b) - sum(b) for b in batches)
    return pads / sum(lengths) if ratio else pads / sum(max(b) * len(b) for b in batches)


def _corpus_lines(n_train: int, n_eval: int):
    from course_lib.data.corpora import load_corpus

    corpus = load_corpus("offline", max_train_lines=n_train, max_eval_lines=n_eval)
    return list(corpus["train"]["text"]), list(corpus["validation"]["text"])


def _bert_tokenizer():
    from course_lib.experiments.mlm import base_tokenizer

    return base_tokenizer("offline")


def _quiet(check):
    """``check`` with transformers' and datasets' warnings and progress bars off: only the verdict line shows."""
    from course_lib.env import quiet_hf

    def quiet_check():
        with quiet_hf():
            return check()

    return quiet_check


def check_pad_share(fn) -> bool:
    """Exercise 3.1: ``fn(texts, tokenizer, batch_size, by_length) -> share of [PAD] positions`` when batches of
    ``batch_size`` lines (truncated at 512 tokens) are padded to their longest line, in corpus order or sorted by
    length first; measured on 512 lines of the offline corpus with BERT's uncased tokenizer."""

    def check():
        texts, _ = _corpus_lines(512, 1)  # the check reads train lines only
        tokenizer = _bert_tokenizer()
        for by_length in (False, True):
            want = _padding_reference(texts, tokenizer, 32, by_length)
            got = float(fn(texts, tokenizer, 32, by_length))
            if abs(got - want) < 1e-9:
                continue
            if abs(got - _padding_reference(texts, tokenizer, 32, by_length, ratio=True)) < 1e-9:
                return False, "that is [PAD] per real token: divide by all positions (real + [PAD])"
            if abs(got - _padding_reference(texts, tokenizer, 32, by_length, limit=None)) < 1e-9:
                return False, "a line longer than 512 tokens is truncated to 512 first (truncation=True)"
            if abs(got - _padding_reference(texts, tokenizer, 32, not by_length)) < 1e-9:
                return False, "with by_length=True sort the lines by token count before cutting them into batches"
            return False, f"with by_length={by_length} expected a [PAD] share of {want:.4f}, got {got:.4f}"
        return True, ""

    return run_check("3.1", _quiet(check))


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
    """Reference for exercise 3.5 (kept here, not in ``course_lib.experiments.mlm``: the chapter does not use it)."""
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


def _pieces_reference(train_texts, test_texts, vocab_size: int, *, tokenizer=None) -> float:
    """Reference for exercise 3.6: WordPiece tokens per whitespace word on ``test_texts`` for a vocabulary of
    ``vocab_size`` learned on ``train_texts`` (or for ``tokenizer`` as it is)."""
    if tokenizer is None:
        tokenizer = _bert_tokenizer().train_new_from_iterator(list(train_texts), vocab_size=vocab_size,
                                                             show_progress=False)
    tokens = sum(len(ids) for ids in tokenizer(list(test_texts), add_special_tokens=False, verbose=False)["input_ids"])
    return tokens / sum(len(t.split()) for t in test_texts)


def check_pieces_per_word(fn) -> bool:
    """Exercise 3.6: ``fn(train_texts, test_texts, vocab_size) -> WordPiece tokens per word`` on held-out reviews for
    a vocabulary trained at ``vocab_size``; checked at 1,000 and 8,000 on 1,500 training and 200 held-out lines.

    Two trainings on the same text may differ in a few tokens (``tokenizers`` breaks frequency ties in hash-map
    order), so the answer has to be within 0.01 of the reference."""

    def check():
        train, test = _corpus_lines(1500, 200)
        bert = _pieces_reference(train, test, 0, tokenizer=_bert_tokenizer())
        got_by_size = {}
        for vocab_size in (1000, 8000):
            want = _pieces_reference(train, test, vocab_size)
            got = got_by_size[vocab_size] = float(fn(train, test, vocab_size))
            if abs(got - want) <= 0.01:
                continue
            if abs(got - 1 / want) <= 0.01:
                return False, "that is words per token: divide the token count by the word count"
            if abs(got - bert) <= 0.01:
                return False, ("that is BERT's own vocabulary: train a new one with "
                               "tokenizer.train_new_from_iterator(train_texts, vocab_size=vocab_size)")
            n_texts = len(test)
            words = sum(len(t.split()) for t in test)
            if abs(got - (want + 2 * n_texts / words)) <= 0.005:
                return False, "[CLS] and [SEP] are counted: tokenise with add_special_tokens=False"
            return False, f"with vocab_size={vocab_size} expected about {want:.3f} tokens per word, got {got:.3f}"
        if got_by_size[1000] == got_by_size[8000]:
            return False, "the result does not change with vocab_size: train a new vocabulary for each size"
        return True, ""

    return run_check("3.6", _quiet(check))
