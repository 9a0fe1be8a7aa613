"""TensorFlow.js Layers models: ``model.json`` + binary weight shards, read without TensorFlow.

The format (what ``tensorflowjs_converter --output_format tfjs_layers_model`` writes, and what
npm packages such as ``@upscalerjs/esrgan-slim`` and ``nsfwjs`` ship):

- ``model.json``: ``{"format": "layers-model", "modelTopology": {... Keras model config ...},
  "weightsManifest": [{"paths": ["group1-shard1of1.bin", ...], "weights": [{"name", "shape",
  "dtype", "quantization"?}, ...]}, ...]}``.
- each manifest group's shards, concatenated in ``paths`` order, hold its weights back to back in
  ``weights`` order, little-endian, row-major, in Keras layout (conv kernels HWIO).
- a quantised weight (``"quantization": {"dtype": "uint8" | "uint16", "scale", "min"}``) is stored
  as unsigned integers q with value = q · scale + min; ``{"dtype": "float16"}`` stores IEEE halves.

Everything is bounded before it is read: ``model.json`` size and nesting, the number of weights
and their ranks, every shard's byte count against the manifest (checked from file sizes before a
byte is read), and the total. Shard paths must stay inside the model's folder. Every failure is a
:class:`CheckpointError` naming the file and what was wrong.

:func:`read_tfjs` returns a :class:`TFJSModel` (topology + decoded weights);
:func:`explorer.importers.tfjs_layers.build_graph` turns its topology into a torch module.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from explorer.errors import CheckpointError
from explorer.weights_io import _json_loads  # the one strict JSON reader (no NaN, depth-safe)

#: a model.json larger than this is not a Layers model (the ESRGANs' are 12 KB, nsfwjs' 150 KB)
MAX_MODEL_JSON_BYTES = 16 * 1024 * 1024
#: all weights of a model together (bytes as stored); env ``GAN_EXPLORER_MAX_TFJS_BYTES`` overrides
DEFAULT_MAX_WEIGHT_BYTES = 512 * 1024 * 1024
MAX_WEIGHTS = 20_000
MAX_SHARDS = 4_096
MAX_RANK = 6
#: bytes per stored element, by storage dtype
STORAGE_BYTES = {"float32": 4, "int32": 4, "bool": 1, "uint8": 1, "uint16": 2, "float16": 2}
_NUMPY = {"float32": "<f4", "int32": "<i4", "bool": "u1", "uint8": "u1", "uint16": "<u2", "float16": "<f2"}


@dataclass(frozen=True)
class WeightSpec:
    """One manifest entry: name, shape, logical dtype and (optional) quantisation."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    quantization: dict | None = None

    @property
    def storage_dtype(self) -> str:
        return (self.quantization or {}).get("dtype", self.dtype)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * STORAGE_BYTES[self.storage_dtype]


@dataclass
class Quantized:
    """A weight exactly as stored: unsigned integers ``q`` and value = q · scale + min."""

    q: np.ndarray
    scale: float
    min: float

    def dequantize(self) -> np.ndarray:
        return (self.q.astype(np.float64) * self.scale + self.min).astype(np.float32)


@dataclass
class TFJSModel:
    """A parsed Layers model: Keras topology, weight specs in manifest order, decoded weights."""

    name: str
    topology: dict[str, Any]
    specs: list[WeightSpec]
    weights: dict[str, np.ndarray] = field(repr=False)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def layers(self) -> list[dict[str, Any]]:
        return model_layers(self.topology)

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.specs)


def max_weight_bytes() -> int:
    raw = os.environ.get("GAN_EXPLORER_MAX_TFJS_BYTES", "").strip()
    try:
        return int(raw) if raw else DEFAULT_MAX_WEIGHT_BYTES
    except ValueError:
        raise CheckpointError(f"GAN_EXPLORER_MAX_TFJS_BYTES must be an integer, got {raw!r}") from None


def find_model_json(path: str | os.PathLike) -> Path | None:
    """``path`` itself if it is a ``*.json`` file, ``path/model.json`` for a folder, else None."""
    path = Path(path)
    if path.is_dir():
        candidate = path / "model.json"
        return candidate if candidate.is_file() else None
    return path if path.suffix.lower() == ".json" else None


