"""Every model family's training task, registered: what each family contributes to the one loop.

Importing this module imports each implementation (one module per family: ``task_dcgan``,
``task_stylegan``, ``task_cyclegan``, ``task_srgan``), whose ``@register_task`` fills the registry,
so :func:`get_task` imported from here knows them all. The contract a task follows (``d_step`` /
``g_step`` and the hooks of the loop) is the base class in :mod:`explorer.train.task_base`; the
registry is :mod:`explorer.train.task_registry`.
"""

from __future__ import annotations

from explorer.train.task_base import Batch, Task
from explorer.train.task_cyclegan import CycleGANTask, ImagePool
from explorer.train.task_dcgan import DCGANTask
from explorer.train.task_registry import get_task, register_task
from explorer.train.task_srgan import SRGANTask
from explorer.train.task_stylegan import StyleGANTask

__all__ = [
    "Batch",
    "CycleGANTask",
    "DCGANTask",
    "ImagePool",
    "SRGANTask",
    "StyleGANTask",
    "Task",
    "get_task",
    "register_task",
]
