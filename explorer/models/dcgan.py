"""DCGAN family: a transposed-convolution generator and a strided-convolution discriminator.

Architecture after Radford, Metz & Chintala (2016), in the layout of pytorch/examples
``dcgan/main.py``: at resolution 64 with ``ngf``/``ndf`` = 64 the generator and discriminator
here are layer-for-layer that network (bias-free convolutions, BatchNorm, ReLU/Tanh in G,
LeakyReLU(0.2) in D, no BatchNorm on D's first layer), so its checkpoints import exactly
(see ``explorer.importers.pytorch_dcgan``). Resolutions 32 and 128 drop or add one stage.

Class conditioning (``num_classes > 0``): G concatenates a learned label embedding to z;
D is a projection discriminator (Miyato & Koyama 2018): logit = unconditional logit +
<embed(y), sum-pooled last features>.

Stage widths, as multiples of ``ngf``/``ndf`` (capped at 8 so 128 px stays affordable):

=========  =======================  ======================
resolution G: 4x4 → … → last stage  D: first → … → 4x4
=========  =======================  ======================
32         4, 2, 1                  1, 2, 4
64         8, 4, 2, 1               1, 2, 4, 8
128        8, 8, 4, 2, 1            1, 2, 4, 8, 8
=========  =======================  ======================
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from explorer.errors import ExplorerError
from explorer.models.base import Capabilities, DiscriminatorOutput, GANModel
from explorer.models.fuse import fuse_dcgan
from explorer.models.layers import grad_mode_for, init_normal_, truncate
from explorer.registry import register_family

_PARTS = ("G", "D")


@dataclass(frozen=True)
class DCGANConfig:
    """Everything needed to rebuild a DCGAN (stored as JSON in checkpoints).

    ``parts`` lists the networks the model carries: a checkpoint imported from a lone
    ``netG_epoch_N.pth`` has ``("G",)`` and no discriminator. ``d_norm``: "batch" (DCGAN
    paper), "spectral" (spectral norm on every D layer, no BatchNorm; often steadier
    training) or "none".
    """

    resolution: int = 64
    channels: int = 3
    latent_dim: int = 100
    num_classes: int = 0
    ngf: int = 64
    ndf: int = 64
    embed_dim: int = 32  # size of the generator's label embedding (conditional models only)
    d_norm: str = "batch"
    parts: tuple[str, ...] = _PARTS

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", tuple(self.parts))  # JSON brings lists back
        if self.resolution not in (32, 64, 128):
            raise ValueError(f"DCGAN resolution must be 32, 64 or 128, got {self.resolution}")
        if self.channels not in (1, 3):
            raise ValueError(f"DCGAN channels must be 1 or 3, got {self.channels}")
        for name in ("latent_dim", "ngf", "ndf"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.num_classes < 0 or (self.num_classes and self.embed_dim < 1):
            raise ValueError("num_classes must be ≥ 0 and embed_dim ≥ 1 for conditional models")
        if self.d_norm not in ("batch", "spectral", "none"):
            raise ValueError(f"d_norm must be 'batch', 'spectral' or 'none', got {self.d_norm!r}")
        if not self.parts or any(p not in _PARTS for p in self.parts) or len(set(self.parts)) != len(self.parts):
            raise ValueError(f"parts must be a non-empty subset of {_PARTS}, got {self.parts}")

    @property
    def num_stages(self) -> int:
        """Number of ×2 resolution changes between 4x4 and the image."""
        return int(math.log2(self.resolution // 4))

    @property
    def d_mults(self) -> list[int]:
        return [min(2**i, 8) for i in range(self.num_stages)]


class DCGANGenerator(nn.Module):
    """z [N, latent_dim] (+ labels [N]) → images [N, C, R, R] in [-1, 1].

    At resolution 64, ngf=64 (pytorch/examples)::

        z                       # [N, nz (+embed), 1, 1]
        stem                    # [N, ngf*8, 4, 4]
        blocks[0]               # [N, ngf*4, 8, 8]
        blocks[1]               # [N, ngf*2, 16, 16]
        blocks[2]               # [N, ngf, 32, 32]
        to_rgb                  # [N, C, 64, 64]
    """

    def __init__(self, cfg: DCGANConfig):
        super().__init__()
        mults = cfg.d_mults[::-1]  # e.g. [8, 4, 2, 1]
        self.embed = nn.Embedding(cfg.num_classes, cfg.embed_dim) if cfg.num_classes else None
        in_dim = cfg.latent_dim + (cfg.embed_dim if cfg.num_classes else 0)
        self.stem = nn.Sequential(
            nn.ConvTranspose2d(in_dim, cfg.ngf * mults[0], 4, 1, 0, bias=False),  # [N, ngf*m0, 4, 4]
            nn.BatchNorm2d(cfg.ngf * mults[0]),
            nn.ReLU(True),
        )
        # each block doubles H, W: [N, ngf*m_i, s, s] -> [N, ngf*m_{i+1}, 2s, 2s]
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.ConvTranspose2d(cfg.ngf * m_in, cfg.ngf * m_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(cfg.ngf * m_out),
                nn.ReLU(True),
            )
            for m_in, m_out in zip(mults[:-1], mults[1:])
        )
        self.to_rgb = nn.Sequential(
            nn.ConvTranspose2d(cfg.ngf * mults[-1], cfg.channels, 4, 2, 1, bias=False),  # [N, C, R, R]
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], dim=1)  # [N, nz + embed_dim]
        h = z[:, :, None, None]  # [N, nz(+embed), 1, 1]
        if self.stem[0].weight.is_contiguous(memory_format=torch.channels_last):
            h = h.contiguous(memory_format=torch.channels_last)
        h = self.stem(h)  # [N, ngf*m0, 4, 4]
        for block in self.blocks:
            h = block(h)  # [N, ngf*m_i, 2s, 2s]
        return self.to_rgb(h)  # [N, C, R, R]


class DCGANDiscriminator(nn.Module):
    """images [N, C, R, R] (+ labels [N]) → logits [N]; higher = more real.

    At resolution 64, ndf=64 (pytorch/examples, minus its final Sigmoid)::

        x                       # [N, C, 64, 64]
        blocks[0]               # [N, ndf, 32, 32]     (no norm on the first layer)
        blocks[1]               # [N, ndf*2, 16, 16]
        blocks[2]               # [N, ndf*4, 8, 8]
        blocks[3]               # [N, ndf*8, 4, 4]
        head                    # [N, 1, 1, 1] -> [N]
    """

    def __init__(self, cfg: DCGANConfig):
        super().__init__()
        mults = cfg.d_mults
        bias = cfg.d_norm != "batch"  # convs followed by BatchNorm need no bias (BN re-centres)
        blocks = []
        in_ch = cfg.channels
        for i, m in enumerate(mults):
            layers: list[nn.Module] = [nn.Conv2d(in_ch, cfg.ndf * m, 4, 2, 1, bias=bias)]  # halves H, W
            if i > 0 and cfg.d_norm == "batch":
                layers.append(nn.BatchNorm2d(cfg.ndf * m))
            layers.append(nn.LeakyReLU(0.2, True))
            blocks.append(nn.Sequential(*layers))
            in_ch = cfg.ndf * m
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Conv2d(in_ch, 1, 4, 1, 0, bias=False)  # [N, 1, 1, 1]
        # projection discriminator: one learned vector per class, dotted with pooled features
        self.embed = nn.Embedding(cfg.num_classes, in_ch) if cfg.num_classes else None
        self.apply(init_normal_)
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, 0.0, 0.02)
        if cfg.d_norm == "spectral":
            # after init: spectral_norm's power-iteration vectors must describe the final weights
            for module in self.modules():
                if isinstance(module, (nn.Conv2d, nn.Embedding)):
                    spectral_norm(module)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = x
        for block in self.blocks:
            h = block(h)  # [N, ndf*m_i, s/2, s/2]
        out = self.head(h).flatten()  # [N]
        if self.embed is not None:
            out = out + (self.embed(labels) * h.sum(dim=(2, 3))).sum(dim=1)  # [N]
        return out


class _TraceableDCGAN(nn.Module):
    """(z, labels, ψ) → G(ψ·z, labels), for export."""

    def __init__(self, g: nn.Module):
        super().__init__()
        self.G = g

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None, psi: float | torch.Tensor) -> torch.Tensor:
        return self.G(truncate(z, psi), labels)  # [N, C, R, R]


@register_family("dcgan")
class DCGAN(GANModel):
    """DCGAN generator ``G`` and discriminator ``D`` (either may be absent, see ``config.parts``)."""

    config_cls = DCGANConfig
    display_name = "DCGAN"
    edit_space = "z"
    trainable, train_label = True, "DCGAN"
    quick_model = {"ngf": 32, "ndf": 32}
    # the shipped digits recipe: without the mode-seeking term (MSGAN), conditional DCGANs drew one prototype per class
    conditional_settings = {"mode_seeking": 1.0}
    fixed_size_discriminator = True

    @classmethod
    def capabilities(cls, config: dict) -> Capabilities:
        parts = cls._parts(config, _PARTS)
        return Capabilities(cls.display_name, generates="G" in parts, has_discriminator="D" in parts)

    def __init__(self, config: DCGANConfig):
        super().__init__(config)
        self.G = DCGANGenerator(config) if "G" in config.parts else None
        self.D = DCGANDiscriminator(config) if "D" in config.parts else None
        if self.G is not None:
            self.G.apply(init_normal_)

    truncation_formula = "z' = ψ·z"

    def traceable_generator(self) -> nn.Module:
        if self.G is None:
            raise ExplorerError("this DCGAN has no generator (it was imported from a discriminator file only)")
        return _TraceableDCGAN(self.G)

    def fast_generator(self) -> nn.Module | None:
        """BatchNorm folded into the transposed convolutions, channels-last (explorer.models.fuse)."""
        return fuse_dcgan(self) if self.G is not None else None

    def sefa_weight(self) -> tuple[torch.Tensor, str]:
        """The stem's transposed-conv weights reading z: [C·16, latent_dim] (label-embedding rows dropped), in z."""
        w = self.G.stem[0].weight.detach()[: self.latent_dim]  # [latent_dim, C, 4, 4]
        return w.reshape(self.latent_dim, -1).T, "z"

    def pca_features(self, z: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, str]:
        """The stem's output (after BN + ReLU), flattened: [S, C·16]; directions in z."""
        g = self.G
        h = torch.cat([z, g.embed(labels)], dim=1) if g.embed is not None else z
        return g.stem(h[:, :, None, None]).reshape(z.shape[0], -1), "z"

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None, truncation: float = 1.0) -> torch.Tensor:
        """Latents z [N, latent_dim] (+ labels [N]) → images [N, C, R, R] in [-1, 1].

        ``truncation`` ψ scales z toward the mode of its N(0, I) prior: z' = ψ·z. ψ < 1 trades
        variety for typicality (ψ = 0 gives the single "mean" image), ψ = 1 is the plain model.
        Runs without autograd unless the model is training or ``z`` requires grad.
        """
        if self.G is None:
            raise ExplorerError("this DCGAN has no generator (it was imported from a discriminator file only)")
        z, labels = self._check_latents(z, labels)
        with grad_mode_for(self, z):
            return self.G(truncate(z, truncation), labels)

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None, domain: str | None = None) -> DiscriminatorOutput:
        """Images x [N, C, R, R] in [-1, 1] (+ labels [N]) → ``DiscriminatorOutput(scores [N])``.

        Scores are logits (no sigmoid): P(real) = sigmoid(score).
        """
        if self.D is None:
            raise ExplorerError("this DCGAN has no discriminator (it was imported from a generator file only)")
        x = self._check_images(x)
        r = self.config.resolution
        if x.shape[-2:] != (r, r):
            raise ExplorerError(f"this discriminator judges {r}x{r} images, got {x.shape[-2]}x{x.shape[-1]}")
        if self.num_classes:
            if labels is None:
                raise ExplorerError(f"this discriminator is class-conditional ({self.num_classes} classes): pass labels")
            _, labels = self._check_latents(torch.zeros(x.shape[0], self.latent_dim, device=x.device), labels)
        if self.D.blocks[0][0].weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)
        with grad_mode_for(self, x):
            return DiscriminatorOutput(scores=self.D(x, labels))

    def prepare_for_inference(self, channels_last: bool = True) -> "DCGAN":
        """Put the model in eval mode and (optionally) channels_last memory format; returns self.

        Nothing is fused or approximated: outputs equal the plain model's up to float rounding.
        channels_last lets oneDNN pick faster convolution kernels on CPUs (and tensor cores on GPUs).
        """
        self.eval()
        return self.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
