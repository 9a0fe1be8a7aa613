"""Explore tab: walk a generator's latent space.

Model picker, seed (+ random), class, truncation, one slider per PCA/SeFa direction (with a
layer range for StyleGAN models), the edit library, a sample grid, an interpolation strip + GIF,
StyleGAN style mixing (A, B and the mix), the layer view (feature maps), latent save/load (.npy)
and lossless PNG export with provenance. Sliders preview on ``.input`` through a small route outside
Gradio's event pipeline (:mod:`explorer.ui.previews`: latest value wins, a full render is never
overwritten by a late preview) and render fully on ``.release``. The
latent maths lives in :mod:`explorer.pipelines.explore`; the widgets' layout in
:mod:`explorer.ui.explore_layout`; the panels beyond the sliders in :mod:`explorer.ui.explore_panels`;
handlers here only parse and format.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any, Callable

import gradio as gr

from explorer.checkpoint import file_hash
from explorer.edits import EditLibrary
from explorer.errors import ExplorerError
from explorer.images import latent_hash, save_png
from explorer.pipelines import explore
from explorer.ui import explore_panels as panels
from explorer.ui import previews, render
from explorer.ui.common import HEAVY, AppContext, handler, upload_name, upload_path
from explorer.ui.explore_layout import Controls, View, build_controls, build_view, is_generator
from explorer.ui.modelinfo import class_choices, md_text
from explorer.zoo import ModelEntry

NO_GENERATOR = "No generator installed yet: train one in the **Train** tab or import one in **Models**."
N = explore.NUM_DIRECTIONS


def _seed(value: Any) -> int:
    try:
        seed = int(value)
    except (TypeError, ValueError):
        raise ExplorerError("the seed must be a whole number") from None
    if not 0 <= seed < 2**31:
        raise ExplorerError("the seed must lie between 0 and 2147483647")
    return seed


def _custom_for(state: dict | None, model_id: str) -> dict | None:
    custom = (state or {}).get("custom")
    return custom if custom and custom.get("model") == model_id else None


def _request(model, model_id, seed, label, truncation, method, coeffs, state, layer_specs=(), saved=None,
             amount=0.0, library_root=None) -> explore.LatentRequest:
    return explore.LatentRequest(
        seed=_seed(seed),
        label=int(label) if (model.num_classes and label is not None) else None,
        truncation=float(truncation if truncation is not None else 1.0),
        method=method or "pca",
        coefficients=tuple(float(c or 0.0) for c in coeffs),
        custom=_custom_for(state, model_id),
        layers=tuple(panels.layer_range(model, *spec) for spec in layer_specs),
        saved=EditLibrary(library_root).get(model, saved).to_dict() if saved else None,
        saved_amount=float(amount or 0.0) if saved else 0.0,
    )


@dataclass
class ExploreTab:
    model: gr.Dropdown
    seed: gr.Number
    label: gr.Dropdown
    truncation: gr.Slider
    method: gr.Radio
    sliders: list[gr.Slider]
    image: gr.Image
    status: gr.Markdown
    mixing: gr.Accordion
    mix_blocks: gr.CheckboxGroup
    inputs: list  # what every render handler takes: model, seed, class, ψ, method, sliders, layer ranges, saved edit, state
    render_outputs: list  # [image, status, spec, preview key]
    model_outputs: list  # what a model change updates: class, sliders, layer controls, library, mixing, layer view
    on_model: Callable  # (model_id, method, state) -> updates for model_outputs
    full: Callable  # (*inputs) -> (image, status, spec, preview key)


class _Renderer:
    """The tab's render inputs (:attr:`ExploreTab.inputs`, as one flat ``args`` tuple) → a latent
    request → the image; every handler of the tab goes through it."""

    def __init__(self, ctx: AppContext, library_root):
        self.ctx = ctx
        self.catalog = ctx.catalog
        self.library_root = library_root
        self.serial = itertools.count(1)

    def unpack(self, args):
        model_id, seed_v, label_v, trunc_v, method_v = args[:5]
        coeffs = args[5 : 5 + N]
        flat = args[5 + N : 5 + 4 * N]
        specs = [tuple(flat[3 * k : 3 * k + 3]) for k in range(N)]
        saved_v, amount_v, st = args[5 + 4 * N :]
        model, entry = self.catalog.load(model_id)
        req = _request(model, model_id, seed_v, label_v, trunc_v, method_v, coeffs, st, specs, saved_v, amount_v,
                       self.library_root)
        return model, entry, req, st

    def full(self, *args):
        if not args[0] and not self.catalog.entries(is_generator):
            return None, NO_GENERATOR, None, gr.skip()
        model, entry, req, st = self.unpack(args)
        x = explore.image_for(model, req)
        key = self.ctx.previews.register(st, args[0], req)
        return render.to_uint8(x), _status(entry, req), {"model": args[0], "request": req}, f"{key}:{next(self.serial)}"


@dataclass
class _Parts:
    """What the wiring functions share."""

    c: Controls
    v: View
    r: _Renderer
    sh: panels.Shared  # inputs, handler-wrapped full render, render outputs, ... (also given to the panels)
    state: gr.State


def build(ctx: AppContext) -> ExploreTab:
    catalog = ctx.catalog

    # elem_ids: style.css re-orders these on a phone so the image stays in view while a slider moves
    with gr.Row(equal_height=False, elem_id="explore-main"):
        c = build_controls(ctx)
        v = build_view()

    state = ctx.session
    layer_inputs = [comp for lc in c.layers for comp in (lc.preset, lc.first, lc.last)]
    inputs = [c.model, c.seed, c.label, c.truncation, c.method, *c.sliders, *layer_inputs, c.library.saved,
              c.library.amount, state]
    library_root = catalog.user_dir.parent / "edits"  # beside the user's models (<app_home>/edits)

    # Every full render also stores what it drew: in `spec` (per session, for the panels) and in the
    # preview registry under the session's key (explorer.ui.previews), which reaches the page in
    # `preview_key` with a serial number. A slider's `input` then runs only JavaScript: it fetches
    # the frame from the preview route, bypassing Gradio's per-event page work (issue 15).
    spec = gr.State(None)
    preview_key = gr.Textbox(visible=False, elem_id="explore-preview-key")
    r = _Renderer(ctx, library_root)
    render_outputs = [v.image, v.status, spec, preview_key]
    sh = panels.Shared(catalog, inputs, r.unpack, handler(r.full), render_outputs, v.download, spec, library_root)
    t = _Parts(c, v, r, sh, state)

    _wire_rendering(t, preview_key)
    _wire_seed(t)
    model_outputs, on_model = _wire_model(t)
    _wire_samples(t)
    panels.wire_layer_controls(c.layers, sh)
    panels.wire_library(c.library, sh)
    panels.wire_mixing(v.mix, sh)
    panels.wire_layer_view(v.layer_view, sh)
    _wire_files(t)

    return ExploreTab(
        model=c.model, seed=c.seed, label=c.label, truncation=c.truncation, method=c.method, sliders=c.sliders,
        image=v.image, status=v.status, mixing=v.mix.accordion, mix_blocks=v.mix.blocks, inputs=inputs,
        render_outputs=render_outputs, model_outputs=model_outputs, on_model=handler(on_model), full=sh.full,
    )


# ----- rendering -----------------------------------------------------------------------------
def _wire_rendering(t: _Parts, preview_key: gr.Textbox) -> None:
    c, sh = t.c, t.sh
    slow = dict(trigger_mode="always_last", show_progress="hidden", api_visibility="private")
    js_only = dict(show_progress="hidden", queue=False, api_visibility="private")
    for k, s in enumerate(c.sliders):
        s.input(None, [s, preview_key], None, js=previews.page_script(f"d{k}"), **js_only)
        s.release(sh.full, sh.inputs, sh.render_outputs, **slow)
    c.library.amount.input(None, [c.library.amount, preview_key], None, js=previews.page_script("saved"), **js_only)
    c.truncation.input(None, [c.truncation, preview_key], None, js=previews.page_script("trunc"), **js_only)
    c.truncation.release(sh.full, sh.inputs, sh.render_outputs, **slow)
    # a full render landed: previews still in flight are dropped, its image is shown
    preview_key.change(None, [t.v.image, preview_key], None, js=previews.landed_script(), **js_only)
    c.label.input(sh.full, sh.inputs, sh.render_outputs, show_progress="hidden", api_visibility="private")


def _wire_seed(t: _Parts) -> None:
    # seed edits leave any custom latent: the seed is what the user asked for now
    def on_seed(*args):
        st = dict(args[-1] or {})
        st["custom"] = None
        out = t.r.full(*args[:-1], st)
        return (*out, st)

    outputs = [*t.sh.render_outputs, t.state]
    t.c.seed.input(handler(on_seed), t.sh.inputs, outputs, trigger_mode="always_last", show_progress="hidden",
                   api_visibility="private")
    t.c.random.click(lambda: random.randrange(0, 2**31 - 1), None, t.c.seed, api_visibility="private", queue=False).then(
        handler(on_seed), t.sh.inputs, outputs, show_progress="hidden", api_visibility="private"
    )


# ----- model / method change: re-layout, reset sliders, render -------------------------------
def _relayout(t: _Parts, model_id, method_v, st, label_v=None) -> list:
    """Updates for the model outputs (see :func:`_wire_model`) when the model or the direction method changes."""
    c, v = t.c, t.v
    model, entry = t.r.catalog.load(model_id)
    dirs = explore.directions(model, method_v or "pca")
    visible = min(dirs.num_components, N)
    upd_sliders = []
    for k in range(explore.NUM_DIRECTIONS):
        if k < dirs.num_components:
            share = float(dirs.explained[k]) * 100
            name = "PC" if dirs.method == "pca" else "SeFa"
            upd_sliders.append(gr.update(visible=True, value=0.0, label=f"{name} {k + 1} · {share:.1f} %"))
        else:
            upd_sliders.append(gr.update(visible=False, value=0.0))
    classes = class_choices(model, entry)
    custom = _custom_for(st, model_id)
    first = custom["label"] if custom and custom.get("label") is not None else (classes[0][1] if classes else None)
    if label_v is not None and any(cl[1] == label_v for cl in classes):
        first = label_v  # a method switch keeps the class the user chose
    upd_label = gr.update(choices=classes, value=first, visible=True) if classes else gr.update(choices=[], value=None, visible=False)
    upd_library = [panels.library_update(t.sh, model), gr.update(value=0.0), "",
                   gr.update(choices=panels.source_choices(dirs, visible), value=0)]
    upd_views = [*panels.relayout_mixing(model, v.mix), *panels.relayout_layer_view(model)]
    # a download made from the previous model must not stay offered under its file name
    return [upd_label, *upd_sliders, *panels.relayout_layers(model, c.layers, visible), *upd_library, *upd_views,
            gr.update(value=None, visible=False)]


def _wire_model(t: _Parts) -> tuple[list, Callable]:
    """Model and method changes, and the reset button; returns the model outputs and their handler."""
    c, v, sh = t.c, t.v, t.sh
    layer_outputs = [comp for lc in c.layers for comp in (lc.preset, lc.custom, lc.first, lc.last)]
    model_outputs = [c.label, *c.sliders, *layer_outputs, c.library.saved, c.library.amount, c.library.note,
                     c.library.source, v.mix.accordion, v.mix.blocks, v.layer_view.layer, v.layer_view.image,
                     v.layer_view.note, v.download]

    def on_model(model_id, method_v, st, label_v=None):
        if not model_id:
            return [gr.update() for _ in model_outputs]
        return _relayout(t, model_id, method_v, st, label_v)

    # (.success, not .then: a failed re-layout must not render, and raise the same error again)
    c.model.change(handler(on_model), [c.model, c.method, t.state], model_outputs, api_visibility="private", show_progress_on=v.image).success(
        sh.full, sh.inputs, sh.render_outputs, show_progress="hidden", api_visibility="private"
    )
    c.method.change(handler(on_model), [c.model, c.method, t.state, c.label], model_outputs, api_visibility="private", show_progress_on=v.image).success(
        sh.full, sh.inputs, sh.render_outputs, show_progress="hidden", api_visibility="private"
    )
    c.reset.click(lambda: [gr.update(value=0.0) for _ in c.sliders] + [gr.update(value=0.0)], None, [*c.sliders, c.library.amount],
                  api_visibility="private", queue=False).then(
        sh.full, sh.inputs, sh.render_outputs, show_progress="hidden", api_visibility="private"
    )
    return model_outputs, on_model


# ----- back to the seed, grid, interpolation -------------------------------------------------
def _wire_samples(t: _Parts) -> None:
    v, sh, r = t.v, t.sh, t.r

    def back_to_seed(*args):
        st = dict(args[-1] or {})
        st["custom"] = None
        return (*r.full(*args[:-1], st), st)

    v.back.click(handler(back_to_seed), sh.inputs, [*sh.render_outputs, t.state], api_visibility="private")

    def show_grid(*args):
        model, _, req, _ = r.unpack(args)
        return render.grid(explore.sample_grid(model, req, 16), nrow=4)

    v.grid_btn.click(handler(show_grid), sh.inputs, v.grid, api_visibility="private", **HEAVY)

    def show_interp(seed_b_v, frames_v, how, *args):
        model, entry, req, _ = r.unpack(args)
        frames = explore.interpolation(model, req, _seed(seed_b_v), int(frames_v), how)
        arrs = [render.to_uint8(f) for f in frames]
        path = render.write_gif(arrs, render.scratch_path(f"{entry.path.stem}-seed{req.seed}-to-{_seed(seed_b_v)}", ".gif"))
        return render.grid(frames, nrow=len(arrs)), str(path)

    v.interp_btn.click(handler(show_interp), [v.seed_b, v.num_frames, v.interp_method, *sh.inputs], [v.strip, v.gif],
                       api_visibility="private", **HEAVY)


# ----- files ---------------------------------------------------------------------------------
def _provenance(model, entry: ModelEntry, req: explore.LatentRequest, x) -> dict:
    """What an exported PNG records about how it was made (``x``: the edited latent it shows)."""
    return {
        "model": entry.name,
        "model_kind": entry.kind,
        "model_file_sha256": file_hash(entry.path),
        "seed": None if req.custom else req.seed,
        "latent_origin": req.custom["origin"] if req.custom else "seed",
        "class": req.label,
        "truncation": req.truncation,
        "directions": {"method": req.method, "coefficients_std": list(req.coefficients),
                       "layers": [list(r) if r else None for r in req.layers]} if any(req.coefficients) else None,
        "saved_edit": {"name": req.saved["name"], "amount_std": req.saved_amount, "layers": req.saved["layers"]}
        if req.saved and req.saved_amount else None,
        "latent_space": explore.space_of(model),
        "latent_sha256": latent_hash(x),
    }


def _wire_files(t: _Parts) -> None:
    c, v, sh, r = t.c, t.v, t.sh, t.r

    def export_png(*args):
        model, entry, req, _ = r.unpack(args)
        x = explore.edited_latent(model, req)
        img = explore.render(model, x, req.label)
        stem = f"{entry.path.stem}-seed{req.seed}" if not req.custom else f"{entry.path.stem}-custom"
        path = save_png(img[0], render.scratch_path(stem, ".png"), _provenance(model, entry, req, x))
        return gr.update(value=str(path), visible=True)

    v.export.click(handler(export_png), sh.inputs, v.download, api_visibility="private")

    def save_latent(*args):
        model, entry, req, _ = r.unpack(args)
        x = explore.edited_latent(model, req)
        path = render.scratch_path(f"latent-{entry.path.stem}-seed{req.seed}-{explore.space_of(model)}", ".npy")
        path.write_bytes(explore.latent_npy_bytes(model, x))
        return gr.update(value=str(path), visible=True)

    v.save_latent.click(handler(save_latent), sh.inputs, v.download, api_visibility="private")

    def load_latent(payload, *args):
        model_id = args[0]
        model, entry = r.catalog.load(model_id)
        path = upload_path(payload)
        if path is None:
            raise ExplorerError("choose a .npy file")
        if path.stat().st_size > explore.MAX_LATENT_FILE_BYTES:
            raise ExplorerError(f"{upload_name(payload)} is too large for a latent file")
        custom = explore.custom_from_npy(model, path.read_bytes(), upload_name(payload))
        st = dict(args[-1] or {})
        st["custom"] = {**custom, "model": model_id}
        # The file holds the latent after truncation and edits: start ψ at 1 (identity) and the
        # sliders at 0 from it, so the image is the one that was saved, whatever ψ was then.
        fresh = list(args)
        fresh[3] = 1.0
        fresh[5 : 5 + N] = [0.0] * N
        fresh[-2] = 0.0  # the saved edit's amount
        fresh[-1] = st
        out = r.full(*fresh)
        return (*out, st, gr.update(value=1.0), *[gr.update(value=0.0) for _ in c.sliders], gr.update(value=0.0))

    v.load_latent.upload(
        handler(load_latent), [v.load_latent, *sh.inputs], [*sh.render_outputs, t.state, c.truncation, *c.sliders, c.library.amount],
        preprocess=False, api_visibility="private", show_progress_on=v.image,
    )


def _status(entry: ModelEntry, req: explore.LatentRequest) -> str:
    src = f"custom latent: *{md_text(req.custom['origin'])}*" if req.custom else f"seed **{req.seed}**"
    parts = [f"{md_text(entry.name)} — {src}"]
    if req.label is not None:
        parts.append(f"class {req.label}")
    parts.append(f"ψ = {req.truncation:.2f}")
    edits = [f"{k + 1}: {c:+.2f}" + (f" @ layers {r[0]}–{r[1]}" if k < len(req.layers) and (r := req.layers[k]) else "")
             for k, c in enumerate(req.coefficients) if c]
    if edits:
        parts.append(f"{req.method.upper()} edits ({', '.join(edits)})")
    if req.saved and req.saved_amount:
        parts.append(f"saved edit *{md_text(req.saved['name'])}* {req.saved_amount:+.2f}")
    return " · ".join(parts)
