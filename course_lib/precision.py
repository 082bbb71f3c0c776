"""Which numeric precision a training run uses, decided in one place for every loop in the course.

A config asks for ``"bf16"`` (the full profiles do) or ``"no"``; :func:`choose_precision` turns the request into
what this machine can do well:

- ``"bf16"`` autocast only where the GPU computes in bfloat16 natively (compute capability 8.0+: Ampere, Hopper).
  ``torch.cuda.is_bf16_supported()`` alone also says yes on older GPUs that only *emulate* bfloat16 (slowly), so the
  query is made with ``including_emulation=False``;
- otherwise ``"fp16"`` autocast with a gradient scaler on GPUs with fp16 tensor cores (compute capability 7.0+:
  Volta, Turing), since fp16's narrow range needs the loss scaled up to keep small gradients from vanishing
  (accelerate's ``"fp16"`` and the ``Trainer``'s ``fp16=True`` both add the scaler);
- otherwise, and always on a CPU, float32 (``"no"``).

In every case the weights that are trained stay float32 (:attr:`Precision.weights_dtype`): autocast runs the
matrix products in low precision while the optimizer updates float32 master weights. A weight stored in bfloat16
keeps 8 significant bits (under 3 decimal digits): an update smaller than about 0.2% of the weight is rounded
away, and fine-tuning steps are far smaller than that.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from course_lib.env import default_device

REQUESTS = ("no", "bf16", "fp16")
_AUTOCAST_DTYPES = {"no": None, "bf16": torch.bfloat16, "fp16": torch.float16}
FP16_TENSOR_CORES = (7, 0)  # Volta: the first GPUs whose tensor cores make fp16 autocast pay off


@dataclass(frozen=True)
class Precision:
    """The decision of :func:`choose_precision`.

    Attributes:
        mixed_precision: ``"no"``, ``"bf16"`` or ``"fp16"``, the value for ``accelerate.Accelerator(mixed_precision=)``.
        weights_dtype: the dtype to load trained weights in: always ``torch.float32`` (master weights).
        reason: one line saying what was chosen and why, for a chapter to print.
    """

    mixed_precision: str
    weights_dtype: torch.dtype
    reason: str

    @property
    def trainer_flags(self) -> dict[str, bool]:
        """``bf16=`` and ``fp16=`` for ``transformers.TrainingArguments`` (and trl's ``SFTConfig``): both are always
        given, because trl's configs switch ``bf16`` on when it is left out."""
        return {"bf16": self.mixed_precision == "bf16", "fp16": self.mixed_precision == "fp16"}

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """The dtype autocast computes in (``None``: float32, no autocast)."""
        return _AUTOCAST_DTYPES[self.mixed_precision]

    def autocast(self, device: str | torch.device = "cuda"):
        """A context that runs the forward pass in :attr:`autocast_dtype` on ``device`` (nothing for float32)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(torch.device(device).type, dtype=self.autocast_dtype)


def choose_precision(requested: str = "bf16") -> Precision:
    """The precision to train in on this machine for the ``requested`` one (see the module docstring).

    ``"no"`` stays float32. ``"bf16"`` becomes bf16 on a GPU with native bfloat16, else fp16 (with a gradient
    scaler) on a GPU with fp16 tensor cores, else float32. ``"fp16"`` is honoured on a GPU with fp16 tensor cores.
    Without a CUDA GPU the answer is always float32.
    """
    if requested not in REQUESTS:
        raise ValueError(f"Unknown precision {requested!r}; choose one of: {', '.join(REQUESTS)}")
    if requested == "no":
        return _float32("float32, as requested")
    if not torch.cuda.is_available():
        return _float32(f"float32: no CUDA GPU, so the requested {requested} autocast is not used")
    name = torch.cuda.get_device_name()
    if requested == "bf16" and torch.cuda.is_bf16_supported(including_emulation=False):
        return Precision("bf16", torch.float32,
                         f"bf16 autocast: the {name} computes in bfloat16 natively; weights stay float32")
    capability = tuple(torch.cuda.get_device_capability())
    major, minor = capability
    if capability >= FP16_TENSOR_CORES:
        why = "as requested" if requested == "fp16" else "no native bfloat16"
        return Precision("fp16", torch.float32,
                         f"fp16 autocast with a gradient scaler: the {name} (compute capability {major}.{minor}) has "
                         f"fp16 tensor cores, {why}; weights stay float32")
    return _float32(f"float32: the {name} (compute capability {major}.{minor}) has neither native bfloat16 nor "
                    "fp16 tensor cores")


def _float32(reason: str) -> Precision:
    return Precision("no", torch.float32, reason)


def make_accelerator(requested: str = "bf16"):
    """An ``accelerate.Accelerator`` in the precision :func:`choose_precision` grants for ``requested``, on the
    device :func:`course_lib.env.default_device` decides (the one device decision of the course).

    ``accelerate`` keeps one state per process and refuses a second ``Accelerator`` with another precision (a
    notebook that trains one model in bf16 and the next in float32 would stop with an error). When the precision
    changes, the previous state is dropped first (:func:`_drop_accelerator_state`), as
    ``transformers.TrainingArguments`` does; the device and the process group stay.
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, is_initialized

    chosen = choose_precision(requested).mixed_precision
    if is_initialized() and AcceleratorState().mixed_precision != chosen:
        _drop_accelerator_state()
    return Accelerator(mixed_precision=chosen, cpu=default_device() == "cpu")


def _drop_accelerator_state() -> None:
    """Forget the process's ``AcceleratorState`` (its precision), keeping the device and process group.

    accelerate 1.15 has no public way to do this: ``AcceleratorState._reset_state`` is private ("used internally"),
    and ``transformers.TrainingArguments`` calls it for the same reason. This is the only place the course touches
    accelerate's private state; ``tests/test_precision.py`` checks that it still works.
    """
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state()


def training_device() -> torch.device:
    """The device models are trained (and so first evaluated) on: :func:`course_lib.env.default_device`, the same
    decision :func:`make_accelerator` hands to ``accelerate``."""
    return torch.device(default_device())
