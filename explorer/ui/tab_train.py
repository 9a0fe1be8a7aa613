"""Train tab: train a model live, one run at a time per server.

Settings → :class:`explorer.train.TrainConfig`; the run goes to :class:`explorer.ui.jobs.TrainingJobs`
(a background thread calling :func:`explorer.train.train`). A ``gr.Timer`` polls the job's event
store once a second (only while this tab is open) and redraws: loss curves and D(x)/D(G(z)) as
``gr.LinePlot`` (bucket-averaged to at most :data:`MAX_POINTS` points per series), the latest
fixed-latent sample grid, a timeline of earlier grids, alerts (NaN rollback, mode collapse) and a
status line. A finished run's model enters every model picker (wired in ``app.py``). Under it, the
2-D playground (:mod:`explorer.ui.train_playground`): a tiny GAN on points, trained live, for teaching.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import gradio as gr
import numpy as np
import pandas as pd

from explorer.data import list_shipped
from explorer.errors import ExplorerError
from explorer.images import load_image
from explorer.losses import GAN_LOSSES
from explorer.registry import get_family, trainable_families
from explorer.train import TrainConfig
from explorer.ui import train_playground
from explorer.ui.common import AppContext, handler, upload_name, upload_path
from explorer.ui.jobs import RunView
from explorer.ui.modelinfo import md_text
from explorer.zoo import safe_stem

MAX_POINTS = 300
UPLOAD = "__upload__"
AUGMENTS = [("horizontal flip", "hflip"), ("small rotations (±10°)", "rotate"), ("small shifts (±6 %)", "translate"),
            ("DiffAugment on D's inputs (colour, shift, cutout)", "diffaugment")]


def family_choices() -> list[tuple[str, str]]:
    """(label, name) of every trainable family, as the families describe themselves."""
    return [(get_family(f).train_label, f) for f in trainable_families()]


@dataclass
class TrainTab:
    finished: gr.State  # catalog id of the last finished model this session has seen (app.py refreshes pickers)
    timer: gr.Timer
    playground_timer: gr.Timer  # the 2-D playground's frames (app.py pauses it when another tab opens)


def _shipped() -> list[str]:
    return list_shipped()


def _downsample(df: pd.DataFrame, key: str) -> pd.DataFrame:
    """At most MAX_POINTS rows per ``key`` group: consecutive buckets averaged (trends survive, noise shrinks)."""
    out = []
    for name, g in df.groupby(key, sort=False):
        if len(g) > MAX_POINTS:
            bucket = np.arange(len(g)) * MAX_POINTS // len(g)
            g = g.groupby(bucket).agg({"step": "mean", "value": "mean"}).assign(**{key: name})
        out.append(g)
    return pd.concat(out, ignore_index=True) if out else df


def _typed(rows: list[dict], key: str) -> pd.DataFrame | None:
    """Rows → a frame with numeric step/value columns, or None before the first row. An empty
    frame must not reach the plot: Gradio's LinePlot then builds a chart without series and
    draws no line for any later update of the run (seen in Chromium, Gradio 6.31)."""
    if not rows:
        return None
    df = pd.DataFrame(rows, columns=["step", "value", key])
    return _downsample(df.astype({"step": "float64", "value": "float64", key: "str"}), key)


def loss_frame(view: RunView) -> pd.DataFrame | None:
    rows = [{"step": s["step"], "value": float(v), "term": k} for s in view.steps for k, v in (s.get("losses") or {}).items()
            if v is not None and np.isfinite(v)]
    return _typed(rows, "term")


def d_frame(view: RunView) -> pd.DataFrame | None:
    rows = []
    for s in view.steps:
        if s.get("d_real") is not None:
            rows.append({"step": s["step"], "value": float(s["d_real"]), "series": "D(x) real"})
        if s.get("d_fake") is not None:
            rows.append({"step": s["step"], "value": float(s["d_fake"]), "series": "D(G(z)) generated"})
    return _typed(rows, "series")


def _png(path: str | None):
    if not path:
        return None
    try:
        return np.asarray(load_image(path, mode="RGB"))
    except ExplorerError:
        return None


#: a model's config keys the training data decide (the run's resolution/channels/classes say them instead)
_DATA_DECIDED = ("parts", "resolution", "channels", "channels_a", "channels_b", "num_classes")


def fine_tune_settings(entry, family: str) -> dict:
    """TrainConfig settings that start a run from ``entry``'s weights: its architecture, resolution
    and channels (the data are brought to them), conditional iff it has classes, ``init_from`` its file."""
    if entry.kind != family:
        raise ExplorerError(f"{entry.name} is a {entry.kind_name} model; pick one of the chosen family or change the family")
    config = entry.config
    channels = config.get("channels", config.get("channels_a"))
    return {"init_from": str(entry.path), "model": {k: v for k, v in config.items() if k not in _DATA_DECIDED},
            "resolution": config.get("resolution"), "channels": channels if channels in (1, 3) else None,
            "conditional": bool(config.get("num_classes"))}


def build_config(jobs, family, data, data_b, zip_payload, conditional, loss, lr_g, lr_d, batch, iterations, augments, width, name,
                 start_from=None, catalog=None):
    """Widgets → TrainConfig (raises ExplorerError/TrainingError with a readable message).

    ``start_from``: a catalog id whose weights the run fine-tunes (resolved through ``catalog``,
    which refuses ids it does not list), or empty for fresh weights.
    """

    if family not in trainable_families():
        raise ExplorerError(f"choose a model family: {', '.join(trainable_families())}")
    tune = {}
    if start_from:
        if catalog is None:
            raise ExplorerError("starting from a model needs the model catalog")
        tune = fine_tune_settings(catalog.resolve(start_from), family)
    iterations = int(iterations or 0)
    if not 1 <= iterations <= 1_000_000:
        raise ExplorerError("iterations must lie between 1 and 1,000,000")
    # the data are a shipped set or this user's upload: the client never names a server path

    shipped = list_shipped()
    if data != UPLOAD and data not in shipped:
        raise ExplorerError("choose a shipped data set or upload a .zip")
    if data_b not in (None, "") and data_b not in shipped:
        raise ExplorerError("domain B must be a shipped data set")
    keep = None
    if data == UPLOAD:
        path = upload_path(zip_payload)
        if path is None:
            raise ExplorerError("upload a .zip of images (class sub-folders become labels) or pick a shipped data set")
        if not upload_name(zip_payload).lower().endswith(".zip"):
            raise ExplorerError("the data upload must be a .zip file")
        keep = path
    augments = set(augments or [])
    aug = {}
    if "hflip" in augments:
        aug["hflip"] = True
    if "rotate" in augments:
        aug["rotate"] = 10
    if "translate" in augments:
        aug["translate"] = 0.06
    every = max(1, iterations // 10)
    stem = safe_stem(upload_name(zip_payload).rsplit(".", 1)[0]) if keep is not None else data
    run_name = jobs.fresh_name(name or f"{family}-{stem}")
    if keep is not None:
        # the upload cache is temporary and resume needs the data again: the run's own folder keeps
        # a copy under a name no other run shares, and it goes when the run's folder goes
        run_dir = jobs.runs_dir / run_name
        run_dir.mkdir(parents=True, exist_ok=True)
        data = str(run_dir / "data.zip")
        shutil.copyfile(keep, data)
    cls = get_family(family)
    caps = cls.capabilities({})
    conditional = tune.pop("conditional") if tune else bool(conditional) and caps.generates
    return TrainConfig(
        name=run_name, out=str(jobs.runs_dir), family=family, data=data,
        data_b=(data_b or None) if caps.domains else None,
        conditional=conditional, **(cls.conditional_settings if conditional else {}),
        loss=None if loss in (None, "", "default") else loss,
        lr_g=float(lr_g), lr_d=float(lr_d), batch_size=int(batch), iterations=iterations,
        augment=aug or None, diffaugment="color,translation,cutout" if "diffaugment" in augments else None,
        # fine-tuning (tune): the model's own architecture, resolution, channels and weights
        **({"model": dict(cls.quick_model) if width == "small" else {}} | tune),
        log_every=max(1, iterations // 200), sample_every=every, checkpoint_every=every,
        num_samples=64 if caps.generates else 16, monitor_warmup=min(200, iterations // 2),
    )


@dataclass
class _Settings:
    """The run's settings column (``inputs``: what :func:`build_config` takes, in its order)."""

    family: gr.Radio
    data: gr.Dropdown
    zip_in: gr.File
    data_b: gr.Dropdown
    conditional: gr.Checkbox
    iterations: gr.Number
    start_from: gr.Dropdown
    start: gr.Button
    stop: gr.Button
    resume_run: gr.Dropdown
    resume: gr.Button
    inputs: list


