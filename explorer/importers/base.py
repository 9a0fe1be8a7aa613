"""What every foreign-format importer shares: the :class:`ForeignFile` it reads, the
:class:`Importer` protocol it implements and the card entries it writes. A module of its own so
that the importers build on it without importing the package that registers them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from explorer.models.base import GANModel


@dataclass
class ForeignFile:
    """One foreign checkpoint file: its path, tensors, and the role its importer gave it."""

    path: Path
    state: dict[str, torch.Tensor]
    role: str = ""

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {k: tuple(v.shape) for k, v in self.state.items()}


class Importer(Protocol):
    name: str
    description: str

    def match(self, shapes: dict[str, tuple[int, ...]]) -> str | None:
        """The role ("G", "D", ...) a state_dict with these tensor names/shapes plays in this format, or None."""

    def pick_from_directory(self, files: list[Path]) -> list[Path]:
        """The files of this format a run directory should load (empty if none by name)."""

    def siblings(self, file: ForeignFile) -> list[Path]:
        """Existing files to load together with ``file`` when it was given alone."""

    def build(self, files: list[ForeignFile]) -> GANModel:
        """Build our model from matched files (distinct roles); raise CheckpointError if inconsistent."""


def imported_card(format_description: str, files: list[ForeignFile], parts: list[str], notes: list[str]) -> dict:
    """The ``card`` entries every importer writes (JSON-serialisable)."""
    return {
        "imported": {
            "format": format_description,
            "files": [f.path.name for f in files],
            "roles": {f.path.name: f.role for f in files},
            "parts": list(parts),
            "notes": list(notes),
        },
        "intended_use": "inspection and comparison of a model trained elsewhere",
    }
