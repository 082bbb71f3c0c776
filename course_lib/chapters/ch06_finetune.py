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

from dataclasses import dataclass

from course_lib import hub
from course_lib.config import Profile, Run
from course_lib.data.loaders import Sizes, label_names, load_text_classification
from course_lib.hub import checkpoint
from course_lib.train.native import History, load_pretrained_classifier


@dataclass(frozen=True)
class FinetuneConfig:
    """Data sizes and optimisation settings of part 1, per profile."""

    sizes: Sizes
    max_length: int  # tokens kept per review
    batch_size: int
    epochs: int
    learning_rate: float
    weight_decay: float = 0.01
    mixed_precision: str = "no"  # a request: `course_lib.precision.choose_precision` decides what the GPU does
    hub_id: str = hub.BERT_CASED
    dataset: str = "yelp"


def config_for(profile: Profile) -> FinetuneConfig:
    """``fast``: 600 training texts cut at 64 tokens, 1 epoch: about half a minute on a 2-core CPU (the source used
    1,000 reviews at 512 tokens; offline the texts are BBC News articles of a few hundred words, so the encoder
    reads only their opening). ``full``: a large subset of Yelp on a GPU."""
    cfg = profile.pick(
        fast=FinetuneConfig(sizes=Sizes(train=600, validation=100, test=300), max_length=64, batch_size=16,
                            epochs=1, learning_rate=1e-4),
        full=FinetuneConfig(sizes=Sizes(train=100_000, validation=5_000, test=None), max_length=256,
                            batch_size=32, epochs=3, learning_rate=3e-5, mixed_precision="bf16"),
    )
    return profile.capped_config(cfg, steps=("epochs",))


def load_ratings(run: Run, cfg: FinetuneConfig):
    """``train``/``validation``/``test`` splits with ``text`` and ``label``: Yelp's 0 = 1 star ... 4 = 5 stars
    from the hub; offline, BBC News topics (names from :func:`course_lib.data.loaders.label_names`)."""
    return load_text_classification(cfg.dataset, run.source, cfg.sizes, run.seed)


def load_classifier(run: Run, cfg: FinetuneConfig, num_labels: int | None = None):
    """``cfg.hub_id`` with a new classification head: :func:`course_lib.train.native.load_pretrained_classifier`.

    Returns ``(model, tokenizer, new_keys)``; the model sits on the training device, so evaluating it before
    training does not run on the CPU when there is a GPU.
    """
    num_labels = num_labels or len(label_names(cfg.dataset, run.source))
    return load_pretrained_classifier(checkpoint(cfg.hub_id, run.source), num_labels)


def token_table(tokenizer, example: dict, max_rows: int | None = None) -> list[dict]:
    """One tokenised example as rows ``token / input_id / attention_mask`` (for :func:`course_lib.nbtools.table`)."""
    ids = list(example["input_ids"])
    mask = list(example.get("attention_mask", [1] * len(ids)))
    rows = [{"token": tok, "input_id": str(int(i)), "attention_mask": int(m)}
            for tok, i, m in zip(tokenizer.convert_ids_to_tokens(ids), ids, mask)]
    return rows if max_rows is None else rows[:max_rows]


def most_confused_pair(labels, predictions, num_labels: int) -> dict:
    """The pair(s) of classes mixed up most often, in either direction, from sklearn's ``confusion_matrix``.

    Returns ``{"pair": (i, j), "pairs": [(i, j), ...], "count": errors between each of them, "errors": all
    errors}``. ``pairs`` holds every pair that reaches ``count`` (a tie is reported as a tie, never settled by
    the order of the labels); ``pair`` is the first of them, or ``None`` when there is no error at all.
    """
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(labels, predictions, labels=list(range(num_labels)))
    errors = int(matrix.sum() - matrix.trace())
    both_ways = matrix + matrix.T  # (num_labels, num_labels), symmetric
    counts = {(i, j): int(both_ways[i, j]) for i in range(num_labels) for j in range(i + 1, num_labels)}
    count = max(counts.values(), default=0)
    pairs = [p for p, c in counts.items() if c == count] if count > 0 else []
    return {"pair": pairs[0] if pairs else None, "pairs": pairs, "count": count, "errors": errors}


def describe_pairs(pairs, names) -> str:
    """``"business and politics"``, or for a tie ``"business and politics, and sport and tech (a tie)"``."""
    if not pairs:
        return "none"
    text = ", and ".join(" and ".join(names[i] for i in p) for p in pairs)
    return text + (f" ({len(pairs)}-way tie)" if len(pairs) > 2 else " (a tie)" if len(pairs) == 2 else "")


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


def plot_losses(history: History, steps_per_epoch: int, title: str = "Fine-tuning"):
    """Training loss per step (thin) and per epoch (dots), and validation accuracy per epoch."""
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5))
    ax_loss.plot([(i + 1) / steps_per_epoch for i in range(len(history.step_loss))], history.step_loss,
                 lw=0.7, alpha=0.6, label="per step")
    ax_loss.plot(range(1, len(history.train_loss) + 1), history.train_loss, "o-", label="epoch mean")
    ax_loss.set(xlabel="epoch", ylabel="training loss (cross-entropy)", title="loss")
    ax_loss.legend()
    if history.val_accuracy:
        ax_acc.plot(range(1, len(history.val_accuracy) + 1), history.val_accuracy, "o-")
    ax_acc.set(xlabel="epoch", ylabel="validation accuracy", title="accuracy")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


