"""Explicit registry of model families.

A family registers its model class under a short name (``@register_family("dcgan")``);
checkpoints store that name, and :func:`get_family` turns it back into the class.
Registering a name twice is a programming error and raises immediately.
"""

from __future__ import annotations

import importlib
from typing import Callable, TypeVar

from explorer.errors import CheckpointError
from explorer.models import BUILTIN_FAMILY_MODULES
from explorer.models.base import Capabilities

_FAMILIES: dict[str, type] = {}
T = TypeVar("T", bound=type)


def register_family(name: str) -> Callable[[T], T]:
    """Class decorator: register ``cls`` as the model family called ``name``."""

    def decorate(cls: T) -> T:
        if name in _FAMILIES:
            raise ValueError(f"model family {name!r} is already registered by {_FAMILIES[name].__name__}")
        cls.kind = name
        _FAMILIES[name] = cls
        return cls

    return decorate


def _import_builtin_families() -> None:
    for name in BUILTIN_FAMILY_MODULES:
        module = f"explorer.models.{name}"
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a family still being written must not break the others
            if exc.name != module:
                raise


def get_family(name: str) -> type:
    """Return the model class registered as ``name`` (imports the built-in families first)."""
    _import_builtin_families()
    try:
        return _FAMILIES[name]
    except KeyError:
        known = ", ".join(sorted(_FAMILIES)) or "none"
        raise CheckpointError(f"unknown model kind {name!r}; known kinds: {known}") from None


def families() -> list[str]:
    """Names of all registered families, sorted."""
    _import_builtin_families()

    return sorted(_FAMILIES)


def trainable_families() -> list[str]:
    """Families GAN Explorer's training loop trains: the built-in ones in their listed order (DCGAN
    first), then any others by name — the same order whichever module was imported first."""

    _import_builtin_families()
    order = {name: i for i, name in enumerate(BUILTIN_FAMILY_MODULES)}
    return sorted((n for n, cls in _FAMILIES.items() if cls.trainable), key=lambda n: (order.get(n, len(order)), n))


def capabilities(kind: str, config: dict) -> Capabilities:
    """What a checkpoint of ``kind`` with JSON ``config`` can do, from its header alone (an unknown kind: nothing)."""
    try:
        cls = get_family(kind)
    except CheckpointError:
        return Capabilities(kind)
    return cls.capabilities(config if isinstance(config, dict) else {})


def display_name(kind: str) -> str:
    """The family's name for people ("DCGAN", "super-resolution"); an unknown kind as it is."""
    try:
        return get_family(kind).display_name
    except CheckpointError:
        return kind
