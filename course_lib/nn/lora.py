"""LoRA (low-rank adaptation) from scratch, with peft's names and guarantees (chapter 5).

Written by hand on purpose: the layer is what chapter 5 teaches (peft does the same in chapter 6).

A frozen linear layer computes ``W0 x + b``. LoRA (Hu et al., 2021) learns the *change* of the weight as a product
of two thin matrices, ``delta_W = B A`` with ``A: (r, in)`` and ``B: (out, r)``, so the layer becomes::

    h = W0 x + b + scaling * B (A x),      scaling = lora_alpha / r

Only ``A`` and ``B`` are trained: ``r (in + out)`` numbers instead of ``in x out``. The names follow peft
(``huggingface/peft``, ``src/peft/tuners/lora/layer.py``), so what learners see here they meet again there:

- ``base_layer``: the frozen pretrained ``nn.Linear``;
- ``lora_A`` (``nn.Linear(in, r, bias=False)``, weight ``(r, in)``, Kaiming-uniform init like any ``nn.Linear``)
  and ``lora_B`` (``nn.Linear(r, out, bias=False)``, weight ``(out, r)``, **zero** init: ``B A = 0``, so the
  wrapped model starts exactly equal to the base);
- ``lora_alpha`` and ``scaling = lora_alpha / r``; optional ``lora_dropout`` on the input of the LoRA branch;
- ``get_delta_weight()``, ``merge()`` (fold ``scaling * B A`` into ``base_layer.weight`` for zero-overhead
  inference) and ``unmerge()`` (subtract it again). As in peft, merging a merged layer or unmerging an unmerged one
  warns and does nothing;
- :func:`merge_and_unload` merges and puts the plain ``nn.Linear`` layers back.

peft keeps one ``lora_A``/``lora_B`` per named adapter in a ``ModuleDict`` (``lora_A["default"]``); we keep one.
``tests/test_lora.py`` proves this implementation equal to peft's on the same weights.

Like the adapters of chapter 4, :class:`LinearWithLoRA` registers an empty forward pre-hook so that
``nn.TransformerEncoderLayer``'s fused eval fast path, which reads ``linear1.weight`` directly, is not taken: it
would silently skip the LoRA branch. (peft's wrapper exposes ``weight`` as the *base* weight, so a peft-wrapped
``nn.TransformerEncoderLayer`` in eval mode under ``torch.no_grad()`` uses the base weights only; see the test.)
``nn.MultiheadAttention.out_proj`` is never called by its parent at all, so :func:`apply_lora` refuses it
(see :mod:`course_lib.nn.wrapping`).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from course_lib.nn.wrapping import LinearWrapper, load_wrapped, save_wrapped, wrap_linear_layers


def _check_rank_alpha(r, lora_alpha) -> None:
    if isinstance(r, bool) or not isinstance(r, int) or r <= 0:
        raise ValueError(f"LoRA rank r must be a positive integer, got {r!r} (typical values: 1 to 64)")
    if isinstance(lora_alpha, bool) or not isinstance(lora_alpha, (int, float)) or not lora_alpha > 0:
        raise ValueError(f"lora_alpha must be a positive number, got {lora_alpha!r}; scaling = lora_alpha / r "
                         "multiplies the update, so lora_alpha <= 0 would switch it off or flip it")


class LoRALayer(nn.Module):
    """The low-rank update alone: ``x -> scaling * lora_B(lora_A(dropout(x)))``.

    Args:
        in_features / out_features: the sizes of the layer it will be added to.
        r: rank of the update (``r >= 1``); lora_alpha: scale (``> 0``), ``scaling = lora_alpha / r``.
        lora_dropout: dropout probability on the LoRA branch's input (0 disables it).

    Shapes: ``(..., in_features) -> (..., out_features)``.
    """

    def __init__(self, in_features: int, out_features: int, r: int = 8, lora_alpha: float = 8.0,
                 lora_dropout: float = 0.0):
        super().__init__()
        _check_rank_alpha(r, lora_alpha)
        if not 0.0 <= lora_dropout < 1.0:
            raise ValueError(f"lora_dropout must be in [0, 1), got {lora_dropout!r}")
        self.r, self.lora_alpha = r, lora_alpha
        self.scaling = lora_alpha / r
        self.lora_dropout = nn.Dropout(lora_dropout) if lora_dropout > 0 else nn.Identity()
        self.lora_A = nn.Linear(in_features, r, bias=False)  # weight (r, in): random, as peft (Kaiming uniform)
        self.lora_B = nn.Linear(r, out_features, bias=False)  # weight (out, r): zero, so B A = 0 at the start
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)

    def get_delta_weight(self) -> torch.Tensor:
        """``scaling * B @ A``: the ``(out, in)`` change LoRA makes to the weight; its rank is at most ``r``."""
        return self.scaling * (self.lora_B.weight @ self.lora_A.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (..., in)
        # two thin matmuls, (..., in) -> (..., r) -> (..., out); the (out, in) product is never formed
        return self.lora_B(self.lora_A(self.lora_dropout(x))) * self.scaling


class LinearWithLoRA(LinearWrapper, LoRALayer):
    """A frozen ``nn.Linear`` plus a :class:`LoRALayer`: ``base_layer(x) + scaling * B(A(x))``.

    Args:
        base_layer: the pretrained ``nn.Linear`` (its parameters are frozen here).
        r, lora_alpha, lora_dropout: see :class:`LoRALayer`.

    ``merge()`` adds ``get_delta_weight()`` to ``base_layer.weight`` (then ``forward`` is just the base layer);
    ``unmerge()`` subtracts it. Merged and unmerged outputs agree to float rounding.
    """

    def __init__(self, base_layer: nn.Linear, r: int = 8, lora_alpha: float = 8.0, lora_dropout: float = 0.0):
        self.check_linear(base_layer)
        super().__init__(base_layer.in_features, base_layer.out_features, r, lora_alpha, lora_dropout)
        self.hold_base_layer(base_layer, self.lora_A, self.lora_B)  # frozen; A and B on its device and dtype
        self.merged = False

    @torch.no_grad()
    def merge(self) -> None:
        """Fold the update into the base weight: ``W <- W + scaling * B A``. Inference then costs one matmul."""
        if self.merged:  # peft's warning and behaviour: a second merge would add the update twice
            warnings.warn("All adapters are already merged, nothing to do.")
            return
        self.base_layer.weight += self.get_delta_weight().to(self.base_layer.weight.dtype)
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Undo :meth:`merge`: ``W <- W - scaling * B A`` (e.g. to keep training A and B)."""
        if not self.merged:  # peft's warning and behaviour
            warnings.warn("Already unmerged. Nothing to do.")
            return
        self.base_layer.weight -= self.get_delta_weight().to(self.base_layer.weight.dtype)
        self.merged = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (..., in)
        out = self.base_layer(x)  # (..., out)
        if self.merged:  # the update is already inside base_layer.weight
            return out
        return out + super().forward(x)

    def extra_repr(self) -> str:
        return f"r={self.r}, lora_alpha={self.lora_alpha}, scaling={self.scaling:g}, merged={self.merged}"


