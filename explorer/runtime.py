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


@lru_cache(maxsize=None)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux reports them (``/proc/cpuinfo``); empty elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def native_bf16(device: str | torch.device | None = None) -> bool:
    """Does ``device`` do bf16 arithmetic natively (so bf16 autocast is faster than fp32)?

    CPUs: AMX-bf16 or AVX512-BF16 (without them oneDNN emulates bf16 and a training step
    runs many times slower than fp32). GPUs: ``torch.cuda.is_bf16_supported()``.
    ``GAN_EXPLORER_BF16=0/1`` overrides the detection (for machines that hide their flags).
    """
    forced = os.environ.get("GAN_EXPLORER_BF16")
    if forced in ("0", "1"):
        return forced == "1"
    device = resolve_device(device)
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return False
    return bool({"amx_bf16", "avx512_bf16"} & cpu_flags())


def resolve_precision(setting: str, device: str | torch.device | None = None) -> str:
    """``"auto"`` → ``"bf16"`` where :func:`native_bf16` holds, else ``"no"``; other settings unchanged."""
    if setting == "auto":
        return "bf16" if native_bf16(device) else "no"
    return setting
