"""Checkpoint files: our own safetensors format, and the door to foreign formats.

Own format: one ``.safetensors`` file. Its tensors are the model's ``state_dict``; its
metadata key ``"explorer"`` holds JSON with the format version, model kind, the frozen config
as a dict, the training summary and the model card. No pickle is involved anywhere.

Foreign ``.pth`` files (pytorch/examples DCGAN, junyanz CycleGAN) are read with
``torch.load(weights_only=True)`` — which refuses to run code — and handed to
``explorer.importers``, which maps their layout onto our modules.

Every failure becomes a :class:`CheckpointError` with a readable message.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Sequence

import torch
from safetensors.torch import load_file, save_file

from explorer.atomic import atomic_path
from explorer.errors import CheckpointError, ExplorerError
from explorer.importers import import_foreign
from explorer.models.base import GANModel
from explorer.registry import get_family
from explorer.runtime import resolve_device
from explorer.weights_io import (  # noqa: F401  (load_state_dict_safely, sniff_format: public here too)
    _header_numel,
    _json_loads,
    _read_safetensors_header,
    load_state_dict_safely,
    sniff_format,
)

FORMAT_VERSION = 1
METADATA_KEY = "explorer"


def save(model: GANModel, path: str | os.PathLike, card: dict | None = None, summary: dict | None = None) -> Path:
    """Write ``model`` to ``path`` (``.safetensors``) atomically; returns the path.

    ``card`` / ``summary`` update the model's card and training summary before saving.
    Tensors that share memory are stored once each as separate copies (safetensors forbids aliasing).
    """

    if card:
        model.card.update(card)
    if summary:
        model.summary.update(summary)
    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(f"checkpoints are written as .safetensors files, not {path.suffix or 'no extension'!r}")
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": model.kind,
        "config": model.config_dict(),
        "summary": model.summary.to_dict(),
        "card": model.card.to_dict(),
    }
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={METADATA_KEY: json.dumps(meta, default=_json_default)})
    return path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (Path,)):
        return str(obj)
    if isinstance(obj, torch.Tensor) and obj.numel() == 1:
        return obj.item()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Return the JSON metadata of one of our checkpoints without loading its tensors."""
    path = Path(path)
    header = _read_safetensors_header(path)
    raw = (header.get("__metadata__") or {}).get(METADATA_KEY)
    if raw is None:
        raise CheckpointError(f"{path.name} is a safetensors file but not a GAN Explorer checkpoint (no '{METADATA_KEY}' metadata)")
    meta = _json_loads(raw, f"{path.name}: checkpoint metadata is not valid JSON")
    if not isinstance(meta, dict) or "kind" not in meta or "config" not in meta:
        raise CheckpointError(f"{path.name}: checkpoint metadata lacks 'kind' or 'config'")
    if not isinstance(meta["kind"], str) or not isinstance(meta["config"], dict):
        raise CheckpointError(f"{path.name}: checkpoint metadata has a malformed 'kind' or 'config'")
    for key in ("card", "summary"):
        if not isinstance(meta.get(key) or {}, dict):
            raise CheckpointError(f"{path.name}: checkpoint metadata has a malformed {key!r} (not an object)")
    version = meta.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(f"{path.name}: checkpoint metadata has a malformed format_version {str(version)[:20]!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path.name} was written by a newer GAN Explorer (format {meta['format_version']}, this one reads ≤ {FORMAT_VERSION}); upgrade"
        )
    return meta


def load(path: str | os.PathLike | Sequence[str | os.PathLike], device: str | torch.device | None = None, kind: str | None = None) -> GANModel:
    """Load a model from our own checkpoint or a foreign one (format auto-detected).

    ``path`` may be one file, a directory (junyanz CycleGAN run folder, or a TensorFlow.js model
    folder holding ``model.json``), a TF.js ``model.json``, or a list of files (e.g.
    ``[latest_net_G_A.pth, latest_net_G_B.pth]``, or ``model.json`` + its weight shards). ``kind`` asserts the expected model
    kind. The model is returned in eval mode on ``device`` (default: CUDA if present, else CPU).
    """
    device = resolve_device(device)
    paths = [Path(p) for p in path] if isinstance(path, (list, tuple)) else [Path(path)]
    if len(paths) == 1 and paths[0].is_file() and paths[0].suffix.lower() != ".json" and sniff_format(paths[0]) == "safetensors":
        header = _read_safetensors_header(paths[0])
        if METADATA_KEY in (header.get("__metadata__") or {}):
            model = _load_own(paths[0])
        else:
            model = _load_foreign(paths)
    else:
        model = _load_foreign(paths)
    if kind is not None and model.kind != kind:
        raise CheckpointError(f"{paths[0].name} holds a {model.kind} model, but a {kind} model was expected")
    return model.to(device).eval()


