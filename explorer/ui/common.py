"""What the tabs share: the app context, model pickers that refresh together, error handling,
reading uploads safely, and the per-session state layout.

Per-session state is one ``gr.State`` holding a small plain dict (Gradio deep-copies it per
session)::

    {"custom": None | {"model": id, "space": "z"|"w", "vector": [floats], "origin": str}}

``custom`` is the latent the Explore tab edits instead of a seed's (an inverted upload or a
loaded ``.npy``); it belongs to one model and is ignored for others.
"""

from __future__ import annotations

import functools
import html
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import gradio as gr
from gradio.utils import get_upload_folder

from explorer.errors import ExplorerError
from explorer.images import load_image
from explorer.ui.catalog import Catalog
from explorer.ui.previews import PreviewRegistry
from explorer.zoo import ModelEntry

log = logging.getLogger(__name__)

#: largest upload the app accepts (Gradio refuses bigger files before they reach a handler)
MAX_UPLOAD_MB = 20
#: largest image, in pixels, any tab decodes (checked from the header before decoding)
MAX_UPLOAD_PIXELS = 16_000_000


#: listener settings for heavy work (inversion, histograms, metrics, grids): one at a time, so
#: slider previews and single renders always find a free worker
HEAVY = {"concurrency_id": "heavy", "concurrency_limit": 1}


def new_session() -> dict[str, Any]:
    return {"custom": None}


def message(exc: BaseException) -> str:
    """A user-facing, HTML-escaped one-line message (Gradio renders toast text as HTML)."""
    text = str(exc).strip() or type(exc).__name__
    return html.escape(text.splitlines()[0][:500])


def handler(fn: Callable) -> Callable:
    """Wrap a Gradio callback: our errors become a readable ``gr.Error``, surprises are logged.

    Nothing a user sends can crash the server; the worst case is an error toast.
    """

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except ExplorerError as exc:
            raise gr.Error(message(exc), print_exception=False) from None
        except Exception as exc:  # noqa: BLE001 - the last line of defence for a web handler
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(f"Something went wrong ({type(exc).__name__}: {message(exc)}). The details are in the server log.") from None

    return wrapped


#: name prefix of the folders :func:`request_temp_dir` makes (and the only ones :func:`remove_request_temp` deletes)
TEMP_PREFIX = "gan-explorer-req-"


def request_temp_dir(what: str) -> Path:
    """A fresh temporary folder for one request's downloadable files.

    Wire the event that returns files from it as ``event.then(remove_request_temp, state, state)``
    with the folder in a ``gr.State``: Gradio copies returned files into its own cache (which
    ``delete_cache`` sweeps) while the event completes, so the ``.then`` removes the original as
    soon as the request ends instead of leaving one copy per click in the temp folder.
    """
    _sweep_request_temp()
    return Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{what}-"))


#: request folders older than this are removed by the next request (a client that never ran the
#: ``.then`` clean-up, a closed tab); Gradio has long copied their files by then
TEMP_MAX_AGE_S = 600


def _sweep_request_temp() -> None:
    cutoff = time.time() - TEMP_MAX_AGE_S
    for path in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"):
        try:
            if path.is_dir() and path.stat().st_mtime < cutoff:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass  # another request may be sweeping too


def remove_request_temp(folder: Any) -> None:
    """Delete a folder made by :func:`request_temp_dir` (anything else is left alone); returns None
    so it also clears the ``gr.State`` that held it."""
    if not folder:
        return None
    path = Path(str(folder)).resolve()
    root = Path(tempfile.gettempdir()).resolve()
    if path.parent == root and path.name.startswith(TEMP_PREFIX) and path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    return None


