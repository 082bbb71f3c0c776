"""Checkers for the chapter-4 exercises (adapters)."""

from __future__ import annotations

import torch
from torch import nn

from course_lib.nn.adapters import LinearWithAdapter
from course_lib.grading import close, run_check
from course_lib.nn.encoder import TransformerClassifier, TransformerConfig


def check_adapter_param_count(fn) -> bool:
    """Exercise 4.1: ``fn(model_dim, bottleneck_size) -> int`` parameters of one FeatureAdapter (with biases)."""

    def check():
        for d, b in ((100, 16), (128, 24), (7, 1)):
            expected = d * b + b + b * d + d
            got = fn(d, b)
            if got != expected:
                if got == 2 * d * b:
                    return False, "you left out the biases of the two linear layers"
                return False, f"for model_dim={d}, bottleneck_size={b} expected {expected}, got {got}"
        return True, ""

    return run_check("4.1", check)


def check_adapter_forward(fn) -> bool:
    """Exercise 4.2: ``fn(x, W_down, b_down, W_up, b_up)`` = ``x + relu(x W_down^T + b_down) W_up^T + b_up``."""

    def check():
        g = torch.Generator().manual_seed(0)
        x = torch.randn(3, 5, 6, generator=g)
        wd, bd = torch.randn(2, 6, generator=g), torch.randn(2, generator=g)
        wu, bu = torch.randn(6, 2, generator=g), torch.randn(6, generator=g)
        expected = x + torch.relu(x @ wd.T + bd) @ wu.T + bu
        got = fn(x, wd, bd, wu, bu)
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(x.shape):
            return False, f"expected a tensor of the input's shape {tuple(x.shape)}"
        if close(got, expected - x):
            return False, "add the input back (the residual connection)"
        if not close(got, expected):
            return False, "values differ: down-project, ReLU, up-project, then add x"
        return True, ""

    return run_check("4.2", check)


def check_adapt_linear2(fn) -> bool:
    """Exercise 4.3: ``fn(model, bottleneck_size)`` wraps ``linear2`` of every layer with ``LinearWithAdapter``; only
    the adapters and the classifier stay trainable."""

    def check():
        torch.manual_seed(0)
        model = TransformerClassifier(torch.randn(20, 8), TransformerConfig(num_labels=2, dim_feedforward=16,
                                                                            max_len=16, num_layers=3))
        out = fn(model, 4)
        model = out if isinstance(out, nn.Module) else model
        layers = model.transformer_encoder.layers
        if not all(isinstance(layer.linear2, LinearWithAdapter) for layer in layers):
            return False, "every layer's linear2 should be a LinearWithAdapter"
        if any(isinstance(layer.linear1, LinearWithAdapter) for layer in layers):
            return False, "only linear2 is adapted in this exercise"
        if any(layer.linear2.adapter.bottleneck_size != 4 for layer in layers):
            return False, "use the bottleneck_size argument"
        trainable = {n for n, p in model.named_parameters() if p.requires_grad}
        expected = {n for n, _ in model.named_parameters() if ".adapter." in n or n.startswith("classifier.")}
        if trainable != expected:
            extra = sorted(trainable - expected)[:2]
            missing = sorted(expected - trainable)[:2]
            return False, f"only the adapters and the classifier should train; extra {extra}, missing {missing}"
        return True, ""

    return run_check("4.3", check)


def check_largest_bottleneck(fn) -> bool:
    """Exercise 4.4: ``fn(model, budget) -> int``: the widest adapters that fit a trainable-parameter budget.

    Adapters go into ``linear1`` and ``linear2`` of every encoder layer (as in the chapter) and a fresh 2-class head
    trains too. The answer is checked by building the model with :func:`course_lib.nn.adapters.add_adapters` and
    counting, for several budgets; 0 means not even bottleneck 1 fits.
    """
    from course_lib.nn.adapters import add_adapters
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

    return run_check("4.4", check)
