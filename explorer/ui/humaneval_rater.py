"""Human evaluation, the rater's side: the "Take part" page and the raters' own app.

A rater types the join code and a name and answers trial after trial. The stimulus is a
``gr.HTML`` whose inline script starts the exposure clock only once the images are decoded and
on screen, hides them after the session's exposure time, and stamps each answer with the
displayed trial's position and the browser-measured response time. The position comes from what
was *shown*, so a double click can never answer an unseen trial. The rater's token is kept in the
browser (``gr.BrowserState``): a reload or a server restart resumes where they stopped.

:func:`build_take_part` lays the page out inside the organiser's Evaluate tab
(:mod:`explorer.ui.humaneval_tab`); :func:`build_rater_app` serves it alone at ``/rate/``.
Sessions, trials and answers live in :mod:`explorer.humaneval`.
"""

from __future__ import annotations

import base64
import html
import json
import os
from dataclasses import dataclass

import gradio as gr

from explorer.errors import ExplorerError
from explorer.humaneval import HumanEvalStore, RaterInfo, Trial, default_db_path, normalise_code
from explorer.humaneval.stimuli import encode_png
from explorer.ui.common import handler
from explorer.ui.modelinfo import md_text

# BrowserState is encrypted with this key; a fixed key lets a rater resume after a server restart.
# (The token it protects only identifies the rater; it grants nothing else.)
BROWSER_SECRET = "gan-explorer-humaneval-v1"

STIMULUS_CSS = """
.he-trial { display: flex; flex-direction: column; align-items: center; gap: 8px; min-height: 300px; }
.he-images { display: flex; gap: 24px; justify-content: center; position: relative; }
.he-images figure { margin: 0; display: flex; flex-direction: column; align-items: center; }
.he-images img { width: 256px; height: 256px; image-rendering: pixelated; visibility: hidden;
                 border-radius: 4px; background: #808080; }
.he-trial.he-shown img { visibility: visible; }
.he-trial.he-hidden img { visibility: hidden; }
.he-mask { display: none; opacity: 0.7; }
.he-trial.he-hidden .he-mask { display: block; }
.he-done { font-size: 1.2em; padding: 2em; text-align: center; }
"""

# Runs in the browser for the stimulus component (Gradio 6 gr.HTML js_on_load).
STIMULUS_JS = """
const begin = () => {
  const trial = element.querySelector('.he-trial');
  if (!trial) return;
  const stamp = trial.dataset.pos + ':' + performance.now();
  element.dataset.heStamp = stamp;
  const exposure = Number(trial.dataset.exposure || 0);
  const imgs = Array.from(trial.querySelectorAll('img'));
  Promise.all(imgs.map((im) => (im.decode ? im.decode().catch(() => null) : null))).then(() => {
    requestAnimationFrame(() => {
      if (element.dataset.heStamp !== stamp) return;
      trial.classList.add('he-shown');
      window.__heShown = {pos: trial.dataset.pos, at: performance.now()};
      if (exposure > 0) {
        setTimeout(() => { if (element.dataset.heStamp === stamp) trial.classList.add('he-hidden'); }, exposure);
      }
    });
  });
};
watch('value', begin);
begin();
"""

# Runs before an answer is sent: the last input (a hidden textbox) gets the shown trial's
# position and the response time measured in the browser.
ANSWER_JS = """
(...args) => {
  const trial = document.querySelector('#he-stim .he-trial');
  const pos = trial ? Number(trial.dataset.pos) : -1;
  const shown = window.__heShown;
  const rt = (trial && shown && shown.pos === trial.dataset.pos) ? performance.now() - shown.at : null;
  args[args.length - 1] = JSON.stringify({pos: pos, rt: rt});
  return args;
}
"""


class LazyStore:
    """Opens the SQLite store on first use, not when the app is built."""

    def __init__(self, path: str | os.PathLike | None):
        self.path = path
        self._store: HumanEvalStore | None = None

    def get(self) -> HumanEvalStore:
        if self._store is None:
            self._store = HumanEvalStore(self.path or default_db_path())
        return self._store


# ----- pure helpers (tested without a browser) ---------------------------------------------------
def trial_html(trial: Trial | None, done_text: str = "All done — thank you for taking part!") -> str:
    """The stimulus markup for one trial (images inline as PNG data URLs, no file names to peek at)."""
    if trial is None:
        return f"<div class='he-done'>{done_text}</div>"
    labels = ["Left", "Right"] if len(trial.images) == 2 else [""]
    figures = []
    for img, label in zip(trial.images, labels):
        data = base64.b64encode(encode_png(img)).decode("ascii")
        caption = f"<figcaption>{label}</figcaption>" if label else ""
        figures.append(f"<figure><img src='data:image/png;base64,{data}' alt='image {label}'>{caption}</figure>")
    exposure = int(trial.exposure_ms or 0)
    mask = "<div class='he-mask'>Time is up — answer below.</div>" if exposure else ""
    return (f"<div class='he-trial' data-pos='{trial.position}' data-exposure='{exposure}'>"
            f"<div class='he-images'>{''.join(figures)}</div>{mask}</div>")


