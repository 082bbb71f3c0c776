"""Wrap chosen ``nn.Linear`` layers of any model by name: the shared mechanics of adapters and LoRA.

Names match like peft's ``target_modules``: ``"linear1"`` matches a module named ``linear1`` or ending in
``.linear1``. Everything is validated and every wrapper built before the model is touched, so a request that fails
leaves the model as it was (same modules, same ``requires_grad`` flags).

``nn.TransformerEncoderLayer`` has an inference *fast path* (one fused kernel, used in eval mode without grad) that
reads ``linear1.weight`` and ``linear2.weight`` directly and never calls ``linear1``/``linear2``: it would skip the
wrapper, or fail because the wrapper has no ``weight``. Every :class:`LinearWrapper` registers an (empty) forward
pre-hook, which is one of the documented conditions under which PyTorch falls back to the ordinary Python path, so
the wrapper always runs. Layers that their parent *never* calls (:data:`READ_BY_PARENT`) cannot be wrapped at all.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import nn

# Linear layers whose parent module never calls them: it hands their weight and bias to a functional kernel.
# A wrapper in their place would never run (peft's, which exposes the base weight as ``weight``, is silently
# skipped; ours, which has no ``weight``, breaks the parent).
READ_BY_PARENT: dict[type, dict[str, str]] = {
    nn.MultiheadAttention: {
        "out_proj": "nn.MultiheadAttention passes out_proj.weight and out_proj.bias straight to "
                    "F.multi_head_attention_forward and never calls out_proj",
    },
}


def as_list(names: str | Iterable[str]) -> list[str]:
    return [names] if isinstance(names, str) else list(names)


def matches(name: str, targets: Iterable[str]) -> bool:
    """peft's rule: a module matches a target if its full name equals it or ends with ``"." + target``."""
    return any(name == t or name.endswith("." + t) for t in targets)


def _use_python_path(module: nn.Module, args):
    """No-op forward pre-hook. Its presence makes ``nn.TransformerEncoderLayer`` skip its fused fast path."""
    return None


def keep_python_path(module: nn.Module) -> nn.Module:
    """Make an encoder layer holding ``module`` run its Python code path (see the module docstring)."""
    if not getattr(module, "_python_path_hook", False):
        module.register_forward_pre_hook(_use_python_path)
        module._python_path_hook = True
    return module


class LinearWrapper(nn.Module):
    """What every wrapper shares: a frozen ``nn.Linear`` held as ``base_layer``, whose sizes it reports as its own."""

    @classmethod
    def check_linear(cls, layer: nn.Module) -> None:
        if not isinstance(layer, nn.Linear):
            raise TypeError(f"{cls.__name__} wraps an nn.Linear, got {type(layer).__name__}; "
                            "pick a linear layer of the model (print(model) lists them)")

    def hold_base_layer(self, base_layer: nn.Linear, *new_modules: nn.Module) -> None:
        """Keep ``base_layer`` frozen, put ``new_modules`` on its device and dtype, keep the Python code path."""
        self.base_layer = base_layer
        base_layer.requires_grad_(False)
        for module in new_modules:
            module.to(device=base_layer.weight.device, dtype=base_layer.weight.dtype)
        keep_python_path(self)

    @property
    def in_features(self) -> int:
        return self.base_layer.in_features

    @property
    def out_features(self) -> int:
        return self.base_layer.out_features


