"""Models tab: the catalog with model cards, importing foreign checkpoints, exporting (a model in our
format, or a synthetic labelled data set from a generator), deleting user models.

Imports go through :func:`explorer.zoo.import_model` (own ``.safetensors``, or foreign ``.pth``
state_dicts read with ``weights_only=True`` and mapped by :mod:`explorer.importers`), re-saved in our
format into the user folder with a provenance card and a sample grid — so an import that loads is an
import that works everywhere.
Shipped models cannot be deleted.
"""

from __future__ import annotations

import html
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import gradio as gr
import numpy as np
import pandas as pd
import torch

import explorer
from explorer import zoo
from explorer.errors import ExplorerError
from explorer.export.dataset import export_dataset
from explorer.images import load_image
from explorer.latent import latents_from_seeds
from explorer.ui import render
from explorer.ui.common import (
    HEAVY,
    MAX_UPLOAD_MB,
    AppContext,
    handler,
    remove_request_temp,
    request_temp_dir,
    upload_name,
    upload_path,
)
from explorer.ui.modelinfo import card_markdown, md_text
from explorer.zoo import ModelEntry, safe_stem

IMPORT_TYPES = [".pth", ".pt", ".bin", ".safetensors", ".json"]  # .json + .bin: a TensorFlow.js Layers model
MAX_IMPORT_FILES = 4
MAX_SYNTHETIC_IMAGES = 5000  # per export from the app (the CLI has no cap)


@dataclass
class ModelsTab:
    last_changed: gr.State  # id of the model just imported / "deleted:<id>" (its .change refreshes the pickers)
    table: gr.Dataframe
    refresh: Callable  # () -> the catalog table


def catalog_frame(catalog) -> pd.DataFrame:
    rows = []
    for e in catalog.entries():
        cfg = e.config
        rows.append({
            "name": e.name, "kind": e.kind_name, "origin": e.source,
            "resolution": cfg.get("resolution", ""), "classes": cfg.get("num_classes", "") or "",
            "size (MB)": round(e.path.stat().st_size / 1e6, 2) if e.path.exists() else "", "file": e.path.name,
        })
    return pd.DataFrame(rows, columns=["name", "kind", "origin", "resolution", "classes", "size (MB)", "file"])


def build(ctx: AppContext) -> ModelsTab:
    catalog = ctx.catalog
    last_changed = gr.State("")
    table = gr.Dataframe(value=catalog_frame(catalog), label="Models on offer", interactive=False, elem_id="models-table", wrap=True)
    which = _build_card(ctx)
    _build_import_delete(ctx, last_changed, table)
    _build_exports(ctx, which)
    return ModelsTab(last_changed=last_changed, table=table, refresh=lambda: catalog_frame(catalog))


def _build_card(ctx: AppContext) -> gr.Dropdown:
    """The model card of the chosen model, with its samples; returns the model picker."""
    catalog = ctx.catalog
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            which = ctx.picker(lambda e: True, label="Model card", elem_id="models-card-model")
            card = gr.Markdown(elem_id="models-card")
        with gr.Column(scale=2):
            samples = gr.Image(format="png", label="Samples", height=300, interactive=False, buttons=["download", "fullscreen"], elem_id="models-samples", elem_classes=["pixelated"])

    def show_card(model_id):
        if not model_id:
            return "No models yet: import one below or train one in the Train tab.", None
        entry = catalog.resolve(model_id)
        return card_markdown(entry), _sample_image(catalog, entry)

    which.change(handler(show_card), which, [card, samples], api_visibility="private")
    ctx.on_page_load.append((handler(show_card), [which], [card, samples]))
    return which


# ----- import and delete -----------------------------------------------------------------
def _import_files(payloads) -> tuple[list, list[str]]:
    """The server paths and the names of the uploaded checkpoint files, checked for count and type."""
    payloads = payloads or []
    if not isinstance(payloads, list):
        payloads = [payloads]
    paths = [upload_path(p) for p in payloads]
    paths = [p for p in paths if p is not None]
    if not paths:
        raise ExplorerError("choose the checkpoint file(s) to import")
    if len(paths) > MAX_IMPORT_FILES:
        raise ExplorerError(f"at most {MAX_IMPORT_FILES} files at once")
    names = [upload_name(p) for p in payloads]
    bad = [n for n in names if not n.lower().endswith(tuple(IMPORT_TYPES))]
    if bad:
        raise ExplorerError(f"{', '.join(bad)}: expected {', '.join(IMPORT_TYPES)} files")
    return paths, names


