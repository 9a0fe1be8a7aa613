"""Freeing what a browser session holds once its tab is closed.

Gradio keeps a ``SessionState`` per visitor — a copy of the whole page's component config plus
every ``gr.State`` value — and when a tab closes it only marks it closed: the ``gr.State``
values go an hour later, the config copy only when 10,000 newer sessions have pushed it out. For
an app with ~200 components that is most of the per-visitor memory, so a server that many
people visit grows for days.

:func:`install` adds an ``unload`` listener: when a tab is closed (Gradio notices the page's
heartbeat stop), the session is forgotten after :data:`GRACE_S` seconds if it has not come back
(a page that reconnects within that time, e.g. after a network hiccup, keeps its state), and
freed heap pages are handed back to the system (:func:`explorer.memory.trim`).
"""

from __future__ import annotations

import datetime
import logging
import os
import threading

import gradio as gr

from explorer import memory

log = logging.getLogger(__name__)

#: seconds a closed session is kept in case its page reconnects (``$GAN_EXPLORER_SESSION_GRACE_S``)
GRACE_S = 60.0


def grace_s() -> float:
    try:
        return max(0.0, float(os.environ.get("GAN_EXPLORER_SESSION_GRACE_S", GRACE_S)))
    except ValueError:
        return GRACE_S


def _state_holder(demo: gr.Blocks):
    # set on the Blocks by the server app that serves it (launch() or gr.mount_gradio_app)
    return getattr(demo, "state_holder", None)


def forget(demo: gr.Blocks, session_hash: str, closed_at: datetime.datetime | None = None) -> bool:
    """Drop a closed session's state now; True if it was dropped.

    Kept if it is not marked closed, or if it ran an event after ``closed_at`` (it reconnected).
    """
    holder = _state_holder(demo)
    if holder is None:
        return False
    with holder.lock:
        session = holder.session_data.get(session_hash)
        if session is None or not session.is_closed:
            return False
        last = holder.time_last_used.get(session_hash)
        if closed_at is not None and last is not None and last > closed_at:
            return False
        del holder.session_data[session_hash]
        holder.time_last_used.pop(session_hash, None)
    memory.trim(min_interval_s=5.0)
    return True


def num_sessions(demo: gr.Blocks) -> int:
    """Sessions the server holds state for (open, or closed within the grace time)."""
    holder = _state_holder(demo)
    return len(holder.session_data) if holder is not None else 0


def install(demo: gr.Blocks) -> None:
    """Forget each session :func:`grace_s` seconds after its tab closes (call inside the Blocks)."""

    def on_close(request: gr.Request):
        session_hash = getattr(request, "session_hash", None)
        if not session_hash:
            return
        # Gradio marks the session closed right after it schedules this listener: look later
        closed_at = datetime.datetime.now()
        timer = threading.Timer(grace_s(), _forget_quietly, args=(demo, session_hash, closed_at))
        timer.daemon = True
        timer.start()

    demo.unload(on_close)


def _forget_quietly(demo: gr.Blocks, session_hash: str, closed_at: datetime.datetime) -> None:
    try:
        forget(demo, session_hash, closed_at)
    except Exception:  # noqa: BLE001 - a timer thread must not die loudly over Gradio internals
        log.exception("could not free closed session %s", session_hash[:8])