def _settings_layout(jobs, shipped: list[str]) -> _Settings:
    with gr.Column(scale=2, min_width=280):
        family = gr.Radio(family_choices(), value="dcgan", label="Model family", elem_id="train-family")
        data = gr.Dropdown([(n, n) for n in shipped] + [("Upload a .zip…", UPLOAD)], value=shipped[0] if shipped else UPLOAD, label="Data set", elem_id="train-data")
        zip_in = gr.File(file_types=[".zip"], label="Images (.zip; class sub-folders become labels)", visible=not shipped, elem_id="train-zip")
        data_b = gr.Dropdown([(n, n) for n in shipped], value="emoji-twitter" if "emoji-twitter" in shipped else None, label="Domain B", visible=False, elem_id="train-data-b")
        conditional = gr.Checkbox(value=False, label="Class-conditional (use the labels)", elem_id="train-conditional",
                                  info="DCGAN adds the mode-seeking term (MSGAN), so each class keeps its variety")
        loss = gr.Dropdown([("family default", "default")] + [(k, k) for k in GAN_LOSSES], value="default", label="Adversarial loss", elem_id="train-loss")
        with gr.Row():
            lr_g = gr.Number(value=2e-4, label="Learning rate G", minimum=0, maximum=1, elem_id="train-lr-g")
            lr_d = gr.Number(value=2e-4, label="Learning rate D", minimum=0, maximum=1, elem_id="train-lr-d")
        with gr.Row():
            batch = gr.Slider(4, 256, value=64, step=4, label="Batch size", elem_id="train-batch")
            iterations = gr.Number(value=500, precision=0, minimum=1, label="Iterations", elem_id="train-iterations")
        augments = gr.CheckboxGroup(AUGMENTS, value=[], label="Augmentation", elem_id="train-augment")
        width = gr.Radio([("small (fast on a CPU)", "small"), ("standard", "standard")], value="small", label="Model size", elem_id="train-width")
        start_from = gr.Dropdown([("fresh weights", "")], value="", label="Start from", elem_id="train-start-from",
                                 info="fine-tune a model of this family: its size, resolution and weights (the data must "
                                      "have its classes)")
        name = gr.Textbox(label="Run name (optional)", placeholder="e.g. digits-try1", elem_id="train-name")
        with gr.Row():
            start_btn = gr.Button("Start", variant="primary", elem_id="train-start")
            stop_btn = gr.Button("Stop", variant="stop", elem_id="train-stop")
        with gr.Row():
            resume_run = gr.Dropdown(choices=jobs.resumable_runs(), value=None, label="Resume run", allow_custom_value=False, elem_id="train-resume-run", scale=3)
            resume_btn = gr.Button("Resume", elem_id="train-resume", scale=1, min_width=90)
    inputs = [family, data, data_b, zip_in, conditional, loss, lr_g, lr_d, batch, iterations, augments, width, name, start_from]
    return _Settings(family, data, zip_in, data_b, conditional, iterations, start_from, start_btn, stop_btn, resume_run,
                     resume_btn, inputs)


