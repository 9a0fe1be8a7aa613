"""Named latent edits: layer ranges, the edit record, its JSON form and the per-model library.

An **edit** is one direction of a generator's edit space (z for DCGAN, w for StyleGAN) with a
name, a default strength and — for models with per-layer styles — the range of style layers it
moves. ``delta = strength · std · vector``: ``vector`` is the unit direction it was made from
(a PCA/SeFa slider), ``std`` the spread of latents along it, so strengths mean the same as the
Explore sliders (standard deviations).

**Layer ranges** (StyleGAN only): w+ is one w per style input, ``ws [N, num_ws, w_dim]``. An edit
restricted to layers ``a..b`` (inclusive) adds its delta to ``ws[:, a:b+1]`` only. Presets follow
the StyleGAN paper's split by resolution: *coarse* = the 4–8 px blocks (pose, shape), *fine* = the
last block and anything from 64 px (colour, texture), *middle* = the rest; the family says which
style indices each block reads (:meth:`StyleGAN.style_blocks`).

**Library**: one JSON file per model under ``<app_home>/edits/`` (next to the user's models; see
:func:`explorer.zoo.app_home`), named by the hash of the model's weights
(:func:`explorer.latent.model_hash`), so shipped, imported and trained models — and the CLI and the
app — find the same edits. Writes are atomic (temp file, fsync, rename); a damaged file is
reported, never overwritten. No gradio here.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from explorer.atomic import write_text
from explorer.errors import ExplorerError
from explorer.latent import latents_from_seeds, model_hash, truncate
from explorer.paths import app_home

#: ``"format"`` value of an exported edit, and its version
FORMAT = "gan-explorer-edit"
FORMAT_VERSION = 1
#: largest edit JSON accepted (bytes): a 4096-d vector in JSON is about 90 KB
MAX_EDIT_FILE_BYTES = 512 * 1024
#: largest library file read (bytes)
MAX_LIBRARY_BYTES = 16 * 1024 * 1024
MAX_VECTOR_SIZE = 4096
MAX_NAME_LENGTH = 60
MAX_EDITS_PER_MODEL = 100
#: strengths are in standard deviations; beyond this the image is noise anyway
MAX_STRENGTH = 100.0
PRESETS = ("coarse", "middle", "fine")


# ----------------------------------------------------------------------------------------
# layer ranges
# ----------------------------------------------------------------------------------------
def num_styles(model) -> int:
    """Style inputs of a model with per-layer styles (``num_ws``); 0 for whole-latent models."""
    return int(model.num_ws) if hasattr(model, "style_blocks") else 0


def layer_presets(model) -> dict[str, tuple[int, int]]:
    """``{"coarse": (a, b), "middle": …, "fine": …}`` (inclusive style ranges; empty ones left out)."""
    if not num_styles(model):
        return {}
    blocks = model.style_blocks()  # [(resolution, [style indices])], coarse first
    groups: dict[str, list[int]] = {name: [] for name in PRESETS}
    for i, (res, idx) in enumerate(blocks):
        last = i == len(blocks) - 1
        name = "fine" if last or res >= 64 else ("coarse" if res <= 8 else "middle")
        groups[name].extend(idx)
    return {name: (min(idx), max(idx)) for name, idx in groups.items() if idx}


def range_label(model, rng: tuple[int, int]) -> str:
    """``"layers 3–4 · 16 px"``: the style indices and the resolutions they drive."""
    a, b = rng
    res = [r for r, idx in model.style_blocks() if any(a <= i <= b for i in idx)]
    px = f"{res[0]} px" if len(res) == 1 else f"{res[0]}–{res[-1]} px"
    return f"layers {a}–{b} · {px}" if a != b else f"layer {a} · {px}"


def check_range(model, rng: Sequence[Any] | None) -> tuple[int, int] | None:
    """Validate an inclusive style range for ``model``; None (or the full range) means every layer."""
    if rng is None:
        return None
    n = num_styles(model)
    if not n:
        raise ExplorerError(f"a {model.kind} model has no per-layer styles; its edits move the whole latent")
    try:
        a, b = (int(v) for v in rng)
    except (TypeError, ValueError):
        raise ExplorerError("a layer range is two whole numbers: first and last layer") from None
    if not 0 <= a <= b < n:
        raise ExplorerError(f"layer range {a}–{b} is not within 0–{n - 1} (first ≤ last)")
    return None if (a, b) == (0, n - 1) else (a, b)


def apply_deltas(x: torch.Tensor, deltas: Sequence[tuple[torch.Tensor, tuple[int, int] | None]], num_ws: int = 0) -> torch.Tensor:
    """Add edit deltas to latents.

    ``x``: [N, D] (one vector per image) or [N, num_ws, D] (w+). ``deltas``: ``(delta [D] or [N, D],
    layer range or None)``. A delta restricted to a range turns x into w+ ([N, num_ws, D], the
    vector repeated per layer) and lands on those layers only; otherwise x keeps its shape.
    """
    if any(rng is not None for _, rng in deltas) and x.ndim == 2:
        if num_ws < 1:
            raise ExplorerError("layer ranges need a model with per-layer styles")
        x = x.unsqueeze(1).expand(-1, num_ws, -1)  # [N, num_ws, D]
    out = x.clone() if deltas else x
    for delta, rng in deltas:
        delta = delta.to(out.device, out.dtype)
        if out.ndim == 2:
            out += delta
        else:
            a, b = (0, out.shape[1] - 1) if rng is None else rng
            out[:, a : b + 1] += delta.unsqueeze(-2) if delta.ndim == 2 else delta
    return out


# ----------------------------------------------------------------------------------------
# the edit record
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Edit:
    """A named direction with its strength and layer range (see the module docstring)."""

    name: str
    space: str  # "z" | "w"
    vector: tuple[float, ...]
    std: float = 1.0
    strength: float = 1.0
    layers: tuple[int, int] | None = None
    source: dict[str, Any] = field(default_factory=dict, compare=False)

    def delta(self, strength: float | None = None) -> torch.Tensor:
        """The vector added to the latent [D] at ``strength`` (default: the edit's own)."""
        s = self.strength if strength is None else float(strength)
        return torch.tensor(self.vector, dtype=torch.float32) * (s * self.std)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": FORMAT_VERSION, "name": self.name, "space": self.space,
                "dim": len(self.vector), "vector": list(self.vector), "std": self.std, "strength": self.strength,
                "layers": list(self.layers) if self.layers else None, "source": self.source}


