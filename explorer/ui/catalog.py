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
No gradio here: the catalog is plain Python, testable on its own. Entries, their cache and the
delete rule are the model zoo's (:mod:`explorer.zoo`, one catalog for the app, the API and the CLI);
this class adds what the app needs on top: the folders it serves, and loading by id.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable, Iterable

import explorer
from explorer import zoo
from explorer.errors import ExplorerError
from explorer.zoo import ModelEntry


class Catalog:
    """The models on offer: shipped folders (read-only) plus one user folder.

    The listing is rescanned when a folder's contents change (cheap: a ``stat`` per file and
    one header read per new or modified file).
    """

    def __init__(self, shipped_dirs: Iterable[str | os.PathLike] | None = None, user_dir: str | os.PathLike | None = None):
        # None: the zoo's default (explorer.paths.checkpoints_dir), looked up at each listing
        self.shipped_dirs = None if shipped_dirs is None else [Path(d) for d in shipped_dirs]
        self.user_dir = Path(user_dir) if user_dir is not None else zoo.default_user_dir()
        self._lock = threading.Lock()
        self._hashes: dict[tuple[str, float, int], str] = {}  # file hashes, not models: the model cache bounds those

    # ----- listing ----------------------------------------------------------------------
    def entries(self, predicate: Callable[[ModelEntry], bool] | None = None) -> list[ModelEntry]:
        """All readable checkpoints (shipped first, then user; by name), optionally filtered."""
        found = zoo.list_models(shipped_dirs=self.shipped_dirs, user_dir=self.user_dir)
        return [e for e in found if predicate is None or predicate(e)]

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
        return zoo.free_path(self.user_dir, stem)

    def delete(self, model_id: str) -> ModelEntry:
        """Delete a user model and its sample grid (shipped models are refused); returns the deleted entry."""
        self.resolve(model_id)  # the app's message for ids it does not list
        return zoo.delete_model(model_id, shipped_dirs=self.shipped_dirs, user_dir=self.user_dir)
