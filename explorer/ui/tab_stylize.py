"""Stylize tab: image-to-image with the shipped models, and inversion of an upload into a generator.

* CycleGAN: the upload read as domain A → B, and as domain B → A, side by side.
* Super-resolution with any upscaler in the catalog (shipped, imported from TensorFlow.js, trained),
  at the model's own scale (×2/×3/×4/×8), next to bicubic; optionally shrinking the upload first so
  both are scored against the original by PSNR (:func:`explorer.superres.compare`).
* Inversion (:mod:`explorer.pipelines.invert`): optimise z or w until the generator reproduces the
  upload; the result goes into the session, and "Edit in Explore" opens it under the sliders.

Uploads are decoded by :func:`explorer.images.load_image` (caps, any mode) via
``preprocess=False`` events; sample images come from ``assets/samples``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from explorer import superres
from explorer.data.dataset import prepare_image
from explorer.errors import ExplorerError
from explorer.pipelines import translate as translate_pipeline
from explorer.pipelines.invert import invert
from explorer.ui import render
from explorer.ui.common import HEAVY, AppContext, handler, read_upload_image, upload_name
from explorer.ui.jobs import StageClock
from explorer.ui.modelinfo import class_choices, dataset_name
from explorer.zoo import ModelEntry

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets" / "samples"
#: longest side an upload is translated/upscaled at in the app (the CLI has no such cap)
MAX_SIDE_TRANSLATE, MAX_SIDE_UPSCALE = translate_pipeline.MAX_SIDE_TRANSLATE, translate_pipeline.MAX_SIDE_UPSCALE


def sample_images(datasets: set[str] | None = None) -> list[str]:
    """Paths of the sample images under ``assets/samples`` (may be empty in an installed package).

    ``datasets``: keep only samples of these data sets (a sample's name starts with its data set,
    ``<dataset>_<...>.png``), so a section offers what its models were trained on.
    """
    if not SAMPLES_DIR.is_dir():
        return []
    paths = sorted(SAMPLES_DIR.glob("*.png"))
    if datasets is not None:
        paths = [p for p in paths if p.stem.split("_")[0] in datasets]
    return [str(p) for p in paths]


def _datasets_of(catalog, predicate) -> set[str]:
    """Data sets (both domains of two-domain models) the catalog's models matching ``predicate`` learned."""
    names = set()
    for e in catalog.entries(predicate):
        names.update(d for d in (dataset_name(e.meta, "A"), dataset_name(e.meta, "B"), dataset_name(e.meta)) if d)
    return names


@dataclass
class StylizeTab:
    inversion_model: gr.Dropdown
    inverted: object  # the "Edit in Explore" click dependency (app.py chains the tab switch to it)


def _translates(e: ModelEntry) -> bool:
    return bool(e.caps.domains) and (e.translates("AtoB") or e.translates("BtoA"))


#: the upscaler the tab starts on when it ships: the general model is best on every held-out kind (photos, both
#: emoji styles, digits, clothes); the emoji one, first in name order, only suits Noto emoji on white
DEFAULT_UPSCALER = "shipped:srgan_general"


def _upscales(e: ModelEntry) -> bool:
    return e.upscales


def _can_generate(e: ModelEntry) -> bool:
    return e.can_generate


def build(ctx: AppContext) -> StylizeTab:
    """The three sub-tabs (call inside a ``gr.Tabs``), each laid out and then wired."""
    _build_translate(ctx)
    _build_superres(ctx)
    return _build_inversion(ctx)


# ----- CycleGAN --------------------------------------------------------------------------
def _build_translate(ctx: AppContext) -> None:
    catalog = ctx.catalog
    with gr.Tab("Translate (CycleGAN)", elem_id="stylize-tab-translate"):
        gr.Markdown("The upload is read once as a domain-A image (→ B) and once as a domain-B image (→ A).")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=240):
                cyc_model = ctx.picker(_translates, label="Translator", elem_id="stylize-cyc-model")
                cyc_in = gr.Image(type="filepath", image_mode=None, sources=["upload", "clipboard"], label="Image", height=220, elem_id="stylize-cyc-input", elem_classes=["pixelated"])
                if samples := sample_images(_datasets_of(catalog, _translates)):
                    gr.Examples(samples, inputs=cyc_in, label="Samples (assets/samples)", examples_per_page=12, api_visibility="private", elem_id="stylize-cyc-examples")
                cyc_btn = gr.Button("Translate", variant="primary", elem_id="stylize-cyc-btn")
            with gr.Column(scale=3, min_width=300):
                with gr.Row():
                    a2b = gr.Image(format="png", label="A → B", height=240, interactive=False, buttons=["download", "fullscreen"], elem_id="stylize-a2b", elem_classes=["pixelated"])
                    b2a = gr.Image(format="png", label="B → A", height=240, interactive=False, buttons=["download", "fullscreen"], elem_id="stylize-b2a", elem_classes=["pixelated"])
                cyc_note = gr.Markdown(elem_id="stylize-cyc-note")

    def translate(model_id, payload):
        model, entry = catalog.load(model_id)
        outs, notes = [], []
        for direction in ("AtoB", "BtoA"):
            if not entry.translates(direction):
                outs.append(None)
                notes.append(f"{direction}: this model has no generator for it (imported from one file?)")
                continue
            img = read_upload_image(payload, translate_pipeline.input_mode(model, direction))
            img = translate_pipeline.prepare(model, img, direction)  # shorter side = the training size
            outs.append(render.to_uint8(translate_pipeline.run(model, img, direction)))
        note = f"Translated at {img.size[0]}×{img.size[1]} px (shorter side = the model's training size)."
        return (*outs, " ".join([note] + notes))

    trans_h = handler(translate)
    cyc_btn.click(trans_h, [cyc_model, cyc_in], [a2b, b2a, cyc_note], preprocess=False, **HEAVY, api_visibility="private")
    cyc_in.upload(trans_h, [cyc_model, cyc_in], [a2b, b2a, cyc_note], preprocess=False, **HEAVY, api_visibility="private")