def check_name(name: Any) -> str:
    """A usable edit name: 1–60 printable characters (surrounding spaces dropped)."""
    text = str(name if name is not None else "").strip()
    if not text:
        raise ExplorerError("give the edit a name")
    if len(text) > MAX_NAME_LENGTH:
        raise ExplorerError(f"an edit name has at most {MAX_NAME_LENGTH} characters")
    if any(not ch.isprintable() for ch in text):
        raise ExplorerError("an edit name cannot contain control characters")
    return text


def _number(value: Any, what: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExplorerError(f"{what} must be a number")
    value = float(value)
    if not math.isfinite(value) or not lo <= value <= hi:
        raise ExplorerError(f"{what} must lie between {lo:g} and {hi:g}")
    return value


def edit_from_dict(data: Any, origin: str = "edit") -> Edit:
    """Validate a parsed edit (:meth:`Edit.to_dict` layout); clear errors name the field."""
    if not isinstance(data, dict):
        raise ExplorerError(f"{origin}: an edit is a JSON object")
    if data.get("format") != FORMAT:
        raise ExplorerError(f"{origin} is not a GAN Explorer edit (\"format\" must be {FORMAT!r})")
    if data.get("version") != FORMAT_VERSION:
        raise ExplorerError(f"{origin}: edit format version {data.get('version')!r} is not supported (this version reads {FORMAT_VERSION})")
    name = check_name(data.get("name"))
    space = data.get("space")
    if space not in ("z", "w"):
        raise ExplorerError(f"{origin}: \"space\" must be \"z\" or \"w\"")
    vector = data.get("vector")
    if not isinstance(vector, list) or not 1 <= len(vector) <= MAX_VECTOR_SIZE:
        raise ExplorerError(f"{origin}: \"vector\" must be a list of 1–{MAX_VECTOR_SIZE} numbers")
    vec = tuple(_number(v, f"{origin}: every vector entry", -1e6, 1e6) for v in vector)
    if "dim" in data and data["dim"] != len(vec):
        raise ExplorerError(f"{origin}: \"dim\" says {data['dim']} but the vector has {len(vec)} numbers")
    if not any(vec):
        raise ExplorerError(f"{origin}: the vector is all zeros")
    std = _number(data.get("std", 1.0), f"{origin}: \"std\"", 1e-12, 1e6)
    strength = _number(data.get("strength", 1.0), f"{origin}: \"strength\"", -MAX_STRENGTH, MAX_STRENGTH)
    layers = data.get("layers")
    if layers is not None:
        if space != "w" or not isinstance(layers, list) or len(layers) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in layers):
            raise ExplorerError(f"{origin}: \"layers\" is null or [first, last] (w-space edits only)")
        if not 0 <= layers[0] <= layers[1] < 64:
            raise ExplorerError(f"{origin}: \"layers\" must satisfy 0 ≤ first ≤ last")
        layers = (layers[0], layers[1])
    source = data.get("source") or {}
    if not isinstance(source, dict) or len(json.dumps(source)) > 4096:
        raise ExplorerError(f"{origin}: \"source\" must be a small JSON object")
    return Edit(name, space, vec, std, strength, layers, source)


