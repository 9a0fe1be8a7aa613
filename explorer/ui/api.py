"""The app's deliberate public API (what ``gradio_client`` can call).

The UI's own event handlers are private (``api_visibility="private"``): they exist for the page,
take component-shaped inputs and change between versions. Scripts get these few documented,
stable endpoints instead, registered with ``gr.api`` (typed, no components)::

    from gradio_client import Client, handle_file
    c = Client("http://127.0.0.1:7860/")
    c.predict(api_name="/models")                                    # -> [{id, name, kind, ...}]
    png = c.predict("shipped:dcgan_digits", "0-15", 3, 0.8, api_name="/generate")   # PNG grid path
    out = c.predict("shipped:cyclegan_emoji", handle_file("a.png"), "AtoB", api_name="/translate")
    s = c.predict("shipped:dcgan_digits", handle_file("a.png"), 7, "", api_name="/score")  # -> {score, p_real}

All go through the queue (``queue(api_open=False)`` closes the direct REST routes), obey the
same concurrency limits as the page, read uploads with the same caps, and answer bad input with
a readable error. Returned PNGs carry provenance metadata.
"""

from __future__ import annotations

import math

import gradio as gr
from PIL import Image

from explorer.checkpoint import file_hash
from explorer.errors import ExplorerError
from explorer.images import save_png
from explorer.latent import parse_seeds
from explorer.pipelines import explore
from explorer.pipelines import translate as translate_pipeline
from explorer.pipelines.score import score_image
from explorer.ui import render
from explorer.ui.common import HEAVY, AppContext, handler, read_upload_image
from explorer.ui.modelinfo import class_names

MAX_API_SEEDS = 64


def _number(value, name: str, lo: float, hi: float) -> float:
    """A finite number in [lo, hi] from a client, or a readable error."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ExplorerError(f"{name} must be a number, got {str(value)[:40]!r}") from None
    if not math.isfinite(v) or not lo <= v <= hi:
        raise ExplorerError(f"{name} must lie in [{lo:g}, {hi:g}], got {str(value)[:40]}")
    return v


def register(ctx: AppContext) -> None:
    """Add the public endpoints to the Blocks being built."""
    catalog = ctx.catalog

    def models() -> list[dict]:
        """All models on offer: id, name, kind, origin (shipped/imported/trained), resolution, classes."""
        out = []
        for e in catalog.entries():
            out.append({
                "id": e.id, "name": e.name, "kind": e.kind, "origin": e.source,
                "resolution": e.config.get("resolution"), "num_classes": e.config.get("num_classes", 0),
                "can_generate": e.can_generate, "has_discriminator": e.has_discriminator,
            })
        return out

    def generate(model_id: str, seeds: str = "0", class_index: int = 0, truncation: float = 1.0) -> gr.FileData:
        """A PNG grid (with provenance) of one image per seed, e.g. seeds "0-15" or "3,7"."""
        model, entry = catalog.load(model_id)
        if not entry.can_generate:
            raise ExplorerError(f"{entry.name} does not generate images from latents")
        seed_list = parse_seeds(seeds, max_count=MAX_API_SEEDS)
        truncation = _number(truncation, "truncation", 0.0, 2.0)
        label = int(_number(class_index, "class_index", 0, model.num_classes - 1)) if model.num_classes else None
        req = explore.LatentRequest(seed=seed_list[0], label=label, truncation=float(truncation))
        x = explore.edited_latent(model, req, seed_list)
        images = explore.render(model, x, label)
        grid = render.grid(images, nrow=min(8, len(seed_list)))
        meta = {"model": entry.name, "model_file_sha256": file_hash(entry.path), "seeds": seed_list, "class": label, "truncation": float(truncation)}
        path = save_png(Image.fromarray(grid), render.scratch_path(f"{entry.path.stem}-grid", ".png"), meta)
        return gr.FileData(path=str(path))

    def translate(model_id: str, image: gr.FileData, direction: str = "AtoB") -> gr.FileData:
        """Translate an image with a CycleGAN ("AtoB"/"BtoA") or upscale it with an SR model ("x4"; "x2"/"x3"/"x8" for those scales).

        Inputs larger than the Stylize tab's caps (longer side 256 px to translate, 160 px to upscale)
        are shrunk to them first, aspect kept (explorer.pipelines.translate, size "capped")."""
        model, entry = catalog.load(model_id)
        if not entry.translates(direction):
            raise ExplorerError(f"{entry.name} cannot translate {str(direction)[:20]!r}")
        img = read_upload_image(image, translate_pipeline.input_mode(model, direction))
        y = translate_pipeline.run(model, translate_pipeline.prepare(model, img, direction, "capped"), direction)
        meta = {"model": entry.name, "model_file_sha256": file_hash(entry.path), "direction": direction, "operation": "translate"}
        path = save_png(y[0], render.scratch_path(f"{entry.path.stem}-{direction}", ".png"), meta)
        return gr.FileData(path=str(path))

    def score(model_id: str, image: gr.FileData, class_index: int = 0, domain: str = "") -> dict:
        """The discriminator's logit for an image (resized/cropped to the model's resolution) and P(real) = sigmoid(logit)."""
        model, entry = catalog.load(model_id)
        if not entry.has_discriminator:
            raise ExplorerError(f"{entry.name} has no discriminator")
        if domain not in ("", "A", "B", None):
            raise ExplorerError(f"domain must be 'A', 'B' or empty, got {str(domain)[:20]!r}")
        if model.num_classes:
            class_index = int(_number(class_index, "class_index", 0, model.num_classes - 1))
        dom = domain or (entry.caps.domains[0] if entry.caps.domains else None)
        img = read_upload_image(image, "RGB")
        label = int(class_index) if model.num_classes else None
        result = score_image(model, img, dom, label)  # prepared as training prepared real images (UI, API, CLI)
        return {"model": entry.name, "score": result.logit, "p_real": result.p_real, "class": label,
                "class_name": class_names(model, entry)[label] if label is not None else None}

    gr.api(handler(models), api_name="models", queue=True)
    gr.api(handler(generate), api_name="generate", concurrency_id="render")
    gr.api(handler(translate), api_name="translate", **HEAVY)
    gr.api(handler(score), api_name="score", concurrency_id="render")
