"""Slider previews outside Gradio's event pipeline: one small HTTP route and the page script that calls it.

Why (issue 15): profiled in Chromium (CDP sampling profiler, 30 moves of the truncation slider),
one preview sent through a Gradio event costs the *page* about 45 ms of JavaScript per frame —
Gradio recomputes the loading status of every component on the page (~200 here) for each event
— against ~1.5 ms for the generator's forward pass on the server. With eight pages sharing two
cores that browser work, not the server, was the latency. A preview now skips it:

* :func:`page_script` returns the JavaScript a slider's ``input`` event runs in the browser
  (``js=``, no Python function): it asks ``GET <app root>/explorer/preview?key=..&kind=..&value=..``
  for the frame and puts the PNG straight into the Explore image. One request in flight per page;
  while it runs only the newest slider value waits (older ones are dropped), so frames arrive in
  order and the latest always wins.
* Every full render (:func:`register`) stores what it drew — model and latent request — under the
  session's random key, which reaches the page through a hidden textbox together with a serial
  number. When a full render lands the script drops any preview still in flight and shows the
  full render's image: a late preview never overwrites it.
* :func:`routes` is the route, given to Gradio's FastAPI app through ``app_kwargs`` (so it exists
  however the app is served: ``launch``, ``mount_gradio_app``, tests). It answers only keys a full
  render registered (unguessable, 128 random bits), checks the organiser login when the app has
  one, parses and clamps the value, and renders through :func:`explorer.pipelines.explore.image_for` —
  the micro-batcher, so previews from many pages still share forward passes.

The registry holds one entry per session (the key lives in the session state), at most
:data:`MAX_SESSIONS`, least recently used dropped first.
"""

from __future__ import annotations

import io
import math
import secrets
import threading
from collections import OrderedDict
from dataclasses import replace
from typing import Any

from PIL import Image
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from explorer.pipelines import explore
from explorer.ui import render

#: sessions whose latest full render is remembered for previews (least recently used dropped first)
MAX_SESSIONS = 4096
#: URL path of the preview route, relative to the app's root
ROUTE = "/explorer/preview"
#: the truncation slider's range (the Explore tab builds its slider from it; the route clamps to it)
TRUNCATION_RANGE = (0.0, 1.5)
#: direction sliders run from -SLIDER_RANGE to +SLIDER_RANGE standard deviations (the Explore tab's too)
SLIDER_RANGE = 5.0
#: random bytes in a session's preview key
KEY_BYTES = 16