def _parent(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    parent_name, _, child = name.rpartition(".")
    return (model.get_submodule(parent_name) if parent_name else model), child


def _why_not_wrappable(model: nn.Module, name: str) -> str | None:
    parent, child = _parent(model, name)
    for parent_type, reasons in READ_BY_PARENT.items():
        if isinstance(parent, parent_type) and child in reasons:
            return reasons[child]
    return None


def _swap(model: nn.Module, new: dict[str, nn.Module]) -> dict[str, nn.Module]:
    """Put ``new[name]`` in place of each named module; returns the modules it replaced."""
    old = {}
    for name, module in new.items():
        parent, child = _parent(model, name)
        old[name] = getattr(parent, child)
        setattr(parent, child, module)
    return old


def _train_only_wrappers(model: nn.Module, wrapper_type: type, keep: list[str]) -> None:
    """Freeze ``model`` except the wrappers' own parameters (not their ``base_layer``) and the ``keep`` modules."""
    model.requires_grad_(False)
    for name, module in model.named_modules():
        if isinstance(module, wrapper_type):
            for pname, p in module.named_parameters():
                if not pname.startswith("base_layer."):
                    p.requires_grad = True
        elif keep and matches(name, keep):
            module.requires_grad_(True)


def wrap_linear_layers(model: nn.Module, target_modules: str | Iterable[str], wrap: Callable[[nn.Linear], nn.Module],
                       wrapper_type: type, modules_to_save: str | Iterable[str] = ()) -> list[str]:
    """Replace each matching ``nn.Linear`` by ``wrap(layer)``; only the wrappers' new parameters and
    ``modules_to_save`` stay trainable.

    Layers that are already of ``wrapper_type`` are not wrapped twice. Returns the wrapped layers' names. Raises,
    leaving the model untouched, ``ValueError`` when nothing (new) matches or a match is a layer its parent never calls
    (:data:`READ_BY_PARENT`), ``TypeError`` when a match is not an ``nn.Linear``, and whatever ``wrap`` raises.
    """
    targets, keep = as_list(target_modules), as_list(modules_to_save)
    found = [n for n, m in model.named_modules() if n and matches(n, targets)]
    existing = [n for n, m in model.named_modules() if isinstance(m, wrapper_type)]
    # neither a wrapper nor what it holds, nor what lies inside a layer we are about to wrap (".base_layer" targets)
    names = [n for n in found if not any(n == o or n.startswith(o + ".") for o in existing)]
    names = [n for n in names if not any(n.startswith(o + ".") for o in names)]
    if found and not names:
        raise ValueError(f"every module matching target_modules={targets} is already a {wrapper_type.__name__} "
                         f"or part of one: {found[:6]}")
    if not names:
        raise ValueError(f"no module of the model matches target_modules={targets}; names look like "
                         f"{[n for n, _ in model.named_modules() if n][:6]}")
    wrong = [f"{n} ({type(model.get_submodule(n)).__name__})" for n in names
             if not isinstance(model.get_submodule(n), nn.Linear)]
    if wrong:
        raise TypeError(f"{wrapper_type.__name__} wraps nn.Linear layers only; target_modules matched {wrong}")
    unreachable = {n: why for n in names if (why := _why_not_wrappable(model, n))}
    if unreachable:
        raise ValueError(f"{wrapper_type.__name__} cannot wrap {sorted(unreachable)}: "
                         f"{'; '.join(sorted(set(unreachable.values())))}, so a wrapper in its place would never "
                         "run. Leave these layers out of target_modules")
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:  # the wrappers freeze their base layers: undo that if one of them cannot be built
        wrappers = {name: wrap(model.get_submodule(name)) for name in names}
    except Exception:
        for p, flag in flags:
            p.requires_grad = flag
        raise
    _swap(model, wrappers)
    _train_only_wrappers(model, wrapper_type, keep)
    return names


def _inside(key: str, modules: list[str]) -> bool:
    """Whether the state-dict ``key`` belongs to one of ``modules`` (or to a submodule of one)."""
    parts = key.split(".")[:-1]
    return any(matches(".".join(parts[:i]), modules) for i in range(1, len(parts) + 1))


def wrapper_state_dict(model: nn.Module, wrapper_type: type, modules_to_save: str | Iterable[str] = ()
                       ) -> dict[str, torch.Tensor]:
    """The wrappers' own tensors (not their frozen ``base_layer``) and those of ``modules_to_save``, on the CPU."""
    keep = as_list(modules_to_save)
    prefixes = [f"{n}." for n, m in model.named_modules() if isinstance(m, wrapper_type)]
    out = {}
    for key, value in model.state_dict().items():
        own = any(key.startswith(p) and not key[len(p):].startswith("base_layer.") for p in prefixes)
        if own or (keep and _inside(key, keep)):
            out[key] = value.detach().cpu().contiguous()
    return out


def save_wrapped(model: nn.Module, path: str | os.PathLike, key: str, settings: dict[str, object],
                 wrapper_type: type, modules_to_save: str | Iterable[str] = ()) -> Path:
    """Write :func:`wrapper_state_dict` as safetensors, with ``settings`` (JSON ``{layer name: settings}``) under
    the metadata ``key`` and the ``modules_to_save`` names, which is what :func:`load_wrapped` reads back."""
    from safetensors.torch import save_file

    keep = as_list(modules_to_save)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(wrapper_state_dict(model, wrapper_type, keep), str(path),
              metadata={key: json.dumps(settings), "modules_to_save": json.dumps(keep)})
    return path


def load_wrapped(model: nn.Module, path: str | os.PathLike, key: str, writer: str,
                 rebuild: Callable[[nn.Linear, object], nn.Module], wrapper_type: type) -> nn.Module:
    """Re-wrap ``model`` as recorded in a file of :func:`save_wrapped` and load its tensors.

    Each layer named in the metadata ``key`` is replaced by ``rebuild(layer, settings)``. Every saved tensor must
    have a place of the same shape in the model (a clear error otherwise, e.g. a head of another size; the model is
    then left as it was). Afterwards only the wrappers' own parameters and the saved ``modules_to_save`` train.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if key not in meta:
        raise ValueError(f"{path} was not written by {writer} (no {key!r} metadata)")
    layers, keep = json.loads(meta[key]), json.loads(meta["modules_to_save"])
    flags = [(p, p.requires_grad) for p in model.parameters()]
    old = {}
    try:
        old = _swap(model, {name: rebuild(model.get_submodule(name), settings) for name, settings in layers.items()})
        state = load_file(str(path))
        own = model.state_dict()
        for name, tensor in state.items():
            if name not in own:
                raise ValueError(f"{path}: {name!r} has no place in the model")
            if own[name].shape != tensor.shape:
                raise ValueError(f"{path}: shape mismatch for {name!r}: file {tuple(tensor.shape)} vs model "
                                 f"{tuple(own[name].shape)}; give the model the saved head size first")
    except Exception:
        _swap(model, old)
        for p, flag in flags:
            p.requires_grad = flag
        raise
    model.load_state_dict(state, strict=False)
    _train_only_wrappers(model, wrapper_type, keep)
    return model