def _build_import_delete(ctx: AppContext, last_changed: gr.State, table: gr.Dataframe) -> None:
    catalog = ctx.catalog
    with gr.Row(equal_height=False):
        with gr.Column():
            gr.Markdown(
                "### Import a checkpoint\n"
                "Our own `.safetensors`, a pytorch/examples DCGAN `netG_epoch_N.pth` (+ `netD_epoch_N.pth`), or junyanz "
                "CycleGAN `latest_net_G_A.pth` + `latest_net_G_B.pth` (+ `D_A`/`D_B`). Files are read as plain tensors "
                f"(`torch.load(weights_only=True)`): no code from them runs. Up to {MAX_IMPORT_FILES} files, {MAX_UPLOAD_MB} MB each."
            )
            files = gr.File(file_count="multiple", file_types=IMPORT_TYPES, label="Checkpoint file(s)", elem_id="models-import-files")
            name = gr.Textbox(label="Name", placeholder="e.g. my-dcgan", elem_id="models-import-name")
            import_btn = gr.Button("Import", variant="primary", elem_id="models-import-btn")
            import_note = gr.Markdown(elem_id="models-import-note")
        with gr.Column():
            gr.Markdown("### Delete a model\nOnly imported and trained models; shipped ones stay.")
            victim = ctx.picker(lambda e: e.deletable, label="User model", elem_id="models-delete-model")
            confirm = gr.Checkbox(value=False, label="Yes, delete the file", elem_id="models-delete-confirm")
            delete_btn = gr.Button("Delete", variant="stop", elem_id="models-delete-btn")
            delete_note = gr.Markdown(elem_id="models-delete-note")

    def do_import(payloads, name_v):
        paths, names = _import_files(payloads)
        title = (name_v or "").strip() or safe_stem(names[0].rsplit(".", 1)[0])
        # explorer.zoo converts to our format, records file names/hashes/licence and writes a sample grid
        entry_id = zoo.import_model(paths if len(paths) > 1 else paths[0], name=title[:80], user_dir=catalog.user_dir).id
        entry = catalog.resolve(entry_id)
        parts = ", ".join(entry.config.get("parts", []) or [])
        note = f"Imported **{md_text(entry.name)}** ({entry.kind_name}{'; parts ' + md_text(parts) if parts else ''}) from {md_text(', '.join(names))}."
        return note, entry_id, catalog_frame(catalog), gr.update(value=None)

    import_btn.click(handler(do_import), [files, name], [import_note, last_changed, table, files], preprocess=False, api_visibility="private",
                     show_progress_on=import_note)

    def do_delete(model_id, confirmed):
        if not confirmed:
            raise ExplorerError("tick the box to confirm the deletion")
        entry = catalog.delete(model_id)
        return f"Deleted {md_text(entry.name)} ({html.escape(entry.path.name)}).", f"deleted:{entry.id}", catalog_frame(catalog), False

    delete_btn.click(handler(do_delete), [victim, confirm], [delete_note, last_changed, table, confirm], api_visibility="private",
                     show_progress_on=delete_note)


# ----- downloads: the model, a synthetic data set ----------------------------------------
@dataclass
class _ExportPanel:
    download_btn: gr.Button
    download_files: gr.File
    synth_model: gr.Dropdown
    per_class: gr.Slider
    truncation: gr.Slider
    min_conf: gr.Slider
    synth_btn: gr.Button
    synth_note: gr.Markdown
    synth_file: gr.File


def _exports_layout(ctx: AppContext) -> _ExportPanel:
    with gr.Row(equal_height=False):
        with gr.Column():
            gr.Markdown("### Download a model\nThe selected card's model as one `.safetensors` file (our format, card inside) "
                        "with its sample grid.")
            download_btn = gr.Button("Prepare download", elem_id="models-download-btn")
            download_files = gr.File(label="Model file", file_count="multiple", interactive=False, visible=False,
                                     elem_id="models-download-files")
        with gr.Column():
            gr.Markdown(
                "### Synthetic data set\nAn ImageFolder tree (one folder per class) of lossless PNGs with provenance, "
                "plus `manifest.json` (seed of every image, truncation, model hash), zipped. The same as "
                "`gan-explorer export-dataset`."
            )
            synth_model = ctx.picker(lambda e: e.can_generate, label="Generator",
                                     elem_id="models-synth-model")
            with gr.Row():
                per_class = gr.Slider(1, 500, value=50, step=1, label="Images per class (all images for unconditional models)",
                                      elem_id="models-synth-per-class")
                synth_trunc = gr.Slider(0.0, 1.5, value=1.0, step=0.05, label="Truncation ψ", elem_id="models-synth-trunc")
            min_conf = gr.Slider(0.0, 0.99, value=0.0, step=0.01, label="Keep only images the classifier recognises with at least "
                                 "this confidence (0 = keep all; conditional models with a shipped classifier)",
                                 elem_id="models-synth-conf")
            synth_btn = gr.Button("Export data set", variant="primary", elem_id="models-synth-btn")
            synth_note = gr.Markdown(elem_id="models-synth-note")
            synth_file = gr.File(label="Data set (.zip)", interactive=False, visible=False, elem_id="models-synth-file")
    return _ExportPanel(download_btn, download_files, synth_model, per_class, synth_trunc, min_conf, synth_btn, synth_note,
                        synth_file)