def _dashboard_layout() -> tuple[gr.Markdown, list]:
    """The live view of the run: its status line and the components one poll redraws."""
    with gr.Column(scale=5):
        status = gr.Markdown("No training run yet.", elem_id="train-status")
        alerts = gr.Markdown(elem_id="train-alerts")
        with gr.Row():
            # slanted step labels: upright ones ran into each other ("180200") on narrow charts and phones
            loss_plot = gr.LinePlot(None, x="step", y="value", color="term", label="Losses", height=260, x_label_angle=-40, elem_id="train-loss-plot")
            d_plot = gr.LinePlot(None, x="step", y="value", color="series", label="Discriminator: mean P(real)", y_lim=[0, 1], height=260, x_label_angle=-40, elem_id="train-d-plot")
        with gr.Row(equal_height=False):
            grid = gr.Image(format="png", label="Samples on a fixed latent batch", height=320, interactive=False, buttons=["download", "fullscreen"], elem_id="train-grid", elem_classes=["pixelated"])
            timeline = gr.Gallery(label="Timeline", columns=4, height=320, format="png", elem_id="train-timeline", elem_classes=["pixelated"], buttons=["download", "fullscreen"])
    return status, [status, alerts, loss_plot, d_plot, grid, timeline]


def build(ctx: AppContext) -> TrainTab:
    jobs = ctx.jobs
    shipped = _shipped()
    with gr.Row(equal_height=False):
        s = _settings_layout(jobs, shipped)
        status, views = _dashboard_layout()

    playground = train_playground.build()
    seen = gr.State(-1)
    finished = gr.State("")
    timer = gr.Timer(1.0, active=False)

    _wire_settings(ctx, s)
    _wire_runs(ctx, s, timer, status)
    outputs = [*views, seen, s.resume_run]

    def poll(seen_v):
        if jobs.version == seen_v:
            return tuple(gr.skip() for _ in outputs)
        return _poll_updates(jobs)

    timer.tick(poll, [seen], outputs, show_progress="hidden", api_visibility="private", queue=False)
    return TrainTab(finished=finished, timer=timer, playground_timer=playground.timer)


