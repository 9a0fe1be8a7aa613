"""Atomic file writes — the one way GAN Explorer replaces a file (issue 11).

A file that another process may read while it is written (a checkpoint a running app lists, a
model card, the edit library, a metrics cache entry, a PNG export) is written under a temporary
name in the same folder, flushed to disk (``fsync``), then renamed over the target
(``os.replace``, atomic on POSIX and Windows). A reader sees the old file or the new one, never
half of one; a crash or a full disk leaves the old file and no temporary behind.

    with atomic_path(out) as tmp:      # any writer that takes a path: PIL, numpy, safetensors, ONNX
        image.save(tmp, format="PNG")
    write_text(path, text)             # or bytes, for the simple cases

The temporary name keeps the target's suffix (``.{name}.{pid}.{thread}.tmp{suffix}``), because some
writers pick the format from it or append their own (``numpy.savez`` adds ``.npz`` otherwise).
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Iterator


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable where the platform allows it (POSIX); a no-op elsewhere."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on a clean exit it is fsynced and renamed over ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was. ``suffix``:
    the temporary name's ending (default: the target's own suffix). Creates the parent folder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp{path.suffix if suffix is None else suffix}")
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Atomically replace ``path`` with ``data``; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Atomically replace ``path`` with ``text``; returns the path."""
    return write_bytes(path, text.encode(encoding))
