"""Small image classifier: the project's own judge for the shipped data sets.

It is not a GAN, but it is stored, loaded and cached like one (kind "classifier"). Two uses:

- class coverage: the mode-collapse monitor asks it which classes generated samples show;
- features: ``features(x)`` [N, F] (penultimate layer) is the domain feature extractor for
  Fréchet distance / KID / precision-recall on the shipped data. Scores computed with it are
  *not* comparable to Inception-based FID and must be labelled with the extractor's name.

Architecture: three conv stages (3×3 conv-BN-ReLU, widths w, 2w, 4w; max-pool between),
global average pooling → ``features`` [N, 4w], dropout, linear → ``logits``. Global pooling
makes it resolution-agnostic; inputs of another size or channel count are adapted
(bilinear antialiased resize to ``config.resolution``; RGB→grey by channel mean, grey→RGB by repetition).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from explorer.errors import ExplorerError, TrainingError
from explorer.metadata import model_dataset_name
from explorer.models.base import GANModel
from explorer.registry import register_family


@dataclass(frozen=True)
class ClassifierConfig:
    channels: int = 1
    resolution: int = 28
    num_classes: int = 10
    width: int = 32
    dropout: float = 0.3
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_names", tuple(self.class_names))
        if self.channels not in (1, 3):
            raise ValueError(f"classifier channels must be 1 or 3, got {self.channels}")
        if self.resolution < 8 or self.num_classes < 2 or self.width < 1:
            raise ValueError("classifier needs resolution ≥ 8, num_classes ≥ 2 and width ≥ 1")
        if self.resolution > 1024:  # bounds what a config in a file can make us build
            raise ValueError(f"classifier resolution must be ≤ 1024, got {self.resolution}")
        if self.class_names and len(self.class_names) != self.num_classes:
            raise ValueError(f"{len(self.class_names)} class names for {self.num_classes} classes")


def _conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]


@register_family("classifier")
class Classifier(GANModel):
    """CNN classifier with ``features`` (penultimate, [N, 4·width]) and ``logits`` ([N, num_classes])."""

    config_cls = ClassifierConfig
    display_name = "classifier"

    def __init__(self, config: ClassifierConfig):
        super().__init__(config)
        w = config.width
        self.body = nn.Sequential(
            *_conv_bn_relu(config.channels, w), *_conv_bn_relu(w, w), nn.MaxPool2d(2),  # [N, w, R/2, R/2]
            *_conv_bn_relu(w, 2 * w), *_conv_bn_relu(2 * w, 2 * w), nn.MaxPool2d(2),  # [N, 2w, R/4, R/4]
            *_conv_bn_relu(2 * w, 4 * w),  # [N, 4w, R/4, R/4]
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # [N, 4w]
        )
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(4 * w, config.num_classes)  # [N, num_classes]

    @property
    def latent_dim(self) -> int:
        return 0

    @property
    def feature_dim(self) -> int:
        return 4 * self.config.width

    @property
    def extractor_name(self) -> str:
        """Name to print next to any metric computed on these features."""
        src = model_dataset_name(self) or "unknown data"
        return f"explorer-classifier(w={self.config.width}, {src})"

    def adapt(self, x: torch.Tensor) -> torch.Tensor:
        """Bring images [N, C, H, W] in [-1, 1] to this classifier's channels and resolution."""
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ExplorerError(f"images must have shape [N, 1 or 3, H, W], got {list(x.shape)}")
        x = x.to(self.device, torch.float32)
        if x.shape[1] != self.config.channels:
            x = x.mean(dim=1, keepdim=True) if self.config.channels == 1 else x.expand(-1, 3, -1, -1)
        r = self.config.resolution
        if x.shape[-2:] != (r, r):
            x = F.interpolate(x, size=(r, r), mode="bilinear", align_corners=False, antialias=True)
        return x  # [N, C, R, R]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features [N, 4·width] of images [N, C, H, W] in [-1, 1]."""
        return self.body(self.adapt(x))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits [N, num_classes] of images [N, C, H, W] in [-1, 1]."""
        return self.fc(self.dropout(self.features(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)

    def generate(self, z, labels=None, truncation=1.0):
        raise ExplorerError("a classifier does not generate images; use logits() or features()")

    def translate(self, x, direction="AtoB"):
        raise ExplorerError("a classifier does not translate images; use logits() or features()")

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Predicted class ids [N] (eval mode, batched)."""
        was_training = self.training
        self.eval()
        try:
            return torch.cat([self.logits(x[i : i + batch_size]).argmax(1).cpu() for i in range(0, len(x), batch_size)])
        finally:
            self.train(was_training)

    def fit(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        epochs: int = 5,
        batch_size: int = 128,
        lr: float = 2e-3,
        seed: int = 0,
        augment: bool = True,
        on_epoch: Callable[[int, float], None] | None = None,
    ) -> list[float]:
        """Train on images [N, C, H, W] in [-1, 1] with int labels [N]; returns per-epoch mean loss.

        AdamW with a cosine learning-rate schedule; ``augment`` adds random ±2 px shifts (no flips:
        digits and many emoji are not mirror-symmetric). Deterministic for a given ``seed``.
        Leaves the model in eval mode.
        """
        labels = torch.as_tensor(labels, dtype=torch.long)
        if len(images) != len(labels) or len(images) == 0:
            raise TrainingError(f"need as many labels as images (got {len(images)} images, {len(labels)} labels)")
        if labels.min() < 0 or labels.max() >= self.config.num_classes:
            raise TrainingError(f"labels must lie in 0..{self.config.num_classes - 1}")
        images = self.adapt(images).cpu()
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.AdamW(self.parameters(), lr=lr, weight_decay=1e-4)
        steps_per_epoch = (len(images) + batch_size - 1) // batch_size
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, epochs * steps_per_epoch))
        history: list[float] = []
        self.train()
        for epoch in range(epochs):
            order = torch.randperm(len(images), generator=gen)
            total = 0.0
            for i in range(0, len(images), batch_size):
                idx = order[i : i + batch_size]
                xb, yb = images[idx], labels[idx]
                if augment:
                    xb = _random_shift(xb, 2, gen)
                loss = F.cross_entropy(self.logits(xb.to(self.device)), yb.to(self.device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += loss.item() * len(idx)
            history.append(total / len(images))
            if on_epoch is not None:
                on_epoch(epoch, history[-1])
        self.recalibrate_batchnorm(images, batch_size)
        self.summary.update(steps=epochs * steps_per_epoch, final_loss=history[-1] if history else None)
        return history

    @torch.no_grad()
    def recalibrate_batchnorm(self, images: torch.Tensor, batch_size: int = 256) -> None:
        """Recompute BatchNorm running statistics as exact averages over ``images``; leaves eval mode.

        Running averages with momentum lag behind the weights after short training runs, so
        eval-mode predictions can be far worse than training-mode ones; one pass fixes that.
        """
        bns = [m for m in self.modules() if isinstance(m, nn.BatchNorm2d)]
        saved = [bn.momentum for bn in bns]
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative moving average = plain mean over the batches seen
        self.train()
        for i in range(0, len(images), batch_size):
            self.body(self.adapt(images[i : i + batch_size]))
        for bn, momentum in zip(bns, saved):
            bn.momentum = momentum
        self.eval()


def _random_shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Shift each image by up to ±max_shift pixels (replicate-padded), one offset per batch."""
    dy, dx = (int(v) for v in torch.randint(-max_shift, max_shift + 1, (2,), generator=gen))
    p = max_shift
    padded = F.pad(x, (p, p, p, p), mode="replicate")
    h, w = x.shape[-2:]
    return padded[..., p + dy : p + dy + h, p + dx : p + dx + w]