def _wire_settings(ctx: AppContext, s: _Settings) -> None:
    """Widgets that follow the family and the data choice."""

    def start_choices(fam):
        return [("fresh weights", "")] + [(e.label, e.id) for e in ctx.catalog.entries(lambda e: e.kind == fam)]

    def on_family(fam, data_v):
        caps = get_family(fam).capabilities({})
        return (gr.update(visible=bool(caps.domains)), gr.update(visible=caps.generates),
                gr.update(value="emoji-google") if caps.domains and data_v not in ("emoji-google", "emoji-twitter") else gr.update(),
                gr.update(choices=start_choices(fam), value=""))

    s.family.change(on_family, [s.family, s.data], [s.data_b, s.conditional, s.data, s.start_from], api_visibility="private", queue=False)
    s.start_from.focus(lambda fam, cur: gr.update(choices=start_choices(fam), value=cur), [s.family, s.start_from], s.start_from,
                       api_visibility="private", queue=False)
    ctx.on_page_load.append((lambda fam: gr.update(choices=start_choices(fam or "dcgan"), value=""), [s.family], [s.start_from]))
    s.data.change(lambda d: gr.update(visible=d == UPLOAD), s.data, s.zip_in, api_visibility="private", queue=False)


def _wire_runs(ctx: AppContext, s: _Settings, timer: gr.Timer, status: gr.Markdown) -> None:
    """Start, stop and resume; each (re)starts the dashboard's timer."""
    jobs = ctx.jobs

    def start(*args):
        if jobs.busy:  # before build_config copies an upload into a new run folder
            raise ExplorerError("a training run is already in progress on this server; wait for it or stop it")
        cfg = build_config(jobs, *args, catalog=ctx.catalog)
        jobs.start(cfg)
        return gr.Timer(active=True), f"Starting **{md_text(cfg.name)}** ({cfg.family} on {md_text(cfg.data)}, {cfg.iterations} iterations)…"

    s.start.click(handler(start), s.inputs, [timer, status], preprocess=False, api_visibility="private", show_progress="hidden")

    def stop():
        if not jobs.stop():
            raise ExplorerError("no training run is in progress")
        return gr.Timer(active=True)

    s.stop.click(handler(stop), None, timer, api_visibility="private", queue=False)

    def resume(run_name, iterations_v):
        if not run_name or run_name not in jobs.resumable_runs():
            raise ExplorerError("choose a run to resume (runs with a checkpoint are listed)")
        cfg = TrainConfig.from_file(jobs.runs_dir / run_name / "config.json")
        cfg = cfg.replace(out=str(jobs.runs_dir), iterations=max(cfg.iterations, int(iterations_v or 0)))
        jobs.start(cfg, resume=True)
        return gr.Timer(active=True), f"Resuming **{md_text(run_name)}** up to {cfg.iterations} iterations…"

    s.resume.click(handler(resume), [s.resume_run, s.iterations], [timer, status], api_visibility="private", show_progress="hidden")
    s.resume_run.focus(lambda: gr.update(choices=jobs.resumable_runs()), None, s.resume_run, api_visibility="private", queue=False)


def _poll_updates(jobs) -> tuple:
    """The dashboard redrawn from the job's current view: status, alerts, plots, grid, timeline, version, resume list."""
    v = jobs.view()
    head = {"idle": "No training run yet.", "running": "**Running**", "stopping": "**Stopping**", "done": "**Finished**",
            "stopped": "**Stopped**", "error": "**Failed**"}[v.state]
    text = head if v.state == "idle" else f"{head} — {md_text(v.name)}: {md_text(v.message, 400)}"
    alert_md = "\n".join(f"- ⚠️ step {a['step']}: **{md_text(a['kind'])}** — {md_text(a['message'], 400)}" for a in v.alerts[-6:])
    gallery = [(p, f"step {s['step']}") for s in v.samples[-12:] if (p := _png(s["path"])) is not None]
    resumables = gr.update(choices=jobs.resumable_runs()) if v.state in ("stopped", "done", "error") else gr.skip()
    return (text, alert_md, loss_frame(v), d_frame(v), _png(v.samples[-1]["path"]) if v.samples else None, gallery,
            v.version, resumables)
