"""course_lib.viz: the shared training-curve plot, drawn off screen (matplotlib's Agg backend)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from course_lib.train.classifier import History  # noqa: E402
from course_lib.viz import plot_history  # noqa: E402


def test_plot_history_draws_every_run_and_circles_the_best_epoch():
    histories = {"scratch": History(train_loss=[0.9, 0.7, 0.6], val_accuracy=[0.6, 0.7, 0.65], best_epoch=2),
                 "full_finetune": History(train_loss=[0.5, 0.3], val_accuracy=[0.8, 0.85], best_epoch=2)}
    fig = plot_history(histories, title="ch. 1")
    ax_loss, ax_acc = fig.axes
    assert [line.get_label() for line in ax_loss.lines] == ["scratch", "full_finetune"]
    assert list(ax_loss.lines[0].get_xdata()) == [1, 2, 3]
    circles = [c.get_offsets().tolist() for c in ax_acc.collections]
    assert circles == [[[2.0, 0.7]], [[2.0, 0.85]]]
    assert fig._suptitle.get_text() == "ch. 1"
    plt.close(fig)


def test_a_run_without_validation_has_no_accuracy_curve_and_no_circle():
    fig = plot_history({"no validation": History(train_loss=[1.0, 0.8])})
    ax_loss, ax_acc = fig.axes
    assert len(ax_loss.lines) == 1 and not ax_acc.lines and not ax_acc.collections
    plt.close(fig)


def test_no_history_is_an_error():
    with pytest.raises(ValueError, match="at least one history"):
        plot_history({})
