"""The app's model catalog: which checkpoints the pickers offer, and where user models live.

Two kinds of folders are scanned (non-recursively, ``*.safetensors`` only):

* **shipped** folders — read-only; by default the repository's ``checkpoints/``. Their models
  can be used but never deleted from the app.
* the **user** folder — ``$GAN_EXPLORER_HOME/models`` (default
  ``~/.local/share/gan-explorer/models``): models imported through the Models tab and models
  trained in the Train tab. These can be deleted from the app.

Entries are identified by an opaque id (``"shipped:<stem>"`` / ``"user:<stem>"``), never by a
server path: a browser only ever sends ids back, and :meth:`Catalog.resolve` refuses anything
that is not in the current listing, so a crafted request cannot make the server open an
arbitrary file. Reading the catalog touches only safetensors headers (no weights load).
No gradio here: the catalog is plain Python, testable on its own.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import explorer
from explorer.errors import CheckpointError, ExplorerError
from explorer.models.base import Capabilities
from explorer.registry import capabilities, display_name
from explorer.paths import app_home, checkpoints_dir, user_models_dir  # noqa: F401  (app_home re-exported)

log = logging.getLogger(__name__)

_SAFE_STEM = re.compile(r"[^A-Za-z0-9._-]+")


default_user_dir = user_models_dir  # where imported and trained models are stored (explorer.paths)


def default_shipped_dirs() -> list[Path]:
    """The shipped checkpoints folder (:func:`explorer.paths.checkpoints_dir`), if present."""
    folder = checkpoints_dir()
    return [folder] if folder.is_dir() else []


def safe_stem(text: str, default: str = "model") -> str:
    """A file-name-safe stem made from user text (letters, digits, ``._-``; at most 60 chars)."""
    stem = _SAFE_STEM.sub("-", str(text)).strip(".-_")[:60]
    return stem or default


@dataclass(frozen=True)
class ModelEntry:
    """One checkpoint the app can offer.

    ``meta`` is the checkpoint's JSON metadata (kind, config, summary, card), read from the
    safetensors header only.
    """

    id: str
    path: Path
    source: str  # "shipped" | "user"
    kind: str
    meta: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    mtime: float = 0.0

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.meta.get("config") or {})

    @property
    def card(self) -> dict[str, Any]:
        return dict(self.meta.get("card") or {})

    @property
    def summary(self) -> dict[str, Any]:
        return dict(self.meta.get("summary") or {})

    @property
    def name(self) -> str:
        return str(self.card.get("name") or self.card.get("title") or self.path.stem)

    @property
    def origin(self) -> str:
        """"shipped", "imported" or "trained" (what the user sees next to the name)."""
        if self.source == "shipped":
            return "shipped"
        if self.card.get("imported") or self.summary.get("imported_from"):
            return "imported"
        return "trained"

    @functools.cached_property
    def caps(self) -> Capabilities:
        """What the model can do, as its family reads it from the header (no weights loaded)."""
        return capabilities(self.kind, self.config)

    @property
    def kind_name(self) -> str:
        """The family's name for people ("DCGAN", "super-resolution")."""
        return display_name(self.kind)

    @property
    def label(self) -> str:
        return f"{self.name} · {self.caps.label} · {self.origin}"

    @property
    def deletable(self) -> bool:
        return self.source == "user"

    @property
    def can_generate(self) -> bool:
        return self.caps.generates

    @property
    def has_discriminator(self) -> bool:
        return self.caps.has_discriminator

    @property
    def upscales(self) -> bool:
        return self.caps.upscales

    def translates(self, direction: str) -> bool:
        return direction in self.caps.directions


