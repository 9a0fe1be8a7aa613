"""The "domain-classifier" extractor: the project's own classifier as a feature extractor.

Uses a classifier checkpoint trained on the shipped data sets (``checkpoints/classifier_*.safetensors``,
kind "classifier"): ``model.features(x)`` (penultimate layer) for FD/KID/PR and ``model.logits(x)``
for the Inception Score. Scores are labelled as a domain extractor's: they are meaningful for
comparing models on the same data set, and not comparable with published (Inception) FIDs.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

import explorer
from explorer.checkpoint import file_hash
from explorer.errors import ExplorerError
from explorer.metrics.feature_base import FeatureExtractor
from explorer.paths import checkpoints_dir


def find_classifier(dataset: str | None = None, directory: str | os.PathLike | None = None) -> Path:
    """Pick ``classifier_<dataset>*.safetensors`` (or the only classifier) in ``directory``.

    Raises ExplorerError saying what exists and how to train one when nothing fits.
    """
    directory = Path(directory) if directory else checkpoints_dir()
    candidates = sorted(directory.glob("classifier_*.safetensors")) if directory.is_dir() else []
    how = ("train one with the project's classifier recipe, pass weights=PATH "
           "(CLI: --classifier PATH), or use --extractor imagenet-trunk")
    if not candidates:
        raise ExplorerError(f"no domain classifier checkpoint (classifier_*.safetensors) in {directory}; {how}")
    if dataset:
        key = str(dataset).lower()
        matching = [p for p in candidates if p.stem.lower().startswith(f"classifier_{key}")]
        if len(matching) == 1:
            return matching[0]
        if len(matching) > 1:
            exact = [p for p in matching if p.stem.lower() == f"classifier_{key}"]
            if exact:
                return exact[0]
    if len(candidates) == 1:
        return candidates[0]
    names = ", ".join(p.name for p in candidates)
    raise ExplorerError(f"several classifier checkpoints and none for data set {dataset!r}: {names}; pass weights=PATH")


class DomainClassifierExtractor(FeatureExtractor):
    name = "domain-classifier"
    display_name = "domain classifier"
    comparable_with_published = False

    def __init__(self, weights: str | os.PathLike | None = None, dataset: str | None = None, device=None):
        super().__init__()

        path = Path(weights) if weights else find_classifier(dataset)
        if not path.is_file():
            raise ExplorerError(f"classifier checkpoint not found: {path}")
        model = explorer.load(path, device="cpu")
        if model.kind != "classifier" or not hasattr(model, "features") or not hasattr(model, "logits"):
            raise ExplorerError(f"{path.name} holds a {model.kind} model, not a classifier with features()/logits()")
        self.model = model.eval()
        self.weights_path = path
        self.feature_dim = int(getattr(model, "feature_dim", 0))
        self.num_logits = int(model.num_classes)
        source = getattr(model, "extractor_name", None) or path.stem
        self.label = f"domain extractor {source} ({path.name}): not comparable with published FIDs"
        self.logits_label = f"{self.num_logits} logits of the domain classifier {path.name}"
        self._id = None

    def identity(self) -> str:
        if self._id is None:
            self._id = f"{self.name}@{file_hash(self.weights_path)}"
        return self._id

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ExplorerError(f"images must have shape [N, 1 or 3, H, W], got {list(x.shape)}")
        return x.float().clamp(-1.0, 1.0)  # the classifier adapts size and channels itself

    def _forward(self, x):
        return self.model.features(x), self.model.logits(x)
