"""Checkers for the chapter-4 exercises (adapters), and the small real task they run on.

The experiments run in seconds on a CPU: a small MLP pretrained on scikit-learn's real 8x8 handwritten digits 0-4
(task A), adapted to the digits 5-9 (task B), each trained with full-batch Adam. Every run is seeded and uses no
shuffling and no dropout, so a learner who follows the protocol stated in the exercise gets the reference numbers
to float rounding; the checkers compare with that reference. Chapter 5's exercises use the same task.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import nn

from course_lib.grading import run_check
from course_lib.nn.adapters import FeatureAdapter, add_adapters
from course_lib.nn.lora import apply_lora

DIGITS_SEED = 0  # the shuffle that splits the digits into train and test halves
PRETRAIN_STEPS, PRETRAIN_LEARNING_RATE = 300, 1e-2


@contextmanager
def single_thread() -> Iterator[None]:
    """Run the exercises' tiny models on one CPU thread, then restore the setting.

    Matrices of 64x64 gain nothing from a second thread, and on a busy machine waiting for it can make a run many
    times slower. The checkers run the learner's function and their reference inside it, so both see the same
    setting.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@dataclass(frozen=True)
class DigitsTask:
    """One 5-class task of real 8x8 digits: pixel values scaled to [0, 1], labels 0..4."""

    name: str
    x_train: torch.Tensor  # (N, 64) float32
    y_train: torch.Tensor  # (N,) int64
    x_test: torch.Tensor
    y_test: torch.Tensor

    def __repr__(self) -> str:
        return f"DigitsTask({self.name}: {len(self.y_train)} train / {len(self.y_test)} test images of 8x8 pixels)"


@lru_cache(maxsize=1)
def digits_tasks() -> tuple[DigitsTask, DigitsTask]:
    """Task A (digits 0-4) and task B (digits 5-9, labelled 0-4), each split in half into train and test."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target, dtype=torch.int64)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(DIGITS_SEED))
    x, y = x[order], y[order]
    tasks = []
    for low in (0, 5):
        keep = (y >= low) & (y < low + 5)
        xs, ys = x[keep], y[keep] - low
        half = len(ys) // 2
        tasks.append(DigitsTask(f"digits {low}-{low + 4}", xs[:half], ys[:half], xs[half:], ys[half:]))
    return tasks[0], tasks[1]


class DigitsMLP(nn.Module):
    """``fc1`` (64 -> 64), ReLU, ``fc2`` (64 -> 64), ReLU, ``fc3`` (64 -> 5 classes): no dropout, no randomness."""

    def __init__(self, hidden: int = 64, num_labels: int = 5):
        super().__init__()
        self.fc1 = nn.Linear(64, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, num_labels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 64) -> (N, num_labels)
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def _train(model: nn.Module, task: DigitsTask, steps: int, learning_rate: float) -> nn.Module:
    """The exercises' protocol: full-batch Adam on the trainable parameters, mean cross-entropy, ``steps`` steps."""
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=learning_rate)
    for _ in range(steps):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(task.x_train), task.y_train).backward()
        optimizer.step()
    return model


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(-1) == y).float().mean().item()


@lru_cache(maxsize=1)
def _pretrained_state() -> dict[str, torch.Tensor]:
    task_a, _ = digits_tasks()
    torch.manual_seed(0)
    with single_thread():
        model = _train(DigitsMLP(), task_a, PRETRAIN_STEPS, PRETRAIN_LEARNING_RATE)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def pretrained_digits_mlp() -> DigitsMLP:
    """A fresh copy of the :class:`DigitsMLP` pretrained on task A (computed once per process, about a second)."""
    model = DigitsMLP()
    model.load_state_dict(_pretrained_state())
    return model


# ---------------------------------------------------------------------------------------------- the checkers


def check_init_change(fn) -> bool:
    """Exercise 4.1: ``fn(pretrained, x, bottleneck, seed) -> (identity_change, default_change)``.

    The relative change ``||adapted(x) - pretrained(x)|| / ||pretrained(x)||`` of the logits at step 0, first with
    the package's adapters (zero up-projection: the identity), then after re-initialising every adapter's
    up-projection with PyTorch's default (``up.reset_parameters()``, as the source notebook's adapters were).
    """

    def reference(pretrained, x, bottleneck, seed):
        torch.manual_seed(seed)
        adapted = copy.deepcopy(pretrained)
        add_adapters(adapted, ["fc1", "fc2"], bottleneck)
        with torch.no_grad():
            base = pretrained(x)
            identity = ((adapted(x) - base).norm() / base.norm()).item()
            for module in adapted.modules():
                if isinstance(module, FeatureAdapter):
                    module.up.reset_parameters()
            return identity, ((adapted(x) - base).norm() / base.norm()).item()

    def check():
        task_a, _ = digits_tasks()
        for bottleneck, seed in ((8, 0), (2, 1)):
            pretrained = pretrained_digits_mlp()
            expected = reference(pretrained, task_a.x_test, bottleneck, seed)
            got = fn(pretrained_digits_mlp(), task_a.x_test.clone(), bottleneck, seed)
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                return False, "return a pair (identity_change, default_change) of floats"
            identity, default = float(got[0]), float(got[1])
            if abs(identity) > 1e-6:
                return False, (f"with the package's adapters the change should be 0, got {identity:.4g}: measure "
                               "before touching the adapters, relative to the pretrained model's logits")
            if abs(default - expected[1]) > 1e-4 * max(1.0, expected[1]):
                near = abs(default - expected[1]) < 0.5 * expected[1]
                return False, (f"bottleneck {bottleneck}, seed {seed}: expected a default-init change of "
                               f"{expected[1]:.4f}, got {default:.4f}. " + (
                                   "The size is right but not the draw: seed first, copy, add_adapters to fc1 and "
                                   "fc2, then reset only each adapter's up layer, in model.modules() order"
                                   if near else "Divide the norm of the logits' change by the norm of the "
                                                "pretrained logits (whole matrix, Frobenius norm)"))
        return True, ""

    with single_thread():
        return run_check("4.1", check)


