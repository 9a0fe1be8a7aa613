"""Discriminator tab: what a model's discriminator thinks.

* score an upload (logit and P(real)); PatchGAN models also show the per-patch map as a heat-map
  over the image (red = "fake", blue = "real");
* score generated images (one per seed) in a captioned gallery;
* histograms of the scores on training, held-out real and generated images, with a sentence
  reading them (the train/held-out gap is the overfitting alarm) — :mod:`explorer.pipelines.score`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gradio as gr
import numpy as np
import torch

from explorer.errors import ExplorerError
from explorer.latent import latents_from_seeds, parse_seeds
from explorer.pipelines import score as scoring
from explorer.ui import render
from explorer.ui.common import HEAVY, AppContext, handler, read_upload_image
from explorer.ui.modelinfo import class_choices, md_text


def _p(logit: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, logit))))


@dataclass
class _Widgets:
    model: gr.Dropdown
    domain: gr.Radio
    klass: gr.Dropdown
    upload: gr.Image
    judged: gr.Image
    score_btn: gr.Button
    verdict: gr.Markdown
    seeds: gr.Textbox
    gen_btn: gr.Button
    gallery: gr.Gallery
    gen_note: gr.Markdown
    num: gr.Slider
    hist_btn: gr.Button
    hist: gr.LinePlot
    hist_text: gr.Markdown


def _layout(ctx: AppContext) -> _Widgets:
    gr.Markdown("A discriminator outputs a logit per image: higher means *looks real to me*; P(real) = sigmoid(logit).")
    with gr.Row():
        model_dd = ctx.picker(lambda e: e.has_discriminator, label="Model", elem_id="disc-model", scale=3)
        domain = gr.Radio([("Domain A", "A"), ("Domain B", "B")], value="A", label="Discriminator", visible=False, elem_id="disc-domain", scale=1)
        klass = gr.Dropdown(choices=[], value=None, label="Class (conditional discriminator)", visible=False, interactive=True, elem_id="disc-class", scale=1)
    with gr.Tabs(elem_id="disc-tabs", overflow_behavior="wrap"):
        with gr.Tab("Upload"):
            with gr.Row(equal_height=False):
                up = gr.Image(type="filepath", image_mode=None, sources=["upload", "clipboard"], label="Image to judge", height=240, elem_id="disc-upload", elem_classes=["pixelated"])
                judged = gr.Image(format="png", label="As judged (heat-map: red = fake, blue = real)", height=240, interactive=False, buttons=["download", "fullscreen"], elem_id="disc-judged", elem_classes=["pixelated"])
            score_btn = gr.Button("Score upload", variant="primary", elem_id="disc-score-btn")
            verdict = gr.Markdown(elem_id="disc-verdict", elem_classes=["verdict"])
        with gr.Tab("Generated"):
            with gr.Row():
                seeds = gr.Textbox(value="0-7", label="Seeds", info="e.g. 0-7 or 1,5,9", elem_id="disc-seeds")
                gen_btn = gr.Button("Generate and score", elem_id="disc-gen-btn")
            gallery = gr.Gallery(label="Generated images with their scores", columns=8, height=260, format="png", elem_id="disc-gallery", elem_classes=["pixelated"], buttons=["download", "fullscreen"])
            gen_note = gr.Markdown(elem_id="disc-gen-note")

    gr.Markdown("### Training vs held-out vs generated")
    with gr.Row():
        num = gr.Slider(64, 1024, value=256, step=64, label="Images per set", elem_id="disc-num")
        hist_btn = gr.Button("Compare score distributions", variant="primary", elem_id="disc-hist-btn")
    hist = gr.LinePlot(x="D score (logit)", y="share of images", color="set", label="D-score histograms", height=300, x_label_angle=-40, elem_id="disc-hist",
                       color_map={"training": "#4f46e5", "held-out real": "#0ea5e9", "generated": "#f97316"})
    hist_text = gr.Markdown(elem_id="disc-hist-text")
    return _Widgets(model_dd, domain, klass, up, judged, score_btn, verdict, seeds, gen_btn, gallery, gen_note, num, hist_btn,
                    hist, hist_text)


def build(ctx: AppContext) -> None:
    w = _layout(ctx)
    _wire_model(ctx, w)
    _wire_scoring(ctx.catalog, w)


def _wire_model(ctx: AppContext, w: _Widgets) -> None:
    """A model change re-lays out the domain and class pickers and clears the last model's results."""
    catalog = ctx.catalog

    def on_model(model_id):
        # Results of the previous model go: a gallery or histogram under another model's name would lie.
        cleared = (None, "", [], "", None, "")
        if not model_id:
            return (gr.update(visible=False), gr.update(visible=False), gr.update(interactive=False), *cleared)
        model, entry = catalog.load(model_id)
        is_cyc = bool(entry.caps.domains)
        classes = class_choices(model, entry) if model.num_classes else []
        gen = (gr.update(interactive=True, value="Generate and score") if entry.can_generate
               else gr.update(interactive=False, value="Generate and score (this model does not generate)"))
        return (gr.update(visible=is_cyc, value="A"),
                gr.update(choices=classes, value=classes[0][1], visible=True) if classes else gr.update(choices=[], value=None, visible=False),
                gen, *cleared)

    model_outputs = [w.domain, w.klass, w.gen_btn, w.judged, w.verdict, w.gallery, w.gen_note, w.hist, w.hist_text]
    w.model.change(handler(on_model), w.model, model_outputs, api_visibility="private", show_progress="hidden")

    def open_on_a_generator(model_id):
        """A page opens on a model whose every section works: one that also generates, if any."""
        if model_id and catalog.resolve(model_id).can_generate:
            return gr.skip()
        ids = [e.id for e in catalog.entries(lambda e: e.has_discriminator and e.can_generate)]
        return ids[0] if ids else gr.skip()

    ctx.on_page_load.append((handler(on_model), [w.model], model_outputs))
    ctx.on_page_load.append((handler(open_on_a_generator), [w.model], [w.model]))


