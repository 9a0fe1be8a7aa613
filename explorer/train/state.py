"""Training checkpoints without pickle: nested state → safetensors tensors + a JSON index.

A training checkpoint must hold much more than weights — optimiser moments, the EMA copy of
the generator, every random-number stream, the data order — and it must be readable without
running code. :func:`flatten_state` walks any nest of dicts / lists / tuples whose leaves are
tensors or JSON scalars: tensors go into a flat ``{key: tensor}`` dict for safetensors, the
structure goes into JSON with ``{"__tensor__": key}`` where a tensor was. Dicts with non-string
keys (``Optimizer.state_dict()["state"]`` is keyed by int) and tuples survive the round trip.

Files are written atomically (temporary file in the same folder, ``fsync``, ``os.replace``), so a
crash or SIGKILL leaves either the old checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from explorer.atomic import atomic_path
from explorer.errors import CheckpointError

TRAIN_STATE_KEY = "explorer_train_state"
TRAIN_STATE_VERSION = 1


def flatten_state(obj: Any, prefix: str = "s") -> tuple[Any, dict[str, torch.Tensor]]:
    """Split ``obj`` into (JSON-able structure, {key: tensor}); see the module docstring."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(o: Any, path: str) -> Any:
        if isinstance(o, torch.Tensor):
            key, n = path, 1
            while key in tensors:  # a state_dict key with dots could repeat a nested path
                key, n = f"{path}~{n}", n + 1
            tensors[key] = o.detach().to("cpu").contiguous().clone()
            return {"__tensor__": key}
        if isinstance(o, dict):
            if all(isinstance(k, str) for k in o):
                return {"__dict__": {k: walk(v, f"{path}.{k}") for k, v in o.items()}}
            return {"__items__": [[_key(k), walk(v, f"{path}.{i}")] for i, (k, v) in enumerate(o.items())]}
        if isinstance(o, tuple):
            return {"__tuple__": [walk(v, f"{path}.{i}") for i, v in enumerate(o)]}
        if isinstance(o, list):
            return [walk(v, f"{path}.{i}") for i, v in enumerate(o)]
        if o is None or isinstance(o, (bool, int, float, str)):
            return o
        if hasattr(o, "tolist"):  # numpy arrays and scalars
            return {"__list__": o.tolist()}
        raise CheckpointError(f"cannot store a {type(o).__name__} in a training checkpoint (at {path})")

    return walk(obj, prefix), tensors


def _key(k: Any) -> Any:
    if isinstance(k, (bool, int, float, str)) or k is None:
        return k
    raise CheckpointError(f"cannot store dict key of type {type(k).__name__} in a training checkpoint")


def unflatten_state(structure: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`flatten_state`."""
    if isinstance(structure, list):
        return [unflatten_state(v, tensors) for v in structure]
    if isinstance(structure, dict):
        if "__tensor__" in structure:
            try:
                return tensors[structure["__tensor__"]]
            except KeyError:
                raise CheckpointError(f"training checkpoint lacks tensor {structure['__tensor__']!r}") from None
        if "__dict__" in structure:
            return {k: unflatten_state(v, tensors) for k, v in structure["__dict__"].items()}
        if "__items__" in structure:
            return {k: unflatten_state(v, tensors) for k, v in structure["__items__"]}
        if "__tuple__" in structure:
            return tuple(unflatten_state(v, tensors) for v in structure["__tuple__"])
        if "__list__" in structure:
            return structure["__list__"]
        raise CheckpointError("training checkpoint index is malformed")
    return structure


def save_train_state(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``state`` to ``path`` (safetensors + JSON index) atomically; returns the path."""
    structure, tensors = flatten_state(state)
    return save_flat_state(structure, tensors, path)


def save_flat_state(structure: Any, tensors: dict[str, torch.Tensor], path: str | os.PathLike) -> Path:
    """Like :func:`save_train_state` for state already split by :func:`flatten_state`."""

    path = Path(path)
    meta = {TRAIN_STATE_KEY: json.dumps({"version": TRAIN_STATE_VERSION, "index": structure})}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def load_train_state(path: str | os.PathLike) -> dict[str, Any]:
    """Read a training checkpoint written by :func:`save_train_state`."""

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no training checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:  # safetensors raises its own types for corrupt files
        raise CheckpointError(f"{path.name} is not a readable training checkpoint ({exc})") from None
    raw = meta.get(TRAIN_STATE_KEY)
    if raw is None:
        raise CheckpointError(f"{path.name} is not a training checkpoint (no {TRAIN_STATE_KEY!r} metadata); "
                              "to start from a model file use it as initial weights instead")
    doc = json.loads(raw)
    if int(doc.get("version", 0)) > TRAIN_STATE_VERSION:
        raise CheckpointError(f"{path.name} was written by a newer GAN Explorer; upgrade to resume it")
    return unflatten_state(doc["index"], tensors)


# ----- random-number state -------------------------------------------------------------------
def capture_rng(device: torch.device) -> dict[str, Any]:
    """Every global random stream training touches: torch CPU / CUDA, numpy, Python."""


    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    np_state = np.random.get_state()
    state["numpy"] = [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])]
    py_state = random.getstate()
    state["python"] = [py_state[0], list(py_state[1]), py_state[2]]
    return state


def restore_rng(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