def progress_text(trial: Trial | None, rater: dict) -> str:
    if trial is None:
        return f"**{md_text(rater.get('name', ''), 60)}**, your answers are saved. You can close this page."
    timing = f" · shown for {trial.exposure_ms} ms" if trial.exposure_ms else ""
    return f"**Trial {trial.position + 1} of {trial.num_trials}**{timing} — {trial.question}"


def parse_client_info(text: str | None) -> tuple[int | None, float | None]:
    """(position, response time in ms) sent by the answer script; (None, None) without it."""
    try:
        info = json.loads(text or "{}")
        pos = info.get("pos")
        pos = int(pos) if pos is not None and int(pos) >= 0 else None
        rt = info.get("rt")
        return pos, (float(rt) if rt is not None else None)
    except (ValueError, TypeError, AttributeError):
        return None, None


# ----- the page ----------------------------------------------------------------------------------
@dataclass
class TakePart:
    code: gr.Textbox
    name: gr.Textbox
    join: gr.Button
    stimulus: gr.HTML
    progress: gr.Markdown
    rvf_buttons: list[gr.Button]
    pair_buttons: list[gr.Button]


@dataclass
class _Page:
    """Every component of the rater page, as :func:`_layout` made them."""

    rater_state: gr.State  # {"token", "code", "name", "task", "position"}
    remembered: gr.BrowserState  # {"sessions": {code: token}} of the sessions this browser joined
    join_group: gr.Group
    code: gr.Textbox
    name: gr.Textbox
    join: gr.Button
    trial_area: gr.Column
    progress: gr.Markdown
    stimulus: gr.HTML
    client_info: gr.Textbox  # filled by ANSWER_JS just before an answer is sent
    rvf_row: gr.Row
    rvf_buttons: list[gr.Button]  # Real, Fake
    pair_row: gr.Row
    pair_buttons: list[gr.Button]  # Left, No difference, Right


def _layout() -> _Page:
    rater_state = gr.State(None)
    remembered = gr.BrowserState(None, storage_key="gan-explorer-humaneval", secret=BROWSER_SECRET)
    with gr.Group(visible=True, elem_id="he-join") as join_group:
        gr.Markdown("Enter the code you were given and a name (a nickname is fine). Judge each image "
                    "by how it looks. A few check trials come along the way: when an image shows the word "
                    "REAL, answer Real.")
        with gr.Row():
            code_in = gr.Textbox(label="Session code", max_length=20, elem_id="he-code", scale=2)
            name_in = gr.Textbox(label="Your name", max_length=60, elem_id="he-name", scale=2)
            join_btn = gr.Button("Join", variant="primary", elem_id="he-join-btn", scale=1)
    with gr.Column(visible=False, elem_id="he-trial-area") as trial_area:
        progress = gr.Markdown(elem_id="he-progress")
        stimulus = gr.HTML("", elem_id="he-stim", css_template=STIMULUS_CSS, js_on_load=STIMULUS_JS,
                           apply_default_css=False)
        client_info = gr.Textbox(visible=False, elem_id="he-client-info")
        with gr.Row(visible=False, elem_id="he-rvf-buttons") as rvf_row:
            real_btn = gr.Button("Real", elem_id="he-real", variant="secondary")
            fake_btn = gr.Button("Fake", elem_id="he-fake", variant="secondary")
        with gr.Row(visible=False, elem_id="he-pair-buttons") as pair_row:
            left_btn = gr.Button("◀ Left", elem_id="he-left")
            tie_btn = gr.Button("No difference", elem_id="he-tie")
            right_btn = gr.Button("Right ▶", elem_id="he-right")
    return _Page(rater_state, remembered, join_group, code_in, name_in, join_btn, trial_area, progress, stimulus,
                 client_info, rvf_row, [real_btn, fake_btn], pair_row, [left_btn, tie_btn, right_btn])


