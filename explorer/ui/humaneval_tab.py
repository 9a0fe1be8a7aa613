"""Human evaluation inside the Evaluate tab: raters take part, organisers create sessions and read results.

``build_humaneval_tab(ctx)`` lays out three sub-tabs and wires short handlers to
:mod:`explorer.humaneval` (all logic, storage and statistics live there):

* **Take part** — a rater types the join code and a name and answers trial after trial. The
  stimulus is a ``gr.HTML`` whose inline script starts the exposure clock only once the images
  are decoded and on screen, hides them after the session's exposure time, and stamps each
  answer with the displayed trial's position and the browser-measured response time. The
  position comes from what was *shown*, so a double click can never answer an unseen trial.
  The rater's token is kept in the browser (``gr.BrowserState``): a reload or a server restart
  resumes where they stopped.
* **Organise** — pick models (catalog ids; stimuli come from the catalog's cached models), a
  real set, the task and exposure; get a join code for raters and an organiser key for results.
* **Results** — with code + organiser key: human scores with bootstrap CIs next to the metrics
  recorded in each model's card (FID/KID/IS/PR, with their extractor), per-rater statistics
  and flags, CSV/JSON export, closing the session.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import os
from dataclasses import dataclass
from typing import Any

import gradio as gr

from explorer.errors import ExplorerError
from explorer.metadata import ModelCard
from explorer.humaneval import (
    EXPOSURES,
    HumanEvalStore,
    SessionConfig,
    StaircaseConfig,
    Trial,
    default_db_path,
    default_stimulus_provider,
    export_session,
    format_results_markdown,
    normalise_code,
    summarize_session,
)
from explorer.humaneval.config import MIN_ADAPTIVE_TRIALS_PER_TRACK
from explorer.humaneval.stimuli import encode_png
from explorer.ui.common import HEAVY, AppContext, handler, remove_request_temp, request_temp_dir
from explorer.ui.modelinfo import md_text

log = logging.getLogger(__name__)

DISPLAY_PX = 256  # stimuli are 28-128 px; shown enlarged with crisp pixels
METRIC_KEYS = ("fd_name", "fd", "fid", "kid_mean", "kid_std", "is_mean", "precision", "recall", "density", "coverage",
               "one_nn_accuracy", "extractor_label", "num_fake")
TASK_CHOICES = [("Real or fake?", "real_vs_fake"), ("Which of two is more realistic? (pairwise)", "pairwise")]
EXPOSURE_CHOICES = [("Unlimited time (HYPE∞-like)", "unlimited"), ("Fixed time", "fixed"),
                    ("Adaptive time (staircase, HYPE-time-like)", "adaptive")]
assert {v for _, v in EXPOSURE_CHOICES} == set(EXPOSURES)
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


class _LazyStore:
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


def card_metrics(catalog, config: SessionConfig) -> dict[str, dict[str, Any]]:
    """Per model name: the latest metrics recorded in its card, preferring the session's real set."""
    out: dict[str, dict[str, Any]] = {}
    for model_id, name in zip(config.models, config.names):
        try:
            entry = catalog.resolve(model_id)
        except ExplorerError:
            continue
        records = [m for m in ModelCard.coerce(entry.card).metric_records if isinstance(m, dict)]
        same_set = [m for m in records if config.real_set and m.get("real") == config.real_set]
        records = sorted(same_set or records, key=lambda m: str(m.get("recorded_at", "")))
        if records:
            latest = dict(records[-1])
            if "fid" in latest and "fd" not in latest and latest.get("extractor") != "inception-v3":
                # recorded before Fréchet distances were named by their extractor (issue 13)
                space = latest.get("extractor") or latest.get("extractor_label") or "unnamed extractor"
                latest["fd"], latest["fd_name"] = latest.pop("fid"), f"FD ({space})"
            picked = {k: latest[k] for k in METRIC_KEYS if latest.get(k) is not None}
            if latest.get("real"):
                picked["metrics_real_set"] = latest["real"]
            out[name] = picked
    return out


