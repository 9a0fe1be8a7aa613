"""Fixtures shared by test modules: tiny stand-ins for the shipped models, and the app served on them.

Module-scoped, so each module that asks gets its own folder and server (as before, when each
module defined them itself).
"""

from __future__ import annotations

import pytest

from ui_support import make_tiny_models, running_app


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """A folder of tiny models named like the shipped checkpoints."""
    folder = tmp_path_factory.mktemp("shipped")
    make_tiny_models(folder)
    return folder


@pytest.fixture(scope="module")
def server(shipped, tmp_path_factory):
    """The app on :func:`shipped`, served on loopback."""
    with running_app(tmp_path_factory.mktemp("app"), shipped) as app:
        yield app


@pytest.fixture(scope="module")
def client(server):
    """A ``gradio_client.Client`` on :func:`server`."""
    gradio_client = pytest.importorskip("gradio_client")
    return gradio_client.Client(server.url, verbose=False)
