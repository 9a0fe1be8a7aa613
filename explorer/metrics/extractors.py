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
import torch.nn.functional as F
from torch import nn

from explorer.errors import ExplorerError

_FACTORIES: dict[str, Callable[..., "FeatureExtractor"]] = {}
_BUILT: dict[tuple, "FeatureExtractor"] = {}


class FeatureExtractor(nn.Module):
    """Base class: subclasses set the attributes below and implement ``_forward``."""

    name: str = "base"
    #: short human label shown next to every score
    label: str = ""
    #: the feature space in a metric's name, e.g. "ImageNet-trunk" in "FD (ImageNet-trunk)"
    display_name: str = ""
    #: whether FID/KID/IS with this extractor can be compared with numbers in papers
    comparable_with_published: bool = False
    feature_dim: int = 0
    #: number of logits for the Inception Score (0 = no classifier head)
    num_logits: int = 0
    #: what the logits are, e.g. "ImageNet-1k classes" (shown with IS)
    logits_label: str = ""
    #: images are resized (bilinear) to this square size; 0 = keep the size
    input_size: int = 0
    #: 3 = RGB (grey images are repeated), 1 = grey (RGB averaged)
    input_channels: int = 3

    def identity(self) -> str:
        """A string that changes whenever the features would change (name + weights hash); keys caches."""
        return self.name

    def fd_name(self) -> str:
        """What a Fréchet distance in this feature space is called: "FID" is kept for Inception-v3
        pool3 (:class:`~explorer.metrics.inception.InceptionV3Extractor`); elsewhere "FD (space)"."""
        return f"FD ({self.display_name or self.name})"

    def info(self) -> dict:
        """Plain dict describing the extractor, merged into every result."""
        return {
            "extractor": self.name,
            "extractor_display_name": self.display_name or self.name,
            "fd_name": self.fd_name(),
            "extractor_label": self.label,
            "extractor_id": self.identity(),
            "comparable_with_published": bool(self.comparable_with_published),
            "feature_dim": int(self.feature_dim),
        }

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Resize and convert channels: [N, C, H, W] in [-1, 1] → the network's input."""
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ExplorerError(f"images must have shape [N, 1 or 3, H, W], got {list(x.shape)}")
        x = x.float().clamp(-1.0, 1.0)
        if x.shape[1] == 1 and self.input_channels == 3:
            x = x.expand(-1, 3, -1, -1)
        elif x.shape[1] == 3 and self.input_channels == 1:
            x = x.mean(dim=1, keepdim=True)
        if self.input_size and tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            down = min(x.shape[-2:]) > self.input_size
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                              align_corners=False, antialias=down)
        return x

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Images [N, C, H, W] in [-1, 1] → (features [N, D], logits [N, K] or None), float32."""
        tensor = next(self.parameters(), None)
        tensor = tensor if tensor is not None else next(self.buffers(), None)
        device = tensor.device if tensor is not None else torch.device("cpu")
        feats, logits = self._forward(self.prepare(x.to(device)))
        return feats.float(), (logits.float() if logits is not None else None)


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
    from explorer.runtime import resolve_device

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
        from explorer.metrics.imagenet_trunk import default_weights_path, load_imagenet_trunk

        self.weights_path = Path(weights) if weights else default_weights_path()
        self.net = load_imagenet_trunk(self.weights_path, device="cpu")
        self._id = None

    def identity(self) -> str:
        if self._id is None:
            from explorer.checkpoint import file_hash

            self._id = f"{self.name}@{file_hash(self.weights_path)}"
        return self._id

    def _forward(self, x):
        return self.net(x), None


@register_extractor("imagenet-trunk")
def _build_imagenet_trunk(device=None, weights=None, **_ignored) -> FeatureExtractor:
    return ImagenetTrunkExtractor(weights)


@register_extractor("inception-v3")
def _build_inception(device=None, weights=None, **_ignored) -> FeatureExtractor:
    from explorer.metrics.inception import InceptionV3Extractor

    return InceptionV3Extractor(weights)


@register_extractor("domain-classifier")
def _build_domain(device=None, weights=None, dataset=None, **_ignored) -> FeatureExtractor:
    from explorer.metrics.domain import DomainClassifierExtractor

    return DomainClassifierExtractor(weights, dataset=dataset, device=device)