def make_config(catalog, model_ids, real_set, task, num_trials, num_checks, exposure, exposure_ms, title,
                seed) -> SessionConfig:
    """An organiser's form turned into a session config (model ids resolved to display names)."""
    ids = [m for m in (model_ids or []) if m]
    names = [catalog.resolve(m).name for m in ids]
    if len(set(names)) != len(names):  # two checkpoints with the same card name: disambiguate by id
        names = [f"{n} ({m})" for n, m in zip(names, ids)]
    num_trials = _whole(num_trials, "trials per rater", 1, 2000)
    num_checks = _whole(num_checks, "attention checks", 0, 50)
    exposure_ms = _whole(exposure_ms if exposure_ms not in (None, "") else 1000, "display time (ms)", 1, 60000)
    staircase = StaircaseConfig()
    if exposure == "adaptive":  # the display-time field is where the staircase starts
        staircase = StaircaseConfig(start_ms=min(staircase.max_ms, max(staircase.min_ms, exposure_ms)))
    return SessionConfig(
        task=task, models=tuple(ids), staircase=staircase, model_names=tuple(names), real_set=real_set if task == "real_vs_fake" else None,
        num_trials=num_trials, num_checks=num_checks, exposure=exposure or "unlimited",
        exposure_ms=exposure_ms, title=str(title or "").strip()[:200],
        seed=_parse_seed(seed),
    )


