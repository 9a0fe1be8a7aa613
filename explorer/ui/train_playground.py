"""The Train tab's 2-D playground section: layout and short handlers over :mod:`explorer.playground`.

Play starts a ``gr.Timer`` whose every tick trains a few steps and redraws (pause stops it; step
runs one frame; speed sets the tick interval; leaving the Train tab pauses it, see ``app.py``).
Changing a setting or a preset starts a fresh model. The session's ``gr.State`` holds only plain
data (the store key, the settings, the drawn points); the model lives in one
:class:`~explorer.playground.PlaygroundStore` per server, which keeps at most
:data:`MAX_PLAYGROUNDS` and drops a session's entry when its page closes.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass

import gradio as gr
import numpy as np

from explorer.errors import ExplorerError
from explorer.losses import GAN_LOSSES
from explorer.playground import (
    MAX_DRAWN_POINTS,
    PRESETS,
    Playground,
    PlaygroundConfig,
    PlaygroundStore,
    blank_frame,
    frame_png,
    render_frame,
    to_plane,
)
from explorer.playground.data import MAX_CSV_BYTES, MIN_DRAWN_POINTS, parse_points_csv
from explorer.ui.common import handler, message, upload_path

MAX_PLAYGROUNDS = 16
DISTRIBUTIONS = [("Ring of 8 Gaussians", "ring"), ("Two moons", "moons"), ("Spiral", "spiral"), ("Drawn set (click the plot)", "drawn")]
#: seconds between frames; "fast" asks for more frames than a CPU gives, so it runs as fast as it can
SPEEDS = [("slow motion (1 frame/s)", 1.0), ("normal (4 frames/s)", 0.25), ("fast", 0.05)]
#: settings widgets, in the order :func:`config_from` takes them
FIELDS = ("distribution", "loss", "lr_g", "lr_d", "d_steps", "seed")
PLOT_CSS = "img { display: block; width: 100%; max-width: 560px; height: auto; margin: 0 auto; cursor: crosshair; }"
# a click on the picture reports its position in the picture's own pixels (whatever size it is shown at)
PLOT_JS = """
element.addEventListener('click', (e) => {
  const img = e.target.closest('img');
  if (!img || !img.naturalWidth) return;
  const r = img.getBoundingClientRect();
  trigger('click', {x: (e.clientX - r.left) * img.naturalWidth / r.width, y: (e.clientY - r.top) * img.naturalHeight / r.height});
});
"""


@dataclass
class PlaygroundSection:
    timer: gr.Timer


def config_from(distribution, loss, lr_g, lr_d, d_steps, seed) -> PlaygroundConfig:
    """Widget values → a checked config (TrainingError names a bad field)."""
    try:
        cfg = PlaygroundConfig(distribution=distribution, loss=loss, lr_g=float(lr_g), lr_d=float(lr_d),
                               d_steps=int(d_steps), seed=int(seed))
    except (TypeError, ValueError):
        raise ExplorerError("learning rates, D steps and seed must be numbers") from None
    cfg.check()
    return cfg


def picture_html(picture: np.ndarray) -> str:
    """A frame as an inline PNG: sent with the event's reply, so ten frames a second leave no files
    behind in Gradio's cache (a ``gr.Image`` output writes one file per frame)."""
    data = base64.b64encode(frame_png(picture)).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="2-D playground: real and generated points over the discriminator\'s verdict">'


def readout_md(r: dict) -> str:
    """The numbers under the plot, in Markdown."""
    parts = [f"**step {r['step']:,}**"]
    if r.get("d_loss") == r.get("d_loss"):  # not NaN: a step has run
        parts.append(f"D loss {r['d_loss']:.3f} · G loss {r['g_loss']:.3f}")
    if "modes_covered" in r:
        parts.append(f"**modes covered {r['modes_covered']} / {r['num_modes']}** ({r['on_mode']:.0%} of generated points on a mode)")
    if "coverage" in r:
        parts.append(f"coverage {r['coverage']:.0%} of real points")
    return " · ".join(parts)