# ----- super-resolution ------------------------------------------------------------------
def _build_superres(ctx: AppContext) -> None:
    catalog = ctx.catalog
    with gr.Tab("Super-resolution", elem_id="stylize-tab-sr"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=240):
                sr_model = ctx.picker(_upscales, label="Upscaler", elem_id="stylize-sr-model", prefer=DEFAULT_UPSCALER)
                sr_in = gr.Image(type="filepath", image_mode=None, sources=["upload", "clipboard"], label="Image", height=220, elem_id="stylize-sr-input", elem_classes=["pixelated"])
                if samples := sample_images(_datasets_of(catalog, _upscales)):
                    gr.Examples(samples, inputs=sr_in, label="Samples", examples_per_page=12, api_visibility="private", elem_id="stylize-sr-examples")
                shrink = gr.Checkbox(value=True, label="Shrink the upload by the model's scale first and compare with the original", elem_id="stylize-sr-shrink")
                sr_btn = gr.Button("Upscale", variant="primary", elem_id="stylize-sr-btn")
            with gr.Column(scale=3, min_width=300):
                with gr.Row():
                    bicubic = gr.Image(format="png", label="Bicubic", height=240, interactive=False, buttons=["download", "fullscreen"], elem_id="stylize-bicubic", elem_classes=["pixelated"])
                    sr_out = gr.Image(format="png", label="Model", height=240, interactive=False, buttons=["download", "fullscreen"], elem_id="stylize-sr", elem_classes=["pixelated"])
                    original = gr.Image(format="png", label="Original", height=240, interactive=False, buttons=["download", "fullscreen"], elem_id="stylize-original", elem_classes=["pixelated"])
                sr_note = gr.Markdown(elem_id="stylize-sr-note")

    def upscale(model_id, payload, shrink_first):
        model, entry = catalog.load(model_id)
        img = read_upload_image(payload, translate_pipeline.input_mode(model, model.directions[0]))
        result = superres.compare(model, img, shrink_first=bool(shrink_first), max_side=MAX_SIDE_UPSCALE)
        s = result.scale
        return (gr.update(value=result.bicubic, label=f"Bicubic ×{s}"), gr.update(value=result.output, label=f"Model ×{s}"),
                result.reference, result.summary())

    up_h = handler(upscale)
    sr_btn.click(up_h, [sr_model, sr_in, shrink], [bicubic, sr_out, original, sr_note], preprocess=False, **HEAVY, api_visibility="private")
    sr_in.upload(up_h, [sr_model, sr_in, shrink], [bicubic, sr_out, original, sr_note], preprocess=False, **HEAVY, api_visibility="private")


# ----- inversion -------------------------------------------------------------------------
@dataclass
class _InversionPanel:
    model: gr.Dropdown
    upload: gr.Image
    label: gr.Dropdown
    space: gr.Radio
    steps: gr.Slider
    use_feats: gr.Checkbox
    button: gr.Button
    target: gr.Image
    output: gr.Image
    note: gr.Markdown
    to_explore: gr.Button


