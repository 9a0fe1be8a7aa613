"""SRGAN family: ×4 super-resolution with an SRResNet generator and a VGG-style discriminator.

After Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a GAN" (2017):

- generator (SRResNet): 9x9 conv + PReLU; ``num_blocks`` residual blocks (conv-BN-PReLU-conv-BN,
  + skip); conv-BN + global skip; two ×2 stages (conv → PixelShuffle(2) → PReLU); 9x9 conv; tanh.
  The output uses tanh (as the paper's generator does) rather than a clamp: it is always inside
  [-1, 1] and, unlike a clamp, still passes gradients for pixels the net pushes past the range.
- discriminator: 3x3 convs alternating stride 1 / 2 with BatchNorm and LeakyReLU(0.2), widths
  d, d, 2d, 2d, 4d, 4d, 8d, 8d; then adaptive average pooling (so any input size works, instead
  of the paper's fixed 96x96 flatten), dense 16d, LeakyReLU, dense → 1 logit.

Two more generators, ``generator="rdn"`` and ``"rrdn"`` (ESRGAN's; :mod:`explorer.models.rdn`), hold
networks imported from TensorFlow.js (``@upscalerjs/esrgan-slim``, ×2/×3/×4/×8); such a model
carries no discriminator (``parts=("G",)``). Everything else here (tiling, the ``x<scale>``
direction, caps) works the same for both.

Inference: the generator is fully convolutional with stride 1 before the pixel shuffles, so any
input size works as is — no padding, nothing cropped. Inputs over ``tile_pixel_cap`` input pixels
are processed in overlapping tiles (``upscale_tiled``) to bound memory. In eval mode BatchNorm is
a fixed per-channel affine map, so the generator is translation-equivariant and an output pixel
depends only on input pixels within ``receptive_radius`` (8 + 2·num_blocks). Each tile therefore
gives zero weight to a margin of that width along its interior edges and cross-fades with its
neighbour over ``overlap`` more pixels: tiled output equals untiled output up to float rounding,
so no seam can show. (A smaller ``margin`` trades exactness for compute; the ramps then hide the
faint differences.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from explorer.errors import ExplorerError, ImageInputError
from explorer.models.base import Capabilities, DiscriminatorOutput, GANModel
from explorer.models.layers import grad_mode_for
from explorer.models.rdn import RDN, RRDN
from explorer.models.tiling import blend_tiles
from explorer.registry import register_family


@dataclass(frozen=True)
class SRGANConfig:
    """Everything needed to rebuild an SRGAN (stored as JSON in checkpoints).

    ``resolution``: the high-resolution training crop size (the LR input is resolution / scale).
    ``num_features``: generator width; ``d_features``: discriminator base width (paper: 64 → 5.2 M
    parameters; the default 32 gives 1.3 M, near the generator's 0.96 M, for CPU training).
    ``generator``: "srresnet" (this project's, ×4), "rdn" or "rrdn" (ESRGAN's; both imported:
    ``rdn_blocks`` D (RDN) or T (RRDBs), ``rdn_layers`` C, ``rdn_growth`` G, ``num_features`` G0,
    ``scale`` 2/3/4/8, ``pixel_max`` the value range it was trained on). ``parts``: the networks present ("G", and "D" if trained here).
    ``padding``: "zeros" or "replicate" (SRResNet convs; replicate leaves no dark frame at borders);
    ``skip``: "none" (tanh output, the paper's) or "bicubic" (output = bicubic upscale + residual).
    """

    channels: int = 3
    num_blocks: int = 8
    num_features: int = 64
    scale: int = 4
    resolution: int = 64
    d_features: int = 32
    generator: str = "srresnet"
    rdn_blocks: int = 2
    rdn_layers: int = 1
    rdn_growth: int = 4
    pixel_max: float = 255.0
    padding: str = "zeros"
    skip: str = "none"
    parts: tuple[str, ...] = ("G", "D")

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", tuple(self.parts))  # JSON brings lists back
        if self.channels not in (1, 3):
            raise ValueError(f"SRGAN channels must be 1 or 3, got {self.channels}")
        if self.skip not in ("none", "bicubic"):
            raise ValueError(f"skip must be 'none' or 'bicubic', got {self.skip!r}")
        if self.padding not in ("zeros", "replicate"):
            raise ValueError(f"padding must be 'zeros' or 'replicate', got {self.padding!r}")
        if self.generator not in ("srresnet", "rdn", "rrdn"):
            raise ValueError(f"generator must be 'srresnet', 'rdn' or 'rrdn', got {self.generator!r}")
        if self.generator == "srresnet" and self.scale != 4:
            raise ValueError(f"the SRResNet generator upscales ×4 only, got scale {self.scale}")
        if self.scale not in (2, 3, 4, 8):
            raise ValueError(f"scale must be 2, 3, 4 or 8, got {self.scale}")
        if self.parts not in (("G",), ("G", "D")):
            raise ValueError(f"parts must be ('G',) or ('G', 'D'), got {self.parts}")
        if not 0 < self.pixel_max <= 65535:
            raise ValueError(f"pixel_max must lie in (0, 65535], got {self.pixel_max}")
        # bounds what a file can make us build (and count: the meta-device count costs CPU per layer);
        # the papers' largest are RDN D=20 C=8 G=64 and ESRGAN's 23 RRDBs of C=4
        limits = {"rdn_blocks": 24 if self.generator == "rrdn" else 32, "rdn_layers": 8, "rdn_growth": 64}
        for name, most in limits.items():
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
            if int(getattr(self, name)) > most:
                raise ValueError(f"{name} must be ≤ {most}, got {getattr(self, name)}")
        for name in ("num_blocks", "num_features", "d_features"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.num_blocks > 64:  # bounds what a config in a file can make us build
            raise ValueError(f"num_blocks must be ≤ 64, got {self.num_blocks}")
        if self.resolution < 16 or self.resolution % self.scale:
            raise ValueError(f"resolution must be a multiple of {self.scale} and at least 16, got {self.resolution}")


class ResidualBlock(nn.Module):
    """x + BN(conv(PReLU(BN(conv(x)))))."""

    def __init__(self, nf: int, padding_mode: str = "zeros"):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(nf, nf, 3, padding=1, padding_mode=padding_mode),
            nn.BatchNorm2d(nf),
            nn.PReLU(nf),
            nn.Conv2d(nf, nf, 3, padding=1, padding_mode=padding_mode),
            nn.BatchNorm2d(nf),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)  # [N, nf, h, w]


class SRResNet(nn.Module):
    """LR images [N, C, h, w] in [-1, 1] → HR images [N, C, 4h, 4w] in [-1, 1]::

        head (9x9, PReLU)        # [N, nf, h, w]
        blocks                   # [N, nf, h, w]
        post (conv-BN) + head    # [N, nf, h, w]
        up[0]                    # [N, nf, 2h, 2w]   conv → PixelShuffle(2) → PReLU
        up[1]                    # [N, nf, 4h, 4w]
        tail (9x9), tanh         # [N, C, 4h, 4w]
    """

    def __init__(self, cfg: SRGANConfig):
        super().__init__()
        nf = cfg.num_features
        pm = cfg.padding  # "replicate" continues edge pixels outwards: no dark frame at image borders
        self.head = nn.Sequential(nn.Conv2d(cfg.channels, nf, 9, padding=4, padding_mode=pm), nn.PReLU(nf))
        self.blocks = nn.Sequential(*(ResidualBlock(nf, pm) for _ in range(cfg.num_blocks)))
        self.post = nn.Sequential(nn.Conv2d(nf, nf, 3, padding=1, padding_mode=pm), nn.BatchNorm2d(nf))
        self.up = nn.Sequential(
            *(nn.Sequential(nn.Conv2d(nf, nf * 4, 3, padding=1, padding_mode=pm), nn.PixelShuffle(2), nn.PReLU(nf))
              for _ in range(2))
        )
        self.tail = nn.Conv2d(nf, cfg.channels, 9, padding=4, padding_mode=pm)
        self.bicubic_skip = cfg.skip == "bicubic"
        if self.bicubic_skip:  # start as plain bicubic: a small residual head
            nn.init.normal_(self.tail.weight, std=1e-3)
            nn.init.zeros_(self.tail.bias)
        # input pixels one output pixel can see, each side: 9x9 head (4), 2 per block, post (1),
        # up convs at 1x and 2x (1 + 1/2), 9x9 tail at 4x (4/4)
        self.receptive_radius = math.ceil(4 + 2 * cfg.num_blocks + 1 + 1 + 0.5 + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)  # [N, nf, h, w]
        h = h + self.post(self.blocks(h))  # global skip
        if not self.bicubic_skip:
            return torch.tanh(self.tail(self.up(h)))  # [N, C, 4h, 4w]
        # residual over bicubic (as VDSR): the net starts at bicubic and learns only the missing detail
        y = F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False) + self.tail(self.up(h))
        return y if self.training else y.clamp(-1, 1)  # the loss sees unclamped values (gradients everywhere)


class SRDiscriminator(nn.Module):
    """images [N, C, H, W] (any H, W ≥ 1) → logits [N]::

        features (8 convs, 4 with stride 2)   # [N, 8d, H/16, W/16]
        pool                                   # [N, 8d]
        head (dense 16d, LeakyReLU, dense 1)   # [N]
    """

    def __init__(self, cfg: SRGANConfig):
        super().__init__()
        d = cfg.d_features
        widths = [d, d, 2 * d, 2 * d, 4 * d, 4 * d, 8 * d, 8 * d]
        layers: list[nn.Module] = [nn.Conv2d(cfg.channels, d, 3, padding=1), nn.LeakyReLU(0.2, True)]
        for i in range(1, len(widths)):
            stride = 2 if i % 2 else 1  # the paper's pattern: k3n64s2, k3n128s1, k3n128s2, ...
            layers += [
                nn.Conv2d(widths[i - 1], widths[i], 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(widths[i]),
                nn.LeakyReLU(0.2, True),
            ]
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(8 * d, 16 * d), nn.LeakyReLU(0.2, True), nn.Linear(16 * d, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)  # [N, 8d]
        return self.head(h)[:, 0]  # [N]


@register_family("srgan")
class SRGAN(GANModel):
    """Super-resolution ×``scale``: generator ``G`` (SRResNet, or an imported RDN) and discriminator ``D``.

    ``translate(x, "x<scale>")`` / ``upscale(x)``: [N, C, h, w] → [N, C, s·h, s·w], any h, w; inputs over
    ``tile_pixel_cap`` input pixels are tiled automatically; over ``max_input_pixels`` refused.
    """

    config_cls = SRGANConfig
    display_name = "super-resolution"
    trainable, train_label = True, "Super-resolution ×4"
    quick_model = {"num_blocks": 4, "num_features": 32, "d_features": 16}

    @classmethod
    def capabilities(cls, config: dict) -> Capabilities:
        scale = config.get("scale", 4)
        return Capabilities(f"SR ×{scale}", directions=(f"x{scale}",),
                            has_discriminator="D" in cls._parts(config, ("G", "D")))

    #: inputs with more pixels than this (per image) are upscaled tile by tile to bound memory: the shipped 16-block
    #: generator peaks at about 14 KB per input pixel (0.9 GB for a 256² tile). Larger tiles waste less: each tile
    #: recomputes a receptive-radius margin (40 px) on every interior side, so 128-px tiles did 16× the work
    tile_pixel_cap = 256 * 256
    #: output pixels an input may ask for (1024² input pixels at ×4)
    max_output_pixels = 16 * 1024 * 1024

    def __init__(self, config: SRGANConfig):
        super().__init__(config)
        if config.generator in ("rdn", "rrdn"):
            net = RDN if config.generator == "rdn" else RRDN
            self.G = net(config.channels, config.num_features, config.rdn_blocks, config.rdn_layers, config.rdn_growth,
                         config.scale, config.pixel_max)
        else:
            self.G = SRResNet(config)
        self.D = SRDiscriminator(config) if "D" in config.parts else None
        self.scale = int(config.scale)
        #: the one direction, ``"x<scale>"`` (e.g. ``"x4"``)
        self.directions = (f"x{self.scale}",)
        #: larger inputs are refused (the output has scale² as many pixels)
        self.max_input_pixels = self.max_output_pixels // (self.scale * self.scale)

    def translation_network(self, direction: str) -> nn.Module:
        if direction not in self.directions:
            raise ExplorerError(f"this model upscales {self.directions[0]}, not {direction!r}")
        return self.G

    @property
    def receptive_radius(self) -> int:
        """How many input pixels away (each side) an output pixel can be influenced."""
        return self.G.receptive_radius

    def translate(self, x: torch.Tensor, direction: str | None = None) -> torch.Tensor:
        """LR images x [N, C, h, w] in [-1, 1] → HR images [N, C, s·h, s·w] in [-1, 1]."""
        direction = direction or self.directions[0]
        if direction not in self.directions:
            raise ExplorerError(f"an SRGAN model translates in directions {self.directions}, not {direction!r}")
        x = self._check_input(x)
        if x.shape[-2] * x.shape[-1] > self.tile_pixel_cap:
            return self.upscale_tiled(x)
        with grad_mode_for(self, x):
            return self.G(x)

    def upscale(self, x: torch.Tensor) -> torch.Tensor:
        """Alias of ``translate(x, "x<scale>")``."""
        return self.translate(x, self.directions[0])

    def upscale_tiled(self, x: torch.Tensor, tile: int | None = None, overlap: int = 16, margin: int | None = None,
                      batch_tiles: int | None = None) -> torch.Tensor:
        """Upscale x [N, C, h, w] tile by tile, each tile ``tile``² input pixels; returns [N, C, s·h, s·w].

        Each tile's output is weighted by a separable profile: 0 over the ``margin`` input pixels next
        to an interior tile edge (there the tile's zero padding differs from the whole image), then a
        linear ramp ``overlap`` pixels wide, then 1; image borders get full weight. Adjacent tiles
        overlap by 2·margin + overlap, so the ramps cross-fade; outputs are divided by the summed
        weights. ``margin`` defaults to ``receptive_radius``: then every weighted pixel equals the
        untiled output (float rounding aside) and no seam can exist; a smaller margin saves compute
        and leaves only the blended, faint differences near seams. Tiles run ``batch_tiles`` at a time
        (:func:`explorer.models.tiling.blend_tiles`, the one tiling, which ``process_in_tiles`` shares).
        ``tile`` defaults to the largest square within ``tile_pixel_cap``, or more where the margin needs it
        (a deep ESRGAN sees ~150 px each side), and ``batch_tiles`` to as many tiles as fit in that cap.
        """
        x = self._check_input(x)
        margin = self.receptive_radius if margin is None else int(margin)
        if tile is None:
            tile = max(math.isqrt(self.tile_pixel_cap), -(-4 * (2 * margin + overlap) // 3) + 4)
        if batch_tiles is None:
            batch_tiles = max(1, self.tile_pixel_cap // (tile * tile))
        if tile < 8 or overlap < 0 or margin < 0 or tile - 2 * margin - overlap < tile // 4:
            raise ExplorerError(
                f"tile ({tile}) must be at least 8 and 4/3 of 2*margin + overlap ({2 * margin + overlap})"
            )
        stride = tile - 2 * margin - overlap
        with grad_mode_for(self, x):
            return blend_tiles(self.G, x, tile, stride, margin, overlap, scale=self.config.scale, batch_tiles=batch_tiles)

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None, domain: str | None = None) -> DiscriminatorOutput:
        """HR images x [N, C, H, W] in [-1, 1], any size → ``DiscriminatorOutput(scores [N])`` (logits)."""
        if self.D is None:
            raise ExplorerError("this super-resolution model has no discriminator (imported generators carry none)")
        x = self._check_images(x)
        with grad_mode_for(self, x):
            return DiscriminatorOutput(scores=self.D(x))

    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        x = self._check_images(x)
        h, w = x.shape[-2:]
        if h < 1 or w < 1:
            raise ImageInputError(f"cannot upscale an empty image ({h}x{w})")
        if h * w > self.max_input_pixels:
            raise ImageInputError(
                f"input of {w}x{h} pixels is too large to upscale ×{self.scale} (cap {self.max_input_pixels} input pixels); downscale or crop it first"
            )
        return x