class _Sessions:
    """The handlers, over the store: one playground per session state."""

    def __init__(self):
        self.store = PlaygroundStore(MAX_PLAYGROUNDS)

    def fresh(self, state: dict, cfg: PlaygroundConfig):
        """A new model for ``cfg`` (the old one is dropped); with too few drawn points, only the points."""
        self.store.drop(state.get("key"))
        state = {**state, "key": None, "config": asdict(cfg)}
        points = state.get("points") or []
        if cfg.distribution == "drawn" and len(points) < MIN_DRAWN_POINTS:
            note = f"Click on the plot to add points ({len(points)} so far; at least {MIN_DRAWN_POINTS}), or upload a CSV of x,y pairs."
            return state, picture_html(render_frame(blank_frame(points))), note
        pg = Playground(cfg, points if cfg.distribution == "drawn" else None)
        state["key"] = self.store.add(pg)
        return state, picture_html(render_frame(pg.frame())), readout_md(pg.readout())

    def advance(self, state: dict, steps: int):
        """Train ``steps`` and redraw; a model the store dropped (server busy, long idle) restarts."""
        pg = self.store.get(state.get("key"))
        new_state = gr.skip()  # unchanged: skipping it spares Gradio storing it again on every frame
        if pg is None:
            if not state.get("config"):
                raise ExplorerError("choose a preset or press Reset first")
            state, image, text = self.fresh(state, PlaygroundConfig(**state["config"]))
            pg = self.store.get(state["key"])
            if pg is None:
                return state, image, text
            new_state = state
        pg.train(max(1, min(int(steps or 1), 200)))
        return new_state, picture_html(render_frame(pg.frame())), readout_md(pg.readout())

    # ----- event handlers (the widgets' values in, the outputs' values out) -----
    def on_reset(self, state_v, *values):
        return self.fresh(state_v, config_from(*values))

    def on_preset(self, name, state_v):
        if not name:
            return (gr.skip(),) * (len(FIELDS) + 4)
        if name not in PRESETS:
            raise ExplorerError(f"unknown preset {name!r}")
        _, cfg, note = PRESETS[name]
        state_v, image, text = self.fresh(state_v, cfg)
        return (note, *(getattr(cfg, f) for f in FIELDS), state_v, image, text)

    def on_setting(self, state_v, *values):  # a hand-made change leaves the preset
        return ("", "", *self.fresh(state_v, config_from(*values)))

    def on_click(self, state_v, distribution_v, loss_v, lr_g_v, lr_d_v, d_steps_v, seed_v, evt: gr.EventData):
        values = (distribution_v, loss_v, lr_g_v, lr_d_v, d_steps_v, seed_v)  # Gradio passes evt only to named parameters
        if distribution_v != "drawn":
            gr.Info("Choose the data 'Drawn set' to add points by clicking on the plot.")
            return gr.skip(), gr.skip(), gr.skip()
        try:
            x, y = float(evt.x), float(evt.y)
        except (AttributeError, TypeError, ValueError):
            raise ExplorerError("a click on the plot did not say where it was") from None
        points = list(state_v.get("points") or [])
        if len(points) >= MAX_DRAWN_POINTS:
            raise ExplorerError(f"a drawn set holds at most {MAX_DRAWN_POINTS} points")
        points.append(list(to_plane(x, y)))
        return self.fresh({**state_v, "points": points}, config_from(*values))

    def on_csv(self, payload, state_v, *values):
        path = upload_path(payload)
        if path is None:
            return (gr.skip(),) * 5
        if path.stat().st_size > MAX_CSV_BYTES:  # before reading it
            raise ExplorerError(f"the CSV file is larger than {MAX_CSV_BYTES // 1024} KB")
        points = parse_points_csv(path.read_bytes()).tolist()
        # the file box is emptied, ready for another file; the points live in the state
        return (None, "drawn", *self.fresh({**state_v, "points": points}, config_from("drawn", *values[1:])))

    def on_clear(self, state_v, *values):
        return self.fresh({**state_v, "points": []}, config_from(*values))

    def on_open(self, state_v, *values):  # the first frame, when the section is first opened
        return self.fresh(state_v, config_from(*values)) if not state_v.get("config") else (gr.skip(),) * 3

    def on_tick(self, state_v, steps_v):  # a failure pauses instead of raising a toast every tick
        try:
            return (*self.advance(state_v, steps_v), gr.skip())
        except ExplorerError as exc:
            return gr.skip(), gr.skip(), f"⚠️ {message(exc)} (paused)", gr.Timer(active=False)


def build() -> PlaygroundSection:
    """Lay out the playground as a closed accordion (call inside the Train tab) and wire its events."""
    with gr.Accordion("2-D playground: watch a tiny GAN learn", open=False, elem_id="pg-accordion") as box:
        return _build(box)


