"""The model zoo: the one catalog of every model GAN Explorer can use, with search, import, export, delete.

The app's pickers (:class:`explorer.ui.catalog.Catalog`), the HTTP API and ``gan-explorer zoo`` all
list :class:`ModelEntry` objects listed here, read through one cache (:mod:`explorer.zoo_entry`).

Where models live (scanned non-recursively, ``*.safetensors`` in our own format only):

* **shipped** — the repository's ``checkpoints/`` folder (:func:`shipped_dir`): models the project
  trained on the shipped data, each with a card and a sample grid. Read-only: never deleted.
* **user** — ``$GAN_EXPLORER_HOME/models`` (default ``~/.local/share/gan-explorer/models``,
  :func:`user_dir`): models imported here and models trained in the app. An entry's ``source`` is
  "imported" when its card records an import, else "trained".

Ids are ``"shipped:<stem>"`` / ``"user:<stem>"`` (the same ids as the app's model picker), never raw
paths, so a caller (a browser) can only name models that are in the listing. Listing reads only
safetensors headers (no weights), cached by (path, mtime, size).

API (all functions take optional ``shipped_dirs`` / ``user_dir`` overrides, for tests and the app)::

    list_models(query=None, kind=None, source=None) -> list[ModelEntry]     # search / filter
    get_model(id) -> ModelEntry
    import_model(paths, name=None) -> ModelEntry   # own format, pytorch/examples DCGAN, junyanz CycleGAN
    add_model(model, name, source="trained") -> ModelEntry   # save a model object into the user folder
    export_model(id, out_path) -> Path             # a copy in our own .safetensors format (+ sample grid)
    delete_model(id) -> ModelEntry                 # user models only; shipped ones raise ExplorerError
    free_path(folder, stem) -> Path                # a fresh file name for a new model

An entry's ``sample_grid`` is the PNG next to the checkpoint with the same stem (``<stem>.png``),
when there is one; imports of generators write one (16 seeds, provenance in the PNG).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Iterable, Sequence

import torch

import explorer
from explorer.atomic import atomic_path
from explorer.errors import ExplorerError
from explorer.images import make_grid, save_png
from explorer.latent import latents_from_seeds
from explorer.paths import app_home, checkpoints_dir, user_models_dir
from explorer.zoo_entry import DEFAULT_LICENCE, ModelEntry, read_entry

# Names other modules import from here: the entry type and its licence default live in explorer.zoo_entry,
# app_home in explorer.paths.
__all__ = [
    "DEFAULT_LICENCE", "ModelEntry", "SAMPLE_SEEDS", "SOURCES", "add_model", "app_home", "default_user_dir",
    "delete_model", "describe", "export_model", "free_path", "get_model", "import_model", "list_models",
    "safe_stem", "shipped_dir",
]

SOURCES = ("shipped", "imported", "trained")
_SAFE_STEM = re.compile(r"[^A-Za-z0-9._-]+")
_ID = re.compile(r"^(shipped|user):([A-Za-z0-9._-]+)$")
SAMPLE_SEEDS = list(range(16))


# ----------------------------------------------------------------------------------------
# places
# ----------------------------------------------------------------------------------------
default_user_dir = user_models_dir  # folder of imported and trained models (explorer.paths)
shipped_dir = checkpoints_dir  # the shipped checkpoints folder (explorer.paths)


def safe_stem(text: str, default: str = "model") -> str:
    """A file-name-safe stem from user text (letters, digits, ``._-``; at most 60 characters)."""
    return _SAFE_STEM.sub("-", str(text)).strip(".-_")[:60] or default


def _folders(shipped_dirs: Iterable[str | os.PathLike] | None, user: str | os.PathLike | None) -> list[tuple[str, Path]]:
    shipped = [Path(d) for d in shipped_dirs] if shipped_dirs is not None else [shipped_dir()]
    return [("shipped", d) for d in shipped] + [("user", Path(user) if user is not None else default_user_dir())]


# ----------------------------------------------------------------------------------------
# the API
# ----------------------------------------------------------------------------------------
def list_models(query: str | None = None, kind: str | None = None, source: str | None = None,
                shipped_dirs: Iterable[str | os.PathLike] | None = None,
                user_dir: str | os.PathLike | None = None) -> list[ModelEntry]:
    """Every readable model (shipped first, then user; each by file name), optionally filtered.

    Args:
        query: words that must all occur in the entry (name, id, kind, data set, origin, card), any case.
        kind: "dcgan", "stylegan", "cyclegan", "srgan", "classifier", ...
        source: "shipped", "imported" or "trained".
    """
    if source is not None and source not in SOURCES:
        raise ExplorerError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    words = (query or "").split()
    out: list[ModelEntry] = []
    seen: set[str] = set()
    for where, folder in _folders(shipped_dirs, user_dir):
        for path in sorted(folder.glob("*.safetensors")) if folder.is_dir() else []:
            entry = read_entry(where, path)
            if entry is None or entry.id in seen:
                continue
            seen.add(entry.id)
            if kind is not None and entry.kind != kind:
                continue
            if source is not None and entry.source != source:
                continue
            if words and not entry.matches(words):
                continue
            out.append(entry)
    return out


def get_model(model_id: str, shipped_dirs: Iterable[str | os.PathLike] | None = None,
              user_dir: str | os.PathLike | None = None) -> ModelEntry:
    """The entry with this id; :class:`ExplorerError` if the zoo has none."""
    if not isinstance(model_id, str) or not _ID.match(model_id):
        raise ExplorerError(f"{model_id!r} is not a zoo id (ids look like 'shipped:dcgan_digits' or 'user:my-model'; see `gan-explorer zoo list`)")
    for entry in list_models(shipped_dirs=shipped_dirs, user_dir=user_dir):
        if entry.id == model_id:
            return entry
    raise ExplorerError(f"no model {model_id!r} in the zoo (see `gan-explorer zoo list`)")


def free_path(folder: Path, stem: str) -> Path:
    """A fresh path in ``folder`` for a model named ``stem`` (made file-name safe; -2, -3… if taken)."""
    base = safe_stem(stem)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{base}.safetensors"
    n = 2
    while path.exists():
        path = folder / f"{base}-{n}.safetensors"
        n += 1
    return path


def add_model(model, name: str, source: str = "trained", user_dir: str | os.PathLike | None = None,
              card: dict | None = None, samples: bool = True) -> ModelEntry:
    """Save a loaded model into the user folder under a fresh file name; returns its entry.

    ``source`` ("trained" | "imported") is recorded in ``card["zoo"]``; ``card`` updates the card.
    ``samples``: for generators, also write a 4×4 sample grid (seeds 0–15) next to the file.
    """
    if source not in ("trained", "imported"):
        raise ExplorerError(f"a user model is 'trained' or 'imported', not {source!r}")
    name = str(name or "").strip() or model.kind
    folder = Path(user_dir) if user_dir is not None else default_user_dir()
    path = free_path(folder, name)
    model.card.name = name[:80]
    model.card.zoo = {**(model.card.zoo or {}), "source": source, "added_with": f"GAN Explorer {explorer.__version__}"}
    if card:
        model.card.update(card)
    explorer.save(model, path)
    if samples and model.caps.generates and getattr(model, "G", None) is not None:
        _write_samples(model, path)
    entry = read_entry("user", path)
    if entry is None:  # pragma: no cover - we just wrote it
        raise ExplorerError(f"could not read back {path}")
    return entry


def import_model(paths: str | os.PathLike | Sequence[str | os.PathLike], name: str | None = None,
                 user_dir: str | os.PathLike | None = None, samples: bool = True) -> ModelEntry:
    """Import checkpoint file(s) into the user folder, converted to our format; returns the new entry.

    ``paths``: one file (our ``.safetensors``, pytorch/examples ``netG_epoch_N.pth`` [+ ``netD``]),
    several files (junyanz ``latest_net_G_A.pth`` + ``latest_net_G_B.pth`` [+ ``D_A``/``D_B``]) or a
    run folder. Foreign files are read as plain tensors (``torch.load(weights_only=True)``); no code
    from them runs. The card records the original file names, format and content hashes, and that
    the original licence applies. ``name`` defaults to the first file's stem.
    """
    plist = [Path(p) for p in paths] if isinstance(paths, (list, tuple)) else [Path(paths)]
    if not plist:
        raise ExplorerError("no files to import")
    model = explorer.load(plist if len(plist) > 1 else plist[0], device="cpu")
    files = [p.name for p in plist]
    hashes = {p.name: explorer.file_hash(p) for p in plist if p.is_file()}
    if not model.card.imported:
        was_shipped = False
        try:
            was_shipped = any(p.resolve().parent == shipped_dir().resolve() for p in plist)
        except OSError:
            pass
        model.card.imported = {"format": "GAN Explorer safetensors", "files": files,
                                  "notes": ["copied from the project's shipped models"] if was_shipped else []}
    card = {
        "zoo": {"source": "imported", "files": files, "sha256": hashes,
                "format": model.card.imported.get("format")},
        "licence": model.card.licence or DEFAULT_LICENCE,
        "intended_use": model.card.intended_use or "inspection and comparison of a model trained elsewhere",
    }
    title = (name or "").strip() or plist[0].stem
    return add_model(model, title, source="imported", user_dir=user_dir, card=card, samples=samples)


def export_model(model_id: str, out_path: str | os.PathLike, overwrite: bool = False,
                 shipped_dirs: Iterable[str | os.PathLike] | None = None,
                 user_dir: str | os.PathLike | None = None) -> Path:
    """Copy a zoo model to ``out_path`` (``.safetensors``, our own format) and its sample grid next to it.

    Refuses to replace an existing file unless ``overwrite``. Returns the written path.
    """
    entry = get_model(model_id, shipped_dirs, user_dir)
    out = Path(out_path)
    if out.suffix != ".safetensors":
        raise ExplorerError(f"{out.name}: zoo models are exported as .safetensors files (our own format)")
    if out.exists() and not overwrite:
        raise ExplorerError(f"{out} already exists; choose another name or pass overwrite (--overwrite)")
    if out.resolve() == entry.path.resolve():
        raise ExplorerError(f"{out} is the model's own file")
    out.parent.mkdir(parents=True, exist_ok=True)
    pairs = [(entry.path, out)]
    if entry.sample_grid is not None and (overwrite or not out.with_suffix(".png").exists()):
        pairs.append((entry.sample_grid, out.with_suffix(".png")))
    for src, dst in pairs:
        with atomic_path(dst) as tmp:
            shutil.copyfile(src, tmp)
    return out


def delete_model(model_id: str, shipped_dirs: Iterable[str | os.PathLike] | None = None,
                 user_dir: str | os.PathLike | None = None) -> ModelEntry:
    """Delete a user model (its file and sample grid); shipped models are refused. Returns the entry."""
    entry = get_model(model_id, shipped_dirs, user_dir)
    if not entry.deletable:
        raise ExplorerError(f"{entry.name} ({entry.id}) ships with GAN Explorer and cannot be deleted; "
                            "only imported and trained models can")
    try:
        entry.path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ExplorerError(f"could not delete {entry.path.name}: {exc.strerror or exc}") from None
    if entry.sample_grid is not None:
        entry.sample_grid.unlink(missing_ok=True)
    return entry


def _write_samples(model, path: Path) -> Path:
    """4×4 grid of seeds 0–15 (labels cycling through the classes) as ``<stem>.png`` next to ``path``."""
    z = latents_from_seeds(model, SAMPLE_SEEDS)
    labels = torch.arange(len(SAMPLE_SEEDS)) % model.num_classes if model.num_classes else None
    with torch.no_grad():
        x = model.generate(z.to(model.device), labels, truncation=1.0).cpu()
    grid = make_grid(x, nrow=4)
    return save_png(grid, path.with_suffix(".png"), {
        "model": model.card.name, "model_file": path.name, "model_hash": explorer.file_hash(path),
        "seeds": SAMPLE_SEEDS, "labels": labels.tolist() if labels is not None else None, "truncation": 1.0,
    })


def describe(entry: ModelEntry) -> str:
    """A few lines of plain text about an entry (the CLI's ``zoo show``)."""
    lines = [
        f"{entry.name}  [{entry.id}]",
        f"  kind: {entry.kind}   source: {entry.source}   resolution: {entry.resolution or '-'}   classes: {entry.num_classes or '-'}",
        f"  data: {entry.dataset or 'unknown'}",
        f"  file: {entry.path} ({entry.file_size / 1e6:.2f} MB, {entry.params:,} parameters)",
        f"  origin: {entry.origin}",
        f"  licence: {entry.licence or 'see the card'}",
        f"  intended use: {entry.intended_use or 'see the card'}",
        f"  sample grid: {entry.sample_grid or 'none'}",
    ]
    for m in entry.metrics:
        lines.append(f"  metric: {json.dumps(m, default=str, sort_keys=True)[:200]}")
    return "\n".join(lines)