def parse_edit_json(data: bytes, origin: str = "edit.json") -> Edit:
    """Read an exported edit (bytes of a JSON file), bounded in size before parsing."""
    if len(data) > MAX_EDIT_FILE_BYTES:
        raise ExplorerError(f"{origin} is too large for an edit file ({len(data):,} bytes; at most {MAX_EDIT_FILE_BYTES:,})")
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ExplorerError(f"{origin} is not a JSON edit file ({str(exc)[:100]})") from None
    return edit_from_dict(parsed, origin)


def edit_to_json(edit: Edit) -> bytes:
    return json.dumps(edit.to_dict(), indent=1).encode("utf-8")


def check_fits(model, edit: Edit) -> Edit:
    """Refuse an edit that cannot apply to ``model`` (wrong space, size or layer range)."""
    space = "w" if num_styles(model) else "z"
    dim = int(model.config.w_dim) if space == "w" else model.latent_dim
    if edit.space != space:
        raise ExplorerError(f"edit {edit.name!r} moves a {edit.space}-vector; this {model.kind} model is edited in {space}-space")
    if len(edit.vector) != dim:
        raise ExplorerError(f"edit {edit.name!r} has {len(edit.vector)} numbers; this model's {space} has {dim}")
    if edit.layers is not None:
        check_range(model, edit.layers)
    return edit


def edit_from_direction(model, directions, index: int, name: str, strength: float, layers: tuple[int, int] | None,
                        model_name: str = "") -> Edit:
    """An edit made from slider ``index`` of ``directions`` (a :class:`explorer.latent.Directions`)."""
    if not 0 <= int(index) < directions.num_components:
        raise ExplorerError(f"direction {int(index) + 1} does not exist ({directions.num_components} directions)")
    k = int(index)
    source = {"method": directions.method, "index": k, "model": model_name, "model_hash": directions.model_hash,
              "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    edit = Edit(check_name(name), directions.space, tuple(float(v) for v in directions.vectors[k].tolist()),
                float(directions.stds[k]), _number(strength, "strength", -MAX_STRENGTH, MAX_STRENGTH),
                check_range(model, layers), source)
    return check_fits(model, edit)


