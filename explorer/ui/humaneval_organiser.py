"""Human evaluation, the organiser's side: the "Organise" and "Results" sub-tabs.

* **Organise** — pick models (catalog ids; stimuli come from the catalog's cached models), a
  real set, the task and exposure; get a join code for raters and an organiser key for results.
* **Results** — with code + organiser key: human scores with bootstrap CIs next to the metrics
  recorded in each model's card (FID/KID/IS/PR, with their extractor), per-rater statistics
  and flags, CSV/JSON export, closing the session.

Each ``build_*`` lays its sub-tab out in the current Blocks context and returns the components;
each ``wire_*`` connects their events. Storage, statistics and export live in
:mod:`explorer.humaneval`; :mod:`explorer.ui.humaneval_tab` puts the sub-tabs together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gradio as gr

from explorer.data import list_shipped
from explorer.errors import ExplorerError
from explorer.humaneval import (
    EXPOSURES,
    SessionConfig,
    StaircaseConfig,
    default_stimulus_provider,
    export_session,
    format_results_markdown,
    normalise_code,
    summarize_session,
)
from explorer.humaneval.config import MIN_ADAPTIVE_TRIALS_PER_TRACK
from explorer.humaneval.metrics import stimulus_metrics
from explorer.metadata import ModelCard
from explorer.ui.common import HEAVY, handler, remove_request_temp, request_temp_dir
from explorer.ui.humaneval_rater import LazyStore
from explorer.ui.modelinfo import dataset_name, md_text

METRIC_KEYS = ("fd_name", "fd", "fid", "kid_mean", "kid_std", "is_mean", "precision", "recall", "density", "coverage",
               "one_nn_accuracy", "extractor_label", "num_fake")
TASK_CHOICES = [("Real or fake?", "real_vs_fake"), ("Which of two is more realistic? (pairwise)", "pairwise")]
EXPOSURE_CHOICES = [("Unlimited time (HYPE∞-like)", "unlimited"), ("Fixed time", "fixed"),
                    ("Adaptive time (staircase, HYPE-time-like)", "adaptive")]
assert {v for _, v in EXPOSURE_CHOICES} == set(EXPOSURES)


# ----- pure helpers (tested without a browser) ---------------------------------------------------
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


# ----- Organise ----------------------------------------------------------------------------------
@dataclass
class OrganisePanel:
    models: gr.Dropdown
    real_set: gr.Dropdown
    task: gr.Radio
    exposure: gr.Radio
    num_trials: gr.Number
    num_checks: gr.Number
    exposure_ms: gr.Number
    seed: gr.Textbox
    title: gr.Textbox
    create: gr.Button
    created: gr.Markdown


def build_organise(catalog) -> OrganisePanel:
    """The session form (call inside the "Organise" ``gr.Tab``)."""
    gen_choices = catalog.choices(lambda e: e.can_generate)
    shipped = list_shipped()
    with gr.Row():
        models_dd = gr.Dropdown(choices=gen_choices, value=[], multiselect=True, label="Models to evaluate",
                                elem_id="he-models", scale=3)
        real_dd = gr.Dropdown(choices=shipped, value=shipped[0] if shipped else None, label="Real images",
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
    return OrganisePanel(models_dd, real_dd, task_radio, exposure_radio, trials_num, checks_num, exposure_ms, seed_in,
                         title_in, create_btn, created_md)


def wire_organise(p: OrganisePanel, tab: gr.Tab, results: ResultsPanel, catalog, store: LazyStore) -> None:
    """Create a session (its code and key also fill the Results form); the model list refreshes when ``tab`` opens."""

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

    p.create.click(handler(on_create), [p.models, p.real_set, p.task, p.num_trials, p.num_checks, p.exposure,
                                        p.exposure_ms, p.title, p.seed],
                   [p.created, results.code, results.key], api_visibility="private", **HEAVY)
    tab.select(lambda current: gr.update(choices=catalog.choices(lambda e: e.can_generate), value=current),
               [p.models], [p.models], api_visibility="private", queue=False)


# ----- Results -----------------------------------------------------------------------------------
@dataclass
class ResultsPanel:
    code: gr.Textbox
    key: gr.Textbox
    exclude: gr.Checkbox
    show: gr.Button
    export: gr.Button
    close: gr.Button
    markdown: gr.Markdown
    raters: gr.Dataframe
    files: gr.File


def build_results() -> ResultsPanel:
    """The results form and its outputs (call inside the "Results" ``gr.Tab``)."""
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
    return ResultsPanel(res_code, res_key, exclude_cb, results_btn, export_btn, close_btn, results_md, raters_df,
                        export_files)


def _authorised(store: LazyStore, code, key) -> str:
    code = normalise_code(code)
    if not store.get().check_admin(code, key):
        raise ExplorerError("wrong session code or organiser key")
    return code


def _metrics_of_stimuli(catalog, st, code: str, config: SessionConfig) -> dict:
    """Metrics of a real-vs-fake session's own stimuli, with the project classifier of its real set if installed."""
    clf = next((e for e in catalog.entries(lambda e: e.kind == "classifier")
                if dataset_name(e.meta) == config.real_set), None)
    ext, opts = ("domain-classifier", {"weights": str(clf.path)}) if clf else ("imagenet-trunk", {})
    return stimulus_metrics(config, st.stimuli(code), extractor=ext, extractor_options=opts)


