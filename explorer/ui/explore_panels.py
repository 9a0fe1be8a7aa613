"""Explore tab panels beyond the sliders: per-slider layer ranges, the edit library, style mixing
(A, B and the mix) and the layer view (feature maps).

Each ``build_*`` lays out its components inside the caller's current Gradio context and returns
them; each ``wire_*`` connects their events, given the tab's shared pieces (:class:`Shared`).
The engine lives in gradio-free modules: :mod:`explorer.edits`, :mod:`explorer.ui.layerviews`,
:mod:`explorer.pipelines.explore`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import gradio as gr

from explorer import edits
from explorer.errors import ExplorerError
from explorer.pipelines import explore
from explorer.ui import layerviews, render
from explorer.ui.common import handler, upload_name, upload_path
from explorer.ui.modelinfo import md_text
from explorer.zoo import safe_stem

ALL, CUSTOM = "all", "custom"
NO_LAYER_CONTROL = "Whole-latent edits: this model has no per-layer styles."


@dataclass
class Shared:
    """What the panels need from the tab."""

    catalog: Any
    inputs: list  # the tab's render inputs (model, seed, …, state)
    unpack: Callable  # args -> (model, entry, request, session)
    full: Callable  # handler-wrapped full render: *inputs -> render outputs
    render_outputs: list
    download: gr.File
    spec: gr.State
    library_root: Any  # folder of the edit library


# ----- per-slider layer ranges ------------------------------------------------------------
@dataclass
class LayerControl:
    preset: gr.Dropdown
    custom: gr.Row
    first: gr.Number
    last: gr.Number


def build_layer_control(k: int) -> LayerControl:
    preset = gr.Dropdown(choices=[("all layers", ALL)], value=ALL, label=f"Layers (direction {k + 1})", show_label=False,
                         container=False, visible=False, interactive=True, elem_id=f"explore-layers-{k}", min_width=120)
    with gr.Row(visible=False, elem_id=f"explore-layers-{k}-custom") as row:
        first = gr.Number(value=0, precision=0, minimum=0, label="from", elem_id=f"explore-layers-{k}-from", min_width=60)
        last = gr.Number(value=0, precision=0, minimum=0, label="to", elem_id=f"explore-layers-{k}-to", min_width=60)
    return LayerControl(preset, row, first, last)


def layer_choices(model) -> list[tuple[str, str]]:
    presets = edits.layer_presets(model)
    return [("all layers", ALL), *((f"{name} · {edits.range_label(model, rng)}", name) for name, rng in presets.items()),
            ("custom range…", CUSTOM)]


def layer_range(model, preset: str | None, first: Any, last: Any) -> tuple[int, int] | None:
    """The inclusive style range a slider's layer controls ask for (None = every layer / no styles)."""
    if not edits.num_styles(model) or preset in (None, "", ALL):
        return None
    if preset == CUSTOM:
        return edits.check_range(model, (first if first is not None else 0, last if last is not None else 0))
    presets = edits.layer_presets(model)
    if preset not in presets:
        raise ExplorerError(f"unknown layer preset {preset!r}")
    return edits.check_range(model, presets[preset])


def relayout_layers(model, controls: list[LayerControl], num_visible: int) -> list:
    """Updates for every control's (preset, custom row, first, last) after a model/method change."""
    n = edits.num_styles(model)
    out = []
    for k, _ in enumerate(controls):
        show = bool(n) and k < num_visible
        out += [gr.update(choices=layer_choices(model) if n else [("all layers", ALL)], value=ALL, visible=show),
                gr.update(visible=False),
                gr.update(value=0, maximum=max(n - 1, 0)), gr.update(value=max(n - 1, 0), maximum=max(n - 1, 0))]
    return out


def wire_layer_controls(controls: list[LayerControl], sh: Shared) -> None:
    for c in controls:
        c.preset.input(lambda v: gr.update(visible=v == CUSTOM), c.preset, c.custom, queue=False, api_visibility="private").then(
            sh.full, sh.inputs, sh.render_outputs, show_progress="hidden", api_visibility="private")
        for num in (c.first, c.last):
            num.input(sh.full, sh.inputs, sh.render_outputs, trigger_mode="always_last", show_progress="hidden", api_visibility="private")


