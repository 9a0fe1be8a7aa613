"""Does synthetic data from a class-conditional GAN help a classifier that has few real labels?

The experiment (``gan-explorer experiment augment``, full run: ``bench/bench_augment.py``):

1. For each seed s and each real budget n (default 100 / 500 / 1,000 labelled digits), draw a
   class-balanced subset of the shipped data's ``train`` split. Subsets are nested (the 100 are part
   of the 500), so budgets differ only in the added images.
2. Generate N synthetic images per class from the conditional generator
   (:func:`explorer.export.dataset.synthetic_tensors`; seeds depend on s, so each repetition sees
   other synthetic images; larger N extend smaller N).
3. Train the *same* small classifier (:class:`explorer.models.classifier.Classifier`, its ``fit``
   helper with ±2 px shift augmentation) on: real only; real + synthetic; and synthetic only (the
   "classification accuracy score" of the generator, Ravuri & Vinyals 2019). Every arm gets the
   same number of optimisation steps (``steps``; epochs are derived from it) and, for a given seed,
   the same initial weights, so arms differ only in their training data.
4. Evaluate on the held-out real split (never used for training, by the classifier or, for the
   shipped checkpoints, by the GAN).

Reported: per arm and budget the mean accuracy over seeds with a 95 % Student-t interval
(mean ± t₀.₉₇₅,ₙ₋₁ · sd/√n), and the paired per-seed difference (real + synthetic − real only) with
its own t interval — pairing removes the subset-to-subset variation both arms share. With 3–5 seeds
the intervals are wide; that is the honest state of the evidence.

Caveat with ``min_confidence``: the filter uses the project classifier, which was trained on the
full labelled train split; filtered runs therefore use more label information than the budget says.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from explorer import __version__
from explorer.atomic import atomic_path
from explorer.data import get_dataset
from explorer.data.dataset import convert_channels, resize_center_crop
from explorer.errors import ExplorerError
from explorer.export.common import resolve_model
from explorer.export.dataset import synthetic_tensors
from explorer.models.classifier import Classifier, ClassifierConfig

DEFAULT_GENERATOR = "checkpoints/dcgan_digits.safetensors"
#: synthetic seeds of repetition s start at (s + 1) * this (far from seeds users pick by hand)
SYNTHETIC_SEED_BASE = 1_000_000
ARMS = ("real", "real+synthetic", "synthetic")


@dataclass(frozen=True)
class AugmentSettings:
    """Everything that defines one run of the experiment (stored with its results).

    ``synthetic_per_class``: the N values tried (0 is implied: the real-only baseline).
    ``steps``: optimisation steps per training run, equal for every arm.
    ``width``: classifier width (16 keeps the full run under ten minutes on two CPU cores).
    ``eval_limit``: evaluate on the first this many held-out images (None = all).
    """

    generator: str = DEFAULT_GENERATOR
    dataset: str = "digits"
    real_sizes: tuple[int, ...] = (100, 500, 1000)
    synthetic_per_class: tuple[int, ...] = (100,)
    seeds: tuple[int, ...] = (0, 1, 2)
    steps: int = 250
    batch_size: int = 64
    width: int = 16
    lr: float = 3e-3
    truncation: float = 1.0
    min_confidence: float | None = None
    synthetic_only: bool = True
    eval_limit: int | None = None

    def __post_init__(self) -> None:
        for name in ("real_sizes", "synthetic_per_class", "seeds"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        if not self.real_sizes or min(self.real_sizes) < 1:
            raise ExplorerError("real_sizes must be positive numbers of labelled images")
        if not self.synthetic_per_class or min(self.synthetic_per_class) < 1:
            raise ExplorerError("synthetic_per_class must be positive (the real-only baseline is always run)")
        if not self.seeds or min(self.seeds) < 0 or len(set(self.seeds)) != len(self.seeds):
            raise ExplorerError("seeds must be distinct non-negative integers")
        if self.steps < 1 or self.batch_size < 1 or self.width < 1 or not self.lr > 0:
            raise ExplorerError("steps, batch_size, width and lr must be positive")


def run_augment(
    settings: AugmentSettings = AugmentSettings(),
    generator=None,
    progress: Callable[[int, int, str], None] | None = None,
    device: str | torch.device | None = "cpu",
) -> dict[str, Any]:
    """Run the experiment; returns a JSON-ready dict (settings, per-run accuracies, summaries).

    ``generator``: a loaded conditional generator to use instead of ``settings.generator`` (tests).
    ``progress(done, total, what)`` is called after every training run.
    """

    started = time.perf_counter()
    cpu_started = time.process_time()
    gen_model, identity = resolve_model(generator if generator is not None else settings.generator)
    if not gen_model.caps.generates or not gen_model.num_classes:
        raise ExplorerError(f"the augmentation experiment needs a class-conditional generator, got a "
                            f"{'conditional ' if gen_model.num_classes else 'unconditional '}{gen_model.kind} model")
    dev = torch.device(device) if device is not None else gen_model.device
    gen_model = gen_model.to(dev)
    train = get_dataset(settings.dataset, split="train")
    heldout = get_dataset(settings.dataset, split="heldout")
    x_train, y_train = train.tensors()  # [N, C, R, R], [N]
    x_eval, y_eval = heldout.tensors()
    if settings.eval_limit:
        x_eval, y_eval = x_eval[: settings.eval_limit], y_eval[: settings.eval_limit]
    k = train.num_classes
    if gen_model.num_classes != k:
        raise ExplorerError(f"the generator has {gen_model.num_classes} classes, the data set {settings.dataset!r} has {k}")
    if max(settings.real_sizes) > len(x_train):
        raise ExplorerError(f"the {settings.dataset} train split has only {len(x_train)} images")
    filter_clf = None
    if settings.min_confidence is not None:
        from explorer.export.dataset import filter_classifier

        filter_clf, _ = filter_classifier(None, settings.dataset)
        filter_clf = filter_clf.to(dev)

    clf_config = ClassifierConfig(channels=train.channels, resolution=train.resolution, num_classes=k,
                                  width=settings.width, class_names=tuple(train.class_names))
    runs: list[dict[str, Any]] = []
    n_syn = sorted(settings.synthetic_per_class)
    total = len(settings.seeds) * (len(settings.real_sizes) * (1 + len(n_syn)) + (len(n_syn) if settings.synthetic_only else 0))

    def train_eval(seed: int, x: torch.Tensor, y: torch.Tensor) -> tuple[float, int]:
        torch.manual_seed(seed)  # same initial weights for every arm of this seed
        clf = Classifier(clf_config).to(dev)
        steps_per_epoch = math.ceil(len(x) / settings.batch_size)
        epochs = max(1, round(settings.steps / steps_per_epoch))
        clf.fit(x, y, epochs=epochs, batch_size=settings.batch_size, lr=settings.lr, seed=seed)
        acc = float((clf.predict(x_eval) == y_eval).float().mean())
        return acc, epochs * steps_per_epoch

    for seed in settings.seeds:
        order = _balanced_order(y_train, seed)
        x_syn, y_syn, _ = synthetic_tensors(
            gen_model, n_syn[-1], seed=SYNTHETIC_SEED_BASE * (seed + 1), truncation=settings.truncation,
            min_confidence=settings.min_confidence, classifier=filter_clf, batch_size=256,
        )
        x_syn = _to_data_format(x_syn, train.channels, train.resolution)  # [K*N, C, R, R]
        for n in sorted(settings.real_sizes):
            idx = order[:n]
            x_real, y_real = x_train[idx], y_train[idx]
            acc, steps = train_eval(seed, x_real, y_real)
            runs.append({"seed": seed, "arm": "real", "real": n, "synthetic_per_class": 0, "accuracy": acc, "steps": steps})
            _tick(progress, len(runs), total, f"seed {seed}: {n} real")
            for m in n_syn:
                keep = _first_per_class(y_syn, m)
                x = torch.cat([x_real, x_syn[keep]])
                y = torch.cat([y_real, y_syn[keep]])
                acc, steps = train_eval(seed, x, y)
                runs.append({"seed": seed, "arm": "real+synthetic", "real": n, "synthetic_per_class": m, "accuracy": acc, "steps": steps})
                _tick(progress, len(runs), total, f"seed {seed}: {n} real + {m}/class synthetic")
        if settings.synthetic_only:
            for m in n_syn:
                keep = _first_per_class(y_syn, m)
                acc, steps = train_eval(seed, x_syn[keep], y_syn[keep])
                runs.append({"seed": seed, "arm": "synthetic", "real": 0, "synthetic_per_class": m, "accuracy": acc, "steps": steps})
                _tick(progress, len(runs), total, f"seed {seed}: {m}/class synthetic only")


    return {
        "experiment": "augment",
        "version": __version__,
        "settings": asdict(settings),
        "generator": {k2: identity[k2] for k2 in ("model", "model_kind", "model_hash", "model_file", "model_dataset")},
        "classifier": {"config": asdict(clf_config), "trainer": "explorer.models.classifier.Classifier.fit (AdamW, one-cycle, ±2 px shifts)"},
        "eval": {"split": "heldout", "num_images": len(x_eval)},
        "runs": runs,
        "summary": summarize(runs),
        "paired": paired_differences(runs),
        "wall_time_s": round(time.perf_counter() - started, 1),
        "cpu_time_s": round(time.process_time() - cpu_started, 1),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                    "device": str(dev)},
    }


def _tick(progress, done: int, total: int, what: str) -> None:
    if progress is not None:
        progress(done, total, what)


def _balanced_order(labels: torch.Tensor, seed: int) -> torch.Tensor:
    """A permutation of all indices whose every prefix is class-balanced (round-robin over shuffled classes)."""
    gen = torch.Generator().manual_seed(seed)
    per_class = [torch.nonzero(labels == c).flatten() for c in torch.unique(labels).tolist()]
    per_class = [idx[torch.randperm(len(idx), generator=gen)] for idx in per_class]
    longest = max(len(idx) for idx in per_class)
    order = [idx[i] for i in range(longest) for idx in per_class if i < len(idx)]
    return torch.stack(order)


def _first_per_class(labels: torch.Tensor, m: int) -> torch.Tensor:
    """Indices of the first ``m`` images of each class (synthetic sets are ordered by class, then seed)."""
    keep = []
    for c in torch.unique(labels).tolist():
        keep.append(torch.nonzero(labels == c).flatten()[:m])
    return torch.cat(keep)


def _to_data_format(x: torch.Tensor, channels: int, resolution: int) -> torch.Tensor:
    """Generated images → the real data's channels and resolution (same policy as the data layer)."""

    return resize_center_crop(convert_channels(x, channels), resolution).clamp(-1, 1)


