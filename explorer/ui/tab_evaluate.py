"""Evaluate tab: how good is a generator, and is it copying its training set?

* Samples and their nearest training images (memorisation check) —
  :func:`explorer.metrics.nearest_neighbours`, in pixel space or the project classifier's features.
* Sample-quality metrics (FID, KID, IS, precision/recall, 1-NN accuracy) — :func:`explorer.metrics.evaluate`,
  always labelled with the feature extractor they were computed with; the 1-NN accuracy comes with
  reference rows (real vs real, another real style vs real: :func:`explorer.metrics.add_one_nn_reference`);
  results can be recorded in the card of a user model.
* Human evaluation — the organiser's sub-tab, :func:`explorer.ui.humaneval_tab.build_humaneval_tab`.
"""

from __future__ import annotations

import html

import gradio as gr
import pandas as pd
import torch

import explorer
from explorer.data import get_dataset
from explorer.errors import ExplorerError
from explorer.latent import latents_from_seeds, parse_seeds
from explorer.metrics import add_one_nn_reference, evaluate, nearest_neighbours, one_nn_rows, record_metrics
from explorer.metrics.domain import DomainClassifierExtractor
from explorer.ui import render
from explorer.ui.common import HEAVY, AppContext, handler
from explorer.ui.humaneval_tab import build_humaneval_tab
from explorer.ui.jobs import StageClock
from explorer.ui.modelinfo import class_choices, dataset_name, md_text

MAX_NN_SAMPLES = 12
EVERY_CLASS = "every class in turn"
METRIC_CHOICES = [("Fréchet distance (FID with Inception-v3)", "fd"), ("KID", "kid"), ("Inception Score", "is"),
                  ("Precision / recall", "pr"), ("Density / coverage", "dc"), ("1-NN accuracy", "1nn")]
EXTRACTOR_CHOICES = [
    ("Project classifier (fast; not comparable with papers)", "domain-classifier"),
    ("ImageNet trunk (slower; non-standard)", "imagenet-trunk"),
    ("Inception-v3 pool3 — FID (needs a weights file in $GAN_EXPLORER_INCEPTION_WEIGHTS)", "inception-v3"),
]
NN_HEADERS = ["row", "1-NN accuracy", "on real", "on fake", "chance", "sizes", "compared with the real set"]


def _classifier_for(catalog, entry):
    ds = dataset_name(entry.meta)
    for e in catalog.entries(lambda e: e.kind == "classifier"):
        if ds and dataset_name(e.meta) == ds:
            return e
    return None


