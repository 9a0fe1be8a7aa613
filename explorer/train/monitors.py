"""Mode-collapse monitor: is the generator still producing varied images?

Two measures on the fixed sample batch (the same latents every time, so readings are comparable
across steps):

- **diversity ratio** = mean pairwise L2 distance between generated images (pixel space, [-1, 1])
  divided by the same measure on an equally large fixed batch of real images. A collapsed
  generator (every latent → nearly the same image) scores near 0; a generator as varied as the
  data scores near 1. Pixel L2 needs no extra network, so it works for any data set. For a
  class-conditional generator the ratio is taken **within each class** (samples of class c vs
  real images of class c, averaged over classes): a generator that draws one prototype per class
  has plenty of variety across the batch but none where it matters, and only this catches it.
- **class coverage** (labelled data with a project classifier checkpoint,
  ``checkpoints/classifier_<data>.safetensors``): the fraction of classes the classifier finds
  among the samples — for a class-conditional generator, the fraction of classes ``c`` for which
  some sample conditioned on ``c`` is classified as ``c``.

Either measure below its threshold gives an alert. Nothing here touches the global RNG, so
monitoring never changes the training trajectory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from explorer.checkpoint import load
from explorer.errors import ExplorerError


def mean_pairwise_distance(x: torch.Tensor) -> float:
    """Mean L2 distance over all pairs of images in ``x`` [N, ...] (N ≥ 2)."""
    flat = x.detach().flatten(1).float().cpu()
    if flat.shape[0] < 2:
        raise ExplorerError("diversity needs at least two images")
    return float(torch.pdist(flat).mean())


def mean_within_class_distance(x: torch.Tensor, labels: torch.Tensor) -> dict[int, float]:
    """Mean pairwise L2 distance within each class of ``labels`` that has ≥ 2 images."""
    labels = labels.detach().cpu()
    return {int(c): mean_pairwise_distance(x[(labels == c).to(x.device)])
            for c in labels.unique() if int((labels == c).sum()) >= 2}


@dataclass(frozen=True)
class CollapseReading:
    diversity: float  # generated / real mean pairwise distance (within class for conditional samples)
    coverage: float | None  # fraction of classes found (None without a classifier)
    collapsed: bool
    message: str


class CollapseMonitor:
    """Compare fixed-batch samples with real data; see the module docstring.

    Args:
        reference: real images [M, C, H, W] in [-1, 1] (M ≥ 2), fixed for the whole run.
        threshold: alert when diversity ratio < threshold.
        classifier: optional project classifier (``explorer.models.classifier.Classifier``).
        num_classes: classes of the data (for coverage).
        coverage_threshold: alert when coverage < this.
        reference_labels: labels [M] of ``reference``; with them, samples checked with labels are
            compared class by class (see the module docstring).
    """

    def __init__(self, reference: torch.Tensor, threshold: float = 0.2, classifier=None, num_classes: int = 0,
                 coverage_threshold: float = 0.5, reference_labels: torch.Tensor | None = None):
        self.real_diversity = mean_pairwise_distance(reference)
        self.real_class_diversity = (mean_within_class_distance(reference, reference_labels)
                                     if reference_labels is not None and num_classes >= 2 else {})
        self.threshold = threshold
        self.classifier = classifier if num_classes >= 2 else None
        self.num_classes = num_classes
        self.coverage_threshold = coverage_threshold

    def check(self, samples: torch.Tensor, labels: torch.Tensor | None = None) -> CollapseReading:
        """Measure ``samples`` [N, C, H, W]; ``labels`` [N] when the generator is class-conditional."""
        ratio = mean_pairwise_distance(samples) / max(self.real_diversity, 1e-12)
        within = False
        if labels is not None and self.real_class_diversity:
            per_class = mean_within_class_distance(samples, labels)
            ratios = [d / max(self.real_class_diversity[c], 1e-12) for c, d in per_class.items()
                      if c in self.real_class_diversity]
            if ratios:
                ratio, within = sum(ratios) / len(ratios), True
        coverage = None
        if self.classifier is not None:
            pred = self.classifier.predict(samples).cpu()
            if labels is not None:
                labels = labels.cpu()
                hit = {int(c) for c, p in zip(labels, pred) if int(c) == int(p)}
            else:
                hit = {int(p) for p in pred}
            coverage = len(hit) / self.num_classes
        problems = []
        if ratio < self.threshold:
            where = " within classes" if within else ""
            problems.append(f"sample diversity{where} is {ratio:.2f}× that of real data (threshold {self.threshold})")
        if coverage is not None and coverage < self.coverage_threshold:
            what = "classes drawn correctly" if labels is not None else "classes present"
            problems.append(f"only {coverage:.0%} of {self.num_classes} {what} in the samples (threshold {self.coverage_threshold:.0%})")
        msg = "possible mode collapse: " + "; ".join(problems) if problems else "samples look varied"
        return CollapseReading(diversity=ratio, coverage=coverage, collapsed=bool(problems), message=msg)


def classifier_path(data: str) -> Path | None:
    """``checkpoints/classifier_<data>.safetensors`` in the working directory or the source tree."""
    name = f"classifier_{Path(str(data)).name}.safetensors"
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        p = root / "checkpoints" / name
        if p.is_file():
            return p
    return None


def find_classifier(cfg, device: torch.device):
    """The classifier the config asks for (``classifier`` = "auto", a path, or None), or None."""
    if cfg.classifier is None:
        return None
    path = classifier_path(cfg.data) if cfg.classifier == "auto" else Path(cfg.classifier)
    if path is None:
        return None

    return load(path, device=device, kind="classifier")