# ----- handlers ----------------------------------------------------------------------------------
def _show_next(st: HumanEvalStore, rater: dict) -> tuple:
    """Updates for the trial outputs (state, stimulus, progress, real/fake row, pair row): the next trial."""
    trial = st.next_trial(rater["token"])
    rater = dict(rater, position=None if trial is None else trial.position)
    is_pair = rater["task"] == "pairwise"
    running = trial is not None
    return (rater, trial_html(trial), progress_text(trial, rater),
            gr.update(visible=running and not is_pair), gr.update(visible=running and is_pair))


def _known_rater(st: HumanEvalStore, code: str, name, memo, current) -> tuple[RaterInfo | None, dict]:
    """Who this browser already is in session ``code`` (None: a new rater), and its ``{code: token}`` memo."""
    rater = None
    if isinstance(current, dict) and current.get("code") == code:
        try:  # this browser session already has an identity in this session: one rater, not two
            rater = st.rater(current.get("token"))
        except ExplorerError:
            rater = None
    # the browser remembers {code: token} of the sessions it joined (most recent last)
    tokens = dict((memo or {}).get("sessions") or {}) if isinstance(memo, dict) else {}
    if rater is None and tokens.get(code):
        try:  # same browser, same session: resume instead of starting over
            known = st.rater(tokens[code])
            if known.code == code and (not name or known.name == " ".join(str(name).split())):
                rater = known
        except ExplorerError:
            rater = None
    return rater, tokens


def _make_answer(store: LazyStore, response: str):
    """The click handler of one answer button (``response``: real, fake, left, right or tie)."""

    def on_answer(rater, client):
        if not rater:
            raise ExplorerError("join a session first")
        shown, rt = parse_client_info(client)
        position = shown if shown is not None else rater.get("position")
        if position is None:
            raise ExplorerError("there is no trial to answer")
        store.get().answer(rater["token"], int(position), response, client_rt_ms=rt)
        return _show_next(store.get(), rater)

    on_answer.__name__ = f"answer_{response}"
    return handler(on_answer)


def _wire(page: _Page, store: LazyStore) -> None:
    trial_outputs = [page.rater_state, page.stimulus, page.progress, page.rvf_row, page.pair_row]

    def on_join(code, name, memo, current):
        st = store.get()
        code = normalise_code(code)
        info = st.session(code)  # unknown code: a readable error before anything else
        rater, tokens = _known_rater(st, code, name, memo, current)
        if rater is None:
            rater = st.join(code, name)
        state = {"token": rater.token, "code": code, "name": rater.name, "task": info.config.task, "position": None}
        out = _show_next(st, state)
        if rater.num_answered >= rater.num_trials:
            gr.Info(f"Welcome back, {html.escape(rater.name)}: you have already finished this session.")
        elif rater.num_answered:
            gr.Info(f"Welcome back, {html.escape(rater.name)}: continuing at trial {rater.num_answered + 1}.")
        tokens.pop(code, None)
        tokens[code] = rater.token
        memo = {"sessions": dict(list(tokens.items())[-20:])}
        return (*out, memo, gr.update(visible=False), gr.update(visible=True))

    page.join.click(handler(on_join), [page.code, page.name, page.remembered, page.rater_state],
                    [*trial_outputs, page.remembered, page.join_group, page.trial_area], api_visibility="private")

    (real, fake), (left, tie, right) = page.rvf_buttons, page.pair_buttons
    for btn, response in [(real, "real"), (fake, "fake"), (left, "left"), (right, "right"), (tie, "tie")]:
        btn.click(_make_answer(store, response), [page.rater_state, page.client_info], trial_outputs, js=ANSWER_JS,
                  show_progress="hidden", api_visibility="private")


def build_take_part(store: LazyStore) -> TakePart:
    """The rater page (join code → trials → thanks) with its handlers, in the current Blocks context.

    Used inside the organiser's Evaluate tab and, alone, as the raters' app (:func:`build_rater_app`).
    """
    page = _layout()
    _wire(page, store)
    return TakePart(page.code, page.name, page.join, page.stimulus, page.progress, page.rvf_buttons, page.pair_buttons)


def build_rater_app(db_path: str | os.PathLike | None = None, title: str = "GAN Explorer — rating") -> gr.Blocks:
    """The raters' app: the rater page and nothing else (no models, training, metrics or organising).

    Served at ``/rate/`` next to the organiser's app (see :mod:`explorer.ui.roles`); its queue holds
    only the rater handlers, so no ``fn_index`` reaches anything else.
    """
    with gr.Blocks(title=title) as demo:
        gr.Markdown("# Human evaluation\nThank you for helping. Enter the session code you were given.", elem_id="he-rater-header")
        build_take_part(LazyStore(db_path))
    demo.queue(api_open=False, default_concurrency_limit=4)
    return demo