def _labels_for(model, klass_v, n):
    return torch.full((n,), int(klass_v or 0), dtype=torch.long) if model.num_classes else None


def _verdict(model, result) -> tuple[np.ndarray, str]:
    """The image as judged (with the patch heat-map when there is one) and the sentence under it."""
    logit = result.logit  # the input was prepared as training prepared real images: same pixels
    arr = render.to_uint8(result.shown[0])
    lines = [f"**D logit {logit:+.3f} → P(real) = {_p(logit):.1%}**"]
    if result.patch_map is not None:
        overlay, _ = insights_overlay(arr, result.patch_map)
        pm = result.patch_map
        lines.append(f"{pm.shape[0]}×{pm.shape[1]} patches; each sees a 70×70 window. Least real patch P = {_p(float(pm.min())):.1%}, most real {_p(float(pm.max())):.1%}.")
        shown = overlay
    else:
        shown = arr
    if model.fixed_size_discriminator:
        lines.append(f"The upload was prepared as the training images were: shorter side resized to {model.resolution}, centre-cropped to {model.resolution}×{model.resolution}.")
    return shown, "  \n".join(lines)


def _wire_scoring(catalog, w: _Widgets) -> None:
    def score_upload(model_id, dom, klass_v, payload):
        model, entry = catalog.load(model_id)
        dom = dom if entry.caps.domains else None
        img = read_upload_image(payload, "RGB", "an image to judge")
        result = scoring.score_image(model, img, dom, int(klass_v or 0) if model.num_classes else None)
        return _verdict(model, result)

    w.score_btn.click(handler(score_upload), [w.model, w.domain, w.klass, w.upload], [w.judged, w.verdict], preprocess=False, api_visibility="private", concurrency_id="render")
    w.upload.upload(handler(score_upload), [w.model, w.domain, w.klass, w.upload], [w.judged, w.verdict], preprocess=False, api_visibility="private", concurrency_id="render")

    def score_generated(model_id, klass_v, seeds_v):
        model, entry = catalog.load(model_id)
        if not entry.can_generate:
            raise ExplorerError(f"{entry.name} does not generate from latents; use the histogram below (it compares its translations)")
        seed_list = parse_seeds(seeds_v or "0", max_count=32)
        z = latents_from_seeds(model, seed_list)
        lab = _labels_for(model, klass_v, len(seed_list))
        with torch.no_grad():
            x = model.generate(z, lab)
            scores = [float(s) for s in torch.cat([model.discriminate(x[i : i + 1], labels=None if lab is None else lab[i : i + 1]).scores for i in range(len(x))])]
        items = [(render.to_uint8(x[i]), f"seed {s}: {sc:+.2f} (P {_p(sc):.0%})") for i, (s, sc) in enumerate(zip(seed_list, scores))]
        mean = float(np.mean(scores))
        return items, f"Mean logit {mean:+.2f} (P(real) {_p(mean):.0%}) over {len(scores)} images, each scored alone."

    w.gen_btn.click(handler(score_generated), [w.model, w.klass, w.seeds], [w.gallery, w.gen_note], api_visibility="private", concurrency_id="render")

    def compare(model_id, dom, num_v, progress=gr.Progress()):
        model, entry = catalog.load(model_id)
        progress(0.1, desc="scoring training, held-out and generated images")
        sets = scoring.score_sets(model, entry, num=int(num_v), domain=dom if entry.caps.domains else None)
        text, _ = scoring.overfitting_verdict(sets.scores)
        head = f"Data: **{md_text(sets.dataset)}**, {int(num_v)} images per set. {sets.note}"
        return scoring.histogram_frame(sets.scores), head + "\n\n" + text

    w.hist_btn.click(handler(compare), [w.model, w.domain, w.num], [w.hist, w.hist_text], api_visibility="private", **HEAVY)


def insights_overlay(arr: np.ndarray, patch_map: torch.Tensor):
    """Heat-map of a patch map over the judged image, enlarged so the patches are visible."""
    big = render.upscale_nearest(arr, 256)
    return render.heatmap_overlay(big, patch_map)
