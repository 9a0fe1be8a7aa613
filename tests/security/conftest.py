"""Shared helpers for the attacker tests of issue 12 ("Safe to share").

Memory is measured in a fresh subprocess: ``measure(setup, action)`` runs ``setup`` (imports,
payload paths), reads the peak resident set size (``ru_maxrss``), runs ``action`` and reports how
far the peak grew and how long the action took. The peak only grows, so the growth is an upper
bound on what the action itself needed — the number the probes in the issue's table are about.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # ui_support lives in tests/

ROOT = HERE.parents[1]

_RUNNER = '''
import json, resource, sys, time, traceback
def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
{setup}
_before = _peak_mb()
_t0 = time.perf_counter()
_out = {{"ok": True, "error": None, "error_type": None}}
try:
{action}
except BaseException as _exc:
    _out.update(ok=False, error=str(_exc)[:500], error_type=type(_exc).__name__)
_out.update(seconds=time.perf_counter() - _t0, before_mb=_before, peak_mb=_peak_mb())
_out["growth_mb"] = _out["peak_mb"] - _before
print("MEASURED " + json.dumps(_out))
'''


def measure(setup: str, action: str, timeout: float = 300, env: dict | None = None) -> dict:
    """Run ``setup`` then ``action`` (Python source) in a subprocess; returns ok, error, error_type,
    seconds, before_mb, peak_mb and growth_mb (peak RSS growth during ``action``)."""
    code = _RUNNER.format(setup=textwrap.dedent(setup), action=textwrap.indent(textwrap.dedent(action), "    "))
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **(env or {})}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=full_env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("MEASURED ")]
    if not lines:
        raise AssertionError(f"measurement failed (rc {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    result = json.loads(lines[-1][len("MEASURED "):])
    print(f"[measured] growth {result['growth_mb']:.0f} MB, {result['seconds']:.2f} s, "
          f"{result['error_type'] or 'ok'}: {(result['error'] or '')[:120]}")
    return result


@pytest.fixture
def measured():
    return measure


def queue_call(url: str, fn_index: int, data: list, session_hash: str = "attacker0001", client=None, timeout: float = 60) -> dict:
    """Call a handler the way a raw HTTP client can: join the queue with an ``fn_index`` and read the
    event stream. Returns ``{"status": HTTP status of the join, "success": bool|None, "output": ...}``."""
    import httpx

    own = client is None
    client = client or httpx.Client(timeout=timeout)
    try:
        r = client.post(f"{url}gradio_api/queue/join", json={
            "data": data, "fn_index": fn_index, "session_hash": session_hash, "event_data": None, "trigger_id": None})
        if r.status_code != 200:
            return {"status": r.status_code, "success": None, "output": r.text[:300]}
        event_id = r.json()["event_id"]
        with client.stream("GET", f"{url}gradio_api/queue/data", params={"session_hash": session_hash}) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                if msg.get("event_id") == event_id and msg.get("msg") == "process_completed":
                    return {"status": 200, "success": bool(msg.get("success")), "output": msg.get("output")}
        return {"status": 200, "success": None, "output": None}
    finally:
        if own:
            client.close()


def fn_index_of(demo, name: str) -> int:
    """The ``fn_index`` of the first event whose Python function is called ``name``."""
    for index, block_fn in demo.fns.items():
        fn = getattr(block_fn, "fn", None)
        if getattr(fn, "__name__", None) == name:
            return index
    raise KeyError(name)


@contextlib.contextmanager
def served(tmp: Path, shipped: Path, password: str | None = "organiser-test-pw"):
    """The app as ``gan-explorer serve`` runs it on a network address: the organiser app at ``/``
    (behind the login when ``password`` is given) and the rater app at ``/rate/``, under uvicorn
    in a thread. Yields url, rater_url, demo, rater, password."""
    import threading
    import time

    import uvicorn

    from explorer.ui import roles
    from explorer.ui.app import build_app, launch_options
    from explorer.ui.humaneval_tab import build_rater_app
    from ui_support import free_port, scoped_env

    home = tmp / "home"
    with scoped_env({"GAN_EXPLORER_HOME": str(home), "GAN_EXPLORER_CACHE": str(tmp / "cache"),
                     "GAN_EXPLORER_HUMANEVAL_DB": str(tmp / "humaneval.sqlite3")}):
        demo = build_app(model_dirs=[shipped], user_dir=home / "models")
        rater = build_rater_app()
        app = roles.build_server(demo, rater, password, launch_options())
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.time() + 60
        while not server.started and time.time() < deadline:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/"
        try:
            yield SimpleNamespace(url=url, rater_url=f"{url}rate/", demo=demo, rater=rater, password=password, home=home)
        finally:
            server.should_exit = True
            thread.join(timeout=30)


def login(url: str, password: str, user: str = "organiser"):
    """An httpx client holding the organiser's login cookie (or a failed login's response)."""
    import httpx

    client = httpx.Client(timeout=60)
    r = client.post(f"{url}login", data={"username": user, "password": password})
    return client, r