def _results_text(info, summary: dict, metrics: dict, metrics_note: str) -> tuple[str, Any]:
    """The results markdown and the raters table update."""
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


def wire_results(p: ResultsPanel, catalog, store: LazyStore) -> None:
    """Show, export and close a session; every action needs its code and organiser key."""
    stimulus_cache: dict[str, dict] = {}  # session code -> metrics of its stimuli (fixed at creation)

    def session_metrics(st, code, config) -> tuple[dict, str]:
        if config.task != "real_vs_fake":
            return card_metrics(catalog, config), ("Automatic metrics: as recorded in each model's card (a pairwise "
                                                   "session shows no real images to compare with).")
        if code not in stimulus_cache:
            stimulus_cache[code] = _metrics_of_stimuli(catalog, st, code, config)
        return stimulus_cache[code], ("Automatic metrics: computed on the very images the raters saw (each model's "
                                      "fakes vs the session's real images, attention checks left out). Few images: "
                                      "the Fréchet distance is biased upwards, so compare sessions of equal size.")

    def on_results(code, key, exclude, progress=gr.Progress()):
        code = _authorised(store, code, key)
        st = store.get()
        info = st.session(code)
        summary = summarize_session(st, code, exclude_flagged=bool(exclude))
        progress(0.5, desc="metrics of the session's images")
        metrics, metrics_note = session_metrics(st, code, info.config)
        return _results_text(info, summary, metrics, metrics_note)

    p.show.click(handler(on_results), [p.code, p.key, p.exclude], [p.markdown, p.raters], api_visibility="private")

    export_tmp = gr.State(None)  # this request's folder, removed once Gradio has copied the files

    def on_export(code, key, exclude):
        code = _authorised(store, code, key)
        folder = request_temp_dir(f"humaneval-{code}")
        paths = export_session(store.get(), code, folder, exclude_flagged=bool(exclude))
        return gr.update(value=[paths[k] for k in ("summary", "answers", "raters", "json")], visible=True), str(folder)

    p.export.click(handler(on_export), [p.code, p.key, p.exclude], [p.files, export_tmp], api_visibility="private").then(
        remove_request_temp, export_tmp, export_tmp, api_visibility="private", queue=False, show_progress="hidden")

    def on_close(code, key):
        code = _authorised(store, code, key)
        store.get().set_status(code, "closed")
        gr.Info(f"Session {code} is closed: no new raters or answers.")

    p.close.click(handler(on_close), [p.code, p.key], None, api_visibility="private")


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
