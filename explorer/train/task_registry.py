"""The registry of training tasks: ``@register_task("dcgan")`` on a :class:`~explorer.train.task_base.Task`
subclass, :func:`get_task` to look one up by family name.

Kept apart from the base class and the implementations (one ``task_<family>.py`` each), as
torch-fidelity keeps its ``registry.py``: each implementation imports the registry, the registry
imports none of them, so there is no import cycle. Importing :mod:`explorer.train.tasks` imports
every implementation and so fills the registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from explorer.errors import TrainingError

if TYPE_CHECKING:  # for annotations only: the registry needs no task code at run time
    from explorer.train.task_base import Task

_TASKS: dict[str, type["Task"]] = {}


def register_task(family: str) -> Callable[[type["Task"]], type["Task"]]:
    """Class decorator: register a task for ``family`` (sets its ``family``); refuses duplicates."""

    def decorate(cls: type["Task"]) -> type["Task"]:
        if family in _TASKS:
            raise ValueError(f"a training task for {family!r} is already registered ({_TASKS[family].__name__})")
        cls.family = family
        _TASKS[family] = cls
        return cls

    return decorate


def get_task(family: str) -> type["Task"]:
    """The task class registered for ``family``; :class:`TrainingError` naming the trainable ones if none."""
    try:
        return _TASKS[family]
    except KeyError:
        raise TrainingError(f"no training task for model family {family!r}; trainable: {', '.join(sorted(_TASKS))}") from None