class PreviewRegistry:
    """Thread-safe map from a session's preview key to ``(model_id, LatentRequest)`` of its last full render."""

    def __init__(self, max_sessions: int = MAX_SESSIONS) -> None:
        self.max_sessions = max_sessions
        self._items: OrderedDict[str, tuple[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def register(self, state: dict | None, model_id: str, request: Any) -> str:
        """Remember what a full render drew; returns the session's key (created on first use, kept in ``state``)."""
        key = state.get("preview_key") if isinstance(state, dict) else None
        if not isinstance(key, str) or not key:
            key = secrets.token_urlsafe(KEY_BYTES)
            if isinstance(state, dict):
                state["preview_key"] = key
        with self._lock:
            self._items[key] = (model_id, request)
            self._items.move_to_end(key)
            while len(self._items) > self.max_sessions:
                self._items.popitem(last=False)
        return key

    def get(self, key: str) -> tuple[str, Any] | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


class PreviewError(ValueError):
    """A preview request the route refuses (its HTTP status in ``status``)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def parse(kind: str | None, value: str | None, num_directions: int, slider_range: float) -> tuple[str, int | None, float]:
    """Validate the query: ``kind`` is ``trunc``, ``saved`` or ``d<k>``; ``value`` a finite number (clamped to the slider)."""
    try:
        v = float(value) if value is not None and len(value) <= 32 else math.nan
    except ValueError:
        v = math.nan
    if not math.isfinite(v):
        raise PreviewError("value must be a finite number")
    if kind == "trunc":
        return "trunc", None, min(max(v, TRUNCATION_RANGE[0]), TRUNCATION_RANGE[1])
    if kind == "saved":
        return "saved", None, min(max(v, -slider_range), slider_range)
    if kind and kind.startswith("d") and kind[1:].isdigit() and len(kind) <= 4 and int(kind[1:]) < num_directions:
        return "dir", int(kind[1:]), min(max(v, -slider_range), slider_range)
    raise PreviewError(f"unknown slider {kind!r}")


def changed_request(request: Any, what: str, index: int | None, value: float, num_directions: int) -> Any:
    """``request`` (an :class:`explorer.pipelines.explore.LatentRequest`) with one slider moved."""
    if what == "dir":
        coeffs = list(request.coefficients) + [0.0] * (num_directions - len(request.coefficients))
        coeffs[index] = value
        return replace(request, coefficients=tuple(coeffs))
    if what == "saved":
        return replace(request, saved_amount=value)
    return replace(request, truncation=value)


def render_png(catalog, registry: PreviewRegistry, key: str, kind: str | None, value: str | None) -> bytes:
    """The preview frame as PNG bytes (zlib level 1: lossless and fast; see :mod:`explorer.ui.inline_image`)."""


    what, index, v = parse(kind, value, explore.NUM_DIRECTIONS, SLIDER_RANGE)
    item = registry.get(key) if isinstance(key, str) and 0 < len(key) <= 64 else None
    if item is None:
        raise PreviewError("no render to preview from: render the image first", status=404)
    model_id, request = item
    model, _ = catalog.load(model_id)
    req = changed_request(request, what, index, v, explore.NUM_DIRECTIONS)
    arr = render.to_uint8(explore.image_for(model, req))
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _logged_in(app, request) -> bool:
    """The Gradio app's own login, when it has one (behind ``roles.build_server`` a middleware checks it too)."""
    if getattr(app, "auth", None) is None:
        return True
    cookie_id = getattr(app, "cookie_id", "")
    token = request.cookies.get(f"access-token-{cookie_id}") or request.cookies.get(f"access-token-unsecure-{cookie_id}")
    return bool(token) and token in getattr(app, "tokens", {})


def routes() -> list:
    """The preview route, for ``FastAPI(routes=...)`` (Gradio's ``app_kwargs``)."""

    def preview(request):
        app = request.app
        if not _logged_in(app, request):
            return JSONResponse({"detail": "Not authenticated"}, status_code=401)
        blocks = app.get_blocks() if hasattr(app, "get_blocks") else None
        catalog = getattr(blocks, "explorer_catalog", None)
        registry = getattr(blocks, "explorer_previews", None)
        if catalog is None or registry is None:
            return JSONResponse({"detail": "no Explore tab here"}, status_code=404)
        q = request.query_params
        try:
            png = render_png(catalog, registry, q.get("key", ""), q.get("kind"), q.get("value"))
        except PreviewError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=exc.status)
        except Exception as exc:  # noqa: BLE001 - a preview fails quietly; the full render on release reports it
            return JSONResponse({"detail": type(exc).__name__}, status_code=422)
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

    return [Route(ROUTE, preview, methods=["GET"])]


# ---------------------------------------------------------------------------------------------
# the browser side
# ---------------------------------------------------------------------------------------------
_RUNTIME = """
const P = window.__ganPreview || (window.__ganPreview = (() => {
  const S = {inflight: false, next: null, epoch: 0, key: '', lastUrl: null};
  const img = () => document.querySelector('#explore-image img');
  const base = () => {
    const root = (window.gradio_config && window.gradio_config.root) || (location.origin + location.pathname);
    return root.endsWith('/') ? root : root + '/';
  };
  const pump = async () => {
    if (S.inflight || !S.next) return;
    const job = S.next; S.next = null; S.inflight = true;
    try {
      const url = new URL('ROUTE_PATH', base());
      url.search = new URLSearchParams({key: job.key, kind: job.kind, value: String(job.value)}).toString();
      const r = await fetch(url, {cache: 'no-store', credentials: 'same-origin'});
      if (r.ok) {
        const blob = await r.blob();
        const el = img();
        if (el && job.epoch === S.epoch) {
          const u = URL.createObjectURL(blob);
          const old = S.lastUrl; S.lastUrl = u;
          el.src = u;
          if (old) setTimeout(() => URL.revokeObjectURL(old), 1000);
        }
      }
    } catch (e) { /* a lost preview: the full render on release follows */ }
    S.inflight = false;
    pump();
  };
  S.request = (kind, value, key) => {
    if (key) S.key = String(key).split(':')[0];
    if (!S.key) return;
    S.next = {kind, value, key: S.key, epoch: S.epoch};
    pump();
  };
  S.landed = (image, key) => {  // a full render arrived: drop previews in flight, show its image
    if (key) S.key = String(key).split(':')[0];
    S.epoch += 1; S.next = null;
    const el = img(), u = image && (image.url || image.path);
    if (el && typeof u === 'string' && u.startsWith('data:') && el.src !== u) el.src = u;
  };
  return S;
})());
"""


def page_script(kind: str) -> str:
    """``js=`` of a slider's ``input`` event: ``(value, key) => …`` asking the route for the frame."""
    if not (kind in ("trunc", "saved") or (kind.startswith("d") and kind[1:].isdigit())):
        raise ValueError(f"unknown preview kind {kind!r}")
    body = _RUNTIME.replace("ROUTE_PATH", ROUTE.lstrip("/"))
    return f"(value, key) => {{ {body} P.request('{kind}', value, key); return []; }}"


def landed_script() -> str:
    """``js=`` of the preview key's ``change`` event: ``(image, key) => …`` (a full render landed)."""
    body = _RUNTIME.replace("ROUTE_PATH", ROUTE.lstrip("/"))
    return f"(image, key) => {{ {body} P.landed(image, key); return []; }}"
