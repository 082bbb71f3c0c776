"""Chapter 6, part 1: fine-tuning a pretrained encoder for 5-class classification with a native PyTorch loop.

The source notebook fine-tuned ``bert-base-cased`` on 1,000 Yelp reviews (``Yelp/yelp_review_full``) with a plain
loop: ``datasets.map`` tokenization, ``DataLoader``, ``AdamW``, a ``LambdaLR`` linear decay, and an accuracy
metric. This module keeps that recipe and fixes what it left out:

- the loop runs on :class:`accelerate.Accelerator`, so the same code uses a GPU with ``bf16`` in the full profile
  (:func:`course_lib.precision.choose_precision` decides what the GPU supports);
- the model is placed on the training device when it is loaded, so every evaluation (before training, after it,
  and of the reloaded copy) runs on the device it trains on, in float32;
- batches are padded to their own longest review (``DataCollatorWithPadding``), not to 512 tokens;
- accuracy is measured *before* and *after* fine-tuning and compared with the majority-class baseline (the
  number any 5-class classifier must beat) and with a TF-IDF + logistic-regression baseline on the same split;
- the model is saved with ``save_pretrained`` (safetensors), never pickled.

With ``SOURCE=offline`` the encoder is the real all-MiniLM-L6-v2 (a 6-layer BERT, 22.7M parameters) and the
data are real BBC News articles in 5 topics (business, entertainment, politics, sport, tech), standing in for
Yelp's 5 star ratings (same schema; see :mod:`course_lib.data`). Topics are a much easier task than star ratings:
a bag of words already separates them, which is why the chapter shows the TF-IDF baseline next to the
fine-tuned encoder.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from course_lib import precision
from course_lib.config import Profile, Run
from course_lib.data import Sizes, label_names, load_text_classification
from course_lib.hub import checkpoint
from course_lib.training import show_progress


@dataclass(frozen=True)
class FinetuneConfig:
    """Data sizes and optimisation settings of part 1, per profile."""

    sizes: Sizes
    max_length: int  # tokens kept per review
    batch_size: int
    epochs: int
    lr: float
    weight_decay: float = 0.01
    mixed_precision: str = "no"  # a request: `course_lib.precision.choose_precision` decides what the GPU does
    hub_id: str = "bert-base-cased"
    dataset: str = "yelp"


def config_for(profile: Profile) -> FinetuneConfig:
    """``fast``: 600 training texts cut at 64 tokens, 1 epoch: about half a minute on a 2-core CPU (the source used
    1,000 reviews at 512 tokens; offline the texts are BBC News articles of a few hundred words, so the encoder
    reads only their opening). ``full``: a large subset of Yelp on a GPU."""
    return profile.pick(
        fast=FinetuneConfig(sizes=Sizes(train=600, validation=100, test=300), max_length=64, batch_size=16,
                            epochs=1, lr=1e-4),
        full=FinetuneConfig(sizes=Sizes(train=100_000, validation=5_000, test=None), max_length=256,
                            batch_size=32, epochs=3, lr=3e-5, mixed_precision="bf16"),
    )


def load_ratings(run: Run, cfg: FinetuneConfig):
    """``train``/``validation``/``test`` splits with ``text`` and ``label``: Yelp's 0 = 1 star ... 4 = 5 stars
    from the hub; offline, BBC News topics (names from :func:`course_lib.data.label_names`)."""
    return load_text_classification(cfg.dataset, run.source, cfg.sizes, run.seed)


def load_classifier(run: Run, cfg: FinetuneConfig, num_labels: int | None = None):
    """The pretrained encoder with a new, randomly initialised classification head.

    Returns ``(model, tokenizer, new_keys)``; ``new_keys`` are the weights that were *not* in the checkpoint
    (the head), sorted, so the chapter can say which part starts from scratch. The model is in float32 on the device
    it will be trained on (:func:`course_lib.precision.training_device`), so evaluating it before training does not
    run on the CPU when there is a GPU.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    num_labels = num_labels or len(label_names(cfg.dataset, run.source))
    path = checkpoint(cfg.hub_id, run.source)
    tokenizer = AutoTokenizer.from_pretrained(path)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # we report the new head ourselves, in a stable form
    try:
        model, info = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=num_labels, output_loading_info=True)
    finally:
        hf_logging.set_verbosity(verbosity)
    return model.to(precision.training_device()), tokenizer, sorted(info["missing_keys"])


