"""CycleGAN family: two ResNet generators (A→B, B→A) and two 70×70 PatchGAN discriminators.

Architecture as described by Zhu, Park, Isola & Efros (2017, appendix 7.2) and Johnson et
al. (2016), in the layer order of junyanz/pytorch-CycleGAN-and-pix2pix so its checkpoints
import exactly (see ``explorer.importers.junyanz_cyclegan``):

- generator: c7s1-ngf, d2ngf, d4ngf, R4ngf × num_blocks, u2ngf, ungf, c7s1-C — reflection
  padding, InstanceNorm without affine parameters (so convolutions keep their biases), Tanh out;
- discriminator: C64-C128-C256-C512 then a 1-channel conv (4×4 kernels, LeakyReLU 0.2,
  InstanceNorm on all but the first and last layer). With 3 strided layers each output patch
  sees a 70×70 input window, hence "70×70 PatchGAN".

Naming: ``G_AB`` maps domain A to B, ``G_BA`` maps B to A; ``D_A`` judges domain-A images,
``D_B`` domain-B images. (junyanz names differ — see the importer.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from explorer.errors import ExplorerError
from explorer.models.base import Capabilities, DiscriminatorOutput, GANModel
from explorer.models.layers import ReflectResBlock, crop_to, grad_mode_for, init_normal_, pad_to_multiple
from explorer.registry import register_family

_PARTS = ("G_AB", "G_BA", "D_A", "D_B")
#: which generator serves which direction
_DIRECTION_PART = {"AtoB": "G_AB", "BtoA": "G_BA"}
#: smallest side a generator accepts after padding to a multiple of 4 (its reflection pads need it)
_MIN_SIDE = 8


@dataclass(frozen=True)
class CycleGANConfig:
    """Everything needed to rebuild a CycleGAN (stored as JSON in checkpoints).

    ``resolution`` is a hint (the training crop size); the networks are fully convolutional and
    accept any size. ``parts`` lists the networks present: a model imported from a lone
    ``latest_net_G_A.pth`` has ``("G_AB",)``.
    """

    channels_a: int = 3
    channels_b: int = 3
    ngf: int = 64
    ndf: int = 64
    num_blocks: int = 9
    num_d_layers: int = 3
    norm: str = "instance"
    use_dropout: bool = False
    resolution: int = 256
    parts: tuple[str, ...] = _PARTS

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", tuple(self.parts))  # JSON brings lists back
        if self.channels_a < 1 or self.channels_b < 1:
            raise ValueError("channels_a and channels_b must be positive")
        if self.ngf < 1 or self.ndf < 1 or self.num_blocks < 1 or self.num_d_layers < 1:
            raise ValueError("ngf, ndf, num_blocks and num_d_layers must be positive")
        if self.num_blocks > 64 or self.num_d_layers > 8:  # bounds what a config in a file can make us build
            raise ValueError(f"num_blocks must be ≤ 64 and num_d_layers ≤ 8, got {self.num_blocks} and {self.num_d_layers}")
        if self.norm != "instance":
            raise ValueError(f"only norm='instance' is supported, got {self.norm!r}")
        if not self.parts or any(p not in _PARTS for p in self.parts) or len(set(self.parts)) != len(self.parts):
            raise ValueError(f"parts must be a non-empty subset of {_PARTS}, got {self.parts}")


def _inorm(ch: int) -> nn.Module:
    return nn.InstanceNorm2d(ch, affine=False, track_running_stats=False)


class ResnetGenerator(nn.Module):
    """images [N, C_in, H, W] (H, W multiples of 4) → images [N, C_out, H, W] in [-1, 1]."""

    def __init__(self, in_ch: int, out_ch: int, ngf: int, num_blocks: int, use_dropout: bool = False):
        super().__init__()
        self.stem = nn.Sequential(
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_ch, ngf, 7),  # [N, ngf, H, W]
            _inorm(ngf),
            nn.ReLU(True),
        )
        self.down = nn.Sequential(
            nn.Conv2d(ngf, ngf * 2, 3, stride=2, padding=1),  # [N, 2ngf, H/2, W/2]
            _inorm(ngf * 2),
            nn.ReLU(True),
            nn.Conv2d(ngf * 2, ngf * 4, 3, stride=2, padding=1),  # [N, 4ngf, H/4, W/4]
            _inorm(ngf * 4),
            nn.ReLU(True),
        )
        self.blocks = nn.Sequential(*(ReflectResBlock(ngf * 4, use_dropout) for _ in range(num_blocks)))  # [N, 4ngf, H/4, W/4]
        self.up = nn.Sequential(
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 3, stride=2, padding=1, output_padding=1),  # [N, 2ngf, H/2, W/2]
            _inorm(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 3, stride=2, padding=1, output_padding=1),  # [N, ngf, H, W]
            _inorm(ngf),
            nn.ReLU(True),
        )
        self.head = nn.Sequential(
            nn.ReflectionPad2d(3),
            nn.Conv2d(ngf, out_ch, 7),  # [N, C_out, H, W]
            nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.up(self.blocks(self.down(self.stem(x)))))


class PatchDiscriminator(nn.Module):
    """images [N, C, H, W] → patch logits [N, 1, H/8 - 2, W/8 - 2] (for num_layers=3).

    ``net`` indices follow the layer order (conv, [IN], LeakyReLU, ...), the same positions as
    junyanz's ``NLayerDiscriminator.model``. At 256×256, ndf=64::

        net.0  conv s2          # [N, 64, 128, 128]
        net.2  conv s2 + IN     # [N, 128, 64, 64]
        net.5  conv s2 + IN     # [N, 256, 32, 32]
        net.8  conv s1 + IN     # [N, 512, 31, 31]
        net.11 conv s1          # [N, 1, 30, 30]
    """

    def __init__(self, in_ch: int, ndf: int, num_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_ch, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, num_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1), _inorm(ndf * mult), nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2**num_layers, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1), _inorm(ndf * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*layers)
        self.num_layers = num_layers

    def min_side(self) -> int:
        """Smallest input side that leaves at least a 1×1 patch map."""
        side = 1
        while self.output_side(side) < 1:
            side += 1
        return side

    def output_side(self, side: int) -> int:
        for _ in range(self.num_layers):
            side = side // 2  # k4 s2 p1: floor((s + 2 - 4) / 2) + 1
        return side - 2  # two k4 s1 p1 convs each take one pixel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@register_family("cyclegan")
class CycleGAN(GANModel):
    """Unpaired A↔B translator: ``G_AB``, ``G_BA``, ``D_A``, ``D_B`` (absent parts are ``None``)."""

    config_cls = CycleGANConfig
    display_name = "CycleGAN"
    trainable, train_label, default_loss = True, "CycleGAN (two domains)", "lsgan"
    quick_model = {"ngf": 16, "ndf": 16, "num_blocks": 3}
    directions = ("AtoB", "BtoA")

    @classmethod
    def capabilities(cls, config: dict) -> Capabilities:
        parts = cls._parts(config, _PARTS)
        return Capabilities(cls.display_name, directions=tuple(d for d, g in _DIRECTION_PART.items() if g in parts),
                            has_discriminator=any(p in ("D_A", "D_B") for p in parts), domains=("A", "B"))

    def __init__(self, config: CycleGANConfig):
        super().__init__(config)
        c = config
        has = set(c.parts)
        self.G_AB = ResnetGenerator(c.channels_a, c.channels_b, c.ngf, c.num_blocks, c.use_dropout) if "G_AB" in has else None
        self.G_BA = ResnetGenerator(c.channels_b, c.channels_a, c.ngf, c.num_blocks, c.use_dropout) if "G_BA" in has else None
        self.D_A = PatchDiscriminator(c.channels_a, c.ndf, c.num_d_layers) if "D_A" in has else None
        self.D_B = PatchDiscriminator(c.channels_b, c.ndf, c.num_d_layers) if "D_B" in has else None
        # this instance's directions: only those whose generator is present
        self.directions = tuple(d for d, part in _DIRECTION_PART.items() if part in has)
        self.apply(init_normal_)

    @property
    def image_channels(self) -> int:
        return self.config.channels_a

    def channels_of(self, domain: str) -> int:
        return self.config.channels_a if domain == "A" else self.config.channels_b

    def translation_network(self, direction: str) -> nn.Module:
        if direction not in self.directions:
            raise ExplorerError(f"this CycleGAN translates {', '.join(self.directions) or 'nothing'}, not {direction!r}")
        return getattr(self, _DIRECTION_PART[direction])

    def translate(self, x: torch.Tensor, direction: str = "AtoB") -> torch.Tensor:
        """Images x [N, C, H, W] in [-1, 1] of any size ≥ 8 px → translated images, same H, W.

        The input is reflection-padded at the bottom/right to a multiple of 4 (two stride-2
        stages) and the output cropped back, so every pixel of the input gets an output pixel.
        """
        if direction not in _DIRECTION_PART:
            raise ExplorerError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
        G = getattr(self, _DIRECTION_PART[direction])
        if G is None:
            src = self.card.imported.get("files") if isinstance(self.card.imported, dict) else None
            origin = f" (imported from {', '.join(src)})" if src else ""
            raise ExplorerError(
                f"this CycleGAN has no {_DIRECTION_PART[direction]} generator{origin}, so it cannot translate {direction}; "
                f"it translates {', '.join(self.directions) or 'nothing'}"
            )
        x = self._check_images(x, self.channels_of(direction[0]))
        if min(x.shape[-2:]) < _MIN_SIDE:
            raise ExplorerError(f"images must be at least {_MIN_SIDE}×{_MIN_SIDE} pixels, got {x.shape[-2]}×{x.shape[-1]}")
        with grad_mode_for(self, x):
            padded, size = pad_to_multiple(x, 4)  # [N, C, H4, W4]
            return crop_to(G(padded), size)  # [N, C', H, W]

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None, domain: str | None = None) -> DiscriminatorOutput:
        """Realness of domain-``domain`` images x [N, C, H, W] (H, W ≥ 24 for the 70×70 PatchGAN).

        Returns ``scores`` [N] = mean patch logit and ``patch_map`` [N, 1, h, w] of logits.
        """
        if domain not in ("A", "B"):
            raise ExplorerError("a CycleGAN has one discriminator per domain: pass domain='A' or domain='B'")
        D = self.D_A if domain == "A" else self.D_B
        if D is None:
            raise ExplorerError(f"this CycleGAN has no discriminator for domain {domain}")
        x = self._check_images(x, self.channels_of(domain))
        if min(x.shape[-2:]) < D.min_side():
            raise ExplorerError(f"the PatchGAN needs images at least {D.min_side()}×{D.min_side()} pixels, got {x.shape[-2]}×{x.shape[-1]}")
        with grad_mode_for(self, x):
            patch_map = D(x)  # [N, 1, h, w]
        return DiscriminatorOutput(scores=patch_map.mean(dim=(1, 2, 3)), patch_map=patch_map)