# ----- the edit library --------------------------------------------------------------------
@dataclass
class LibraryPanel:
    saved: gr.Dropdown
    amount: gr.Slider
    name: gr.Textbox
    source: gr.Dropdown
    save_btn: gr.Button
    delete_btn: gr.Button
    export_btn: gr.Button
    import_btn: gr.UploadButton
    note: gr.Markdown


def build_library(slider_range: float) -> LibraryPanel:
    with gr.Accordion("Edit library", open=False, elem_id="explore-library"):
        gr.Markdown("Name a direction with its layer range and strength, keep it for this model, use it again here, "
                    "share it as JSON or apply it to many seeds: `gan-explorer edit MODEL --edit NAME --seeds 0-7 --out DIR`.")
        with gr.Row():
            saved = gr.Dropdown(choices=[], value=None, label="Saved edit", interactive=True, elem_id="explore-saved", min_width=160)
            amount = gr.Slider(-slider_range, slider_range, value=0.0, step=0.05, label="Amount (std)", elem_id="explore-saved-amount", min_width=160)
        with gr.Row():
            name = gr.Textbox(label="Name", placeholder="e.g. smile (coarse)", max_length=edits.MAX_NAME_LENGTH, elem_id="explore-edit-name", min_width=140)
            source = gr.Dropdown(choices=[], value=None, label="From slider", interactive=True, elem_id="explore-edit-source", min_width=140)
        with gr.Row():
            save_btn = gr.Button("Save edit", size="sm", elem_id="explore-edit-save", min_width=90)
            delete_btn = gr.Button("Delete", size="sm", elem_id="explore-edit-delete", min_width=80)
            export_btn = gr.Button("Export JSON", size="sm", elem_id="explore-edit-export", min_width=100)
            import_btn = gr.UploadButton("Import JSON", file_types=[".json"], size="sm", elem_id="explore-edit-import", min_width=100)
        note = gr.Markdown(elem_id="explore-library-note")
    return LibraryPanel(saved, amount, name, source, save_btn, delete_btn, export_btn, import_btn, note)


def _edit_note(model, e: edits.Edit, verb: str) -> str:
    where = edits.range_label(model, e.layers) if e.layers else "all layers"
    src = e.source or {}
    origin = f" · from {str(src.get('method', '')).upper()} {int(src['index']) + 1}" if isinstance(src.get("index"), int) else ""
    return f"{verb} **{md_text(e.name)}**: strength {e.strength:+.2f} std · {where}{origin}"


def library_update(sh: Shared, model, select: str | None = None) -> dict:
    names = [e.name for e in edits.EditLibrary(sh.library_root).list(model)]
    return gr.update(choices=names, value=select if select in names else None)


def source_choices(dirs, visible: int) -> list[tuple[str, int]]:
    name = "PC" if dirs.method == "pca" else "SeFa"
    return [(f"{name} {k + 1}", k) for k in range(visible)]


def wire_library(p: LibraryPanel, sh: Shared) -> None:
    lib = lambda: edits.EditLibrary(sh.library_root)  # noqa: E731 - read the folder on each call

    def pick_edit(name, *args):
        model, _, _, _ = sh.unpack(args)
        if not name:
            return gr.update(value=0.0), ""
        e = lib().get(model, name)
        return gr.update(value=e.strength), _edit_note(model, e, "Using")

    p.saved.input(handler(pick_edit), [p.saved, *sh.inputs], [p.amount, p.note], api_visibility="private").success(
        sh.full, sh.inputs, sh.render_outputs, show_progress="hidden", api_visibility="private")
    p.amount.release(sh.full, sh.inputs, sh.render_outputs, trigger_mode="always_last", show_progress="hidden", api_visibility="private")

    def save_edit(name, k, *args):
        model, entry, req, _ = sh.unpack(args)
        if k is None:
            raise ExplorerError("choose the slider the edit comes from")
        k = int(k)
        strength = req.coefficients[k] if k < len(req.coefficients) else 0.0
        if not strength:
            raise ExplorerError(f"move slider {k + 1} first: its position becomes the edit's strength")
        rng = req.layers[k] if k < len(req.layers) else None
        e = edits.edit_from_direction(model, explore.directions(model, req.method), k, name, strength, rng, entry.name)
        lib().save(model, e)
        return library_update(sh, model, None), _edit_note(model, e, "Saved") + " — pick it under *Saved edit* to apply it"

    p.save_btn.click(handler(save_edit), [p.name, p.source, *sh.inputs], [p.saved, p.note], api_visibility="private")

    def delete_edit(name, *args):
        model, _, _, _ = sh.unpack(args)
        if not name:
            raise ExplorerError("choose a saved edit to delete")
        lib().delete(model, name)
        return library_update(sh, model), gr.update(value=0.0), f"Deleted **{md_text(name)}**."

    p.delete_btn.click(handler(delete_edit), [p.saved, *sh.inputs], [p.saved, p.amount, p.note], api_visibility="private").success(
        sh.full, sh.inputs, sh.render_outputs, show_progress="hidden", api_visibility="private")

    def export_edit(name, *args):
        model, _, _, _ = sh.unpack(args)
        if not name:
            raise ExplorerError("choose a saved edit to export")
        e = lib().get(model, name)
        path = render.scratch_path(f"edit-{safe_stem(e.name, 'edit')}", ".json")
        path.write_bytes(edits.edit_to_json(e))
        return gr.update(value=str(path), visible=True)

    p.export_btn.click(handler(export_edit), [p.saved, *sh.inputs], sh.download, api_visibility="private")

    def import_edit(payload, *args):
        model, _, _, _ = sh.unpack(args)
        path = upload_path(payload)
        if path is None:
            raise ExplorerError("choose a .json edit file")
        origin = upload_name(payload)
        if path.stat().st_size > edits.MAX_EDIT_FILE_BYTES:
            raise ExplorerError(f"{origin} is too large for an edit file (at most {edits.MAX_EDIT_FILE_BYTES // 1024} KB)")
        e = edits.check_fits(model, edits.parse_edit_json(path.read_bytes(), origin))
        lib().save(model, e)
        return library_update(sh, model, e.name), gr.update(value=e.strength), _edit_note(model, e, "Imported")

    p.import_btn.upload(handler(import_edit), [p.import_btn, *sh.inputs], [p.saved, p.amount, p.note], preprocess=False,
                        api_visibility="private").success(sh.full, sh.inputs, sh.render_outputs, show_progress="hidden", api_visibility="private")


# ----- style mixing: A, B and the mix ----------------------------------------------------
@dataclass
class MixPanel:
    accordion: gr.Accordion
    seed_b: gr.Number
    blocks: gr.CheckboxGroup
    noise: gr.Radio
    noise_seed: gr.Number
    button: gr.Button
    images: list  # [A, B, mix]


def build_mixing() -> MixPanel:
    with gr.Accordion("Style mixing (StyleGAN)", open=False, visible=False, elem_id="explore-mixing") as acc:
        gr.Markdown("A is the current image, B the image of seed B (same class and ψ). The ticked blocks of the mix take B's styles, "
                    "the others A's: coarse blocks carry pose and shape, fine ones colour and texture.")
        with gr.Row():
            seed_b = gr.Number(value=7, precision=0, minimum=0, maximum=2**31 - 1, label="Seed B", elem_id="explore-mix-seed", min_width=100)
            noise = gr.Radio([("frozen", "frozen"), ("resampled", "resampled")], value="frozen", label="Noise inputs", elem_id="explore-mix-noise", min_width=160)
            noise_seed = gr.Number(value=0, precision=0, minimum=0, maximum=2**31 - 1, label="Noise seed", visible=False, elem_id="explore-mix-noise-seed", min_width=100)
        blocks = gr.CheckboxGroup(choices=[], value=[], label="Blocks that take B's styles", elem_id="explore-mix-blocks")
        button = gr.Button("Mix", size="sm", elem_id="explore-mix-btn")
        with gr.Row(elem_id="explore-mix-row"):
            # short labels and one button on A and B: three images share a phone's width
            kw = dict(format="png", height=180, interactive=False, elem_classes=["pixelated"], min_width=90)
            images = [gr.Image(label="A", buttons=["fullscreen"], elem_id="explore-mix-a", **kw),
                      gr.Image(label="B", buttons=["fullscreen"], elem_id="explore-mix-b", **kw),
                      gr.Image(label="Mix", buttons=["download"], elem_id="explore-mix", **kw)]
    return MixPanel(acc, seed_b, blocks, noise, noise_seed, button, images)


def relayout_mixing(model, panel: MixPanel) -> list:
    """Updates for (accordion, blocks) after a model change; fine blocks (≥ 16 px) ticked by default."""
    if not hasattr(model, "style_blocks"):
        return [gr.update(visible=False), gr.update(choices=[], value=[])]
    choices = layerviews.block_choices(model)
    return [gr.update(visible=True), gr.update(choices=choices, value=[res for _, res in choices if res >= 16])]


def wire_mixing(p: MixPanel, sh: Shared) -> None:
    def show_mix_view(seed_b, blocks, noise, noise_seed, *args):
        model, _, req, _ = sh.unpack(args)
        seed_b = int(seed_b if seed_b is not None else 0)
        a, b, m = layerviews.mix_view(model, req, seed_b, blocks or [], noise or "frozen", int(noise_seed or 0))
        return render.to_uint8(a), render.to_uint8(b), render.to_uint8(m)

    ins = [p.seed_b, p.blocks, p.noise, p.noise_seed, *sh.inputs]
    p.button.click(handler(show_mix_view), ins, p.images, api_visibility="private")
    p.blocks.input(handler(show_mix_view), ins, p.images, trigger_mode="always_last", show_progress="hidden", api_visibility="private")
    p.noise.input(lambda v: gr.update(visible=v == "resampled"), p.noise, p.noise_seed, queue=False, api_visibility="private").then(
        handler(show_mix_view), ins, p.images, show_progress="hidden", api_visibility="private")
    p.noise_seed.input(handler(show_mix_view), ins, p.images, trigger_mode="always_last", show_progress="hidden", api_visibility="private")


# ----- layer view --------------------------------------------------------------------------
@dataclass
class LayerView:
    accordion: gr.Accordion
    layer: gr.Dropdown
    channels: gr.Slider
    image: gr.Image
    note: gr.Markdown
    opened: gr.State  # renders update the view only while it is open (it costs a forward pass)


def build_layer_view() -> LayerView:
    with gr.Accordion("Layer view (feature maps)", open=False, elem_id="explore-layerview") as acc:
        with gr.Row():
            layer = gr.Dropdown(choices=[], value=None, label="Generator layer", interactive=True, elem_id="explore-layer", min_width=180)
            channels = gr.Slider(4, 64, value=16, step=4, label="Channels shown", elem_id="explore-layer-k", min_width=140)
        image = gr.Image(format="png", label="Top channels by activation energy (#channel)", show_label=False, height=360, interactive=False,
                         buttons=["download", "fullscreen"], elem_id="explore-fmaps", elem_classes=["pixelated"])
        note = gr.Markdown(elem_id="explore-fmaps-note")
    return LayerView(acc, layer, channels, image, note, gr.State(False))


def relayout_layer_view(model) -> list:
    """Updates for (layer dropdown, image, note) after a model change: the middle layer chosen."""
    choices = layerviews.layer_choices(model)
    return [gr.update(choices=choices, value=choices[len(choices) // 2][1]), gr.update(value=None), ""]


def wire_layer_view(v: LayerView, sh: Shared) -> None:
    def show_feature_maps(layer, k, spec_v, opened):
        if not opened or not spec_v or not layer:
            return gr.skip(), gr.skip()
        model, _ = sh.catalog.load(spec_v["model"])
        return layerviews.feature_view(model, spec_v["request"], layer, int(k or 16))

    ins = [v.layer, v.channels, sh.spec, v.opened]
    outs = [v.image, v.note]
    opts = dict(trigger_mode="always_last", show_progress="hidden", api_visibility="private")
    v.layer.input(handler(show_feature_maps), ins, outs, **opts)
    v.channels.release(handler(show_feature_maps), ins, outs, **opts)
    v.accordion.expand(lambda: True, None, v.opened, queue=False, api_visibility="private").then(handler(show_feature_maps), ins, outs, **opts)
    v.accordion.collapse(lambda: False, None, v.opened, queue=False, api_visibility="private")
    # updated with the image: every full render stores what it drew in `spec`
    sh.spec.change(handler(show_feature_maps), ins, outs, **opts)
