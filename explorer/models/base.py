"""The one model protocol every family implements.

A ``GANModel`` bundles a family's networks (generator(s) and discriminator(s)) with its
frozen config, and exposes the three inference verbs the app, CLI and scripts use:
``generate`` (latent → image), ``translate`` (image → image) and ``discriminate``
(image → realness scores). Families override the verbs they support; the others raise a
clear :class:`ExplorerError`. Images are float tensors in [-1, 1], shape [N, C, H, W].
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from explorer.errors import ExplorerError
from explorer.metadata import ModelCard, TrainingSummary


@dataclass(frozen=True)
class DiscriminatorOutput:
    """What a discriminator says about a batch.

    ``scores``: [N] raw logits, higher = "more real". ``patch_map``: [N, 1, h, w] per-patch
    logits for patch discriminators (PatchGAN), else ``None``; ``scores`` is then its mean.
    """

    scores: torch.Tensor
    patch_map: torch.Tensor | None = None


@dataclass(frozen=True)
class Capabilities:
    """What a model can do, decided from its family and config alone: a checkpoint header is enough.

    ``label``: short human name ("StyleGAN", "SR ×4"); ``generates``: latents → images (Explore,
    Evaluate, inversion); ``directions``: the image → image directions it runs ("AtoB", "x4");
    ``has_discriminator``: it can score images; ``domains``: its image domains when it has two
    ("A", "B"), which the caller must name; ``upscales``: a super-resolution direction ("x4").
    """

    label: str
    generates: bool = False
    directions: tuple[str, ...] = ()
    has_discriminator: bool = False
    domains: tuple[str, ...] = ()

    @property
    def upscales(self) -> bool:
        return any(d.startswith("x") for d in self.directions)


class GANModel(nn.Module):
    """Base class of all model families (see ``explorer.registry.register_family``)."""

    kind: ClassVar[str] = "base"
    config_cls: ClassVar[type]
    #: the family's name for people ("DCGAN", "super-resolution")
    display_name: ClassVar[str] = "model"
    #: where latent edits act: "z" (the generator's input) or "w" (a style space); None: no latent
    edit_space: ClassVar[str | None] = None
    #: what truncation ψ does to a latent, for people (generating families)
    truncation_formula: ClassVar[str] = ""
    #: training recipe facts: trained by GAN Explorer's loop, its label in the Train tab, the
    #: adversarial loss when none is chosen, model widths for a short first CPU run, and settings
    #: that a class-conditional run of this family needs
    trainable: ClassVar[bool] = False
    train_label: ClassVar[str] = ""
    default_loss: ClassVar[str] = "nonsaturating"
    quick_model: ClassVar[dict[str, Any]] = {}
    conditional_settings: ClassVar[dict[str, Any]] = {}
    #: translation directions this model supports, e.g. ("AtoB", "BtoA") or ("x4",)
    directions: ClassVar[tuple[str, ...]] = ()
    #: True where the discriminator judges only ``resolution`` x ``resolution`` images; fully
    #: convolutional ones (PatchGAN, SRGAN's) take any size
    fixed_size_discriminator: ClassVar[bool] = False
    #: longest side an any-size discriminator is shown by :meth:`prepare_for_discriminator`
    max_judge_side: ClassVar[int] = 256

    def __init__(self, config: Any):
        super().__init__()
        if not isinstance(config, self.config_cls):
            raise TypeError(f"{type(self).__name__} needs a {self.config_cls.__name__}, got {type(config).__name__}")
        self.config = config
        self._card = ModelCard()
        self._summary = TrainingSummary()

    # ----- what the checkpoint says about it -------------------------------------------------
    @property
    def card(self) -> ModelCard:
        """Model card: intended use, data, limits, provenance (assign a record or a dict)."""
        return self._card

    @card.setter
    def card(self, value: ModelCard | dict[str, Any] | None) -> None:
        self._card = ModelCard.from_dict(value)

    @property
    def summary(self) -> TrainingSummary:
        """Training summary: data set, steps, wall time, final losses, preprocessing (a record or a dict)."""
        return self._summary

    @summary.setter
    def summary(self, value: TrainingSummary | dict[str, Any] | None) -> None:
        self._summary = TrainingSummary.from_dict(value)

    # ----- facts about the model -------------------------------------------------------
    @classmethod
    def capabilities(cls, config: dict[str, Any]) -> Capabilities:
        """What a model of this family with ``config`` (a checkpoint's JSON config) can do."""
        return Capabilities(cls.display_name)

    @property
    def caps(self) -> Capabilities:
        """This instance's :meth:`capabilities`."""
        return self.capabilities(self.config_dict())

    @staticmethod
    def _parts(config: dict[str, Any], default: tuple[str, ...]) -> tuple[str, ...]:
        parts = config.get("parts", default)
        return tuple(parts) if isinstance(parts, (list, tuple)) else default

    @property
    def latent_dim(self) -> int:
        """Size of the latent vector z (0 for image-to-image models)."""
        return int(getattr(self.config, "latent_dim", 0))

    @property
    def num_classes(self) -> int:
        """Number of class labels the generator takes (0 = unconditional)."""
        return int(getattr(self.config, "num_classes", 0))

    @property
    def image_channels(self) -> int:
        return int(getattr(self.config, "channels", 3))

    @property
    def resolution(self) -> int:
        return int(getattr(self.config, "resolution", 0))

    @property
    def can_generate(self) -> bool:
        return self.latent_dim > 0

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

    def channels_of(self, domain: str | None = None) -> int:
        """Channels of images in ``domain`` (two-domain families override this)."""
        return self.image_channels

    def prepare_for_discriminator(self, img: Any, domain: str | None = None) -> torch.Tensor:
        """A decoded image (PIL "RGB"/"L" or uint8 array) -> [1, C, H, W] in [-1, 1], prepared
        exactly as training prepared real images (:func:`explorer.data.dataset.prepare_image`)."""
        # lazy: explorer.data imports torchvision (~1 s), which loading or running a model never needs
        from explorer.data.dataset import prepare_image

        channels = self.channels_of(domain) if domain else self.image_channels
        if self.fixed_size_discriminator:
            return prepare_image(img, channels, resolution=self.resolution)
        return prepare_image(img, channels, max_side=self.max_judge_side)

    # ----- latent-direction hooks (families with a latent space override them) --------------
    def sefa_weight(self) -> tuple[torch.Tensor, str]:
        """SeFa (Shen & Zhou 2021): the weight rows that first read the latent, [M, D], and their space."""
        raise ExplorerError(f"SeFa directions are not defined for {self.kind} models")

    def pca_features(self, z: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, str]:
        """GANSpace (Härkönen et al. 2020): features [S, M] to run PCA on for latents ``z``, and their space."""
        raise ExplorerError(f"PCA directions are not defined for {self.kind} models")

    def traceable_generator(self) -> nn.Module:
        """:meth:`generate` as a plain module for tracing (ONNX export): ``forward(z, labels, psi)`` → images
        in [-1, 1], no checks, ψ a number or a 0-d tensor. It holds only the generator's weights."""
        raise ExplorerError(f"a {self.kind} model does not generate images from latents")

    def translation_network(self, direction: str) -> nn.Module:
        """The network that runs ``direction`` (for export), without the verb's padding and checks."""
        raise ExplorerError(f"a {self.kind} model does not translate images")

    def fast_generator(self) -> nn.Module | None:
        """An inference-only generator ``(z, labels) -> images`` equal to :meth:`generate` up to float
        rounding but faster (e.g. BatchNorm folded into convolutions), or None where a family has none.
        Built from the current weights: rebuild it after they change."""
        return None

    # ----- inference verbs (families override what they support) ------------------------
    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None, truncation: float = 1.0) -> torch.Tensor:
        """Map latents ``z`` [N, latent_dim] (and ``labels`` [N] for conditional models) to images [N, C, H, W]."""
        raise ExplorerError(f"a {self.kind} model does not generate images from latents; use translate()")

    def translate(self, x: torch.Tensor, direction: str = "AtoB") -> torch.Tensor:
        """Map images ``x`` [N, C, H, W] in [-1, 1] to images in [-1, 1]."""
        raise ExplorerError(f"a {self.kind} model does not translate images; use generate()")

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None, domain: str | None = None) -> DiscriminatorOutput:
        """Realness scores of images ``x`` [N, C, H, W] in [-1, 1]."""
        raise ExplorerError(f"a {self.kind} model has no discriminator")

    # ----- helpers shared by families --------------------------------------------------
    def _check_latents(self, z: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ExplorerError(f"latents must have shape [N, {self.latent_dim}], got {list(z.shape)}")
        z = z.to(self.device, torch.float32)
        if self.num_classes:
            if labels is None:
                raise ExplorerError(f"this model is class-conditional ({self.num_classes} classes): pass labels")
            labels = torch.as_tensor(labels, dtype=torch.long, device=self.device).reshape(-1)
            if labels.shape[0] != z.shape[0]:
                raise ExplorerError(f"got {labels.shape[0]} labels for {z.shape[0]} latents")
            if labels.min() < 0 or labels.max() >= self.num_classes:
                raise ExplorerError(f"labels must lie in 0..{self.num_classes - 1}")
        else:
            labels = None
        return z, labels

    def _check_images(self, x: torch.Tensor, channels: int | None = None) -> torch.Tensor:
        channels = self.image_channels if channels is None else channels
        if x.ndim != 4 or x.shape[1] != channels:
            raise ExplorerError(f"images must have shape [N, {channels}, H, W], got {list(x.shape)}")
        return x.to(self.device, torch.float32)