def build(ctx: AppContext) -> None:
    catalog = ctx.catalog
    model_dd = ctx.picker(lambda e: e.can_generate, label="Generator", elem_id="eval-model")
    with gr.Tabs(elem_id="eval-tabs", overflow_behavior="wrap"):
        with gr.Tab("Memorisation check", elem_id="eval-tab-nn"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=2, min_width=260):
                    seeds = gr.Textbox(value="0-7", label="Seeds", info=f"up to {MAX_NN_SAMPLES} samples", elem_id="eval-seeds")
                    klass = gr.Dropdown(choices=[(EVERY_CLASS, -1)], value=-1, label="Class (conditional models)", visible=False, interactive=True, elem_id="eval-class")
                    space = gr.Radio([("Pixels", "pixels"), ("Classifier features", "domain-classifier")], value="pixels", label="Distance in", elem_id="eval-space")
                    nn_btn = gr.Button("Find nearest training images", variant="primary", elem_id="eval-nn-btn")
                with gr.Column(scale=5):
                    nn_img = gr.Image(format="png", label="Each row: a sample, then its 3 nearest training images", height=520, interactive=False, buttons=["download", "fullscreen"], elem_id="eval-nn", elem_classes=["pixelated"])
                    nn_note = gr.Markdown(elem_id="eval-nn-note")
        with gr.Tab("Metrics", elem_id="eval-tab-metrics"):
            metrics_section(ctx, model_dd)
        with gr.Tab("Human evaluation", elem_id="eval-human"):
            build_humaneval_tab(ctx)

    def class_menu(model_id):
        if not model_id:
            return gr.update(visible=False)
        model, entry = catalog.load(model_id)
        if not model.num_classes:
            return gr.update(choices=[(EVERY_CLASS, -1)], value=-1, visible=False)
        return gr.update(choices=[(EVERY_CLASS, -1), *class_choices(model, entry)], value=-1, visible=True)

    model_dd.change(handler(class_menu), model_dd, klass, api_visibility="private", show_progress="hidden")
    ctx.on_page_load.append((handler(class_menu), [model_dd], [klass]))

    def neighbours(model_id, seeds_v, klass_v, space_v, progress=gr.Progress()):
        model, entry = catalog.load(model_id)
        ds_name = dataset_name(entry.meta)
        if not ds_name:
            raise ExplorerError(f"{entry.name}'s card does not name its training data, so there is nothing to compare with")
        seed_list = parse_seeds(seeds_v or "0-7", max_count=MAX_NN_SAMPLES)
        labels = None
        if model.num_classes:
            every = klass_v is None or int(klass_v) < 0
            labels = torch.tensor([i % model.num_classes if every else int(klass_v) for i in range(len(seed_list))])
        with torch.no_grad():
            samples = model.generate(latents_from_seeds(model, seed_list), labels)  # [N, C, R, R]
        train = get_dataset(ds_name, resolution=model.resolution, channels=model.image_channels, split="train")
        extractor = "pixels"
        if space_v == "domain-classifier":
            clf = _classifier_for(catalog, entry)
            if clf is None:
                raise ExplorerError(f"no classifier trained on {ds_name} is installed; use pixel distance")
            extractor = DomainClassifierExtractor(weights=clf.path)
        progress(0.2, desc="comparing with the training set")
        idx, dist = nearest_neighbours(samples, train, k=3, extractor=extractor)
        train_x, _ = train.tensors()
        rows = []
        for i in range(len(seed_list)):
            rows.append(render.to_uint8(samples[i]))
            rows += [render.to_uint8(train_x[int(j)]) for j in idx[i]]
        grid = render.pil_grid(rows, nrow=4, padding=2)
        if extractor == "pixels":  # Euclidean over all C·H·W values -> root-mean-square per value, at most 2
            dist = dist / float(samples[0].numel()) ** 0.5
            unit = "RMS pixel difference (images in [−1, 1], so 0 to 2)"
        else:
            unit = "Euclidean classifier-feature distance"
        med = float(dist[:, 0].median())
        table = "| seed | class | nearest | 2nd | 3rd |\n|---|---|---|---|---|\n" + "\n".join(
            f"| {s} | {'—' if labels is None else int(labels[i])} | {dist[i, 0]:.3f} | {dist[i, 1]:.3f} | {dist[i, 2]:.3f} |"
            for i, s in enumerate(seed_list))
        note = (f"Training set: **{md_text(ds_name)}** ({len(train_x)} images). Distances are {unit}; median nearest {med:.3f}. "
                "A sample that is a near copy of a training image (distance close to 0, images look identical) is memorised.\n\n" + table)
        return grid, note

    nn_btn.click(handler(neighbours), [model_dd, seeds, klass, space], [nn_img, nn_note], api_visibility="private", **HEAVY)