def apply_lora(model: nn.Module, target_modules: str | Iterable[str], r: int = 8, lora_alpha: float = 8.0,
               lora_dropout: float = 0.0, modules_to_save: str | Iterable[str] = ()) -> list[str]:
    """Wrap the ``nn.Linear`` layers named in ``target_modules`` with :class:`LinearWithLoRA`; freeze the rest.

    Names match like peft's ``LoraConfig(target_modules=...)``: ``"fc1"`` matches a module named ``fc1`` or
    ending in ``.fc1``. ``modules_to_save`` (e.g. a new head) stays trainable, like peft's option of that name.
    Afterwards only ``lora_A``, ``lora_B`` and ``modules_to_save`` require grad.

    Returns the wrapped layers' names. Raises, leaving the model untouched, ``ValueError`` if nothing matches, if
    ``r`` or ``lora_alpha`` is not positive or if a match is a layer its parent reads instead of calling
    (``nn.MultiheadAttention.out_proj``), and ``TypeError`` if a match is not an ``nn.Linear``.
    """
    _check_rank_alpha(r, lora_alpha)
    return wrap_linear_layers(
        model, target_modules,
        lambda layer: LinearWithLoRA(layer, r=r, lora_alpha=lora_alpha, lora_dropout=lora_dropout),
        LinearWithLoRA, modules_to_save)


def lora_layers(model: nn.Module) -> dict[str, LinearWithLoRA]:
    """The model's :class:`LinearWithLoRA` layers by name."""
    return {n: m for n, m in model.named_modules() if isinstance(m, LinearWithLoRA)}


def merge_lora(model: nn.Module) -> nn.Module:
    """:meth:`LinearWithLoRA.merge` every LoRA layer of ``model`` (a merged layer warns and stays as it is)."""
    for layer in lora_layers(model).values():
        layer.merge()
    return model


def unmerge_lora(model: nn.Module) -> nn.Module:
    """:meth:`LinearWithLoRA.unmerge` every LoRA layer of ``model`` (an unmerged layer warns and stays as it is)."""
    for layer in lora_layers(model).values():
        layer.unmerge()
    return model


def merge_and_unload(model: nn.Module) -> nn.Module:
    """Merge every LoRA layer and put its ``base_layer`` (now holding ``W0 + scaling * B A``) back in its place.

    The result is the original architecture with updated weights: plain ``nn.Linear`` layers, no wrapper, no hook,
    no extra cost (peft's method of the same name). A, B and the ability to unmerge are gone; the merged layers
    stay frozen, as in peft.
    """
    for name, layer in lora_layers(model).items():
        if not layer.merged:
            layer.merge()
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, layer.base_layer)
    return model


def save_lora(model: nn.Module, path: str | os.PathLike, modules_to_save: str | Iterable[str] = ()) -> Path:
    """Save A, B, ``r`` and ``lora_alpha`` of each LoRA layer and the ``modules_to_save`` weights (safetensors).

    This is all that fine-tuning changed: the pretrained base is shared and is not stored again.
    Merged layers are saved as if unmerged (A and B are the same either way).
    """
    layers = lora_layers(model)
    if not layers:
        raise ValueError("the model has no LoRA layers to save: call apply_lora(model, ...) first")
    settings = {n: {"r": m.r, "lora_alpha": m.lora_alpha} for n, m in layers.items()}
    return save_wrapped(model, path, "lora", settings, LinearWithLoRA, modules_to_save)


def load_lora(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Rebuild the LoRA layers saved by :func:`save_lora` on ``model`` (the pretrained base) and load them.

    The base must already have the saved head's shape (replace the head first; if it has not, the error says so and
    the model is left as it was). Afterwards the model gives the same outputs as the one that was saved.
    """

    def rebuild(layer: nn.Linear, settings: dict) -> LinearWithLoRA:
        return LinearWithLoRA(layer, r=settings["r"], lora_alpha=settings["lora_alpha"])

    return load_wrapped(model, path, "lora", "save_lora", rebuild, LinearWithLoRA)
