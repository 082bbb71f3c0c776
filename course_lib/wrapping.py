"""Wrap chosen ``nn.Linear`` layers of any model by name: the shared mechanics of adapters and LoRA.

Names match like peft's ``target_modules``: ``"linear1"`` matches a module named ``linear1`` or ending in
``.linear1``. Everything is validated before the model is touched, so a bad request leaves it unchanged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable

from torch import nn


def as_list(names: str | Iterable[str]) -> list[str]:
    return [names] if isinstance(names, str) else list(names)


def matches(name: str, targets: Iterable[str]) -> bool:
    """peft's rule: a module matches a target if its full name equals it or ends with ``"." + target``."""
    return any(name == t or name.endswith("." + t) for t in targets)


def wrap_linear_layers(model: nn.Module, target_modules: str | Iterable[str], wrap: Callable[[nn.Linear], nn.Module],
                       wrapper_type: type, modules_to_save: str | Iterable[str] = ()) -> list[str]:
    """Replace each matching ``nn.Linear`` by ``wrap(layer)``, freeze the model, keep ``modules_to_save`` trainable.

    The wrapper's own new parameters must be made trainable by the caller (or by ``wrap``) afterwards; layers that
    are already of ``wrapper_type`` are not wrapped twice. Returns the wrapped layers' names; raises ``ValueError``
    when nothing matches and ``TypeError`` when a match is not an ``nn.Linear``.
    """
    targets, keep = as_list(target_modules), as_list(modules_to_save)
    names = [n for n, m in model.named_modules() if n and matches(n, targets) and not isinstance(m, wrapper_type)]
    # do not descend into layers we are about to wrap (their inner base_layer would match ".base_layer" targets)
    names = [n for n in names if not any(n != o and n.startswith(o + ".") for o in names)]
    if not names:
        raise ValueError(f"no module of the model matches target_modules={targets}; names look like "
                         f"{[n for n, _ in model.named_modules() if n][:6]}")
    wrong = [f"{n} ({type(model.get_submodule(n)).__name__})" for n in names
             if not isinstance(model.get_submodule(n), nn.Linear)]
    if wrong:  # check all before changing anything
        raise TypeError(f"{wrapper_type.__name__} wraps nn.Linear layers only; target_modules matched {wrong}")
    for p in model.parameters():
        p.requires_grad = False
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, wrap(getattr(parent, child)))
    for name, module in model.named_modules():
        if keep and matches(name, keep):
            for p in module.parameters():
                p.requires_grad = True
    return names


def load_wrapped(model: nn.Module, path: str | os.PathLike, key: str, writer: str,
                 rebuild: Callable[[nn.Linear, object], nn.Module], is_trainable: Callable[[str, nn.Module], bool]
                 ) -> nn.Module:
    """Re-wrap ``model`` as recorded in a safetensors file and load its tensors: the shared half of the loaders.

    The file's metadata holds ``key`` (JSON ``{layer name: settings}``) and ``modules_to_save``; each named layer is
    replaced by ``rebuild(layer, settings)``. Every saved tensor must have a place of the same shape in the model
    (a clear error otherwise, e.g. a head of another size). Afterwards only the modules for which
    ``is_trainable(name, module)`` is true and the saved ``modules_to_save`` train.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if key not in meta:
        raise ValueError(f"{path} was not written by {writer} (no {key!r} metadata)")
    layers, keep = json.loads(meta[key]), json.loads(meta["modules_to_save"])
    for name, settings in layers.items():
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, rebuild(getattr(parent, child), settings))
    state = load_file(str(path))
    own = model.state_dict()
    for name, tensor in state.items():
        if name not in own:
            raise ValueError(f"{path}: {name!r} has no place in the model")
        if own[name].shape != tensor.shape:
            raise ValueError(f"{path}: shape mismatch for {name!r}: file {tuple(tensor.shape)} vs model "
                             f"{tuple(own[name].shape)}; give the model the saved head size first")
    model.load_state_dict(state, strict=False)
    for p in model.parameters():
        p.requires_grad = False
    for name, module in model.named_modules():
        if is_trainable(name, module) or (keep and matches(name, keep)):
            for p in module.parameters():
                p.requires_grad = True
    return model
