"""Feature extractors for the metrics: a registry, a common interface and the built-in three.

Every extractor turns images in [-1, 1] ([N, C, H, W], any size, 1 or 3 channels) into
features [N, D] and, where it has a classifier head, logits [N, K] for the Inception Score.
Every result the metrics report carries the extractor's ``name``, ``label`` and whether its
scores are ``comparable_with_published`` numbers.

Built in (``get_extractor(name, **options)``):

- ``"imagenet-trunk"``: Keras InceptionV3 up to ``mixed5`` (frozen ImageNet weights, shipped
  offline, converted from nsfwjs 4.4.0), pooled → 768-d. Non-standard; no logits.
- ``"inception-v3"``: torchvision's Inception3 pool3 → 2048-d, from a weights file the user
  supplies (``weights=`` or ``$GAN_EXPLORER_INCEPTION_WEIGHTS``): torchvision's ``inception_v3``
  state_dict (1000 logits) or pytorch-fid's ``pt_inception-2015-12-05`` FID weights (1008 logits;
  the FID variant of the blocks is used, so scores match pytorch-fid's).
- ``"domain-classifier"``: the project's classifier checkpoint trained on the shipped data sets
  (``checkpoints/classifier_*.safetensors``), its penultimate features and logits. A domain
  extractor: scores are not comparable with published FIDs.

Register more with ``@register_extractor("name")`` on a factory ``f(device=None, **options)``
returning a :class:`FeatureExtractor`; names are unique.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from explorer.checkpoint import file_hash
from explorer.errors import ExplorerError
from explorer.metrics.feature_base import FeatureExtractor
from explorer.metrics.imagenet_trunk import default_weights_path, load_imagenet_trunk
from explorer.runtime import resolve_device

_FACTORIES: dict[str, Callable[..., "FeatureExtractor"]] = {}
_BUILT: dict[tuple, "FeatureExtractor"] = {}


def register_extractor(name: str):
    """Decorator registering a factory ``f(device=None, **options) -> FeatureExtractor`` as ``name``."""

    def decorate(factory):
        if name in _FACTORIES:
            raise ValueError(f"feature extractor {name!r} is already registered")
        _FACTORIES[name] = factory
        return factory

    return decorate


def available_extractors() -> list[str]:
    return sorted(_FACTORIES)


def get_extractor(name_or_extractor, device=None, **options) -> FeatureExtractor:
    """Build (or reuse) the extractor ``name`` on ``device``. Options go to its factory.

    Unknown options are ignored by factories that do not use them (e.g. ``dataset``), so callers
    can pass the same options to any extractor. Built extractors are cached per process.
    """
    if isinstance(name_or_extractor, FeatureExtractor):
        return name_or_extractor

    name = str(name_or_extractor)
    if name not in _FACTORIES:
        raise ExplorerError(f"unknown feature extractor {name!r}; available: {', '.join(available_extractors())}")
    device = resolve_device(device)
    key = (name, str(device), tuple(sorted((k, str(v)) for k, v in options.items())))
    if key not in _BUILT:
        extractor = _FACTORIES[name](device=device, **options)
        _BUILT[key] = extractor.to(device).eval()
    return _BUILT[key]


def clear_extractor_cache() -> None:
    _BUILT.clear()


# ----- running an extractor over many images -----------------------------------------------
def iter_batches(images, batch_size: int) -> Iterable[torch.Tensor]:
    """Yield image batches from a tensor/array [N, C, H, W], a Dataset of (image, label), or an iterable of batches."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if isinstance(images, torch.Tensor):
        if images.ndim == 3:
            images = images.unsqueeze(1)
        for start in range(0, images.shape[0], batch_size):
            yield images[start:start + batch_size]
        return
    if hasattr(images, "__getitem__") and hasattr(images, "__len__"):  # map-style Dataset
        for start in range(0, len(images), batch_size):
            items = [images[i] for i in range(start, min(start + batch_size, len(images)))]
            yield torch.stack([it[0] if isinstance(it, (tuple, list)) else it for it in items])
        return
    for batch in images:  # iterable of batches (e.g. a DataLoader or a generator)
        yield batch[0] if isinstance(batch, (tuple, list)) else batch


def extract(extractor, images, batch_size: int = 64, progress: Callable | None = None, total: int | None = None,
            stage: str = "features", device=None) -> dict[str, np.ndarray | None]:
    """Run ``extractor`` over ``images``; returns {"features": float64 [N, D], "logits": float64 [N, K] | None}.

    ``progress(stage, done, total)`` is called after each batch.
    """
    extractor = get_extractor(extractor, device=device)
    if total is None and hasattr(images, "__len__"):
        total = len(images)
    feats, logits, done = [], [], 0
    for batch in iter_batches(images, batch_size):
        f, lg = extractor(batch)
        feats.append(f.cpu().double().numpy())
        if lg is not None:
            logits.append(lg.cpu().double().numpy())
        done += batch.shape[0]
        if progress is not None:
            progress(stage, done, total or done)
    if not feats:
        raise ExplorerError("no images to extract features from")
    features = np.concatenate(feats)
    if not np.isfinite(features).all():
        raise ExplorerError("features contain NaN or infinity (are the images finite?)")
    return {"features": features, "logits": np.concatenate(logits) if logits else None}


# ----- built-in extractors -------------------------------------------------------------------
class ImagenetTrunkExtractor(FeatureExtractor):
    name = "imagenet-trunk"
    display_name = "ImageNet-trunk"
    label = "ImageNet InceptionV3 trunk (mixed5, 768-d; non-standard, not comparable with published FIDs)"
    comparable_with_published = False
    feature_dim = 768
    input_size = 299

    def __init__(self, weights: str | os.PathLike | None = None):
        super().__init__()

        self.weights_path = Path(weights) if weights else default_weights_path()
        self.net = load_imagenet_trunk(self.weights_path, device="cpu")
        self._id = None

    def identity(self) -> str:
        if self._id is None:
            self._id = f"{self.name}@{file_hash(self.weights_path)}"
        return self._id

    def _forward(self, x):
        return self.net(x), None


@register_extractor("imagenet-trunk")
def _build_imagenet_trunk(device=None, weights=None, **_ignored) -> FeatureExtractor:
    return ImagenetTrunkExtractor(weights)


@register_extractor("inception-v3")
def _build_inception(device=None, weights=None, **_ignored) -> FeatureExtractor:
    from explorer.metrics.inception import InceptionV3Extractor  # here, not at the top: torchvision costs start-up time

    return InceptionV3Extractor(weights)


@register_extractor("domain-classifier")
def _build_domain(device=None, weights=None, dataset=None, **_ignored) -> FeatureExtractor:
    from explorer.metrics.domain import DomainClassifierExtractor  # built on demand like the others

    return DomainClassifierExtractor(weights, dataset=dataset, device=device)