def tokenize_ratings(ds, tokenizer, max_length: int):
    """Tokenise every split with ``datasets.map``: adds ``input_ids``, ``attention_mask`` (and ``token_type_ids``).

    Reviews are truncated to ``max_length`` tokens but not padded: the collator pads each batch to its longest
    review. ``text`` is dropped and ``label`` renamed ``labels``, the name the model's ``forward`` expects.
    """
    if max_length < 2:
        raise ValueError(f"max_length must leave room for [CLS] and [SEP], got {max_length}")

    def encode(batch):
        return tokenizer(batch["text"], truncation=True, max_length=max_length)

    out = ds.map(encode, batched=True, desc="tokenize" if show_progress() else None)
    out = out.remove_columns(["text"]).rename_column("label", "labels")
    return out


def token_table(tokenizer, example: dict, max_rows: int | None = None) -> list[dict]:
    """One tokenised example as rows ``token / input_id / attention_mask`` (for :func:`course_lib.nbtools.table`)."""
    ids = list(example["input_ids"])
    mask = list(example.get("attention_mask", [1] * len(ids)))
    rows = [{"token": tok, "input_id": str(int(i)), "attention_mask": int(m)}
            for tok, i, m in zip(tokenizer.convert_ids_to_tokens(ids), ids, mask)]
    return rows if max_rows is None else rows[:max_rows]


def make_dataloaders(tokenized, tokenizer, batch_size: int, seed: int = 0) -> dict[str, DataLoader]:
    """A ``DataLoader`` per split; ``train`` is shuffled with a seeded generator, batches are padded per batch."""
    from transformers import DataCollatorWithPadding

    collate = DataCollatorWithPadding(tokenizer)
    loaders = {}
    for split, ds in tokenized.items():
        generator = torch.Generator().manual_seed(seed)
        loaders[split] = DataLoader(ds, batch_size=batch_size, shuffle=split == "train", collate_fn=collate,
                                    generator=generator)
    return loaders


def linear_decay(optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """``LambdaLR`` that scales the learning rate from 1 down to 0 over ``total_steps`` optimizer steps."""
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1.0 - step / total_steps))


@dataclass
class FinetuneHistory:
    """Training loss per step and per epoch, validation accuracy per epoch, and the time spent."""

    step_loss: list[float] = field(default_factory=list)
    epoch_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0


def train_native(model, train_loader: DataLoader, *, epochs: int, lr: float, weight_decay: float = 0.01,
                 valid_loader: DataLoader | None = None, mixed_precision: str = "no",
                 max_grad_norm: float = 1.0, desc: str = "fine-tune") -> FinetuneHistory:
    """Fine-tune a Hugging Face classifier with a plain loop: AdamW, linear decay, one progress bar.

    ``model(**batch)`` returns the cross-entropy loss because the batches carry ``labels``. After each epoch the
    validation accuracy is measured (if ``valid_loader`` is given). ``mixed_precision`` is a request that
    :func:`course_lib.precision.choose_precision` grants only where the GPU supports it; the weights stay float32.
    The model is returned on the training device without the autocast wrapper ``accelerate`` put on its
    ``forward``, so later evaluations run in float32, like those of a reloaded copy. Returns a
    :class:`FinetuneHistory`.
    """
    from tqdm.auto import tqdm

    accelerator = precision.make_accelerator(mixed_precision)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    total_steps = epochs * len(train_loader)
    scheduler = linear_decay(optimizer, total_steps)
    model, optimizer, train_loader, scheduler = accelerator.prepare(model, optimizer, train_loader, scheduler)
    history, start = FinetuneHistory(), time.perf_counter()
    bar = tqdm(total=total_steps, desc=desc, disable=not show_progress())
    for epoch in range(epochs):
        model.train()
        epoch_losses = []
        for batch in train_loader:
            loss = model(**batch).loss  # cross-entropy over the 5 classes
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            epoch_losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        history.step_loss += epoch_losses
        history.epoch_loss.append(sum(epoch_losses) / len(epoch_losses))
        if valid_loader is not None:
            history.val_accuracy.append(evaluate_accuracy(model, valid_loader)["accuracy"])
    bar.close()
    history.seconds = time.perf_counter() - start
    accelerator.unwrap_model(model, keep_fp32_wrapper=False)  # removes the autocast wrapper from `model.forward`
    return history