def _load_own(path: Path) -> GANModel:
    meta = read_metadata(path)
    cls = get_family(meta["kind"])
    config = _config_from_meta(cls, meta["config"], path.name)
    num_params = estimate_num_params(cls, config)
    limit = max_params()
    if num_params > limit:
        raise CheckpointError(
            f"{path.name}: its {meta['kind']} config describes a network of {num_params / 1e6:,.0f} M values, more than the "
            f"{limit / 1e6:,.0f} M this app builds (GAN_EXPLORER_MAX_PARAMS); refused before building it"
        )
    in_file = _header_numel(_read_safetensors_header(path))
    if num_params > in_file:
        raise CheckpointError(
            f"{path.name}: weights do not match the {meta['kind']} config (it describes {num_params:,} values, the file holds {in_file:,}); refused before building it"
        )
    try:
        model = cls(config)
    except (ValueError, TypeError, OverflowError, ExplorerError) as exc:
        raise CheckpointError(f"{path.name}: invalid {meta['kind']} config ({exc})") from None
    try:
        tensors = load_file(str(path))
    except Exception as exc:
        raise CheckpointError(f"{path.name} is a corrupt safetensors file: {exc}") from None
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        first = str(exc).split("\n\t")[1] if "\n\t" in str(exc) else str(exc)[:300]
        raise CheckpointError(f"{path.name}: weights do not match the {meta['kind']} config ({first.strip()})") from None
    model.card = dict(meta.get("card") or {})
    model.summary = dict(meta.get("summary") or {})
    return model


#: largest config value (a width, a depth, a resolution) accepted from a file, before any other check
_MAX_CONFIG_INT = 1 << 16
#: default cap on the parameters + buffers of a network built from a checkpoint's config (~400 MB as float32)
DEFAULT_MAX_PARAMS = 100_000_000


def max_params() -> int:
    """The parameter cap for networks built from checkpoint configs (env ``GAN_EXPLORER_MAX_PARAMS``)."""
    raw = os.environ.get("GAN_EXPLORER_MAX_PARAMS", "")
    try:
        return int(raw) if raw.strip() else DEFAULT_MAX_PARAMS
    except ValueError:
        raise CheckpointError(f"GAN_EXPLORER_MAX_PARAMS must be an integer, got {raw!r}") from None


def _config_from_meta(cls: type, values: dict[str, Any], name: str) -> Any:
    """The family's frozen config from a checkpoint's JSON, each value type-checked against the
    field's default first (an int field takes only an int of at most ``_MAX_CONFIG_INT``, and so on),
    so a hostile file cannot reach a constructor with a float, a string or 10**30 where a width goes."""
    fields = {f.name: f for f in dataclasses.fields(cls.config_cls)}
    for key, value in values.items():
        f = fields.get(key)
        if f is None:
            continue  # the constructor names unknown keys below
        default = f.default if f.default is not dataclasses.MISSING else None
        bad = False
        if isinstance(default, bool):
            bad = not isinstance(value, bool)
        elif isinstance(default, int):
            bad = not isinstance(value, int) or isinstance(value, bool) or abs(value) > _MAX_CONFIG_INT
        elif isinstance(default, float):
            bad = not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or abs(value) > 1e6
        elif isinstance(default, str):
            bad = not isinstance(value, str) or len(value) > 200
        elif isinstance(default, tuple):
            bad = not isinstance(value, (list, tuple)) or len(value) > 10_000 or not all(isinstance(v, (str, int, float)) for v in value)
        if bad:
            raise CheckpointError(f"{name}: config value {key}={str(value)[:40]!r} is not a valid {type(default).__name__} for a {cls.kind} model")
    try:
        return cls.config_cls(**values)
    except (TypeError, ValueError, OverflowError) as exc:
        raise CheckpointError(f"{name}: config does not fit a {cls.kind} model ({exc})") from None


def estimate_num_params(cls: type, config: Any) -> int:
    """Values (parameters + buffers) a family's network would hold for ``config``, counted without
    allocating them: the network is built on PyTorch's ``meta`` device, where tensors have shapes
    but no storage. Raises CheckpointError when the config cannot even be built there."""
    try:
        with torch.device("meta"):
            model = cls(config)
    except (ValueError, TypeError, OverflowError, RuntimeError, ExplorerError) as exc:
        raise CheckpointError(f"invalid {cls.kind} config ({str(exc)[:200]})") from None
    return sum(t.numel() for t in model.state_dict().values())


def _load_foreign(paths: list[Path]) -> GANModel:
    return import_foreign(paths)


def file_hash(path: str | os.PathLike, length: int = 16) -> str:
    """SHA-256 of a file's bytes (hex, truncated): identifies a checkpoint in caches and provenance."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:length]
