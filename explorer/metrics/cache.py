"""On-disk cache of real-set features and statistics (npz, never pickle).

One file per (data set, split, extractor identity, resolution, channels, count): features
[N, D] (float32), logits [N, K] if any, mean [D] and covariance [D, D] (float64), and a JSON
description. The extractor identity includes a hash of its weights, so swapping weights never
reuses stale numbers. Location: ``<cache root>/metrics`` (``$GAN_EXPLORER_CACHE``, or the older
``$GAN_EXPLORER_CACHE_DIR``, else ``~/.cache/gan-explorer``; :mod:`explorer.paths`). Writes are atomic (temp file + rename).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np

from explorer.atomic import atomic_path
from explorer.paths import cache_root

FORMAT_VERSION = 1


def cache_dir() -> Path:
    """``<cache root>/metrics`` (:func:`explorer.paths.cache_root`)."""
    return cache_root() / "metrics"


def cache_key(dataset: str, split: str, extractor_id: str, resolution: int, channels: int, count: int) -> str:
    """A readable, filesystem-safe key; a short hash guards against collisions of the slugs."""
    parts = [str(dataset), str(split), str(extractor_id), f"{int(resolution)}px", f"{int(channels)}ch", f"n{int(count)}"]
    digest = hashlib.sha256(json.dumps([FORMAT_VERSION, *parts]).encode()).hexdigest()[:12]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", "_".join(parts))[:120]
    return f"{slug}_{digest}"


def load(key: str) -> dict | None:
    """Cached entry {"features", "logits" | None, "mu", "sigma", "meta"} or None."""
    path = cache_dir() / f"{key}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            entry = {name: data[name] for name in data.files}
    except (OSError, ValueError):
        return None  # unreadable or truncated: recompute
    meta = json.loads(str(entry.pop("meta")))
    if meta.get("format_version") != FORMAT_VERSION:
        return None
    return {
        "features": entry["features"].astype(np.float64),
        "logits": entry["logits"].astype(np.float64) if "logits" in entry else None,
        "mu": entry["mu"],
        "sigma": entry["sigma"],
        "meta": meta,
    }


def save(key: str, features: np.ndarray, logits: np.ndarray | None, mu: np.ndarray, sigma: np.ndarray, meta: dict) -> Path:
    path = cache_dir() / f"{key}.npz"
    arrays = {
        "features": np.asarray(features, dtype=np.float32),
        "mu": np.asarray(mu, dtype=np.float64),
        "sigma": np.asarray(sigma, dtype=np.float64),
        "meta": np.array(json.dumps({**meta, "format_version": FORMAT_VERSION})),
    }
    if logits is not None:
        arrays["logits"] = np.asarray(logits, dtype=np.float32)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)
    return path


def clear() -> int:
    """Delete all cached entries; returns how many files were removed."""
    directory = cache_dir()
    removed = 0
    if directory.is_dir():
        for path in directory.glob("*.npz"):
            path.unlink()
            removed += 1
    return removed
