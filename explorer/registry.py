"""Explicit registry of model families.

A family registers its model class under a short name (``@register_family("dcgan")``);
checkpoints store that name, and :func:`get_family` turns it back into the class.
Registering a name twice is a programming error and raises immediately.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from explorer.errors import CheckpointError

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
    import importlib

    from explorer.models import BUILTIN_FAMILY_MODULES

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