def _synthetic_zip(entry: ModelEntry, n: int, psi: float, conf: float, total: int, progress) -> tuple[dict, str, Path]:
    """Generate the data set into a fresh request folder and zip it: (manifest, archive path, folder)."""
    work = request_temp_dir("synth")
    folder = work / f"{safe_stem(entry.name)}-synthetic"
    progress((0, total), desc="generating")
    try:
        manifest = export_dataset(entry.path, n, folder, truncation=psi, min_confidence=conf if conf > 0 else None,
                                  progress=lambda done, tot: progress((done, tot), desc="generating"))
        archive = shutil.make_archive(str(folder), "zip", root_dir=work, base_dir=folder.name)
    except BaseException:
        remove_request_temp(work)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    return manifest, archive, work


def _build_exports(ctx: AppContext, which: gr.Dropdown) -> None:
    """``which``: the model card's picker (its model is the one downloaded)."""
    catalog = ctx.catalog
    p = _exports_layout(ctx)
    download_tmp = gr.State(None)  # this request's temp folder, removed once Gradio has copied the files

    def do_download(model_id):
        entry = catalog.resolve(model_id)
        out_dir = request_temp_dir("model")
        try:
            out = zoo.export_model(entry.id, out_dir / f"{safe_stem(entry.name)}.safetensors",
                                   shipped_dirs=catalog.shipped_dirs, user_dir=catalog.user_dir)
        except BaseException:
            remove_request_temp(out_dir)
            raise
        files = [str(out)] + ([str(out.with_suffix(".png"))] if out.with_suffix(".png").is_file() else [])
        return gr.update(value=files, visible=True), str(out_dir)

    p.download_btn.click(handler(do_download), which, [p.download_files, download_tmp], api_visibility="private",
                         show_progress_on=p.download_files).then(
        remove_request_temp, download_tmp, download_tmp, api_visibility="private", queue=False, show_progress="hidden")

    def do_synthetic(model_id, n, psi, conf, progress=gr.Progress()):
        entry = catalog.resolve(model_id)
        num_classes = int(entry.config.get("num_classes") or 0)
        n = int(n)
        total = n * max(num_classes, 1)
        if total > MAX_SYNTHETIC_IMAGES:
            raise ExplorerError(f"{total} images is more than the app exports at once ({MAX_SYNTHETIC_IMAGES}); "
                                "lower the count or use `gan-explorer export-dataset`")
        conf = float(conf or 0.0)
        if conf > 0 and not num_classes:
            raise ExplorerError("the confidence filter needs a class-conditional generator")
        manifest, archive, work = _synthetic_zip(entry, n, float(psi), conf, total, progress)
        classes = len(manifest["classes"])
        filt = (f"; kept only images the classifier gives ≥ {conf:.2f}" if manifest.get("filter") else "")
        note = (f"Wrote **{manifest['num_images']} images** in {classes} folder{'s' if classes != 1 else ''} "
                f"(truncation {float(psi):.2f}{filt}) from {md_text(entry.name)}, with `manifest.json`.")
        return note, gr.update(value=archive, visible=True), str(work)

    synth_tmp = gr.State(None)
    p.synth_btn.click(handler(do_synthetic), [p.synth_model, p.per_class, p.truncation, p.min_conf], [p.synth_note, p.synth_file, synth_tmp],
                      api_visibility="private", show_progress_on=p.synth_note, **HEAVY).then(
        remove_request_temp, synth_tmp, synth_tmp, api_visibility="private", queue=False, show_progress="hidden")


@torch.no_grad()
def _sample_image(catalog, entry: ModelEntry):
    """The sample grid shipped next to a checkpoint (``<stem>.png``), else 8 fresh samples for generators."""
    for candidate in (entry.path.with_suffix(".png"), entry.path.with_name(entry.path.stem + "_samples.png")):
        if candidate.is_file():
            try:
                return np.asarray(load_image(candidate, mode="RGB"))
            except ExplorerError:
                break
    if not entry.can_generate:
        return None
    model = explorer.load_cached(entry.path)
    seeds = list(range(8))
    labels = torch.arange(8) % model.num_classes if model.num_classes else None
    return render.grid(model.generate(latents_from_seeds(model, seeds), labels), nrow=4)
