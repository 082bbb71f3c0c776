"""course_lib.train.native: the plain fine-tuning loop's History and the float32 loaders."""

from types import SimpleNamespace

import pytest
import torch

from course_lib.nn.pooling import masked_mean
from course_lib.train import native


class TinyClassifier(torch.nn.Module):
    """Answers like a Hugging Face classifier: ``model(**batch)`` has ``.loss`` (with labels) and ``.logits``."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 2)

    def forward(self, x, labels=None):
        logits = self.linear(x)
        loss = None if labels is None else torch.nn.functional.cross_entropy(logits, labels)
        return SimpleNamespace(loss=loss, logits=logits)


def batches(n=3):
    return [{"x": torch.randn(4, 2), "labels": torch.randint(0, 2, (4,))} for _ in range(n)]


@pytest.mark.parametrize("accuracies, best", [([0.5, 0.8, 0.7], 2), ([0.9, 0.8, 0.9], 1), ([0.1, 0.2, 0.3], 3)])
def test_best_epoch_is_the_epoch_of_the_highest_validation_accuracy(monkeypatch, accuracies, best):
    torch.manual_seed(0)
    measured = iter(accuracies)
    monkeypatch.setattr(native, "evaluate_accuracy", lambda model, loader: {"accuracy": next(measured)})
    history = native.train_native(TinyClassifier(), batches(), epochs=3, learning_rate=1e-2,
                                  valid_loader=batches(1), mixed_precision="no")
    assert history.val_accuracy == accuracies and history.best_epoch == best
    assert history.best_val_accuracy == max(accuracies)
    assert len(history.train_loss) == 3 and len(history.step_loss) == 9


def test_without_validation_no_epoch_is_called_best():
    history = native.train_native(TinyClassifier(), batches(), epochs=2, learning_rate=1e-2, mixed_precision="no")
    assert history.best_epoch == 0 and history.val_accuracy == []


def test_masked_mean_leaves_padding_out():
    hidden = torch.arange(12, dtype=torch.float32).reshape(2, 3, 2)  # (B, T, d)
    mask = torch.tensor([[1, 1, 0], [0, 0, 0]])
    out = masked_mean(hidden, mask)
    assert out.tolist() == [[1.0, 2.0], [0.0, 0.0]]  # mean of the first two tokens; an empty row gives zeros
    assert torch.equal(masked_mean(hidden, mask.bool()), out)
    with pytest.raises(ValueError, match="attention_mask"):
        masked_mean(hidden, mask[:, :2])
