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

This module runs the experiment; its statistics, table, chart and files are
:mod:`explorer.experiments.augment_report` (names re-exported here).
"""

from __future__ import annotations

import math
import os
import platform
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch

from explorer import __version__
from explorer.data import get_dataset
from explorer.data.dataset import convert_channels, resize_center_crop
from explorer.errors import ExplorerError
from explorer.experiments.augment_report import (
    ARMS,
    markdown_table,
    paired_differences,
    plot,
    summarize,
    t_interval,
    write_results,
)
from explorer.export.common import resolve_model
from explorer.export.dataset import filter_classifier, synthetic_tensors
from explorer.models.classifier import Classifier, ClassifierConfig

DEFAULT_GENERATOR = "checkpoints/dcgan_digits.safetensors"
#: synthetic seeds of repetition s start at (s + 1) * this (far from seeds users pick by hand)
SYNTHETIC_SEED_BASE = 1_000_000

# the reporting names live in augment_report and are importable from here too
__all__ = [
    "ARMS",
    "DEFAULT_GENERATOR",
    "SYNTHETIC_SEED_BASE",
    "AugmentSettings",
    "markdown_table",
    "paired_differences",
    "plot",
    "run_augment",
    "summarize",
    "t_interval",
    "write_results",
]


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
    gen_model, identity = _conditional_generator(generator if generator is not None else settings.generator)
    dev = torch.device(device) if device is not None else gen_model.device
    gen_model = gen_model.to(dev)
    data = _ExperimentData.load(settings, gen_model.num_classes)
    filter_clf = None
    if settings.min_confidence is not None:
        filter_clf, _ = filter_classifier(None, settings.dataset)
        filter_clf = filter_clf.to(dev)
    runner = _Runner(settings, data, dev, progress)
    for seed in settings.seeds:
        x_syn, y_syn, _ = synthetic_tensors(
            gen_model, runner.n_syn[-1], seed=SYNTHETIC_SEED_BASE * (seed + 1), truncation=settings.truncation,
            min_confidence=settings.min_confidence, classifier=filter_clf, batch_size=256,
        )
        x_syn = _to_data_format(x_syn, data.channels, data.resolution)  # [K*N, C, R, R]
        runner.run_seed(seed, x_syn, y_syn)
    runs = runner.runs
    return {
        "experiment": "augment",
        "version": __version__,
        "settings": asdict(settings),
        "generator": {k2: identity[k2] for k2 in ("model", "model_kind", "model_hash", "model_file", "model_dataset")},
        "classifier": {"config": asdict(runner.clf_config), "trainer": "explorer.models.classifier.Classifier.fit (AdamW, one-cycle, ±2 px shifts)"},
        "eval": {"split": "heldout", "num_images": len(data.x_eval)},
        "runs": runs,
        "summary": summarize(runs),
        "paired": paired_differences(runs),
        "wall_time_s": round(time.perf_counter() - started, 1),
        "cpu_time_s": round(time.process_time() - cpu_started, 1),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                    "device": str(dev)},
    }


def _conditional_generator(source) -> tuple[Any, dict[str, Any]]:
    """The generator to draw synthetic images from, and its identity; refuses unconditional ones."""
    gen_model, identity = resolve_model(source)
    if not gen_model.caps.generates or not gen_model.num_classes:
        raise ExplorerError(f"the augmentation experiment needs a class-conditional generator, got a "
                            f"{'conditional ' if gen_model.num_classes else 'unconditional '}{gen_model.kind} model")
    return gen_model, identity


@dataclass
class _ExperimentData:
    """The real images: the train split (subsets are drawn from it) and the held-out evaluation set."""

    x_train: torch.Tensor  # [N, C, R, R]
    y_train: torch.Tensor  # [N]
    x_eval: torch.Tensor
    y_eval: torch.Tensor
    num_classes: int
    channels: int
    resolution: int
    class_names: tuple[str, ...]

    @classmethod
    def load(cls, settings: AugmentSettings, generator_classes: int) -> "_ExperimentData":
        train = get_dataset(settings.dataset, split="train")
        heldout = get_dataset(settings.dataset, split="heldout")
        x_train, y_train = train.tensors()  # [N, C, R, R], [N]
        x_eval, y_eval = heldout.tensors()
        if settings.eval_limit:
            x_eval, y_eval = x_eval[: settings.eval_limit], y_eval[: settings.eval_limit]
        k = train.num_classes
        if generator_classes != k:
            raise ExplorerError(f"the generator has {generator_classes} classes, the data set {settings.dataset!r} has {k}")
        if max(settings.real_sizes) > len(x_train):
            raise ExplorerError(f"the {settings.dataset} train split has only {len(x_train)} images")
        return cls(x_train, y_train, x_eval, y_eval, k, train.channels, train.resolution, tuple(train.class_names))


class _Runner:
    """Trains and evaluates the classifier of every arm, budget and seed, and records each run."""

    def __init__(self, settings: AugmentSettings, data: _ExperimentData, device: torch.device,
                 progress: Callable[[int, int, str], None] | None):
        self.settings, self.data, self.device, self.progress = settings, data, device, progress
        self.clf_config = ClassifierConfig(channels=data.channels, resolution=data.resolution, num_classes=data.num_classes,
                                           width=settings.width, class_names=data.class_names)
        self.n_syn = sorted(settings.synthetic_per_class)
        self.total = len(settings.seeds) * (len(settings.real_sizes) * (1 + len(self.n_syn))
                                            + (len(self.n_syn) if settings.synthetic_only else 0))
        self.runs: list[dict[str, Any]] = []

    def train_eval(self, seed: int, x: torch.Tensor, y: torch.Tensor) -> tuple[float, int]:
        """Accuracy on the held-out images of a classifier trained on (x, y), and its step count."""
        settings = self.settings
        torch.manual_seed(seed)  # same initial weights for every arm of this seed
        clf = Classifier(self.clf_config).to(self.device)
        steps_per_epoch = math.ceil(len(x) / settings.batch_size)
        epochs = max(1, round(settings.steps / steps_per_epoch))
        clf.fit(x, y, epochs=epochs, batch_size=settings.batch_size, lr=settings.lr, seed=seed)
        acc = float((clf.predict(self.data.x_eval) == self.data.y_eval).float().mean())
        return acc, epochs * steps_per_epoch

    def record(self, seed: int, arm: str, real: int, syn: int, x: torch.Tensor, y: torch.Tensor, what: str) -> None:
        acc, steps = self.train_eval(seed, x, y)
        self.runs.append({"seed": seed, "arm": arm, "real": real, "synthetic_per_class": syn, "accuracy": acc,
                          "steps": steps})
        _tick(self.progress, len(self.runs), self.total, what)

    def run_seed(self, seed: int, x_syn: torch.Tensor, y_syn: torch.Tensor) -> None:
        """Every budget with and without synthetic images, then (if asked) synthetic images alone."""
        order = _balanced_order(self.data.y_train, seed)
        for n in sorted(self.settings.real_sizes):
            idx = order[:n]
            x_real, y_real = self.data.x_train[idx], self.data.y_train[idx]
            self.record(seed, "real", n, 0, x_real, y_real, f"seed {seed}: {n} real")
            for m in self.n_syn:
                keep = _first_per_class(y_syn, m)
                x = torch.cat([x_real, x_syn[keep]])
                y = torch.cat([y_real, y_syn[keep]])
                self.record(seed, "real+synthetic", n, m, x, y, f"seed {seed}: {n} real + {m}/class synthetic")
        if self.settings.synthetic_only:
            for m in self.n_syn:
                keep = _first_per_class(y_syn, m)
                self.record(seed, "synthetic", 0, m, x_syn[keep], y_syn[keep], f"seed {seed}: {m}/class synthetic only")


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
