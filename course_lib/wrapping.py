"""Wrap chosen ``nn.Linear`` layers of any model by name: the shared mechanics of adapters and LoRA.

Names match like peft's ``target_modules``: ``"linear1"`` matches a module named ``linear1`` or ending in
``.linear1``. Everything is validated before the model is touched, so a bad request leaves it unchanged.
"""

from __future__ import annotations

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