def metrics_section(ctx: AppContext, model_dd: gr.Dropdown) -> None:
    catalog = ctx.catalog
    gr.Markdown("Fréchet distance, KID, IS, precision/recall, density/coverage and the 1-NN two-sample accuracy of "
                "generated samples against the model's training data. Every score names the network whose features "
                "it compares: a Fréchet distance is called FID only in Inception-v3 pool3 features, elsewhere "
                "FD (network).")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=260):
            which = gr.CheckboxGroup(METRIC_CHOICES, value=["fd", "kid"], label="Metrics", elem_id="eval-metrics")
            extractor = gr.Radio(EXTRACTOR_CHOICES, value="imagenet-trunk", label="Feature extractor", elem_id="eval-extractor",
                                 info="starts at the project classifier where one was trained on the model's data (fast)")
            num = gr.Slider(100, 5000, value=500, step=100, label="Generated samples", elem_id="eval-num")
            record = gr.Checkbox(value=False, label="Record the result in the model's card (imported/trained models only)", elem_id="eval-record")
            run_btn = gr.Button("Compute metrics", variant="primary", elem_id="eval-metrics-btn")
        with gr.Column(scale=5):
            table = gr.Dataframe(headers=["metric", "value"], label="Result", interactive=False, elem_id="eval-metrics-table")
            nn_table = gr.Dataframe(headers=NN_HEADERS, label="1-NN accuracy", interactive=False, visible=False,
                                    elem_id="eval-1nn-table")
            about = gr.Markdown(elem_id="eval-metrics-note")

    def default_extractor(model_id):
        if not model_id:
            return gr.update()
        entry = catalog.resolve(model_id)
        return gr.update(value="domain-classifier" if _classifier_for(catalog, entry) is not None else "imagenet-trunk")

    model_dd.change(handler(default_extractor), model_dd, extractor, api_visibility="private", show_progress="hidden")
    ctx.on_page_load.append((handler(default_extractor), [model_dd], [extractor]))

    def compute(model_id, metrics_v, extractor_v, num_v, record_v, progress=gr.Progress()):
        model, entry = catalog.load(model_id)
        ds_name = dataset_name(entry.meta)
        if not ds_name:
            raise ExplorerError(f"{entry.name}'s card does not name its training data; metrics need a real set to compare with")
        if not metrics_v:
            raise ExplorerError("choose at least one metric")
        options = {}
        if extractor_v == "domain-classifier":
            clf = _classifier_for(catalog, entry)
            if clf is None:
                raise ExplorerError(f"no classifier trained on {ds_name} is installed; choose the ImageNet trunk")
            options["weights"] = str(clf.path)

        clock = StageClock()

        def report(stage, done, total):
            progress((done, max(1, total)), desc=clock(str(stage), done, total))

        res = evaluate(model, real=ds_name, metrics=tuple(metrics_v), extractor=extractor_v, num_samples=int(num_v),
                       progress=report, extractor_options=options)
        if "one_nn_accuracy" in res:
            res = add_one_nn_reference(res, ds_name, extractor_v, channels=model.image_channels,
                                       extractor_options=options, progress=report)
        rows = score_rows(res)
        note = (f"Extractor: **{md_text(res.get('extractor_label') or res.get('extractor'))}** — "
                f"{'comparable' if res.get('comparable_with_published') else 'not comparable'} with published numbers. "
                f"{res.get('num_fake')} generated vs {res.get('num_real')} real ({md_text(res.get('real'))}), {res.get('seconds')} s.")
        if res.get("notes"):
            note += "\n\n" + "\n".join(f"- {md_text(n, 300)}" for n in res["notes"])
        if record_v:
            if not entry.deletable:
                note += "\n\n*Not recorded: shipped models are read-only.*"
            else:
                fresh = explorer.load(entry.path)
                explorer.save(fresh, entry.path, card=record_metrics(fresh.card, res))
                note += "\n\n*Recorded in the model card.*"
        return pd.DataFrame(rows, columns=["metric", "value"]), _one_nn_table(res), note

    run_btn.click(handler(compute), [model_dd, which, extractor, num, record], [table, nn_table, about],
                  api_visibility="private", **HEAVY)


def score_rows(res: dict) -> list[list[str]]:
    """``[name, value]`` rows of an ``evaluate`` result, each name saying its feature space."""
    space = res.get("extractor_display_name") or res.get("extractor")
    names = {"fd": res.get("fd_name") or f"FD ({space})", "kid_mean": f"KID ({space})",
             "kid_std": "KID std over subsets", "is_mean": f"IS ({space} logits)", "is_std": "IS std over splits",
             "precision": f"precision ({space})", "recall": f"recall ({space})", "density": f"density ({space})",
             "coverage": f"coverage ({space})", "one_nn_accuracy": f"1-NN accuracy ({space})"}
    return [[names[k], _fmt(res[k])] for k in names if res.get(k) is not None]


def _one_nn_table(res: dict) -> gr.Dataframe:
    """The 1-NN rows (model vs real, then the reference rows), labelled with the extractor; hidden without 1-NN."""

    rows = one_nn_rows(res)
    if not rows:
        return gr.Dataframe(visible=False)
    data = [[r["row"], f"{r['one_nn_accuracy']:.3f}", f"{r['one_nn_real_accuracy']:.3f}",
             f"{r['one_nn_fake_accuracy']:.3f}", f"{r['one_nn_chance']:.3f}", f"{r['num_fake']} vs {r['num_real']}",
             r["compared"]] for r in rows]
    label = (f"1-NN accuracy in {res.get('extractor_display_name') or res.get('extractor')} features — 0.5: indistinguishable (equal sizes), "
             "1.0: fully apart, well below 0.5: copies of training images")
    return gr.Dataframe(value=pd.DataFrame(data, columns=NN_HEADERS), label=label, visible=True)


def _fmt(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else html.escape(str(v))


