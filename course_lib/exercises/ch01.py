"""Checkers for the chapter-1 exercises.

Exercises 1.1 and 1.2 run on real IMDB reviews (the offline copy, :func:`imdb_sample`), loaded in about a second.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from course_lib.exercises.ch04 import single_thread
from course_lib.grading import run_check
from course_lib.nn.encoder import TransformerClassifier, TransformerConfig

SAMPLE_SIZE = 500  # training and test reviews of the exercises' IMDB sample
MAX_LEN = 128  # tokens the chapter's Transformer reads per review (cfg.max_len of the fast profile)
VOCAB_SIZE = 5000
NOISE_REVIEWS = 100  # test reviews whose features exercise 1.2 compares


@lru_cache(maxsize=1)
def imdb_sample():
    """500 training and 500 test IMDB reviews (offline copy, seed 0): a ``DatasetDict`` with ``text`` and ``label``."""
    from course_lib.data.loaders import Sizes, load_text_classification

    return load_text_classification("imdb", "offline", Sizes(train=SAMPLE_SIZE, validation=50, test=SAMPLE_SIZE),
                                     seed=0)


def _bow_reference(train, test, max_tokens):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from course_lib.data.text import basic_english

    def cut(texts):
        return [" ".join(basic_english(t)[:max_tokens]) for t in texts]

    vectorizer = TfidfVectorizer(sublinear_tf=True)
    x_train = vectorizer.fit_transform(cut(train["text"]))
    clf = LogisticRegression(C=10.0, solver="liblinear").fit(x_train, list(train["label"]))
    return float(clf.score(vectorizer.transform(cut(test["text"])), list(test["label"])))


@lru_cache(maxsize=4)
def _bow_expected(max_tokens):
    sample = imdb_sample()
    return _bow_reference(sample["train"], sample["test"], max_tokens)


def check_bow_accuracy(fn) -> bool:
    """Exercise 1.1: ``fn(train, test, max_tokens) -> float``: bag-of-words test accuracy when every review is cut
    to its first ``max_tokens`` tokens (``None``: whole reviews).

    Protocol: ``basic_english`` tokens, the first ``max_tokens`` joined by spaces; ``TfidfVectorizer(sublinear_tf=
    True)`` fitted on the training texts; ``LogisticRegression(C=10.0, solver="liblinear")``; accuracy on test.
    """

    def check():
        sample = imdb_sample()
        for max_tokens in (MAX_LEN, None):
            expected = _bow_expected(max_tokens)
            got = float(fn(sample["train"], sample["test"], max_tokens))
            if abs(got - expected) > 1e-6:
                if max_tokens is not None and abs(got - _bow_expected(None)) < 1e-6:
                    return False, f"with max_tokens={max_tokens} you read whole reviews: keep the first tokens only"
                return False, (f"max_tokens={max_tokens}: expected test accuracy {expected:.3f}, got {got:.3f}. Cut "
                               "basic_english(text)[:max_tokens] for train and test texts alike, TfidfVectorizer("
                               "sublinear_tf=True), LogisticRegression(C=10.0, solver='liblinear')")
        return True, ""

    return run_check("1.1", check)


@lru_cache(maxsize=1)
def _encoder_inputs():
    """A chapter-1 style encoder (random weights, seed 0) and the padded ids of 100 test reviews, cut at 128."""
    import collections

    from course_lib.data.text import TextPipeline, basic_english, vocab_from_words

    sample = imdb_sample()
    counts = collections.Counter(w for text in sample["train"]["text"] for w in basic_english(text))
    vocab = vocab_from_words([w for w, _ in counts.most_common(VOCAB_SIZE) if w not in ("<unk>", "<pad>")])
    pipeline = TextPipeline(vocab, max_len=MAX_LEN)
    ids = [torch.tensor(pipeline(text)) for text in sample["test"]["text"][:NOISE_REVIEWS]]
    input_ids = torch.nn.utils.rnn.pad_sequence(ids, batch_first=True, padding_value=vocab.pad_index)
    return len(vocab), vocab.pad_index, input_ids


def encoder_and_reviews(dropout: float = 0.1, seed: int = 0):
    """``(model, input_ids)``: chapter 1's encoder architecture (d=100, 2 layers, feed-forward 128, ``dropout``) with
    random weights, and 100 real test reviews as padded ids ``(100, <=128)``."""
    vocab_size, pad_index, input_ids = _encoder_inputs()
    torch.manual_seed(seed)
    model = TransformerClassifier(torch.randn(vocab_size, 100),
                                  TransformerConfig(num_labels=2, dim_feedforward=128, max_len=MAX_LEN,
                                                    dropout=dropout), pad_index=pad_index)
    return model, input_ids.clone()


@lru_cache(maxsize=4)
def _noise_expected(dropout: float) -> float:
    return _noise_reference(*encoder_and_reviews(dropout))


def _noise_reference(model, input_ids, seed=1):
    with torch.no_grad():
        model.eval()
        clean = model.encode(input_ids)
        model.train()
        torch.manual_seed(seed)
        noisy = model.encode(input_ids)
        model.eval()
    return ((noisy - clean).norm(dim=1) / clean.norm(dim=1)).mean().item()


def check_dropout_noise(fn) -> bool:
    """Exercise 1.2: ``fn(model, input_ids) -> float``: the mean over reviews of ``||f_train - f_eval|| / ||f_eval||``,
    where ``f`` is ``model.encode(input_ids)`` in train mode (dropout on) and in eval mode.

    Averaged over 100 reviews the number hardly depends on the random draw, so it is compared within 8%
    (one norm over the whole batch instead of one per review lands within 2%, and is accepted).
    """

    def check():
        for dropout in (0.1, 0.3):
            got = float(fn(*encoder_and_reviews(dropout)))
            expected = _noise_expected(dropout)
            if not math.isfinite(got) or abs(got - expected) > 0.08 * expected:
                if abs(got) < 1e-6:
                    return False, "you measured no change: one pass in eval mode (model.eval()), one in train mode"
                if got > expected:
                    return False, (f"dropout {dropout}: expected about {expected:.3f}, got {got:.3f}, too large. "
                                   "Compare one train-mode pass with the eval-mode features (two train-mode passes "
                                   "are both noisy), per review, relative to the eval-mode features")
                return False, (f"dropout {dropout}: expected about {expected:.3f}, got {got:.3f}. Per review: norm "
                               "of the difference over the norm of the eval-mode features; then the mean")
        return True, ""

    with single_thread():
        return run_check("1.2", check)


def check_cross_talk(fn) -> bool:
    """Exercise 1.3: ``fn(layer, x) -> float``: how much review 0's output moves when only review 1 changes.

    The experiment behind the source's ``batch_first`` bug: run the layer on ``x`` of shape ``(B, T, d)`` exactly as
    given, then on a copy whose review 1 is replaced by zeros, and return the largest absolute change in review 0's
    output. A correct layer (``batch_first=True``) gives 0: reviews do not see each other. The source's layer
    (``batch_first=False``) reads ``(B, T, d)`` as ``(T, B, d)``, so attention mixes the reviews of a batch.
    """

    def reference(layer, x):
        with torch.no_grad():
            changed = x.clone()
            changed[1] = 0.0
            return (layer(x)[0] - layer(changed)[0]).abs().max().item()

    def check():
        torch.manual_seed(0)
        x = torch.randn(4, 6, 8)  # (B, T, d): 4 reviews of 6 tokens
        results = {}
        for batch_first in (True, False):
            torch.manual_seed(1)
            layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=batch_first).eval()
            got = float(fn(layer, x))
            expected = reference(layer, x)
            if abs(got - expected) > 1e-5:
                return False, (f"with batch_first={batch_first} expected {expected:.4f}, got {got:.4f}: run the layer "
                               "on x and on a copy with review 1 set to zeros, compare review 0's outputs")
            results[batch_first] = got
        if not (results[True] < 1e-6 < results[False]):
            return False, "a correct layer should show no cross-talk and the source's layer some"
        return True, ""

    return run_check("1.3", check)
