"""Warming the first page's work once the server listens.

A new server's first visitor waited seconds for the Explore tab's first image: loading the
default generator, reading (or computing) its edit directions, and the first forward pass, which
also sets up PyTorch's kernels. None of it may delay the server's start, so :func:`start` runs it in a
background thread that first waits until the port accepts connections; a page that opens meanwhile
finds the work done or in progress (the model cache loads each file once). No gradio here.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

from explorer.pipelines import explore
from explorer.ui.catalog import Catalog

log = logging.getLogger(__name__)


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1" if host in ("0.0.0.0", "::", "") else host, port), timeout=0.5):
            return True
    except OSError:
        return False


def warm(catalog: Catalog) -> str | None:
    """Load the Explore tab's default generator, its PCA directions, and render it once; its id or None."""
    found = catalog.entries(lambda e: e.can_generate)
    if not found:
        return None
    model, _ = catalog.load(found[0].id)
    explore.directions(model, "pca")
    explore.image_for(model, explore.LatentRequest(seed=0, label=0 if model.num_classes else None))
    return found[0].id


def start(catalog: Catalog, host: str, port: int, timeout_s: float = 120.0) -> threading.Thread:
    """Run :func:`warm` in a daemon thread as soon as ``host:port`` accepts connections."""

    def run() -> None:
        end = time.monotonic() + timeout_s
        while not _listening(host, port):
            if time.monotonic() > end:
                return
            time.sleep(0.05)
        try:
            warm(catalog)
        except Exception:  # noqa: BLE001 - a failed warm-up only means the first page does the work
            log.exception("warm-up failed; the first page will load the model itself")

    thread = threading.Thread(target=run, name="gan-explorer-warmup", daemon=True)
    thread.start()
    return thread
