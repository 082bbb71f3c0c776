"""Checkers for the chapter-1 exercises."""

from __future__ import annotations

import torch

from course_lib.grading import close, run_check
from course_lib.nn.encoder import PositionalEncoding, TransformerClassifier, TransformerConfig


def check_sinusoidal_table(fn) -> bool:
    """Exercise 1.1: ``fn(max_len, d_model) -> (max_len, d_model)`` equal to the package's positional table."""

    def check():
        for max_len, d in ((7, 4), (50, 16)):
            expected = PositionalEncoding(d, max_len=max_len, dropout=0.0).pe[0]
            got = fn(max_len, d)
            if not isinstance(got, torch.Tensor) or tuple(got.shape) != (max_len, d):
                return False, f"expected a tensor of shape ({max_len}, {d})"
            if not close(got, expected, atol=1e-5):
                return False, "shape is right but values differ: sin on even columns, cos on odd ones"
        return True, ""

    return run_check("1.1", check)


def check_masked_mean(fn) -> bool:
    """Exercise 1.2: ``fn(x (B,T,d), mask (B,T) bool) -> (B,d)`` mean over the True positions only."""

    def check():
        g = torch.Generator().manual_seed(0)
        x = torch.randn(3, 5, 4, generator=g)
        mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.bool)
        expected = torch.stack([x[i, mask[i]].mean(0) for i in range(3)])
        got = fn(x, mask)
        if not close(got, expected):
            if close(got, x.mean(1)):
                return False, "you averaged the padding too: divide by the number of real tokens"
            return False, "expected the mean over positions where mask is True, shape (B, d)"
        return True, ""

    return run_check("1.2", check)


def _tiny_model() -> TransformerClassifier:
    torch.manual_seed(0)
    return TransformerClassifier(torch.randn(20, 8), TransformerConfig(num_labels=2, dim_feedforward=16, max_len=16))


def check_partial_unfreeze(fn) -> bool:
    """Exercise 1.3: ``fn(model)`` leaves exactly ``linear2`` of each layer and the head trainable."""

    def check():
        model = _tiny_model()
        fn(model)
        trainable = sorted(n for n, p in model.named_parameters() if p.requires_grad)
        expected = sorted(n for n, _ in model.named_parameters() if "linear2" in n or n.startswith("classifier"))
        if trainable != expected:
            extra = sorted(set(trainable) - set(expected))[:2]
            missing = sorted(set(expected) - set(trainable))[:2]
            return False, f"trainable should be linear2 + classifier; extra {extra}, missing {missing}"
        return True, ""

    return run_check("1.3", check)


def check_count_trainable(fn) -> bool:
    """Exercise 1.4: ``fn(model) -> (trainable, total)`` parameter counts."""

    def check():
        model = _tiny_model()
        for name, p in model.named_parameters():
            p.requires_grad = name.startswith("classifier")
        total = sum(p.numel() for p in model.parameters())
        got = fn(model)
        if tuple(got) != (8 * 2 + 2, total):
            return False, f"expected (18, {total}) for a model whose head alone is trainable, got {tuple(got)}"
        return True, ""

    return run_check("1.4", check)


def check_cross_talk(fn) -> bool:
    """Exercise 1.5: ``fn(layer, x) -> float``: how much review 0's output moves when only review 1 changes.

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

    return run_check("1.5", check)
