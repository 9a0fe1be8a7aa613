"""Device and thread policy, decided once per process.

CUDA is used when present, otherwise the CPU; ``GAN_EXPLORER_DEVICE`` (or an explicit
argument) overrides. Nothing here runs at import time.
"""

from __future__ import annotations

import os
from functools import lru_cache

import torch


@lru_cache(maxsize=None)
def default_device() -> torch.device:
    """The device to run on: ``$GAN_EXPLORER_DEVICE`` if set, else CUDA if available, else CPU."""
    wanted = os.environ.get("GAN_EXPLORER_DEVICE")
    if wanted:
        return torch.device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Turn ``None``/"auto"/a string into a ``torch.device``."""
    if device is None or device == "auto":
        return default_device()
    return torch.device(device)