def _inversion_layout(ctx: AppContext) -> _InversionPanel:
    with gr.Tab("Invert into a generator", elem_id="stylize-tab-invert"):
        gr.Markdown("Find the latent whose image looks most like the upload, then edit it with the Explore sliders.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=240):
                inv_model = ctx.picker(_can_generate, label="Generator", elem_id="stylize-inv-model")
                inv_in = gr.Image(type="filepath", image_mode=None, sources=["upload", "clipboard"], label="Image", height=220, elem_id="stylize-inv-input", elem_classes=["pixelated"])
                if samples := sample_images(_datasets_of(ctx.catalog, _can_generate)):
                    gr.Examples(samples, inputs=inv_in, label="Samples", examples_per_page=12, api_visibility="private", elem_id="stylize-inv-examples")
                inv_class = gr.Dropdown(choices=[], value=None, label="Class", visible=False, interactive=True, elem_id="stylize-inv-class")
                with gr.Row():
                    inv_space = gr.Radio([("z", "z"), ("w (StyleGAN)", "w")], value="z", label="Latent space", elem_id="stylize-inv-space")
                    inv_steps = gr.Slider(20, 1000, value=200, step=10, label="Steps", elem_id="stylize-inv-steps")
                use_feats = gr.Checkbox(value=True, label="Add a classifier-feature loss", visible=False, elem_id="stylize-inv-feats")
                inv_btn = gr.Button("Invert", variant="primary", elem_id="stylize-inv-btn")
            with gr.Column(scale=3, min_width=300):
                with gr.Row():
                    inv_target = gr.Image(format="png", label="Target (as the model sees it)", height=240, interactive=False, buttons=["download", "fullscreen"], elem_id="stylize-inv-target", elem_classes=["pixelated"])
                    inv_out = gr.Image(format="png", label="Reconstruction", height=240, interactive=False, buttons=["download", "fullscreen"], elem_id="stylize-inv-out", elem_classes=["pixelated"])
                inv_note = gr.Markdown(elem_id="stylize-inv-note")
                to_explore = gr.Button("Edit in Explore →", interactive=False, elem_id="stylize-to-explore")
    return _InversionPanel(inv_model, inv_in, inv_class, inv_space, inv_steps, use_feats, inv_btn, inv_target, inv_out,
                           inv_note, to_explore)


def _feature_net_for(catalog, entry: ModelEntry) -> ModelEntry | None:
    """The project's classifier trained on the generator's data set, if there is one."""
    ds = dataset_name(entry.meta)
    for e in catalog.entries(lambda e: e.kind == "classifier"):
        if ds and dataset_name(e.meta) == ds:
            return e
    return None


def _inversion_note(result, feat_entry: ModelEntry | None) -> str:
    feats = f" + {html.escape(feat_entry.name)} features" if feat_entry else ""
    return (
        f"**PSNR {result.psnr:.2f} dB** (MSE {result.mse:.4f}) after {result.steps} Adam steps in {result.space}-space (pixel L2{feats}). "
        "Higher is closer; above ~25 dB the two look alike. The latent is ready in Explore."
    )


def clear_inversion():  # a new run must not show the last one's PSNR or offer its latent
    return None, None, "", gr.update(interactive=False)


def check_ready(state, model_id):
    custom = (state or {}).get("custom")
    if not custom or custom.get("model") != model_id:
        raise ExplorerError("invert an image with this generator first")
    return None


def _build_inversion(ctx: AppContext) -> StylizeTab:
    catalog = ctx.catalog
    p = _inversion_layout(ctx)

    def on_inv_model(model_id):
        if not model_id:
            return gr.update(visible=False), gr.update(), gr.update(visible=False)
        model, entry = catalog.load(model_id)
        classes = class_choices(model, entry)
        cls = gr.update(choices=classes, value=classes[0][1], visible=True) if classes else gr.update(choices=[], value=None, visible=False)
        is_style = model.edit_space == "w"
        space = gr.update(choices=[("z", "z"), ("w (StyleGAN)", "w")] if is_style else [("z", "z")], value="w" if is_style else "z")
        feats = _feature_net_for(catalog, entry)
        return cls, space, gr.update(visible=feats is not None, label=f"Add a feature loss ({feats.name})" if feats else "")

    p.model.change(handler(on_inv_model), p.model, [p.label, p.space, p.use_feats], api_visibility="private", show_progress="hidden")
    ctx.on_page_load.append((handler(on_inv_model), [p.model], [p.label, p.space, p.use_feats]))

    def run_inversion(model_id, payload, label, space, steps, feats_on, state, progress=gr.Progress()):
        model, entry = catalog.load(model_id)
        img = read_upload_image(payload, "RGB")
        target = prepare_image(img, model.image_channels, model.resolution)  # as training prepared real images
        feat_entry = _feature_net_for(catalog, entry) if feats_on else None
        feat_net = catalog.load(feat_entry.id)[0] if feat_entry is not None else None
        label = int(label) if (model.num_classes and label is not None) else None

        clock = StageClock()

        def report(step, total, loss):
            if step == 1 or step % 5 == 0 or step == total:
                progress((step, total), desc=f"{clock('inverting: step', step, total)} (loss {loss:.4f})")

        result = invert(model, target, space=space or "z", label=label, steps=int(steps), feature_net=feat_net, progress=report)
        origin = f"inversion of {upload_name(payload)}"
        st = dict(state or {})
        st["custom"] = {"model": model_id, "space": result.space, "vector": result.latent.reshape(-1).tolist(), "origin": origin, "label": label}
        return render.to_uint8(target), render.to_uint8(result.image), _inversion_note(result, feat_entry), st, gr.update(interactive=True)

    p.button.click(clear_inversion, None, [p.target, p.output, p.note, p.to_explore], queue=False,
                   api_visibility="private").then(
        handler(run_inversion), [p.model, p.upload, p.label, p.space, p.steps, p.use_feats, ctx.session],
        [p.target, p.output, p.note, ctx.session, p.to_explore], preprocess=False, **HEAVY, api_visibility="private",
        show_progress_on=[p.target, p.output],
    )

    inverted = p.to_explore.click(handler(check_ready), [ctx.session, p.model], None, api_visibility="private", queue=False)
    return StylizeTab(inversion_model=p.model, inverted=inverted)