def read_model_json(path: Path) -> dict[str, Any]:
    """The parsed, shape-checked ``model.json`` (no weights read)."""
    try:
        size = path.stat().st_size
    except OSError:
        raise CheckpointError(f"no such TensorFlow.js model file: {path}") from None
    if size > MAX_MODEL_JSON_BYTES:
        raise CheckpointError(f"{path.name} is {size / 1e6:,.1f} MB, more than a TensorFlow.js model.json holds "
                              f"(limit {MAX_MODEL_JSON_BYTES / 1e6:,.0f} MB); refused before parsing it")
    obj = _json_loads(path.read_bytes(), f"{path.name} is not valid JSON")
    if not isinstance(obj, dict) or not isinstance(obj.get("modelTopology"), dict):
        raise CheckpointError(f"{path.name} is not a TensorFlow.js model (no 'modelTopology' object)")
    fmt = obj.get("format", "layers-model")
    if fmt != "layers-model":
        raise CheckpointError(f"{path.name} is a TensorFlow.js {str(fmt)[:40]!r}; only Layers models ('layers-model') "
                              "can be imported (graph models are TensorFlow graphs, not Keras layers)")
    if not isinstance(obj.get("weightsManifest"), list):
        raise CheckpointError(f"{path.name} has no 'weightsManifest' list")
    model_layers(obj["modelTopology"], path.name)  # shape-check the topology early
    return obj


def model_layers(topology: dict[str, Any], name: str = "model.json") -> list[dict[str, Any]]:
    """The Keras layer list of a topology (``model_config`` of a Functional/Model or Sequential)."""
    cfg = topology.get("model_config", topology)
    inner = cfg.get("config") if isinstance(cfg, dict) else None
    layers = inner.get("layers") if isinstance(inner, dict) else inner
    if not isinstance(layers, list) or not all(isinstance(ly, dict) and isinstance(ly.get("class_name"), str) for ly in layers):
        raise CheckpointError(f"{name}: modelTopology holds no Keras layer list")
    return layers


def parse_manifest(manifest: Any, name: str = "model.json") -> list[tuple[list[str], list[WeightSpec]]]:
    """``[(shard paths, weight specs)]`` per manifest group, every field type- and bound-checked."""
    groups, count = [], 0
    if not isinstance(manifest, list):
        raise CheckpointError(f"{name}: weightsManifest must be a list")
    for g in manifest:
        paths, entries = (g.get("paths"), g.get("weights")) if isinstance(g, dict) else (None, None)
        if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths) or not isinstance(entries, list):
            raise CheckpointError(f"{name}: a weightsManifest group lacks 'paths' (file names) or 'weights'")
        specs = []
        for e in entries:
            count += 1
            if count > MAX_WEIGHTS:
                raise CheckpointError(f"{name}: more than {MAX_WEIGHTS:,} weights; refused")
            specs.append(_spec(e, name))
        groups.append((paths, specs))
    if sum(len(p) for p, _ in groups) > MAX_SHARDS:
        raise CheckpointError(f"{name}: more than {MAX_SHARDS:,} weight shards; refused")
    return groups


def _spec(entry: Any, name: str) -> WeightSpec:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise CheckpointError(f"{name}: a weight entry has no name")
    wname, shape, dtype = entry["name"], entry.get("shape"), entry.get("dtype")
    bad = f"{name}: weight {wname[:80]!r}"
    if not isinstance(shape, list) or len(shape) > MAX_RANK or not all(
            isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 1 << 31 for d in shape):
        raise CheckpointError(f"{bad} has a malformed shape {str(shape)[:60]}")
    if dtype not in ("float32", "int32", "bool"):
        raise CheckpointError(f"{bad} has dtype {str(dtype)[:20]!r}; float32, int32 and bool are supported")
    quant = entry.get("quantization")
    if quant is not None:
        qd = quant.get("dtype") if isinstance(quant, dict) else None
        if qd not in ("uint8", "uint16", "float16") or dtype != "float32":
            raise CheckpointError(f"{bad}: quantisation {str(quant)[:60]} is not uint8/uint16/float16 of a float32 weight")
        if qd != "float16":
            for key in ("scale", "min"):
                v = quant.get(key)
                if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                    raise CheckpointError(f"{bad}: quantisation needs a finite {key!r}")
    return WeightSpec(wname, tuple(shape), dtype, dict(quant) if quant else None)


