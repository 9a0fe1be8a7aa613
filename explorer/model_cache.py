"""The process-wide cache of loaded models: loaded once, shared by every session, LRU-bounded.

Keyed by (file hash, device), so two paths to the same bytes share one model and a changed file
is a new entry. Bounded by a count and by bytes of weights (the least recently used model goes
first; a request still using an evicted model keeps it alive until it ends, then it is freed).
Concurrent first requests for one file load it once. No gradio here.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

import torch

from explorer.checkpoint import file_hash, load
from explorer.models.base import GANModel
from explorer.runtime import resolve_device

#: most models the process-wide cache keeps loaded (``$GAN_EXPLORER_MAX_MODELS``); least recently
#: used ones are dropped first (a request still using one keeps it alive until it ends)
DEFAULT_MAX_MODELS = 6
#: most bytes of weights the cache keeps (``$GAN_EXPLORER_MAX_MODEL_MB``, in MB)
DEFAULT_MAX_MODEL_MB = 512

_CACHE: "OrderedDict[tuple[str, str], GANModel]" = OrderedDict()
_CACHE_LOCK = threading.Lock()
_LOADING: dict[tuple[str, str], threading.Lock] = {}


def _limits() -> tuple[int, int]:
    """(most models, most bytes) from the environment, or the defaults when unset or malformed."""
    try:
        max_models = max(1, int(os.environ.get("GAN_EXPLORER_MAX_MODELS", DEFAULT_MAX_MODELS)))
    except ValueError:
        max_models = DEFAULT_MAX_MODELS
    try:
        max_mb = max(0.0, float(os.environ.get("GAN_EXPLORER_MAX_MODEL_MB", DEFAULT_MAX_MODEL_MB)))
    except ValueError:
        max_mb = DEFAULT_MAX_MODEL_MB
    return max_models, int(max_mb * (1 << 20))


def _model_bytes(model: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def load_cached(path: str | os.PathLike, device: str | torch.device | None = None, file_key: str | None = None) -> GANModel:
    """Process-wide LRU cache of loaded models keyed by (file hash, device). Do not mutate the result.

    Each file is loaded once however many sessions ask at the same time. The cache keeps at most
    ``$GAN_EXPLORER_MAX_MODELS`` models and ``$GAN_EXPLORER_MAX_MODEL_MB`` MB of weights (the newest
    always stays). ``file_key``: the file's :func:`file_hash` when the caller already knows it.
    """
    device = resolve_device(device)
    key = (file_key or file_hash(path), str(device))
    with _CACHE_LOCK:
        model = _CACHE.get(key)
        if model is not None:
            _CACHE.move_to_end(key)
            return model
        loading = _LOADING.setdefault(key, threading.Lock())
    with loading:  # one load per file; the others wait for it
        with _CACHE_LOCK:
            model = _CACHE.get(key)
        if model is None:
            model = load(path, device=device)
            with _CACHE_LOCK:
                _CACHE[key] = model
                _evict()
        with _CACHE_LOCK:
            _LOADING.pop(key, None)
    return model


def _evict() -> None:
    """Drop least recently used models beyond the limits (lock held; the newest stays)."""
    max_models, max_bytes = _limits()
    sizes = {k: _model_bytes(m) for k, m in _CACHE.items()}
    while len(_CACHE) > 1 and (len(_CACHE) > max_models or sum(sizes[k] for k in _CACHE) > max_bytes):
        _CACHE.popitem(last=False)


def cache_info() -> dict[str, int]:
    """What the model cache holds: ``num_models``, ``bytes``, and its limits."""
    max_models, max_bytes = _limits()
    with _CACHE_LOCK:
        return {"num_models": len(_CACHE), "bytes": sum(_model_bytes(m) for m in _CACHE.values()),
                "max_models": max_models, "max_bytes": max_bytes}


def clear_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()
