"""Plots shared by several chapters (a plot only one chapter draws lives in that chapter's module)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol


class HistoryLike(Protocol):
    """What :func:`plot_history` reads from a training history (``course_lib.train.classifier.History``)."""

    train_loss: Sequence[float]
    val_accuracy: Sequence[float]
    best_epoch: int  # 1-based; 0 when no epoch was validated


def plot_history(histories: Mapping[str, HistoryLike], title: str = "Training curves"):
    """Training loss and validation accuracy per epoch for one or several runs, side by side.

    The best epoch of each run (``best_epoch``, 1-based) is circled on its accuracy curve; a run without validation
    (``best_epoch == 0`` or no accuracies) draws no accuracy curve. Returns the matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    if not histories:
        raise ValueError("plot_history needs at least one history: {'run name': history, ...}")
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5))
    for name, h in histories.items():
        ax_loss.plot(range(1, len(h.train_loss) + 1), h.train_loss, marker="o", label=name)
        if h.val_accuracy:
            ax_acc.plot(range(1, len(h.val_accuracy) + 1), h.val_accuracy, marker="o", label=name)
        if 1 <= h.best_epoch <= len(h.val_accuracy):
            ax_acc.scatter([h.best_epoch], [h.val_accuracy[h.best_epoch - 1]], s=90, facecolors="none",
                           edgecolors="k")
    ax_loss.set(xlabel="epoch", ylabel="training loss (cross-entropy)", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="validation accuracy", title="accuracy (circle: best epoch)")
    ax_loss.legend()
    if ax_acc.lines:
        ax_acc.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig
