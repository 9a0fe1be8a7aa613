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
import struct
from pathlib import Path
from typing import Any, Sequence

import torch

from explorer.atomic import atomic_path
from explorer.errors import CheckpointError, ExplorerError
from explorer.models.base import GANModel
from explorer.registry import get_family
from explorer.runtime import resolve_device

FORMAT_VERSION = 1
METADATA_KEY = "explorer"
_MAX_HEADER_BYTES = 100 * 1024 * 1024  # a safetensors header larger than this is not one of ours


def save(model: GANModel, path: str | os.PathLike, card: dict | None = None, summary: dict | None = None) -> Path:
    """Write ``model`` to ``path`` (``.safetensors``) atomically; returns the path.

    ``card`` / ``summary`` update the model's card and training summary before saving.
    Tensors that share memory are stored once each as separate copies (safetensors forbids aliasing).
    """
    from safetensors.torch import save_file

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
        "summary": model.summary,
        "card": model.card,
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


def _read_safetensors_header(path: Path) -> dict[str, Any]:
    """The header of a safetensors file, every entry validated (CheckpointError on anything odd)."""
    size = _file_size(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path.name} is too short to be a checkpoint ({size} bytes)")
        (n,) = struct.unpack("<Q", head)
        if n > _MAX_HEADER_BYTES or n + 8 > size:
            raise CheckpointError(f"{path.name} is not a valid safetensors file (truncated or corrupt header)")
        raw = fh.read(n)
    header = _json_loads(raw, f"{path.name} is not a valid safetensors file: its header is not JSON")
    if not isinstance(header, dict):
        raise CheckpointError(f"{path.name} is not a valid safetensors file (header is not a JSON object)")
    meta = header.get("__metadata__")
    if meta is not None and not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
        raise CheckpointError(f"{path.name} is not a valid safetensors file (__metadata__ must map names to strings)")
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        shape = entry.get("shape") if isinstance(entry, dict) else None
        if (
            not isinstance(entry.get("dtype") if isinstance(entry, dict) else None, str)
            or not _is_int_list(shape)
            or not _is_int_list(offsets)
            or len(offsets) != 2
            or not 0 <= offsets[0] <= offsets[1]
        ):
            raise CheckpointError(f"{path.name} is not a valid safetensors file (bad header entry for tensor {str(name)[:60]!r})")
        end = max(end, offsets[1])
    if 8 + n + end > size:
        raise CheckpointError(f"{path.name} is truncated: header promises {8 + n + end} bytes, file has {size}")
    return header


def _is_int_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)


def _json_loads(raw: bytes | str, error: str) -> Any:
    """``json.loads`` whose every failure (bad syntax or encoding, NaN, nesting deep enough to
    exhaust the recursion limit) becomes ``CheckpointError(f"{error} ({why})")``."""

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(raw, parse_constant=no_constants)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        why = "nested too deeply" if isinstance(exc, RecursionError) else type(exc).__name__
        raise CheckpointError(f"{error} ({why})") from None


def _header_numel(header: dict[str, Any]) -> int:
    """Total elements of the tensors a (validated) header declares."""
    return sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        raise CheckpointError(f"no such checkpoint file: {path}") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror}") from None


def sniff_format(path: str | os.PathLike) -> str:
    """Return "safetensors", "torch-zip", "torch-legacy" or raise for anything else."""
    path = Path(path)
    if path.is_dir():
        return "directory"
    _file_size(path)
    with open(path, "rb") as fh:
        head = fh.read(9)
    # safetensors first: its 8-byte header length may itself start with 0x80 or "PK".
    if len(head) == 9 and head[8:9] == b"{":
        (n,) = struct.unpack("<Q", head[:8])
        if 2 <= n <= _MAX_HEADER_BYTES:
            return "safetensors"
    if head[:4] == b"PK\x03\x04":
        return "torch-zip"
    if head[:1] == b"\x80":
        return "torch-legacy"
    raise CheckpointError(
        f"{path.name} is not a checkpoint GAN Explorer can read (expected a .safetensors file or a PyTorch .pth state_dict)"
    )


#: a zip-format .pth may declare at most this many uncompressed bytes in all (torch stores records
#: uncompressed, so a real file declares about its own size) ...
MAX_PTH_UNCOMPRESSED_BYTES = 2 * 1024**3
#: ... and at most this many times its own size (deflated zeros inflate ~1000:1)
MAX_PTH_EXPANSION = 4
MAX_PTH_RECORDS = 100_000


def _check_zip_records(path: Path) -> None:
    """Refuse a zip-format ``.pth`` whose records would inflate beyond the caps, from its listing,
    before ``torch.load`` decompresses anything."""
    import zipfile

    size = _file_size(path)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise CheckpointError(f"{path.name} could not be read as a PyTorch file (truncated or corrupt?): {str(exc)[:200]}") from None
    if len(infos) > MAX_PTH_RECORDS:
        raise CheckpointError(f"{path.name} lists {len(infos):,} records, more than a state_dict needs; refused")
    total = sum(i.file_size for i in infos)
    limit = min(MAX_PTH_UNCOMPRESSED_BYTES, MAX_PTH_EXPANSION * size + (1 << 20))
    if total > limit:
        raise CheckpointError(
            f"{path.name} would inflate to {total / 1e6:,.1f} MB from a {size / 1e6:,.1f} MB file (limit {limit / 1e6:,.1f} MB); "
            "refused before reading it"
        )


def load_state_dict_safely(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a foreign PyTorch file as a plain ``{name: tensor}`` dict, never executing code."""
    path = Path(path)
    fmt = sniff_format(path)
    if fmt == "safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # safetensors raises its own error types for corrupt files
            raise CheckpointError(f"{path.name} is a corrupt safetensors file: {exc}") from None
    if fmt == "torch-zip":
        _check_zip_records(path)
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        msg = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        if "Weights only load failed" in str(exc) or "Unsupported global" in str(exc) or "UnpicklingError" in type(exc).__name__:
            raise CheckpointError(
                f"{path.name} contains pickled Python objects beyond plain tensors; refusing to load it "
                "(only plain state_dicts are accepted, so no code from the file can run)"
            ) from None
        raise CheckpointError(f"{path.name} could not be read as a PyTorch file (truncated or corrupt?): {msg}") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path.name} does not hold a state_dict (a dict of tensors)")
    return dict(obj)


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
    from safetensors.torch import load_file

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
    from explorer.importers import import_foreign

    return import_foreign(paths)


def file_hash(path: str | os.PathLike, length: int = 16) -> str:
    """SHA-256 of a file's bytes (hex, truncated): identifies a checkpoint in caches and provenance."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:length]


# the process-wide model cache lives in explorer.model_cache; re-exported here, where it always was
from explorer.model_cache import cache_info, clear_cache, load_cached  # noqa: E402,F401