def _whole(value, what: str, lo: int, hi: int) -> int:
    """A whole number in [lo, hi] from a form field (a client can send anything), or a readable error."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ExplorerError(f"{what} must be a whole number") from None
    if not math.isfinite(number) or number != int(number) or not lo <= number <= hi:
        raise ExplorerError(f"{what} must be a whole number from {lo} to {hi}")
    return int(number)


def _parse_seed(text) -> int | None:
    text = str(text if text is not None else "").strip()
    if not text:
        return None
    try:
        seed = int(text)
    except ValueError:
        raise ExplorerError("the seed must be a whole number (or blank for a random one)") from None
    if not 0 <= seed < 2**31:
        raise ExplorerError("the seed must lie between 0 and 2147483647")
    return seed


@dataclass
class HumanEvalTab:
    rater: "TakePart"
    # organiser
    models: gr.Dropdown
    create: gr.Button
    created: gr.Markdown
    # results
    results_code: gr.Textbox
    results_key: gr.Textbox
    results: gr.Markdown
    raters: gr.Dataframe
    store: _LazyStore


@dataclass
class TakePart:
    code: gr.Textbox
    name: gr.Textbox
    join: gr.Button
    stimulus: gr.HTML
    progress: gr.Markdown
    rvf_buttons: list[gr.Button]
    pair_buttons: list[gr.Button]


def build_take_part(store: "_LazyStore") -> TakePart:
    """The rater page (join code → trials → thanks) with its handlers, in the current Blocks context.

    Used inside the organiser's Evaluate tab and, alone, as the raters' app (:func:`build_rater_app`).
    """
    rater_state = gr.State(None)  # {"token", "code", "name", "task", "position"}
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

    # ----- handlers: taking part -------------------------------------------------------------
    trial_outputs = [rater_state, stimulus, progress, rvf_row, pair_row]

    def show_next(rater: dict):
        trial = store.get().next_trial(rater["token"])
        rater = dict(rater, position=None if trial is None else trial.position)
        is_pair = rater["task"] == "pairwise"
        running = trial is not None
        return (rater, trial_html(trial), progress_text(trial, rater),
                gr.update(visible=running and not is_pair), gr.update(visible=running and is_pair))

    def on_join(code, name, memo, current):
        st = store.get()
        code = normalise_code(code)
        info = st.session(code)  # unknown code: a readable error before anything else
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
        if rater is None:
            rater = st.join(code, name)
        state = {"token": rater.token, "code": code, "name": rater.name, "task": info.config.task, "position": None}
        out = show_next(state)
        if rater.num_answered >= rater.num_trials:
            gr.Info(f"Welcome back, {html.escape(rater.name)}: you have already finished this session.")
        elif rater.num_answered:
            gr.Info(f"Welcome back, {html.escape(rater.name)}: continuing at trial {rater.num_answered + 1}.")
        tokens.pop(code, None)
        tokens[code] = rater.token
        memo = {"sessions": dict(list(tokens.items())[-20:])}
        return (*out, memo, gr.update(visible=False), gr.update(visible=True))

    join_btn.click(handler(on_join), [code_in, name_in, remembered, rater_state],
                   [*trial_outputs, remembered, join_group, trial_area], api_visibility="private")

    def make_answer(response: str):
        def on_answer(rater, client):
            if not rater:
                raise ExplorerError("join a session first")
            shown, rt = parse_client_info(client)
            position = shown if shown is not None else rater.get("position")
            if position is None:
                raise ExplorerError("there is no trial to answer")
            store.get().answer(rater["token"], int(position), response, client_rt_ms=rt)
            return show_next(rater)

        on_answer.__name__ = f"answer_{response}"
        return handler(on_answer)

    for btn, response in [(real_btn, "real"), (fake_btn, "fake"), (left_btn, "left"), (right_btn, "right"),
                          (tie_btn, "tie")]:
        btn.click(make_answer(response), [rater_state, client_info], trial_outputs, js=ANSWER_JS,
                  show_progress="hidden", api_visibility="private")

    return TakePart(code_in, name_in, join_btn, stimulus, progress, [real_btn, fake_btn], [left_btn, tie_btn, right_btn])


def build_rater_app(db_path: str | os.PathLike | None = None, title: str = "GAN Explorer — rating") -> gr.Blocks:
    """The raters' app: the rater page and nothing else (no models, training, metrics or organising).

    Served at ``/rate/`` next to the organiser's app (see :mod:`explorer.ui.roles`); its queue holds
    only the rater handlers, so no ``fn_index`` reaches anything else.
    """
    with gr.Blocks(title=title) as demo:
        gr.Markdown("# Human evaluation\nThank you for helping. Enter the session code you were given.", elem_id="he-rater-header")
        build_take_part(_LazyStore(db_path))
    demo.queue(api_open=False, default_concurrency_limit=4)
    return demo


def build_humaneval_tab(ctx: AppContext, db_path: str | os.PathLike | None = None) -> HumanEvalTab:
    """Lay out the human-evaluation UI in the current Blocks context (call inside a ``gr.Tab``).

    ``db_path``: the SQLite file (default ``$GAN_EXPLORER_HUMANEVAL_DB`` or
    ``~/.cache/gan-explorer/humaneval.sqlite3``); opened on first use.
    """
    store = _LazyStore(db_path or getattr(ctx, "humaneval_db", None))
    catalog = ctx.catalog

    with gr.Tabs(elem_id="he-tabs"):
        # ----- Take part -------------------------------------------------------------------------
        with gr.Tab("Take part", id="he-rate", elem_id="he-rate"):
            rate = build_take_part(store)

        # ----- Organise --------------------------------------------------------------------------
        with gr.Tab("Organise", id="he-organise", elem_id="he-organise") as organise_tab:
            gen_choices = catalog.choices(lambda e: e.can_generate)
            with gr.Row():
                models_dd = gr.Dropdown(choices=gen_choices, value=[], multiselect=True, label="Models to evaluate",
                                        elem_id="he-models", scale=3)
                real_dd = gr.Dropdown(choices=_shipped_sets(), value=_first(_shipped_sets()), label="Real images",
                                      elem_id="he-real-set", scale=1)
            with gr.Row():
                task_radio = gr.Radio(TASK_CHOICES, value="real_vs_fake", label="Task", elem_id="he-task")
                exposure_radio = gr.Radio(EXPOSURE_CHOICES, value="unlimited", label="Display time",
                                          elem_id="he-exposure")
            with gr.Row():
                trials_num = gr.Number(value=40, precision=0, minimum=1, maximum=2000, label="Scored trials per rater",
                                       info="real/fake: multiple of 2 × models (adaptive time: at least "
                                            f"{MIN_ADAPTIVE_TRIALS_PER_TRACK} per model); pairwise: of the model pairs",
                                       elem_id="he-trials")
                checks_num = gr.Number(value=4, precision=0, minimum=0, maximum=50, label="Attention checks (added on top)",
                                       elem_id="he-checks")
                exposure_ms = gr.Number(value=1000, precision=0, minimum=10, maximum=60000,
                                        label="Display time (ms): fixed, or the start of the staircase",
                                        elem_id="he-exposure-ms")
                seed_in = gr.Textbox(value="", label="Seed (blank: random)", placeholder="random", max_length=12,
                                     elem_id="he-seed")
            title_in = gr.Textbox(label="Title (shown in results)", max_length=200, elem_id="he-title")
            create_btn = gr.Button("Create session", variant="primary", elem_id="he-create")
            created_md = gr.Markdown(elem_id="he-created")

        # ----- Results ---------------------------------------------------------------------------
        with gr.Tab("Results", id="he-results", elem_id="he-results-tab"):
            with gr.Row():
                res_code = gr.Textbox(label="Session code", max_length=20, elem_id="he-res-code")
                res_key = gr.Textbox(label="Organiser key", type="password", max_length=64, elem_id="he-res-key")
                exclude_cb = gr.Checkbox(value=True, label="Leave out raters who failed attention checks",
                                         elem_id="he-exclude")
            with gr.Row():
                results_btn = gr.Button("Show results", variant="primary", elem_id="he-results-btn")
                export_btn = gr.Button("Export CSV + JSON", elem_id="he-export-btn")
                close_btn = gr.Button("Close session", elem_id="he-close-btn")
            results_md = gr.Markdown(elem_id="he-results")
            raters_df = gr.Dataframe(label="Raters", interactive=False, elem_id="he-raters", wrap=True)
            export_files = gr.File(label="Export", file_count="multiple", interactive=False, visible=False,
                                   elem_id="he-export")

    # ----- handlers: organising ----------------------------------------------------------------
    def on_create(model_ids, real_set, task, num_trials, num_checks, exposure, exp_ms, title, seed):
        config = make_config(catalog, model_ids, real_set, task, num_trials, num_checks, exposure, exp_ms, title, seed)
        provider = default_stimulus_provider(loader=lambda model_id: catalog.load(model_id)[0])
        info = store.get().create_session(config, provider)
        code = f"{info.code[:4]}-{info.code[4:]}"
        text = (f"### Join code: `{code}`\nGive this code to your raters: they open this app's address followed by `/rate/` "
                f"(the rater page; on this machine also Evaluate → Human evaluation → Take part). "
                f"{info.num_items} trials each: {config.num_trials} scored + {config.num_checks} attention checks "
                "added on top.\n\n"
                f"**Organiser key:** `{info.admin_token}` — keep it private; you need it to see the results.")
        return text, info.code, info.admin_token

    create_btn.click(handler(on_create), [models_dd, real_dd, task_radio, trials_num, checks_num, exposure_radio,
                                          exposure_ms, title_in, seed_in],
                     [created_md, res_code, res_key], api_visibility="private", **HEAVY)
    organise_tab.select(lambda current: gr.update(choices=catalog.choices(lambda e: e.can_generate), value=current),
                        [models_dd], [models_dd], api_visibility="private", queue=False)

    # ----- handlers: results -------------------------------------------------------------------
    def authorised(code, key) -> str:
        code = normalise_code(code)
        if not store.get().check_admin(code, key):
            raise ExplorerError("wrong session code or organiser key")
        return code

    stimulus_cache: dict[str, dict] = {}  # session code -> metrics of its stimuli (fixed at creation)

    def session_metrics(st, code, config) -> tuple[dict, str]:
        if config.task != "real_vs_fake":
            return card_metrics(catalog, config), ("Automatic metrics: as recorded in each model's card (a pairwise "
                                                   "session shows no real images to compare with).")
        if code not in stimulus_cache:
            from explorer.humaneval.metrics import stimulus_metrics
            from explorer.ui.modelinfo import dataset_name

            clf = next((e for e in catalog.entries(lambda e: e.kind == "classifier")
                        if dataset_name(e.meta) == config.real_set), None)
            ext, opts = ("domain-classifier", {"weights": str(clf.path)}) if clf else ("imagenet-trunk", {})
            stimulus_cache[code] = stimulus_metrics(config, st.stimuli(code), extractor=ext, extractor_options=opts)
        return stimulus_cache[code], ("Automatic metrics: computed on the very images the raters saw (each model's "
                                      "fakes vs the session's real images, attention checks left out). Few images: "
                                      "the Fréchet distance is biased upwards, so compare sessions of equal size.")

    def on_results(code, key, exclude, progress=gr.Progress()):
        code = authorised(code, key)
        st = store.get()
        info = st.session(code)
        summary = summarize_session(st, code, exclude_flagged=bool(exclude))
        progress(0.5, desc="metrics of the session's images")
        metrics, metrics_note = session_metrics(st, code, info.config)
        table = format_results_markdown(summary, metrics) + "\n\n" + metrics_note
        level = int(summary["bootstrap"]["level"] * 100)
        head = (f"### {md_text(info.config.title or 'Session', 200)} `{info.code}` · {info.status}\n"
                f"{summary['num_raters']} raters ({summary['num_raters_included']} scored), "
                f"{summary['num_answers']} scored answers. {level}% bootstrap CIs over "
                f"{summary['bootstrap']['resample']}. " + _score_note(summary))
        rows = [[r["name"], r["num_answered"], _pct(r["accuracy"]), f"{r['checks_passed']}/{r['checks_total']}",
                 None if r["median_rt_ms"] is None else round(r["median_rt_ms"]), "⚠ " + r["reason"] if r["flagged"] else ""]
                for r in summary["raters"]]
        df = gr.update(value=rows, headers=["Rater", "Answered", "Accuracy", "Checks", "Median time (ms)", "Flag"])
        return f"{head}\n\n{table}", df

    results_btn.click(handler(on_results), [res_code, res_key, exclude_cb], [results_md, raters_df],
                      api_visibility="private")

    export_tmp = gr.State(None)  # this request's folder, removed once Gradio has copied the files

    def on_export(code, key, exclude):
        code = authorised(code, key)
        folder = request_temp_dir(f"humaneval-{code}")
        paths = export_session(store.get(), code, folder, exclude_flagged=bool(exclude))
        return gr.update(value=[paths[k] for k in ("summary", "answers", "raters", "json")], visible=True), str(folder)

    export_btn.click(handler(on_export), [res_code, res_key, exclude_cb], [export_files, export_tmp], api_visibility="private").then(
        remove_request_temp, export_tmp, export_tmp, api_visibility="private", queue=False, show_progress="hidden")

    def on_close(code, key):
        code = authorised(code, key)
        store.get().set_status(code, "closed")
        gr.Info(f"Session {code} is closed: no new raters or answers.")

    close_btn.click(handler(on_close), [res_code, res_key], None, api_visibility="private")

    return HumanEvalTab(rate, models_dd, create_btn, created_md, res_code, res_key, results_md, raters_df, store)


def _shipped_sets() -> list[str]:
    try:
        from explorer.data.shipped import list_shipped

        return list_shipped()
    except Exception:  # noqa: BLE001 - the data package may be unavailable in a stripped install
        log.warning("shipped data sets unavailable", exc_info=True)
        return []


def _first(items: list) -> Any:
    return items[0] if items else None


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.0f} %"


def _score_note(summary: dict) -> str:
    if summary["task"] == "pairwise":
        return ("Bradley–Terry log-strengths sum to 0; P(A preferred to B) = σ(θ_A − θ_B). "
                f"Ties count {'half a win each' if summary.get('ties') == 'half' else 'not at all'}.")
    note = ("error_rate = (fakes judged real + reals judged fake) / trials: 0.5 means raters could not tell; "
            "fake_error = share of fakes judged real.")
    if summary.get("exposure") == "adaptive":
        note += (" threshold_ms: display time at which raters are ~79 % correct (higher = harder to spot), from "
                 "the raters whose staircase converged only (n; tracks_converged = their share); "
                 "error rates are held near 21 % by the staircase, so compare thresholds.")
    return note