def decode_weights(specs: list[WeightSpec], blob: bytes | memoryview, keep_quantized: bool = False,
                   name: str = "weights") -> dict[str, np.ndarray | Quantized]:
    """Slice one manifest group's concatenated shard bytes into arrays (float32 after dequantisation).

    ``keep_quantized``: return uint8/uint16 weights as :class:`Quantized` (exact stored values)
    instead of dequantising them. The blob must hold exactly the bytes the specs describe.
    """
    need = sum(s.nbytes for s in specs)
    if need != len(blob):
        raise CheckpointError(f"{name}: the manifest describes {need:,} bytes of weights but the shards hold {len(blob):,}")
    out: dict[str, np.ndarray | Quantized] = {}
    offset = 0
    for s in specs:
        raw = np.frombuffer(blob, dtype=_NUMPY[s.storage_dtype], count=s.numel, offset=offset).reshape(s.shape)
        offset += s.nbytes
        if s.name in out:
            raise CheckpointError(f"{name}: weight {s.name!r} appears twice in the manifest")
        q = s.quantization or {}
        if q.get("dtype") in ("uint8", "uint16"):
            value = Quantized(raw.copy(), float(q["scale"]), float(q["min"]))
            out[s.name] = value if keep_quantized else value.dequantize()
        elif s.dtype == "float32":
            out[s.name] = raw.astype(np.float32)  # also widens float16 storage; copies off the blob
        else:
            out[s.name] = raw.astype(np.int32 if s.dtype == "int32" else np.bool_)
    return out


def read_tfjs(path: str | os.PathLike, keep_quantized: bool = False,
              read_shard: Callable[[str], bytes] | None = None) -> TFJSModel:
    """Read a Layers model from its ``model.json`` (or the folder holding one) and its shards.

    ``read_shard(name)``: how to fetch a shard named in the manifest (default: a file next to
    ``model.json``, which must exist, stay inside that folder, and have exactly the expected size).
    """
    given = Path(path)
    mj = find_model_json(given)
    if mj is None:
        raise CheckpointError(f"{given} is not a TensorFlow.js model (expected model.json or a folder holding one)")
    obj = read_model_json(mj)
    groups = parse_manifest(obj["weightsManifest"], mj.name)
    total = sum(s.nbytes for _, specs in groups for s in specs)
    limit = max_weight_bytes()
    if total > limit:
        raise CheckpointError(f"{mj.name}: its weights take {total / 1e6:,.1f} MB, more than the {limit / 1e6:,.0f} MB "
                              "this app reads (GAN_EXPLORER_MAX_TFJS_BYTES); refused before reading them")
    weights: dict[str, Any] = {}
    for paths, specs in groups:
        blob = _read_group(mj, paths, sum(s.nbytes for s in specs), read_shard)
        part = decode_weights(specs, blob, keep_quantized, name=mj.name)
        dup = set(part) & set(weights)
        if dup:
            raise CheckpointError(f"{mj.name}: weight {sorted(dup)[0]!r} appears in two manifest groups")
        weights.update(part)
    meta = {k: obj.get(k) for k in ("format", "generatedBy", "convertedBy") if isinstance(obj.get(k), str)}
    meta["shards"] = [p for paths, _ in groups for p in paths]
    specs_all = [s for _, specs in groups for s in specs]
    return TFJSModel(name=mj.parent.name or mj.stem, topology=obj["modelTopology"], specs=specs_all, weights=weights, meta=meta)


def _read_group(mj: Path, paths: list[str], expected: int, read_shard) -> bytes:
    if read_shard is not None:
        blob = b"".join(read_shard(p) for p in paths)
        if len(blob) != expected:
            raise CheckpointError(f"{mj.name}: the manifest describes {expected:,} bytes of weights but the shards hold {len(blob):,}")
        return blob
    folder = mj.parent.resolve()
    files = []
    for p in paths:
        f = (folder / p).resolve()
        if folder not in f.parents:
            raise CheckpointError(f"{mj.name}: weight shard path {p[:80]!r} leaves the model's folder; refused")
        if not f.is_file():
            raise CheckpointError(f"{mj.name}: weight shard {p[:80]!r} is missing (expected next to {mj.name})")
        files.append(f)
    size = sum(f.stat().st_size for f in files)
    if size != expected:
        raise CheckpointError(f"{mj.name}: the manifest describes {expected:,} bytes of weights but the shards "
                              f"{', '.join(paths)[:120]} hold {size:,} (truncated or from another model?)")
    return b"".join(f.read_bytes() for f in files)