@torch.no_grad()
def apply_to_seeds(model, edit: Edit, seeds: Sequence[int], labels: torch.Tensor | None = None,
                   truncation: float = 1.0, strength: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Images before and after the edit, each [N, C, H, W] in [-1, 1], for a batch of seeds."""

    check_fits(model, edit)
    z = latents_from_seeds(model, seeds)  # [N, latent_dim]
    if edit.space == "w":
        w = model.mapping(z, labels, truncation)  # [N, w_dim]
        moved = apply_deltas(w, [(edit.delta(strength), edit.layers)], num_styles(model))
        return model.generate_from_w(w), model.generate_from_w(moved)
    z = truncate(z, truncation)
    return model.generate(z, labels), model.generate(apply_deltas(z, [(edit.delta(strength), None)]), labels)


# ----------------------------------------------------------------------------------------
# the library
# ----------------------------------------------------------------------------------------
_LOCK = threading.Lock()


def default_root() -> Path:
    """``<app_home>/edits``."""
    return app_home() / "edits"


class EditLibrary:
    """Saved edits, one JSON file per model (keyed by the hash of its weights)."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_root()

    def path_for(self, model) -> Path:
        return self.root / f"{model_hash(model)}.json"

    def _read(self, path: Path) -> list[Edit]:
        if not path.is_file():
            return []
        if path.stat().st_size > MAX_LIBRARY_BYTES:
            raise ExplorerError(f"the edit library {path} is too large to read; move it away to start afresh")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return [edit_from_dict(d, f"{path.name} #{i + 1}") for i, d in enumerate(data["edits"])]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ExplorerError) as exc:
            raise ExplorerError(f"the edit library {path} is damaged ({str(exc)[:120]}); it was left as it is") from None

    def list(self, model) -> list[Edit]:
        """This model's edits, in the order they were saved."""
        return self._read(self.path_for(model))

    def get(self, model, name: str) -> Edit:
        for edit in self.list(model):
            if edit.name == name:
                return edit
        known = ", ".join(e.name for e in self.list(model)) or "none saved yet"
        raise ExplorerError(f"no saved edit called {name!r} for this model (saved: {known})")

    def save(self, model, edit: Edit, replace: bool = False) -> Path:
        """Add (or with ``replace`` overwrite) ``edit`` in this model's file; returns the file."""
        check_fits(model, edit)
        path = self.path_for(model)
        with _LOCK:
            edits = self._read(path)
            if any(e.name == edit.name for e in edits):
                if not replace:
                    raise ExplorerError(f"an edit called {edit.name!r} exists already; pick another name or delete it first")
                edits = [e for e in edits if e.name != edit.name]
            if len(edits) >= MAX_EDITS_PER_MODEL:
                raise ExplorerError(f"this model has {len(edits)} saved edits, the most kept; delete some first")
            self._write(path, [*edits, edit])
        return path

    def delete(self, model, name: str) -> None:
        path = self.path_for(model)
        with _LOCK:
            edits = self._read(path)
            if not any(e.name == name for e in edits):
                raise ExplorerError(f"no saved edit called {name!r} for this model")
            self._write(path, [e for e in edits if e.name != name])

    @staticmethod
    def _write(path: Path, edits: list[Edit]) -> None:
        write_text(path, json.dumps({"format": "gan-explorer-edit-library", "version": 1, "edits": [e.to_dict() for e in edits]}))


def resolve(model, file_or_name: str, library: EditLibrary | None = None) -> Edit:
    """An edit from a ``.json`` file path, else by name from ``model``'s library (the CLI's ``--edit``)."""
    path = Path(file_or_name)
    if path.suffix.lower() == ".json" or path.is_file():
        if not path.is_file():
            raise ExplorerError(f"no such edit file: {file_or_name}")
        if path.stat().st_size > MAX_EDIT_FILE_BYTES:
            raise ExplorerError(f"{path.name} is too large for an edit file ({path.stat().st_size:,} bytes)")
        return check_fits(model, parse_edit_json(path.read_bytes(), path.name))
    return (library or EditLibrary()).get(model, file_or_name)