def upload_path(payload: Any) -> Path | None:
    """The server-side path of an uploaded file.

    Upload events run with ``preprocess=False`` so that *we* decode the file (with size and pixel
    caps, readable errors) instead of Gradio opening it with PIL unchecked. Without preprocessing
    Gradio does not vet the path a client put in the payload, so this does: it must lie inside
    Gradio's upload folder (what ``/upload`` wrote) — the client never names another server path.
    Accepts the raw ``FileData`` dict, a path string (API calls) or ``None``.

    Raises:
        ExplorerError: the path lies outside the upload folder.
    """
    if payload is None:
        return None
    if isinstance(payload, dict):
        path = payload.get("path")
    elif isinstance(payload, (str, os.PathLike)):
        path = payload
    else:
        path = getattr(payload, "path", None)
    if not path:
        return None
    return _inside_upload_folder(Path(str(path)))


def _inside_upload_folder(path: Path) -> Path:
    root = Path(get_upload_folder()).resolve()
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):
        resolved = None
    if resolved is None or resolved == root or not resolved.is_relative_to(root):
        raise ExplorerError("that file was not uploaded to this app; upload it again")
    return resolved


def upload_name(payload: Any) -> str:
    if isinstance(payload, dict) and payload.get("orig_name"):
        return str(payload["orig_name"])
    path = upload_path(payload)
    return path.name if path else "upload"


def read_upload_image(payload: Any, mode: str = "RGB", what: str = "an image"):
    """Decode an uploaded image safely (caps, any mode → ``mode``); ``gr.Error`` if missing."""
    path = upload_path(payload)
    if path is None:
        raise ExplorerError(f"upload {what} first")
    img = load_image(path, mode=mode, max_pixels=MAX_UPLOAD_PIXELS, max_bytes=MAX_UPLOAD_MB * 1024 * 1024, allow_animated=True)
    note = img.info.get("gan_explorer_note")
    if note:
        gr.Warning(html.escape(note))
    return img


@dataclass
class Picker:
    dropdown: gr.Dropdown
    predicate: Callable[[ModelEntry], bool]


@dataclass
class AppContext:
    """Built once per app; handed to every tab builder."""

    catalog: Catalog
    session: gr.State
    jobs: Any = None  # explorer.ui.jobs.TrainingJobs, or None when training is off
    pickers: list[Picker] = field(default_factory=list)
    #: (fn, inputs, outputs) run once when a page opens, after the pickers are refreshed — for
    #: widgets that depend on the selected model (class lists, domain switches, ...)
    on_page_load: list[tuple[Callable, list, list]] = field(default_factory=list)
    #: what each session's last Explore render drew, for the slider preview route (explorer.ui.previews)
    previews: PreviewRegistry = field(default_factory=PreviewRegistry)

    def picker(self, predicate: Callable[[ModelEntry], bool], label: str = "Model", prefer: str | None = None,
               **kwargs) -> gr.Dropdown:
        """A model dropdown over the catalog entries that satisfy ``predicate``; refreshed with the others.

        Starts on ``prefer`` (an entry id) when the catalog offers it, else on the first entry.
        """
        choices = self.catalog.choices(predicate)
        ids = [c[1] for c in choices]
        dd = gr.Dropdown(
            choices=choices,
            value=prefer if prefer in ids else (ids[0] if ids else None),
            label=label,
            interactive=True,
            **kwargs,
        )
        self.pickers.append(Picker(dd, predicate))
        return dd

    @property
    def picker_components(self) -> list[gr.Dropdown]:
        return [p.dropdown for p in self.pickers]

    def refresh_pickers(self, *current: str | None, prefer: str | None = None) -> list[Any]:
        """Updates for every picker: new choices; the current value kept if still there.

        ``prefer``: an id to select in every picker that offers it (e.g. a just-trained model).
        """
        out = []
        for picker, value in zip(self.pickers, current):
            choices = self.catalog.choices(picker.predicate)
            ids = [c[1] for c in choices]
            if prefer in ids:
                value = prefer
            elif value not in ids:
                value = ids[0] if ids else None
            out.append(gr.update(choices=choices, value=value))
        return out
