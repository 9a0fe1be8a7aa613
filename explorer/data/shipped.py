"""The real data sets that ship inside the package (``explorer/data/shipped/*.npz``).

Owns the registry of shipped names, reading the ``.npz`` files (``allow_pickle=False``: they hold
only numeric and string arrays) and an in-process cache so each file is decompressed once.
The files are built by ``scripts/build_datasets.py``; sources and licences are in ``DATA_CARD.md``.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass

import numpy as np

from explorer.errors import DataError

SHIPPED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shipped")


@dataclass(frozen=True)
class ShippedInfo:
    """What one shipped data set is: file, short description and the pair it belongs to (if any)."""

    name: str
    filename: str
    description: str
    pair: str | None = None


_SHIPPED: dict[str, ShippedInfo] = {}


def _register(info: ShippedInfo) -> None:
    if info.name in _SHIPPED:  # explicit registry: a duplicate name is a programming error
        raise ValueError(f"shipped data set {info.name!r} registered twice")
    _SHIPPED[info.name] = info


_register(ShippedInfo("digits", "digits.npz", "MNIST handwritten digits, 10,000 real images, 28x28 grey"))
_register(ShippedInfo("fashion", "fashion.npz", "Fashion-MNIST t10k, 10,000 real images, 28x28 grey"))
_register(ShippedInfo("emoji-google", "emoji-google.npz",
                      "Noto emoji (Google), 1,876 images, 64x64 RGB on white", pair="emoji-twitter"))
_register(ShippedInfo("emoji-twitter", "emoji-twitter.npz",
                      "Twemoji (Twitter/X), 1,876 images, 64x64 RGB on white", pair="emoji-google"))


def list_shipped() -> list[str]:
    """Names of the shipped data sets, in a stable order."""
    return list(_SHIPPED)


def shipped_info(name: str) -> dict:
    """Description plus the build metadata stored in the file (source, licence, counts, ...)."""
    info = _info(name)
    return dict(json.loads(_load(name)["meta"]), description=info.description, pair=info.pair)


def is_shipped(name: object) -> bool:
    return isinstance(name, str) and name in _SHIPPED


def _info(name: str) -> ShippedInfo:
    try:
        return _SHIPPED[name]
    except KeyError:
        raise DataError(f"unknown shipped data set {name!r}; choose one of "
                        f"{', '.join(_SHIPPED)} or give a folder / .zip of images") from None


@functools.lru_cache(maxsize=None)
def _load(name: str) -> dict:
    path = os.path.join(SHIPPED_DIR, _info(name).filename)
    if not os.path.isfile(path):
        raise DataError(f"shipped data file {path} is missing; rebuild it with "
                        "`python scripts/build_datasets.py`")
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in ("images", "labels", "class_names", "names", "meta")}
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"shipped data file {path} is unreadable ({exc}); rebuild it with "
                        "`python scripts/build_datasets.py`") from exc
    for key in ("images", "labels"):
        out[key].setflags(write=False)  # the cache is shared: callers must not edit it in place
    out["meta"] = str(out["meta"])
    return out


def shipped_arrays(name: str) -> dict:
    """The raw arrays of a shipped data set.

    Args:
        name: one of :func:`list_shipped`.

    Returns:
        dict with ``images`` uint8 [N, H, W, C] (read-only, shared cache; copy before editing),
        ``labels`` int64 [N], ``class_names`` list[str], ``names`` list[str] (provenance of each
        image; for the emoji sets the codepoint file name, identical in the paired sets),
        ``background`` list[int] (the background colour, per channel).

    Raises:
        DataError: unknown name or missing/unreadable file.
    """
    raw = _load(name)
    meta = json.loads(raw["meta"])
    return {
        "images": raw["images"],
        "labels": raw["labels"],
        "class_names": [str(c) for c in raw["class_names"]],
        "names": [str(n) for n in raw["names"]],
        "background": list(meta.get("background", [0])),
    }
