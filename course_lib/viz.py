"""Plots shared by several chapters (a plot only one chapter draws lives in that chapter's module)."""

from __future__ import annotations


def plot_history(histories: dict[str, History], title: str = "Training curves"):
    """Training loss and validation accuracy per epoch for one or several runs, side by side."""
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5))
    for name, h in histories.items():
        epochs = range(1, len(h.train_loss) + 1)
        ax_loss.plot(epochs, h.train_loss, marker="o", label=name)
        ax_acc.plot(epochs, h.val_accuracy, marker="o", label=name)
        ax_acc.scatter([h.best_epoch], [h.best_val_accuracy], s=90, facecolors="none", edgecolors="k")
    ax_loss.set(xlabel="epoch", ylabel="training loss (cross-entropy)", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="validation accuracy", title="accuracy (circle: best epoch)")
    ax_loss.legend()
    ax_acc.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig
