"""The Explore tab's widgets, laid out: the controls column and the view column.

:func:`build_controls` and :func:`build_view` create the components inside the caller's Gradio
context and return them; :mod:`explorer.ui.tab_explore` wires their events. The panels beyond the
sliders (layer ranges, edit library, style mixing, layer view) come from
:mod:`explorer.ui.explore_panels`.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from explorer.pipelines import explore
from explorer.ui import explore_panels as panels
from explorer.ui import previews
from explorer.ui.common import AppContext
from explorer.ui.inline_image import InlineImage  # previews travel inside the response (issue 15)
from explorer.ui.previews import SLIDER_RANGE
from explorer.zoo import ModelEntry

METHODS = [("PCA (GANSpace)", "pca"), ("SeFa (closed form)", "sefa")]


def is_generator(e: ModelEntry) -> bool:
    return e.can_generate


@dataclass
class Controls:
    """The left column: what the image is made from."""

    model: gr.Dropdown
    seed: gr.Number
    random: gr.Button
    label: gr.Dropdown
    truncation: gr.Slider
    method: gr.Radio
    sliders: list[gr.Slider]
    layers: list[panels.LayerControl]  # one per slider: which style layers it moves (StyleGAN)
    reset: gr.Button
    library: panels.LibraryPanel


def build_controls(ctx: AppContext) -> Controls:
    with gr.Column(scale=4, min_width=320, elem_id="explore-controls"):
        model_dd = ctx.picker(is_generator, label="Generator", elem_id="explore-model")
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
                        controls.append(panels.build_layer_control(k))
        reset_btn = gr.Button("Reset sliders", size="sm", elem_id="explore-reset")
        library = panels.build_library(SLIDER_RANGE)
    return Controls(model_dd, seed, rand_btn, label, truncation, method, sliders, controls, reset_btn, library)


@dataclass
class View:
    """The right column: the image, its files, and the panels that show more than one image."""

    image: InlineImage
    status: gr.Markdown
    export: gr.Button
    save_latent: gr.Button
    load_latent: gr.UploadButton
    back: gr.Button
    download: gr.File
    grid_btn: gr.Button
    grid: gr.Image
    seed_b: gr.Number
    num_frames: gr.Slider
    interp_method: gr.Radio
    interp_btn: gr.Button
    strip: gr.Image
    gif: gr.Image
    mix: panels.MixPanel
    layer_view: panels.LayerView


def build_view() -> View:
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
    return View(image, status, export_btn, save_latent_btn, load_latent_btn, back_btn, download, grid_btn, grid_img, seed_b,
                num_frames, interp_method, interp_btn, strip, gif, mix, layer_view)