def _build(box: gr.Accordion) -> PlaygroundSection:
    sessions = _Sessions()
    first = "ring-covers"
    default = PRESETS[first][1]
    gr.Markdown("A tiny GAN on points of the plane, trained live: green dots are real data, purple ones G's samples; "
                "the background is D's verdict, the grey mesh is G's image of a grid of latent points, the orange "
                "arrows show where G's loss pushes its points. Same losses as the image trainer.")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=280):
            preset = gr.Dropdown([(label, key) for key, (label, _, _) in PRESETS.items()] + [("custom", "")], value=first,
                                 label="Preset", elem_id="pg-preset")
            preset_note = gr.Markdown(PRESETS[first][2], elem_id="pg-preset-note")
            distribution = gr.Radio(DISTRIBUTIONS, value=default.distribution, label="Data", elem_id="pg-distribution")
            loss = gr.Dropdown([(k, k) for k in GAN_LOSSES], value=default.loss, label="Loss", elem_id="pg-loss")
            with gr.Row():
                lr_g = gr.Number(value=default.lr_g, label="Learning rate G", minimum=0, maximum=0.1, elem_id="pg-lr-g")
                lr_d = gr.Number(value=default.lr_d, label="Learning rate D", minimum=0, maximum=0.1, elem_id="pg-lr-d")
            with gr.Row():
                d_steps = gr.Slider(1, 5, value=default.d_steps, step=1, label="D steps per G step", elem_id="pg-d-steps")
                seed = gr.Number(value=default.seed, precision=0, minimum=0, label="Seed", elem_id="pg-seed")
            with gr.Group(visible=False) as drawn_box:
                csv_in = gr.File(file_types=[".csv", ".txt"], label=f"Points as CSV (x,y per line; at most {MAX_DRAWN_POINTS})", elem_id="pg-csv")
                clear = gr.Button("Clear drawn points", size="sm", elem_id="pg-clear")
        with gr.Column(scale=3, min_width=300):
            plot = gr.HTML("", css_template=PLOT_CSS, js_on_load=PLOT_JS, elem_id="pg-plot")
            readout = gr.Markdown(elem_id="pg-readout")
            with gr.Row():
                play = gr.Button("Play", variant="primary", elem_id="pg-play", min_width=80)
                pause = gr.Button("Pause", elem_id="pg-pause", min_width=80)
                step_btn = gr.Button("Step", elem_id="pg-step", min_width=80)
                reset = gr.Button("Reset", elem_id="pg-reset", min_width=80)
            with gr.Row():
                steps = gr.Slider(1, 50, value=10, step=1, label="Training steps per frame", elem_id="pg-steps")
                speed = gr.Radio(SPEEDS, value=0.25, label="Speed", elem_id="pg-speed")

    # plain data only; the model itself is in the store, dropped when the page closes
    state = gr.State({"key": None, "config": None, "points": []}, delete_callback=lambda v: sessions.store.drop((v or {}).get("key")))
    timer = gr.Timer(0.25, active=False)
    settings = [distribution, loss, lr_g, lr_d, d_steps, seed]
    private = {"api_visibility": "private", "show_progress": "hidden"}
    live = {**private, "queue": False}

    outs = [state, plot, readout]
    box.expand(handler(sessions.on_open), [state, *settings], outs, **private)
    box.collapse(lambda: gr.Timer(active=False), None, timer, api_visibility="private", queue=False)
    preset.input(handler(sessions.on_preset), [preset, state], [preset_note, *settings, *outs], **private)
    # typed numbers count when the field is left or Enter pressed (not at every keystroke); the
    # slider when it is released; choices at once
    for event in (distribution.input, loss.input, d_steps.release, lr_g.submit, lr_g.blur, lr_d.submit, lr_d.blur,
                  seed.submit, seed.blur):
        event(handler(sessions.on_setting), [state, *settings], [preset, preset_note, *outs], **private)
    distribution.change(lambda d: gr.update(visible=d == "drawn"), distribution, drawn_box, api_visibility="private", queue=False)
    reset.click(handler(sessions.on_reset), [state, *settings], outs, **private)
    plot.click(handler(sessions.on_click), [state, *settings], outs, **private)
    csv_in.upload(handler(sessions.on_csv), [csv_in, state, *settings], [csv_in, distribution, *outs], preprocess=False, **private)
    clear.click(handler(sessions.on_clear), [state, *settings], outs, **private)
    play.click(lambda: gr.Timer(active=True), None, timer, api_visibility="private", queue=False)
    pause.click(lambda: gr.Timer(active=False), None, timer, api_visibility="private", queue=False)
    speed.change(lambda s: gr.update(value=float(s)), speed, timer, api_visibility="private", queue=False)  # keeps play/pause
    step_btn.click(handler(sessions.advance), [state, steps], outs, **live)
    timer.tick(sessions.on_tick, [state, steps], [*outs, timer], **live)
    return PlaygroundSection(timer=timer)

