"""Bottleneck adapters, a parameter-efficient way to adapt a frozen network (chapter 4).

Written by hand on purpose: the adapter is what chapter 4 teaches.

An adapter (Houlsby et al., 2019) is a small two-layer network inserted after a frozen layer: it projects the
layer's output down to a narrow *bottleneck*, applies a non-linearity, projects back up and **adds the result to
its input** (a residual connection). Only the adapters (and a new head) are trained, so one frozen base model can
serve many tasks, each with its own few thousand adapter weights.

- :class:`FeatureAdapter`: ``x + up(relu(down(x)))`` on features of width ``model_dim``.
- :class:`LinearWithAdapter`: a frozen ``nn.Linear`` (``base_layer``) followed by a :class:`FeatureAdapter` on its
  output.
- :func:`add_adapters`: wrap chosen linear layers of a model by name (e.g. ``linear1`` and ``linear2`` of every
  encoder layer), freeze everything else.
- :func:`save_adapters` / :func:`load_adapters`: keep only the adapter and head weights in a small file and put
  them back onto a fresh copy of the pretrained base.

``nn.TransformerEncoderLayer`` has an inference *fast path* (one fused kernel, used in eval mode without grad) that
reads ``linear1.weight`` and ``linear2.weight`` directly and never calls ``linear1``/``linear2``. The wrapper
registers an (empty) forward pre-hook, one of the documented conditions under which PyTorch falls back to the
ordinary Python path, so the adapter always runs (see :mod:`course_lib.nn.wrapping`); ``tests/test_adapters.py`` checks
that eval outputs equal the layer-by-layer computation.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from course_lib.nn.wrapping import LinearWrapper, load_wrapped, save_wrapped, wrap_linear_layers


class FeatureAdapter(nn.Module):
    """Bottleneck adapter with a residual connection: ``x + up(relu(down(x)))``, the identity at initialisation.

    Args:
        model_dim: width of the features it adapts (the wrapped layer's ``out_features``).
        bottleneck_size: width of the bottleneck, ``1 <= bottleneck_size <= model_dim``.

    Shapes: ``(..., model_dim) -> (..., model_dim)``.
    """

    def __init__(self, model_dim: int, bottleneck_size: int):
        super().__init__()
        if not isinstance(model_dim, int) or model_dim <= 0:
            raise ValueError(f"model_dim must be a positive integer, got {model_dim!r}")
        if not isinstance(bottleneck_size, int) or not 0 < bottleneck_size <= model_dim:
            raise ValueError(f"bottleneck_size must be an integer between 1 and the feature width {model_dim}, "
                             f"got {bottleneck_size!r}: a bottleneck is narrower than the features it adapts")
        self.model_dim, self.bottleneck_size = model_dim, bottleneck_size
        self.down = nn.Linear(model_dim, bottleneck_size)  # compress
        self.act = nn.ReLU()
        self.up = nn.Linear(bottleneck_size, model_dim)  # expand back
        # zero-initialised up-projection: the adapter starts as the identity, so the adapted model starts exactly
        # equal to the pretrained one (the same idea as LoRA's zero-initialised B)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (..., model_dim)
        # the residual keeps the pretrained features; the adapter only learns a correction to them
        return x + self.up(self.act(self.down(x)))


class LinearWithAdapter(LinearWrapper):
    """A frozen ``nn.Linear`` with a :class:`FeatureAdapter` on its output: ``adapter(base_layer(x))``.

    Args:
        base_layer: the pretrained ``nn.Linear``; its parameters are frozen here.
        bottleneck_size: adapter bottleneck; default ``out_features // 2`` (as in the source notebook).

    Shapes: ``(..., in_features) -> (..., out_features)``, like the layer it wraps.
    """

    def __init__(self, base_layer: nn.Linear, bottleneck_size: int | None = None):
        super().__init__()
        self.check_linear(base_layer)
        out = base_layer.out_features
        self.adapter = FeatureAdapter(out, out // 2 if bottleneck_size is None else bottleneck_size)
        self.hold_base_layer(base_layer, self.adapter)  # frozen; the adapter on its device and dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (..., in_features)
        return self.adapter(self.base_layer(x))  # (..., out_features)


def add_adapters(model: nn.Module, target_modules: str | Iterable[str], bottleneck_size: int | None = None,
                 modules_to_save: str | Iterable[str] = ()) -> list[str]:
    """Wrap every ``nn.Linear`` whose name matches ``target_modules`` with :class:`LinearWithAdapter`, freeze the
    rest.

    Args:
        model: the pretrained model (modified in place).
        target_modules: layer names, matched like peft's ``target_modules`` (``"linear1"`` matches
            ``transformer_encoder.layers.0.linear1``, ...).
        bottleneck_size: adapter width (default: half of each layer's output width).
        modules_to_save: names of modules that stay trainable too (e.g. a new head, ``"classifier"``).

    Returns:
        the names of the wrapped layers. Raises, leaving the model untouched, if nothing matched, a match is not an
        ``nn.Linear`` or is read directly by its parent (``nn.MultiheadAttention.out_proj``), or a bottleneck does
        not fit a layer.
    """
    return wrap_linear_layers(model, target_modules, lambda layer: LinearWithAdapter(layer, bottleneck_size),
                              LinearWithAdapter, modules_to_save)


def save_adapters(model: nn.Module, path: str | os.PathLike, modules_to_save: str | Iterable[str] = ()) -> Path:
    """Save the adapter + ``modules_to_save`` weights as safetensors, with the wrapped layers and sizes in the
    metadata so that :func:`load_adapters` can rebuild them on a fresh base."""
    wrapped = {n: m.adapter.bottleneck_size for n, m in model.named_modules() if isinstance(m, LinearWithAdapter)}
    if not wrapped:
        raise ValueError("the model has no adapters to save: call add_adapters(model, ...) first")
    return save_wrapped(model, path, "adapted", wrapped, LinearWithAdapter, modules_to_save)


def load_adapters(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Insert the adapters saved by :func:`save_adapters` into ``model`` (a pretrained base) and load them.

    The base must already have the saved head's shape (e.g. call ``replace_head(2)`` first); if it has not, the
    error says so and the model is left as it was.
    """
    return load_wrapped(model, path, "adapted", "save_adapters", LinearWithAdapter, LinearWithAdapter)
