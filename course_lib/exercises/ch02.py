"""Checkers for chapter 2's exercises (inference by hand). Each prints one verdict line via ``run_check``."""

from __future__ import annotations

from course_lib.grading import close, run_check


def check_softmax_label(fn) -> bool:
    """Exercise 2.1: ``fn(logits, id2label) -> (label, probability)`` for a 1-D logits tensor."""
    import torch

    def check():
        id2label = {0: "NEGATIVE", 1: "POSITIVE", 2: "NEUTRAL"}
        for logits in ([-3.9954, 4.3336, 0.0], [2.0, 1.0, 0.5], [1000.0, 1001.0, 999.0]):
            t = torch.tensor(logits)
            probs = torch.softmax(t, dim=-1)
            want_label, want_p = id2label[int(probs.argmax())], float(probs.max())
            label, p = fn(t, id2label)
            if label != want_label:
                return False, f"for logits {logits} the label should be {want_label!r}, got {label!r}"
            if not close(float(p), want_p, atol=1e-5):
                return False, (f"for logits {logits} the probability should be {want_p:.4f}, got {float(p):.4f}"
                               " (softmax over the last axis; subtract the max first for large logits)")
        return True, ""

    return run_check("2.1", check)


def check_mean_pool(fn) -> bool:
    """Exercise 2.2: ``fn(last_hidden_state (B, T, d), attention_mask (B, T)) -> (B, d)``, padding excluded."""
    import torch

    def check():
        g = torch.Generator().manual_seed(0)
        hidden = torch.randn(3, 5, 4, generator=g)
        mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]])
        want = torch.stack([hidden[b, : int(mask[b].sum())].mean(0) for b in range(3)])
        got = fn(hidden, mask)
        if tuple(got.shape) != (3, 4):
            return False, f"expected shape (3, 4), got {tuple(got.shape)}"
        if close(got, hidden.mean(1)) and not close(got, want):
            return False, "padding positions were averaged in: weight each position by the attention mask"
        return close(got, want, atol=1e-5), "the mean over the real (mask = 1) tokens is not right"

    return run_check("2.2", check)


def check_cosine_matrix(fn) -> bool:
    """Exercise 2.3: ``fn(x (N, d)) -> (N, N)`` cosine similarities of the rows."""
    import torch

    def check():
        x = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0], [-1.0, -1.0]])
        want = torch.nn.functional.cosine_similarity(x[:, None], x[None], dim=-1)
        got = fn(x)
        if tuple(got.shape) != (4, 4):
            return False, f"expected shape (4, 4), got {tuple(got.shape)}"
        if close(got, x @ x.T):
            return False, "that is the dot product: divide by the norms of both vectors"
        return close(got, want, atol=1e-5), "entry [i, j] should be cos(angle between row i and row j)"

    return run_check("2.3", check)


def reference_top_p(probs, top_p: float):
    import torch

    sorted_p, order = torch.sort(probs, descending=True)
    cum = torch.cumsum(sorted_p, dim=-1)
    keep_sorted = (cum - sorted_p) < top_p  # keep a token if the mass before it is still below top_p
    keep = torch.zeros_like(probs, dtype=torch.bool)
    keep[order[keep_sorted]] = True
    out = torch.where(keep, probs, torch.zeros_like(probs))
    return out / out.sum()


def check_top_p(fn) -> bool:
    """Exercise 2.4: ``fn(probs (V,), top_p) -> (V,)``: keep the smallest most-likely set reaching ``top_p``."""
    import torch

    def check():
        cases = [([0.5, 0.3, 0.15, 0.05], 0.7), ([0.1, 0.6, 0.3], 0.5), ([0.25, 0.25, 0.25, 0.25], 1.0),
                 ([0.05, 0.15, 0.5, 0.3], 0.9)]
        for p, top_p in cases:
            probs = torch.tensor(p)
            want, got = reference_top_p(probs, top_p), fn(probs, top_p)
            if not close(got, want, atol=1e-5):
                return False, (f"probs={p}, top_p={top_p}: expected {[round(float(v), 3) for v in want]}, got "
                               f"{[round(float(v), 3) for v in torch.as_tensor(got)]}")
        return True, ""

    return run_check("2.4", check)


def _entropy_bits(logits, temperature: float) -> float:
    import math

    import torch

    logp = torch.log_softmax(logits.double() / temperature, dim=-1)
    return float(-(logp.exp() * logp).sum() / math.log(2))


