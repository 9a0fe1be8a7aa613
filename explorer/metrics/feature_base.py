"""The interface every metrics feature extractor implements (:class:`FeatureExtractor`).

Its own module so that the extractors (``inception``, ``domain``, and the built-in ImageNet trunk
in :mod:`explorer.metrics.extractors`) build on it without importing the registry that builds them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from explorer.errors import ExplorerError


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
