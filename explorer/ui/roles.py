"""Who may do what on a served app: the organiser and the raters, as two separately mounted apps.

* On a **loopback** address (``127.0.0.1``, ``::1``, ``localhost``) the one user on this machine is
  the organiser and nothing asks for a password.
* On **any other address** the full app (every tab and the public API) is mounted at ``/`` behind
  Gradio's login with the user name ``organiser`` and a password from ``--organiser-password``,
  ``$GAN_EXPLORER_ORGANISER_PASSWORD`` or, failing both, generated and printed at start. Gradio
  checks the login on every route that runs a handler (page config, queue join and data, direct
  POST to ``/api/...``, ``/call/...``, uploads, file downloads); a middleware refuses the few routes
  Gradio leaves open (cancel, reset, heartbeat, streams, monitoring) to anyone not logged in.
* **Raters** get their own ``gr.Blocks`` at ``/rate/`` (:func:`explorer.ui.humaneval_rater.build_rater_app`)
  that holds the rater page and nothing else — join code, trials, thanks. Its queue knows only the
  rater handlers, so no ``fn_index`` a rater can send reaches an organiser handler: they do not
  exist in that app; its upload and file routes are closed (the page takes no files).
* Failed organiser logins are limited to ``MAX_LOGIN_FAILURES`` per address and minute.
* ``--share`` serves the organiser app alone (behind the login) through Gradio's tunnel.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import time
from typing import Any

import gradio as gr
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from explorer.errors import ExplorerError

ORGANISER = "organiser"
PASSWORD_ENV = "GAN_EXPLORER_ORGANISER_PASSWORD"
RATER_PATH = "/rate"

#: organiser-app paths a browser may fetch before logging in (the login page and its assets)
_OPEN_EXACT = {"/", "/login", "/login/", "/logout", "/favicon.ico", "/robots.txt", "/manifest.json", "/theme.css",
               "/config", "/config/", "/gradio_api/theme.css"}
_OPEN_PREFIXES = ("/assets/", "/static/", "/svelte/", "/pwa_icon", "/gradio_api/login_check", "/gradio_api/app_id",
                  "/gradio_api/user", "/gradio_api/token", "/gradio_api/startup-events", "/gradio_api/info")

#: Gradio routes of the rater app that the rater page never uses (file uploads and downloads)
_RATER_CLOSED = ("/gradio_api/upload", "/gradio_api/file=", "/gradio_api/file/", "/gradio_api/process_recording",
                 "/gradio_api/stream/")


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach."""
    if host.strip().lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def organiser_password(given: str | None = None) -> tuple[str, bool]:
    """The organiser's password and whether it was generated (the caller prints a generated one)."""
    password = given or os.environ.get(PASSWORD_ENV, "")
    if password:
        if len(password) < 8:
            raise ExplorerError("the organiser password must have at least 8 characters")
        return password, False
    return secrets.token_urlsafe(12), True


def check_login(password: str):
    """Gradio ``auth`` callable: constant-time comparison, one user name."""

    def auth(username: str, given: str) -> bool:
        return hmac.compare_digest(str(username), ORGANISER) and hmac.compare_digest(str(given).encode(), password.encode())

    return auth


def build_server(demo: gr.Blocks, rater: gr.Blocks | None, password: str | None, launch_opts: dict[str, Any]):
    """One FastAPI app: ``rater`` at ``/rate`` (open to anyone with a join code) and ``demo`` at ``/``
    (behind the organiser login when ``password`` is given). ``launch_opts`` are the
    :func:`explorer.ui.app.launch_options` (theme, CSS, upload cap) both apps get."""
    mount_opts = {k: launch_opts[k] for k in ("theme", "css_paths", "max_file_size", "show_error", "footer_links", "app_kwargs")
                  if k in launch_opts}
    app = FastAPI()
    if rater is not None:
        gr.mount_gradio_app(app, rater, path=RATER_PATH, **{**mount_opts, "footer_links": [], "app_kwargs": {}})
    gr.mount_gradio_app(app, demo, path="/", auth=check_login(password) if password else None,
                        auth_message="GAN Explorer organiser login (user name: organiser)", **mount_opts)
    if password:
        organiser_app = next(r.app for r in app.routes if getattr(r, "path", None) == "" and hasattr(r.app, "tokens"))
        _guard_open_routes(app, organiser_app)
    return app


#: failed organiser logins one address may make within LOGIN_WINDOW_S before it must wait
MAX_LOGIN_FAILURES = 10
LOGIN_WINDOW_S = 60.0


def _guard_open_routes(app, organiser_app) -> None:
    failures: dict[str, list[float]] = {}  # client address -> times of its recent failed logins

    @app.middleware("http")
    async def organiser_only(request, call_next):
        path = request.url.path
        if request.method == "POST" and path.rstrip("/") == "/login":
            # a password chosen by a person can be guessable: slow guessing down per address
            address = request.client.host if request.client else "?"
            now = time.monotonic()
            recent = [t for t in failures.get(address, []) if now - t < LOGIN_WINDOW_S]
            if len(recent) >= MAX_LOGIN_FAILURES:
                failures[address] = recent
                return JSONResponse({"detail": "Too many failed logins; wait a minute"}, status_code=429)
            response = await call_next(request)
            if response.status_code >= 400:
                recent.append(now)
            failures[address] = recent
            return response
        if path.startswith(RATER_PATH + "/") and path[len(RATER_PATH):].startswith(_RATER_CLOSED):
            # the rater page takes no files: nobody may fill the upload folder through it
            return JSONResponse({"detail": "Not available on the rater page"}, status_code=403)
        open_path = path == RATER_PATH or path.startswith(RATER_PATH + "/") or path in _OPEN_EXACT or path.startswith(_OPEN_PREFIXES)
        if not open_path:
            cookie_id = organiser_app.cookie_id
            token = request.cookies.get(f"access-token-{cookie_id}") or request.cookies.get(f"access-token-unsecure-{cookie_id}")
            if organiser_app.tokens.get(token) != ORGANISER:
                return JSONResponse({"detail": "Not authenticated"}, status_code=401)
        return await call_next(request)


def serve_app(app, host: str, port: int) -> None:
    """Run the FastAPI app until interrupted."""
    # only here, where the server runs: building the apps (as the tests do) does not need uvicorn
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning")