class Catalog:
    """The models on offer: shipped folders (read-only) plus one user folder.

    The listing is rescanned when a folder's contents change (cheap: a ``stat`` per file and
    one header read per new or modified file).
    """

    def __init__(self, shipped_dirs: Iterable[str | os.PathLike] | None = None, user_dir: str | os.PathLike | None = None):
        self.shipped_dirs = [Path(d) for d in (default_shipped_dirs() if shipped_dirs is None else shipped_dirs)]
        self.user_dir = Path(user_dir) if user_dir is not None else default_user_dir()
        self._lock = threading.Lock()
        self._meta_cache: dict[tuple[str, float, int], dict[str, Any]] = {}
        self._hashes: dict[tuple[str, float, int], str] = {}  # file hashes, not models: the model cache bounds those

    # ----- listing ----------------------------------------------------------------------
    def entries(self, predicate: Callable[[ModelEntry], bool] | None = None) -> list[ModelEntry]:
        """All readable checkpoints (shipped first, then user; by name), optionally filtered."""
        found: list[ModelEntry] = []
        seen: set[str] = set()
        for source, folder in [("shipped", d) for d in self.shipped_dirs] + [("user", self.user_dir)]:
            for path in sorted(folder.glob("*.safetensors")) if folder.is_dir() else []:
                entry = self._entry(source, path)
                if entry is None or entry.id in seen:
                    continue
                seen.add(entry.id)
                found.append(entry)
        return [e for e in found if predicate is None or predicate(e)]

    def _entry(self, source: str, path: Path) -> ModelEntry | None:
        try:
            st = path.stat()
        except OSError:
            return None
        key = (str(path), st.st_mtime, st.st_size)
        with self._lock:
            meta = self._meta_cache.get(key)
        if meta is None:
            try:
                meta = explorer.read_metadata(path)
            except (CheckpointError, OSError) as exc:
                log.warning("skipping %s: %s", path, exc)
                return None
            with self._lock:
                self._meta_cache[key] = meta
        return ModelEntry(id=f"{source}:{path.stem}", path=path, source=source, kind=str(meta.get("kind")), meta=meta, mtime=st.st_mtime)

    def choices(self, predicate: Callable[[ModelEntry], bool] | None = None) -> list[tuple[str, str]]:
        """``(label, id)`` pairs for a dropdown."""
        return [(e.label, e.id) for e in self.entries(predicate)]

    def resolve(self, model_id: str | None) -> ModelEntry:
        """The entry with this id; :class:`ExplorerError` if there is none (or it vanished)."""
        if not model_id:
            raise ExplorerError("choose a model first")
        for e in self.entries():
            if e.id == model_id:
                return e
        raise ExplorerError(f"model {model_id!r} is not in the catalog (was it deleted?); pick another one")

    def load(self, model_id: str | None):
        """The loaded model (eval mode, shared; do not modify it) and its entry.

        Backed by :func:`explorer.load_cached` (keyed by file hash, LRU-bounded: models are
        shared by every session and dropped when unused); the file hashes are remembered by
        (path, mtime, size) so that a slider event does not re-hash a checkpoint file.
        """
        entry = self.resolve(model_id)
        st = entry.path.stat()
        key = (str(entry.path), st.st_mtime, st.st_size)
        with self._lock:
            digest = self._hashes.get(key)
        if digest is None:
            digest = explorer.file_hash(entry.path)
            with self._lock:
                self._hashes = {k: v for k, v in self._hashes.items() if k[0] != key[0]}  # drop stale versions
                self._hashes[key] = digest
        return explorer.load_cached(entry.path, file_key=digest), entry

    # ----- user folder ------------------------------------------------------------------
    def user_path(self, stem: str) -> Path:
        """A fresh path in the user folder for a model named ``stem`` (suffixed -2, -3… if taken)."""
        base = safe_stem(stem)
        self.user_dir.mkdir(parents=True, exist_ok=True)
        path = self.user_dir / f"{base}.safetensors"
        n = 2
        while path.exists():
            path = self.user_dir / f"{base}-{n}.safetensors"
            n += 1
        return path

    def delete(self, model_id: str) -> ModelEntry:
        """Delete a user model (shipped models are refused); returns the deleted entry."""
        entry = self.resolve(model_id)
        if not entry.deletable:
            raise ExplorerError(f"{entry.name} ships with GAN Explorer and cannot be deleted")
        try:
            entry.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise ExplorerError(f"could not delete {entry.path.name}: {exc.strerror or exc}") from None
        sample = entry.path.with_suffix(".png")
        if sample.exists():
            sample.unlink(missing_ok=True)
        return entry