# ----------------------------------------------------------------------------------------
# statistics and reporting
# ----------------------------------------------------------------------------------------
def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): Student-t confidence interval of the mean (low = high = mean for one value)."""
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ExplorerError("no values")
    mean = float(v.mean())
    if v.size < 2:
        return mean, mean, mean
    half = float(stats.t.ppf(0.5 + confidence / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return mean, mean - half, mean + half


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (arm, real, synthetic_per_class): accuracies over seeds, mean and 95 % t interval."""
    groups: dict[tuple, list[float]] = {}
    for r in runs:
        groups.setdefault((r["arm"], r["real"], r["synthetic_per_class"]), []).append(r["accuracy"])
    out = []
    for (arm, real, syn), accs in sorted(groups.items(), key=lambda kv: (ARMS.index(kv[0][0]), kv[0][1], kv[0][2])):
        mean, lo, hi = t_interval(accs)
        lo, hi = max(lo, 0.0), min(hi, 1.0)  # an accuracy interval past 0 or 100 % says nothing more
        out.append({"arm": arm, "real": real, "synthetic_per_class": syn, "n": len(accs), "accuracies": accs,
                    "mean": mean, "ci95": [lo, hi]})
    return out


def paired_differences(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (real, N): per-seed accuracy(real + synthetic) − accuracy(real only), mean and 95 % t interval."""
    base = {(r["seed"], r["real"]): r["accuracy"] for r in runs if r["arm"] == "real"}
    groups: dict[tuple, list[float]] = {}
    for r in runs:
        if r["arm"] == "real+synthetic" and (r["seed"], r["real"]) in base:
            groups.setdefault((r["real"], r["synthetic_per_class"]), []).append(r["accuracy"] - base[(r["seed"], r["real"])])
    out = []
    for (real, syn), diffs in sorted(groups.items()):
        mean, lo, hi = t_interval(diffs)
        out.append({"real": real, "synthetic_per_class": syn, "n": len(diffs), "differences": diffs, "mean": mean, "ci95": [lo, hi]})
    return out


def _pct(mean: float, ci: Sequence[float], signed: bool = False) -> str:
    fmt = "{:+.1f}" if signed else "{:.1f}"
    return f"{fmt.format(100 * mean)} [{fmt.format(100 * ci[0])}, {fmt.format(100 * ci[1])}]"


def markdown_table(results: dict[str, Any]) -> str:
    """The results as a Markdown table (accuracy in %, 95 % t intervals in brackets)."""
    summary = {(s["arm"], s["real"], s["synthetic_per_class"]): s for s in results["summary"]}
    paired = {(p["real"], p["synthetic_per_class"]): p for p in results["paired"]}
    n_seeds = len(results["settings"]["seeds"])
    lines = [
        "| real labelled | synthetic / class | accuracy, real only (%) | accuracy, real + synthetic (%) | paired difference (points) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for (real, syn), p in sorted(paired.items()):
        base = summary[("real", real, 0)]
        aug = summary[("real+synthetic", real, syn)]
        lines.append(f"| {real} | {syn} | {_pct(base['mean'], base['ci95'])} | {_pct(aug['mean'], aug['ci95'])} | "
                     f"{_pct(p['mean'], p['ci95'], signed=True)} |")
    for (arm, real, syn), s in sorted(summary.items()):
        if arm == "synthetic":
            lines.append(f"| 0 (synthetic only) | {syn} | – | {_pct(s['mean'], s['ci95'])} | – |")
    s = results["settings"]
    lines.append("")
    lines.append(
        f"Mean over {n_seeds} seeds, 95 % Student-t interval in brackets; evaluated on {results['eval']['num_images']} held-out "
        f"real images. Classifier width {s['width']}, {s['steps']} steps of batch {s['batch_size']} per run; generator "
        f"{results['generator']['model']} ({results['generator']['model_hash']}), truncation {s['truncation']:g}"
        + (f", confidence filter {s['min_confidence']:g}" if s.get("min_confidence") is not None else "") + "."
    )
    return "\n".join(lines)


def plot(results: dict[str, Any], path: str | os.PathLike, size: tuple[int, int] = (760, 460)) -> Path:
    """Accuracy vs real labelled images, with 95 % interval bars, as a PNG (drawn with PIL)."""


    summary = results["summary"]
    reals = sorted({s["real"] for s in summary if s["arm"] != "synthetic"})
    series: list[tuple[str, tuple[int, int, int], list[dict]]] = [
        ("real only", (60, 60, 60), [s for s in summary if s["arm"] == "real"])]
    palette = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]
    for i, syn in enumerate(sorted({s["synthetic_per_class"] for s in summary if s["arm"] == "real+synthetic"})):
        series.append((f"real + {syn}/class synthetic", palette[i % len(palette)],
                       [s for s in summary if s["arm"] == "real+synthetic" and s["synthetic_per_class"] == syn]))
    flat = [s for s in summary if s["arm"] == "synthetic"]
    values = [v for s in summary for v in (s["ci95"][0], s["ci95"][1])]
    lo = max(0.0, math.floor(min(values) * 20) / 20 - 0.025)
    hi = min(1.0, math.ceil(max(values) * 20) / 20 + 0.005)

    w, h = size
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=14)
    small = ImageFont.load_default(size=12)
    left, right, top, bottom = 70, w - 230, 40, h - 60
    d.text((left, 10), "Classifier accuracy on held-out real digits (mean, 95 % CI)", fill="black", font=font)

    def y_of(acc: float) -> float:  # clipped to the frame: t intervals of tiny runs can leave [0, 1]
        return min(bottom, max(top, bottom - (acc - lo) / (hi - lo) * (bottom - top)))

    def x_of(i: int) -> float:
        return left + (i + 0.5) * (right - left) / len(reals)

    d.rectangle([left, top, right, bottom], outline="black")
    step = 0.05 if hi - lo > 0.2 else 0.02 if hi - lo > 0.08 else 0.01
    tick = math.ceil(lo / step) * step
    while tick <= hi + 1e-9:
        y = y_of(tick)
        d.line([left, y, right, y], fill=(225, 225, 225))
        d.text((left - 8, y), f"{100 * tick:.0f}" if step >= 0.01 else f"{100 * tick:.1f}", fill="black", font=small, anchor="rm")
        tick += step
    d.text((18, (top + bottom) / 2), "%", fill="black", font=font, anchor="mm")
    for i, real in enumerate(reals):
        d.text((x_of(i), bottom + 8), str(real), fill="black", font=small, anchor="ma")
    d.text(((left + right) / 2, bottom + 30), "real labelled training images", fill="black", font=font, anchor="ma")
    offsets = np.linspace(-12, 12, len(series)) if len(series) > 1 else [0.0]
    legend_y = top
    for (label, colour, rows), dx in zip(series, offsets):
        pts = []
        for s in sorted(rows, key=lambda r: r["real"]):
            x = x_of(reals.index(s["real"])) + dx
            d.line([x, y_of(s["ci95"][0]), x, y_of(s["ci95"][1])], fill=colour, width=2)
            for yy in (y_of(s["ci95"][0]), y_of(s["ci95"][1])):
                d.line([x - 4, yy, x + 4, yy], fill=colour, width=2)
            pts.append((x, y_of(s["mean"])))
        if len(pts) > 1:
            d.line(pts, fill=colour, width=2)
        for x, y in pts:
            d.ellipse([x - 4, y - 4, x + 4, y + 4], fill=colour)
        d.line([right + 15, legend_y + 8, right + 40, legend_y + 8], fill=colour, width=3)
        d.text((right + 46, legend_y), label, fill="black", font=small)
        legend_y += 22
    dashed = [(255, 127, 14), (140, 86, 75), (227, 119, 194), (188, 189, 34)]
    for i, s in enumerate(flat):
        y, colour = y_of(s["mean"]), dashed[i % len(dashed)]
        for x0 in range(left, right, 12):
            d.line([x0, y, min(x0 + 6, right), y], fill=colour, width=2)
        d.line([right + 15, legend_y + 8, right + 40, legend_y + 8], fill=colour, width=3)
        d.text((right + 46, legend_y), f"{s['synthetic_per_class']}/class synthetic only", fill="black", font=small)
        d.text((right + 46, legend_y + 14), _pct(s["mean"], s["ci95"]), fill="black", font=small)
        legend_y += 36
    n_seeds = len(results["settings"]["seeds"])
    d.text((right + 15, legend_y + 10), f"{n_seeds} seeds per point", fill=(90, 90, 90), font=small)
    d.text((right + 15, legend_y + 26), f"generator {results['generator']['model']}", fill=(90, 90, 90), font=small)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = PngImagePlugin.PngInfo()
    info.add_itxt("Description", "Chart of the GAN Explorer augmentation experiment (measured accuracies, not a generated image).")
    info.add_itxt("Software", f"GAN Explorer {__version__}")
    info.add_itxt("gan-explorer", json.dumps({"experiment": "augment", "generator": results["generator"],
                                              "settings": results["settings"]}, sort_keys=True, default=str))
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG", pnginfo=info)
    return path


def write_results(results: dict[str, Any], json_path: str | os.PathLike | None = None,
                  plot_path: str | os.PathLike | None = None) -> dict[str, Path]:
    """Write the results JSON (with the Markdown table inside) and/or the plot; returns what was written."""
    written: dict[str, Path] = {}
    if json_path is not None:
        p = Path(json_path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps({**results, "table_markdown": markdown_table(results)}, indent=1) + "\n", encoding="utf-8")
        written["json"] = p
    if plot_path is not None:
        written["plot"] = plot(results, plot_path)
    return written