@torch.no_grad()
def evaluate_accuracy(model, loader: DataLoader) -> dict:
    """Accuracy of ``model`` over ``loader``; also returns the ``predictions`` and ``labels`` (lists of ints)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    preds, labels = [], []
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits  # (B, num_labels)
        preds += logits.argmax(-1).tolist()
        labels += batch["labels"].tolist()
    model.train(was_training)
    if not labels:
        raise ValueError("cannot measure accuracy on an empty dataset")
    accuracy = sum(p == t for p, t in zip(preds, labels)) / len(labels)
    return {"accuracy": accuracy, "predictions": preds, "labels": labels}


def majority_baseline(train_labels, test_labels) -> tuple[int, float]:
    """The most frequent training label and the test accuracy of always predicting it."""
    from collections import Counter

    train_labels, test_labels = list(train_labels), list(test_labels)
    if not train_labels or not test_labels:
        raise ValueError("majority_baseline needs non-empty training and test labels")
    counts = Counter(train_labels)
    majority = min(counts, key=lambda label: (-counts[label], label))  # ties go to the smallest label
    return majority, sum(t == majority for t in test_labels) / len(test_labels)


def tfidf_baseline(train_texts, train_labels, test_texts, test_labels, *, C: float = 10.0) -> dict:
    """A classical baseline on the same split: TF-IDF of word 1- and 2-grams + logistic regression (scikit-learn).

    Returns ``{"accuracy", "predictions"}``. It trains in seconds on a CPU and is the number a fine-tuned
    Transformer should be read against: on BBC News topics it is already close to perfect.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    train_texts, test_texts = list(train_texts), list(test_texts)
    if not train_texts or not test_texts:
        raise ValueError("tfidf_baseline needs non-empty training and test texts")
    pipeline = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                             LogisticRegression(C=C, max_iter=2000))
    pipeline.fit(train_texts, list(train_labels))
    predictions = pipeline.predict(test_texts).tolist()
    accuracy = sum(int(p) == int(t) for p, t in zip(predictions, test_labels)) / len(test_texts)
    return {"accuracy": accuracy, "predictions": predictions}


def most_confused_pair(labels, predictions, num_labels: int) -> dict:
    """The pair of classes mixed up most often, in either direction, from sklearn's ``confusion_matrix``.

    Returns ``{"pair": (i, j), "count": errors between i and j, "errors": all errors}``; ``pair`` is ``None``
    when there is no error at all. Ties go to the pair that comes first in ``(i, j)`` order.
    """
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(labels, predictions, labels=list(range(num_labels)))
    errors = int(matrix.sum() - matrix.trace())
    both_ways = matrix + matrix.T  # (num_labels, num_labels), symmetric
    best, count = None, 0
    for i in range(num_labels):
        for j in range(i + 1, num_labels):
            if both_ways[i, j] > count:
                best, count = (i, j), int(both_ways[i, j])
    return {"pair": best, "count": count, "errors": errors}


def plot_confusion_matrix(labels, predictions, names: list[str], title: str = "Confusion matrix"):
    """Heat map of sklearn's ``confusion_matrix`` (row = true label, column = predicted) with the counts."""
    from sklearn.metrics import ConfusionMatrixDisplay

    display = ConfusionMatrixDisplay.from_predictions(labels, predictions, labels=list(range(len(names))),
                                                      display_labels=names, cmap="Blues", colorbar=False,
                                                      xticks_rotation=30)
    display.ax_.set(xlabel="predicted", ylabel="true", title=title)
    display.figure_.set_size_inches(4.8, 4.2)
    display.figure_.tight_layout()
    return display.figure_


def plot_losses(history: FinetuneHistory, steps_per_epoch: int, title: str = "Fine-tuning"):
    """Training loss per step (thin) and per epoch (dots), and validation accuracy per epoch."""
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5))
    ax_loss.plot([(i + 1) / steps_per_epoch for i in range(len(history.step_loss))], history.step_loss,
                 lw=0.7, alpha=0.6, label="per step")
    ax_loss.plot(range(1, len(history.epoch_loss) + 1), history.epoch_loss, "o-", label="epoch mean")
    ax_loss.set(xlabel="epoch", ylabel="training loss (cross-entropy)", title="loss")
    ax_loss.legend()
    if history.val_accuracy:
        ax_acc.plot(range(1, len(history.val_accuracy) + 1), history.val_accuracy, "o-")
    ax_acc.set(xlabel="epoch", ylabel="validation accuracy", title="accuracy")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def save_finetuned(model, tokenizer, path: str | os.PathLike) -> Path:
    """``save_pretrained`` the model (safetensors) and its tokenizer into ``path``."""
    path = Path(path)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def load_finetuned(path: str | os.PathLike):
    """Load what :func:`save_finetuned` wrote; returns ``(model, tokenizer)``.

    The model is in float32 on the training device, like the model :func:`train_native` returns, so comparing the
    two compares the same computation.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(path).to(precision.training_device())
    return model, AutoTokenizer.from_pretrained(path)
