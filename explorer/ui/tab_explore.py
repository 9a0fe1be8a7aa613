"""Explore tab: walk a generator's latent space.

Model picker, seed (+ random), class, truncation, one slider per PCA/SeFa direction (with a
layer range for StyleGAN models), the edit library, a sample grid, an interpolation strip + GIF,
StyleGAN style mixing (A, B and the mix), the layer view (feature maps), latent save/load (.npy)
and lossless PNG export with provenance. Sliders preview on ``.input`` through a small route outside
Gradio's event pipeline (:mod:`explorer.ui.previews`: latest value wins, a full render is never
overwritten by a late preview) and render fully on ``.release``. The
latent maths lives in :mod:`explorer.pipelines.explore`; the panels beyond the sliders in
:mod:`explorer.ui.explore_panels`; handlers here only parse and format.
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
from explorer.zoo import ModelEntry
from explorer.ui.common import HEAVY, AppContext, handler, upload_name, upload_path
from explorer.ui.inline_image import InlineImage  # previews travel inside the response (issue 15)
from explorer.ui.modelinfo import class_choices, md_text
from explorer.ui.previews import SLIDER_RANGE

METHODS = [("PCA (GANSpace)", "pca"), ("SeFa (closed form)", "sefa")]
NO_GENERATOR = "No generator installed yet: train one in the **Train** tab or import one in **Models**."


def _is_generator(e: ModelEntry) -> bool:
    return e.can_generate


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


def build(ctx: AppContext) -> ExploreTab:
    catalog = ctx.catalog

    # elem_ids: style.css re-orders these on a phone so the image stays in view while a slider moves
    with gr.Row(equal_height=False, elem_id="explore-main"):
        with gr.Column(scale=4, min_width=320, elem_id="explore-controls"):
            model_dd = ctx.picker(_is_generator, label="Generator", elem_id="explore-model")
            with gr.Row(equal_height=True):
                seed = gr.Number(value=0, precision=0, minimum=0, maximum=2**31 - 1, label="Seed", elem_id="explore-seed", scale=3)
                rand_btn = gr.Button("Random seed", elem_id="explore-random", scale=1, min_width=110)
            label = gr.Dropdown(choices=[], value=None, label="Class", visible=False, interactive=True, elem_id="explore-class")
            truncation = gr.Slider(*previews.TRUNCATION_RANGE, value=1.0, step=0.01, label="Truncation ψ", info="below 1: more typical, less varied", elem_id="explore-trunc")
            method = gr.Radio(METHODS, value="pca", label="Edit directions", elem_id="explore-method",
                              info="Each slider moves along one direction, in standard deviations of the latents (z for DCGAN, w for StyleGAN).")
            sliders, controls = [], []
            for row in range(explore.NUM_DIRECTIONS // 2):
                with gr.Row():
                    for k in (2 * row, 2 * row + 1):
                        with gr.Column(min_width=140, elem_classes=["explore-dir-cell"]):
                            sliders.append(gr.Slider(-SLIDER_RANGE, SLIDER_RANGE, value=0.0, step=0.05, label=f"Direction {k + 1}", elem_id=f"explore-dir-{k}", min_width=140))
                            controls.append(panels.build_layer_control(k))  # StyleGAN: which style layers it moves
            reset_btn = gr.Button("Reset sliders", size="sm", elem_id="explore-reset")
            library = panels.build_library(SLIDER_RANGE)
        with gr.Column(scale=5, min_width=320, elem_id="explore-view"):
            image = InlineImage(format="png", label="Image", height=380, interactive=False, elem_id="explore-image", elem_classes=["pixelated"], buttons=["fullscreen"])
            status = gr.Markdown(elem_id="explore-status")
            with gr.Row():
                export_btn = gr.Button("Export PNG", size="sm", elem_id="explore-export")
                save_latent_btn = gr.Button("Save latent", size="sm", elem_id="explore-save-latent")
                load_latent_btn = gr.UploadButton("Load latent", file_types=[".npy"], size="sm", elem_id="explore-load-latent")
                back_btn = gr.Button("Back to seed", size="sm", elem_id="explore-back")
            download = gr.File(label="Download (PNG with provenance metadata, or latent .npy)", visible=False, elem_id="explore-download", interactive=False)

            with gr.Accordion("Sample grid", open=False, elem_id="explore-grid-acc"):
                grid_btn = gr.Button("16 seeds from the current one (same class, ψ and edits)", size="sm", elem_id="explore-grid-btn")
                grid_img = gr.Image(format="png", label="Sample grid", height=400, interactive=False, buttons=["download", "fullscreen"], elem_id="explore-grid", elem_classes=["pixelated"])
            with gr.Accordion("Interpolation", open=False, elem_id="explore-interp-acc"):
                with gr.Row():
                    seed_b = gr.Number(value=1, precision=0, minimum=0, maximum=2**31 - 1, label="To seed", elem_id="explore-interp-seed", min_width=100)
                    num_frames = gr.Slider(2, 32, value=10, step=1, label="Frames", elem_id="explore-interp-frames", min_width=140)
                    interp_method = gr.Radio([("slerp", "slerp"), ("lerp", "lerp")], value="slerp", label="Path", elem_id="explore-interp-method", min_width=120)
                interp_btn = gr.Button("Interpolate", size="sm", elem_id="explore-interp-btn")
                strip = gr.Image(format="png", label="Frames", height=120, interactive=False, buttons=["download", "fullscreen"], elem_id="explore-strip", elem_classes=["pixelated"])
                gif = gr.Image(type="filepath", label="Animation (GIF)", height=220, interactive=False, buttons=["download", "fullscreen"], elem_id="explore-gif", elem_classes=["pixelated"])
            mix = panels.build_mixing()
            layer_view = panels.build_layer_view()

    state = ctx.session
    n = explore.NUM_DIRECTIONS
    layer_inputs = [comp for c in controls for comp in (c.preset, c.first, c.last)]
    inputs = [model_dd, seed, label, truncation, method, *sliders, *layer_inputs, library.saved, library.amount, state]
    library_root = catalog.user_dir.parent / "edits"  # beside the user's models (<app_home>/edits)

    def unpack(args):
        model_id, seed_v, label_v, trunc_v, method_v = args[:5]
        coeffs = args[5 : 5 + n]
        flat = args[5 + n : 5 + 4 * n]
        specs = [tuple(flat[3 * k : 3 * k + 3]) for k in range(n)]
        saved_v, amount_v, st = args[5 + 4 * n :]
        model, entry = catalog.load(model_id)
        req = _request(model, model_id, seed_v, label_v, trunc_v, method_v, coeffs, st, specs, saved_v, amount_v, library_root)
        return model, entry, req, st

    # ----- rendering ---------------------------------------------------------------------
    # Every full render also stores what it drew: in `spec` (per session, for the panels) and in the
    # preview registry under the session's key (explorer.ui.previews), which reaches the page in
    # `preview_key` with a serial number. A slider's `input` then runs only JavaScript: it fetches
    # the frame from the preview route, bypassing Gradio's per-event page work (issue 15).
    spec = gr.State(None)
    preview_key = gr.Textbox(visible=False, elem_id="explore-preview-key")
    serial = itertools.count(1)

    def full(*args):
        if not args[0] and not catalog.entries(_is_generator):
            return None, NO_GENERATOR, None, gr.skip()
        model, entry, req, st = unpack(args)
        x = explore.image_for(model, req)
        key = ctx.previews.register(st, args[0], req)
        return render.to_uint8(x), _status(entry, req), {"model": args[0], "request": req}, f"{key}:{next(serial)}"

    render_outputs = [image, status, spec, preview_key]
    full_h = handler(full)
    slow = dict(trigger_mode="always_last", show_progress="hidden", api_visibility="private")
    js_only = dict(show_progress="hidden", queue=False, api_visibility="private")
    for k, s in enumerate(sliders):
        s.input(None, [s, preview_key], None, js=previews.page_script(f"d{k}"), **js_only)
        s.release(full_h, inputs, render_outputs, **slow)
    library.amount.input(None, [library.amount, preview_key], None, js=previews.page_script("saved"), **js_only)
    truncation.input(None, [truncation, preview_key], None, js=previews.page_script("trunc"), **js_only)
    truncation.release(full_h, inputs, render_outputs, **slow)
    # a full render landed: previews still in flight are dropped, its image is shown
    preview_key.change(None, [image, preview_key], None, js=previews.landed_script(), **js_only)
    label.input(full_h, inputs, render_outputs, show_progress="hidden", api_visibility="private")

    # seed edits leave any custom latent: the seed is what the user asked for now
    def on_seed(*args):
        st = dict(args[-1] or {})
        st["custom"] = None
        out = full(*args[:-1], st)
        return (*out, st)

    seed.input(handler(on_seed), inputs, [*render_outputs, state], trigger_mode="always_last", show_progress="hidden", api_visibility="private")
    rand_btn.click(lambda: random.randrange(0, 2**31 - 1), None, seed, api_visibility="private", queue=False).then(
        handler(on_seed), inputs, [*render_outputs, state], show_progress="hidden", api_visibility="private"
    )

    # ----- model / method change: re-layout, reset sliders, render ---------------------------
    # (.success, not .then: a failed re-layout must not render, and raise the same error again)
    def relayout(model_id, method_v, st, label_v=None):
        model, entry = catalog.load(model_id)
        dirs = explore.directions(model, method_v or "pca")
        visible = min(dirs.num_components, n)
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
        if label_v is not None and any(c[1] == label_v for c in classes):
            first = label_v  # a method switch keeps the class the user chose
        upd_label = gr.update(choices=classes, value=first, visible=True) if classes else gr.update(choices=[], value=None, visible=False)
        upd_library = [panels.library_update(sh, model), gr.update(value=0.0), "",
                       gr.update(choices=panels.source_choices(dirs, visible), value=0)]
        upd_views = [*panels.relayout_mixing(model, mix), *panels.relayout_layer_view(model)]
        # a download made from the previous model must not stay offered under its file name
        return [upd_label, *upd_sliders, *panels.relayout_layers(model, controls, visible), *upd_library, *upd_views,
                gr.update(value=None, visible=False)]

    layer_outputs = [comp for c in controls for comp in (c.preset, c.custom, c.first, c.last)]
    model_outputs = [label, *sliders, *layer_outputs, library.saved, library.amount, library.note, library.source,
                     mix.accordion, mix.blocks, layer_view.layer, layer_view.image, layer_view.note, download]

    def on_model(model_id, method_v, st, label_v=None):
        if not model_id:
            return [gr.update() for _ in model_outputs]
        return relayout(model_id, method_v, st, label_v)

    model_dd.change(handler(on_model), [model_dd, method, state], model_outputs, api_visibility="private", show_progress_on=image).success(
        full_h, inputs, render_outputs, show_progress="hidden", api_visibility="private"
    )
    method.change(handler(on_model), [model_dd, method, state, label], model_outputs, api_visibility="private", show_progress_on=image).success(
        full_h, inputs, render_outputs, show_progress="hidden", api_visibility="private"
    )
    reset_btn.click(lambda: [gr.update(value=0.0) for _ in sliders] + [gr.update(value=0.0)], None, [*sliders, library.amount],
                    api_visibility="private", queue=False).then(
        full_h, inputs, render_outputs, show_progress="hidden", api_visibility="private"
    )

    def back_to_seed(*args):
        st = dict(args[-1] or {})
        st["custom"] = None
        return (*full(*args[:-1], st), st)

    back_btn.click(handler(back_to_seed), inputs, [*render_outputs, state], api_visibility="private")

    # ----- grid, interpolation, mixing ---------------------------------------------------
    def show_grid(*args):
        model, _, req, _ = unpack(args)
        return render.grid(explore.sample_grid(model, req, 16), nrow=4)

    grid_btn.click(handler(show_grid), inputs, grid_img, api_visibility="private", **HEAVY)

    def show_interp(seed_b_v, frames_v, how, *args):
        model, entry, req, _ = unpack(args)
        frames = explore.interpolation(model, req, _seed(seed_b_v), int(frames_v), how)
        arrs = [render.to_uint8(f) for f in frames]
        path = render.write_gif(arrs, render.scratch_path(f"{entry.path.stem}-seed{req.seed}-to-{_seed(seed_b_v)}", ".gif"))
        return render.grid(frames, nrow=len(arrs)), str(path)

    interp_btn.click(handler(show_interp), [seed_b, num_frames, interp_method, *inputs], [strip, gif], api_visibility="private", **HEAVY)

    sh = panels.Shared(catalog, inputs, unpack, full_h, render_outputs, download, spec, library_root)
    panels.wire_layer_controls(controls, sh)
    panels.wire_library(library, sh)
    panels.wire_mixing(mix, sh)
    panels.wire_layer_view(layer_view, sh)

    # ----- files -------------------------------------------------------------------------
    def export_png(*args):
        model, entry, req, _ = unpack(args)
        x = explore.edited_latent(model, req)
        img = explore.render(model, x, req.label)
        meta = {
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
        stem = f"{entry.path.stem}-seed{req.seed}" if not req.custom else f"{entry.path.stem}-custom"
        path = save_png(img[0], render.scratch_path(stem, ".png"), meta)
        return gr.update(value=str(path), visible=True)

    export_btn.click(handler(export_png), inputs, download, api_visibility="private")

    def save_latent(*args):
        model, entry, req, _ = unpack(args)
        x = explore.edited_latent(model, req)
        path = render.scratch_path(f"latent-{entry.path.stem}-seed{req.seed}-{explore.space_of(model)}", ".npy")
        path.write_bytes(explore.latent_npy_bytes(model, x))
        return gr.update(value=str(path), visible=True)

    save_latent_btn.click(handler(save_latent), inputs, download, api_visibility="private")

    def load_latent(payload, *args):
        model_id = args[0]
        model, entry = catalog.load(model_id)
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
        fresh[5 : 5 + n] = [0.0] * n
        fresh[-2] = 0.0  # the saved edit's amount
        fresh[-1] = st
        out = full(*fresh)
        return (*out, st, gr.update(value=1.0), *[gr.update(value=0.0) for _ in sliders], gr.update(value=0.0))

    load_latent_btn.upload(
        handler(load_latent), [load_latent_btn, *inputs], [*render_outputs, state, truncation, *sliders, library.amount], preprocess=False, api_visibility="private",
        show_progress_on=image,
    )

    return ExploreTab(
        model=model_dd, seed=seed, label=label, truncation=truncation, method=method, sliders=sliders,
        image=image, status=status, mixing=mix.accordion, mix_blocks=mix.blocks, inputs=inputs,
        render_outputs=render_outputs, model_outputs=model_outputs, on_model=handler(on_model), full=full_h,
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
