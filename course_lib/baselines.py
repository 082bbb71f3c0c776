"""Baselines every transfer strategy is read against, on the same splits.

- :func:`tfidf_logreg`: TF-IDF of word 1-2-grams + logistic regression (scikit-learn). A strong, cheap baseline
  for document classification: on 500 IMDB reviews it reaches ~0.83, which a small Transformer trained on those
  500 reviews does not. Its regularisation ``C`` is picked on the validation split.
- :func:`finetune_pretrained`: a real pretrained Transformer (all-MiniLM-L6-v2 offline, the same checkpoint on the
  hub) fully fine-tuned on the same labels with the native loop of :mod:`course_lib.finetune`; the learning rate
  is picked on validation from a small grid, like every other compared run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)


@dataclass
class BaselineResult:
    name: str
    accuracy: float
    validation_accuracy: float
    setting: dict  # the hyper-parameter chosen on validation
    trainable_params: int | None = None
    total_params: int | None = None


def tfidf_logreg(train, validation, test, *, c_grid=C_GRID, seed: int = 0) -> BaselineResult:
    """TF-IDF (1-2-grams, sublinear tf) + logistic regression; ``C`` chosen on ``validation``, tested on ``test``.

    ``train``/``validation``/``test`` are ``datasets.Dataset`` (or dicts) with ``text`` and ``label`` columns.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    x_train = vectorizer.fit_transform(list(train["text"]))
    x_val, x_test = vectorizer.transform(list(validation["text"])), vectorizer.transform(list(test["text"]))
    y_train, y_val, y_test = list(train["label"]), list(validation["label"]), list(test["label"])
    best = None
    for c in c_grid:
        clf = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(x_train, y_train)
        val = clf.score(x_val, y_val)
        if best is None or val > best[0]:
            best = (val, c, clf)
    val, c, clf = best
    n_params = int(clf.coef_.size + clf.intercept_.size)
    return BaselineResult("tfidf_logreg", float(clf.score(x_test, y_test)), float(val), {"C": c},
                          trainable_params=n_params, total_params=n_params)


@dataclass(frozen=True)
class PretrainedFinetuneConfig:
    """The pretrained-Transformer baseline: checkpoint, sequence length, budget and the learning-rate grid."""

    hub_id: str = "sentence-transformers/all-MiniLM-L6-v2"
    max_length: int = 128
    batch_size: int = 16
    epochs: int = 2
    min_steps: int = 60  # small label budgets get more epochs, so that every run takes at least this many steps
    lr_grid: tuple[float, ...] = (2e-5, 5e-5, 1e-4)
    mixed_precision: str = "bf16"  # a request, granted only on a GPU that supports it (course_lib.precision)


def finetune_pretrained(train, validation, test, *, source: str, num_labels: int,
                        cfg: PretrainedFinetuneConfig = PretrainedFinetuneConfig(), seed: int = 0) -> BaselineResult:
    """Fine-tune the whole pretrained encoder plus a new head; keep the learning rate with the best validation.

    Each candidate learning rate trains a fresh copy for ``cfg.epochs`` epochs; only the winner is tested. With a
    single learning rate (one chosen earlier on validation) no validation pass is spent.
    """
    import torch

    from datasets import DatasetDict
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from course_lib.finetune import evaluate_accuracy, make_dataloaders, tokenize_ratings, train_native
    from course_lib.hub import checkpoint

    path = checkpoint(cfg.hub_id, source)
    tokenizer = AutoTokenizer.from_pretrained(path)
    splits = DatasetDict({"train": train, "validation": validation, "test": test})
    loaders = make_dataloaders(tokenize_ratings(splits, tokenizer, cfg.max_length), tokenizer, cfg.batch_size,
                               seed=seed)

    best, by_lr = None, {}
    for lr in cfg.lr_grid:
        torch.manual_seed(seed)
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # the new head's "newly initialized" notice: expected here
        try:
            model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=num_labels)
        finally:
            hf_logging.set_verbosity(verbosity)
        epochs = max(cfg.epochs, math.ceil(cfg.min_steps / len(loaders["train"])))
        train_native(model, loaders["train"], epochs=epochs, lr=lr, mixed_precision=cfg.mixed_precision,
                     desc=f"fine-tune lr={lr:g}")
        val = evaluate_accuracy(model, loaders["validation"])["accuracy"] if len(cfg.lr_grid) > 1 else float("nan")
        by_lr[repr(lr)] = val
        if best is None or val > best[0]:
            best = (val, lr, model)
    val, lr, model = best
    test_acc = evaluate_accuracy(model, loaders["test"])["accuracy"]
    n_params = sum(p.numel() for p in model.parameters())
    return BaselineResult("pretrained_finetune", float(test_acc), float(val),
                          {"lr": lr, "hub_id": cfg.hub_id, "validation_by_lr": by_lr},
                          trainable_params=n_params, total_params=n_params)