def sweep_point_check(fn, reference, sizes: tuple[int, ...], what: str, protocol: str):
    """The check shared by exercises 4.2 and 5.3: ``fn(pretrained, task, size, 0, 100, 1e-2)`` must return the
    test accuracy of ``reference(size, seed, steps, learning_rate) -> (test accuracy, training accuracy)`` at every
    size in ``sizes``; a training-set accuracy gets its own hint, any other miss names ``protocol``."""

    def check():
        _, task_b = digits_tasks()
        for size in sizes:
            got = float(fn(pretrained_digits_mlp(), task_b, size, 0, 100, 1e-2))
            expected, on_train = reference(size, 0, 100, 1e-2)
            if abs(got - expected) > 0.005:  # one or two of 448 test images: float rounding over 100 steps
                if abs(got - on_train) < 1e-9 and abs(on_train - expected) > 0.005:
                    return False, "that is the accuracy on the training images: measure on task.x_test"
                return False, (f"{what} {size}: expected test accuracy {expected:.3f}, got {got:.3f}. "
                               f"Follow the protocol: {protocol}")
        return True, ""

    return check


@lru_cache(maxsize=16)
def wrapped_reference_run(wrapper: str, size: int, seed: int, steps: int, learning_rate: float) -> tuple[float, float]:
    """The reference run of a sweep exercise (4.2: ``wrapper="adapters"``, ``size`` the bottleneck; 5.3:
    ``"lora"``, ``size`` the rank, ``lora_alpha = r``): the pretrained task-A MLP, a new 5-class ``fc3``, the wrapper
    on ``fc1`` and ``fc2``, trained on task B. Returns (test accuracy, training accuracy), computed once per
    process."""
    _, task = digits_tasks()
    model = pretrained_digits_mlp()  # built before seeding: the learner copies a model that exists
    torch.manual_seed(seed)
    model.fc3 = nn.Linear(model.fc3.in_features, 5)
    if wrapper == "adapters":
        add_adapters(model, ["fc1", "fc2"], size, modules_to_save=["fc3"])
    elif wrapper == "lora":
        apply_lora(model, ["fc1", "fc2"], r=size, lora_alpha=size, modules_to_save=["fc3"])
    else:
        raise ValueError(f"wrapper must be 'adapters' or 'lora', got {wrapper!r}")
    _train(model, task, steps, learning_rate)
    return _accuracy(model, task.x_test, task.y_test), _accuracy(model, task.x_train, task.y_train)


def _adapter_expected(bottleneck: int, seed: int, steps: int, learning_rate: float) -> tuple[float, float]:
    """Exercise 4.2's reference run (:func:`wrapped_reference_run` with adapters)."""
    return wrapped_reference_run("adapters", bottleneck, seed, steps, learning_rate)


def check_adapter_accuracy(fn) -> bool:
    """Exercise 4.2: ``fn(pretrained, task, bottleneck, seed, steps, learning_rate) -> float`` test accuracy.

    Protocol: seed; copy the pretrained model; a new ``nn.Linear(64, 5)`` head ``fc3``; adapters on ``fc1`` and
    ``fc2`` with ``modules_to_save=["fc3"]``; full-batch Adam on the trainable parameters for ``steps`` steps;
    accuracy on ``task``'s test split.
    """

    check = sweep_point_check(fn, _adapter_expected, (1, 8), "bottleneck",
                              "torch.manual_seed(seed), copy, new fc3, add_adapters(fc1, fc2, "
                              "modules_to_save=['fc3']), full-batch Adam for `steps` steps")
    with single_thread():
        return run_check("4.2", check)


def check_largest_bottleneck(fn) -> bool:
    """Exercise 4.3: ``fn(model, budget) -> int``: the widest adapters that fit a trainable-parameter budget.

    Adapters go into ``linear1`` and ``linear2`` of every encoder layer (as in the chapter) and a fresh 2-class head
    trains too. The answer is checked by building the model with :func:`course_lib.nn.adapters.add_adapters` and
    counting, for several budgets; 0 means not even bottleneck 1 fits.
    """
    from course_lib.nn.encoder import TransformerClassifier, TransformerConfig
    from course_lib.nn.params import count_parameters

    def build(bottleneck):
        torch.manual_seed(0)
        model = TransformerClassifier(torch.randn(20, 8), TransformerConfig(num_labels=2, dim_feedforward=16,
                                                                            max_len=16, num_layers=3))
        if bottleneck:
            add_adapters(model, ("linear1", "linear2"), bottleneck, modules_to_save=["classifier"])
        return model

    def trainable(bottleneck):
        return count_parameters(build(bottleneck))[0]

    def check():
        for budget in (10, trainable(1), trainable(3) + 5, trainable(7) - 1, trainable(8)):
            expected = 0
            while expected < 8 and trainable(expected + 1) <= budget:
                expected += 1
            got = fn(build(0), budget)
            if int(got) != expected:
                return False, (f"budget {budget}: expected bottleneck {expected}, got {got}. Count, per wrapped layer "
                               "with out_features o: down (o*b + b) + up (b*o + o); plus the head")
        return True, ""

    return run_check("4.3", check)