def check_entropy_by_temperature(fn) -> bool:
    """Exercise 2.2: ``fn(logits (V,), temperatures) -> [entropy in bits of softmax(logits / t) for t]``, measured
    over the whole vocabulary on next-token-like logits (a few likely tokens, a long tail)."""
    import math

    import torch

    def check():
        g = torch.Generator().manual_seed(0)
        logits = -2.0 * torch.log(torch.arange(1, 5001, dtype=torch.float32)) + 0.3 * torch.randn(5000, generator=g)
        temps = [0.5, 1.0, 1.5, 2.0]
        want = [_entropy_bits(logits, t) for t in temps]
        got = [float(v) for v in fn(logits, temps)]
        if len(got) != len(temps):
            return False, f"return one entropy per temperature ({len(temps)}), got {len(got)}"
        if all(abs(g_ - w * math.log(2)) < 1e-3 for g_, w in zip(got, want)):
            return False, "these are nats (natural log): divide by ln 2 for bits"
        top20 = [float(-(p * p.log2()).sum()) for p in
                 (torch.softmax(logits / t, -1).sort(descending=True).values[:20] for t in temps)]
        if all(abs(g_ - w) < 1e-3 for g_, w in zip(got, top20)):
            return False, "that is the entropy of the top 20 only: the tail's probability counts too"
        if not all(abs(g_ - w) < 1e-3 for g_, w in zip(got, want)):
            return False, (f"expected about {[round(w, 2) for w in want]} bits, got {[round(g_, 2) for g_ in got]}: "
                           "softmax(logits / t) over the whole vocabulary, then -sum p log2 p")
        return True, ""

    return run_check("2.2", check)


def _truncation_reference(texts, tokenizer, max_length: int, *, room: int = 2, pooled: bool = True) -> dict:
    """Reference for exercise 2.5 (``room``/``pooled`` give the plausible wrong answers the hints name)."""
    lengths = [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]]
    fits = max_length - room
    cut = [max(0, n - fits) for n in lengths]
    if pooled:
        tokens_cut = sum(cut) / sum(lengths)
    else:
        tokens_cut = sum(c / n for c, n in zip(cut, lengths) if n) / len(lengths)
    return {"reviews_cut": sum(c > 0 for c in cut) / len(lengths), "tokens_cut": tokens_cut}


def check_truncation_share(fn) -> bool:
    """Exercise 2.5: ``fn(texts, tokenizer, max_length) -> {"reviews_cut": share, "tokens_cut": share}`` measured
    with MiniLM's tokenizer on 300 held-out IMDB reviews at ``max_length`` 128 and 256."""

    def check():
        from transformers import AutoTokenizer

        from course_lib.data.loaders import Sizes, load_text_classification
        from course_lib.hub import MINILM, checkpoint

        texts = list(load_text_classification("imdb", "offline", Sizes(train=1, validation=1, test=300))
                     ["test"]["text"])
        tokenizer = AutoTokenizer.from_pretrained(checkpoint(MINILM, "offline"))
        for max_length in (128, 256):
            want = _truncation_reference(texts, tokenizer, max_length)
            got = dict(fn(texts, tokenizer, max_length))
            if set(got) != {"reviews_cut", "tokens_cut"}:
                return False, f"return a dict with the keys 'reviews_cut' and 'tokens_cut', got {sorted(got)}"
            got = {k: float(v) for k, v in got.items()}
            if all(abs(got[k] - want[k]) < 1e-9 for k in want):
                continue
            words = [len(t.split()) for t in texts]
            word_cut = sum(max(0, n - (max_length - 2)) for n in words) / sum(words)
            if abs(got["tokens_cut"] - word_cut) < 1e-6:
                return False, "that counts words: count WordPiece tokens, tokenizer(texts, add_special_tokens=False)"
            no_room = _truncation_reference(texts, tokenizer, max_length, room=0)
            if all(abs(got[k] - no_room[k]) < 1e-9 for k in want):
                return False, f"[CLS] and [SEP] take 2 of the {max_length} positions: only {max_length - 2} " \
                              "text tokens fit"
            per_review = _truncation_reference(texts, tokenizer, max_length, pooled=False)
            if abs(got["tokens_cut"] - per_review["tokens_cut"]) < 1e-9:
                return False, "that is the mean of per-review shares: pool the tokens (all cut / all tokens)"
            return False, (f"at max_length={max_length} expected reviews_cut {want['reviews_cut']:.4f} and "
                           f"tokens_cut {want['tokens_cut']:.4f}, got {got['reviews_cut']:.4f} and "
                           f"{got['tokens_cut']:.4f}")
        return True, ""

    from course_lib.env import quiet_hf

    def quiet_check():  # no length warning or progress bar: the check prints its verdict line only
        with quiet_hf():
            return check()

    return run_check("2.5", quiet_check)
