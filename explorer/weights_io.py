"""Reading weight files without trusting them: safetensors headers, strict JSON, format sniffing,
and PyTorch ``.pth`` state_dicts through ``torch.load(weights_only=True)`` after checking the zip
records' sizes. Shared by :mod:`explorer.checkpoint` (our own files) and :mod:`explorer.importers`
(foreign ones), which therefore no longer import each other. Every failure is a
:class:`~explorer.errors.CheckpointError` with a readable message.
"""

from __future__ import annotations

import json
import math
import os
import struct
import zipfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from explorer.errors import CheckpointError

MAX_HEADER_BYTES = 100 * 1024 * 1024  # a safetensors header larger than this is not one of ours


def _read_safetensors_header(path: Path) -> dict[str, Any]:
    """The header of a safetensors file, every entry validated (CheckpointError on anything odd)."""
    size = _file_size(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path.name} is too short to be a checkpoint ({size} bytes)")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER_BYTES or n + 8 > size:
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
        if 2 <= n <= MAX_HEADER_BYTES:
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
