"""StyleGAN networks: the config, a small StyleGAN2-style generator and a residual discriminator (32–64 px).

The family class that wraps them (the inference verbs, style mixing, scores, checkpoints) is
:class:`explorer.models.stylegan.StyleGAN`; the shared building blocks (equalised-lr layers,
modulated convolution, minibatch std) are in :mod:`explorer.models.layers`.

After Karras et al., "Analyzing and Improving the Image Quality of StyleGAN" (2020), kept to the
parts that matter at this scale and on a CPU:

- mapping network: pixel-normalised z (+ a normalised class embedding) → MLP with leaky ReLU and
  equalised learning rate (lr × 0.01) → w. A tracked mean ``w_avg`` (EMA, ``update_w_avg``) gives
  truncation w' = w_avg + ψ (w − w_avg).
- synthesis network: learned 4x4 constant; per resolution one upsampling and one plain modulated
  3x3 conv (weight modulation + demodulation), per-channel scaled noise after each conv, and a
  1x1 toRGB whose output is added to the bilinearly upsampled image so far ("skip" generator).
  Each conv and toRGB takes its own style vector; there are ``num_ws`` = 2·log2(R) − 2 of them.
- discriminator: 1x1 fromRGB, residual downsampling blocks, minibatch std, conv + two dense
  layers → one logit; optionally a projection onto a class embedding (StyleGAN2-ADA style).

Departures, on purpose: bilinear instead of FIR up/down-sampling; no path-length regularisation,
no fp16 clamping. Noise: ``noise_mode`` "const" (default for inference) uses fixed per-layer noise
images stored as buffers — saved in checkpoints, so outputs are deterministic; "random" draws
fresh noise (optionally from a ``torch.Generator``); "none" leaves it out.

Modulated convs use the "scale the activations" form (x·s → shared-weight conv → ·demod): one
ordinary batched convolution, exactly equal to the per-sample-weight grouped form
(see ``explorer.models.layers.modulated_conv2d``) and the fastest on CPU at any batch size.

Default widths (``channel_base`` 2048, ``max_channels`` 128): 128 channels at 4–16 px, 64 at 32,
32 at 64 — about 1.1 M parameters in G and 1.2 M in D at 32 or 64 px.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from explorer.models.layers import (
    EqualConv2d,
    EqualLinear,
    MinibatchStd,
    ModulatedConv2d,
    is_power_of_two,
    normalize_2nd_moment,
    truncate,
)

NOISE_MODES = ("const", "random", "none")


@dataclass(frozen=True)
class StyleGANConfig:
    """Everything needed to rebuild a StyleGAN (stored as JSON in checkpoints).

    Channels at resolution r: ``min(channel_base // r, max_channels)`` (same rule for G and D).
    ``mapping_lr_mul``: learning-rate multiplier of the mapping MLP (StyleGAN's 0.01 keeps w stable).
    ``w_avg_beta``: EMA decay of the tracked mean w per ``update_w_avg`` call.
    """

    resolution: int = 32
    channels: int = 3
    latent_dim: int = 128
    w_dim: int = 128
    mapping_layers: int = 4
    num_classes: int = 0
    channel_base: int = 2048
    max_channels: int = 128
    mapping_lr_mul: float = 0.01
    w_avg_beta: float = 0.995
    mbstd_group_size: int = 4

    def __post_init__(self) -> None:
        if not is_power_of_two(self.resolution) or not 8 <= self.resolution <= 256:
            raise ValueError(f"StyleGAN resolution must be a power of two in 8..256 (32 or 64 intended), got {self.resolution}")
        if self.channels not in (1, 3):
            raise ValueError(f"StyleGAN channels must be 1 or 3, got {self.channels}")
        for name in ("latent_dim", "w_dim", "mapping_layers", "channel_base", "max_channels", "mbstd_group_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.num_classes < 0:
            raise ValueError(f"num_classes must be ≥ 0, got {self.num_classes}")
        if self.mapping_layers > 16:  # bounds what a config in a file can make us build
            raise ValueError(f"mapping_layers must be ≤ 16, got {self.mapping_layers}")
        if self.channel_base // self.resolution < 1:
            raise ValueError(f"channel_base {self.channel_base} leaves no channels at {self.resolution} px")
        if not 0 < self.mapping_lr_mul <= 1 or not 0 <= self.w_avg_beta < 1:
            raise ValueError("mapping_lr_mul must lie in (0, 1] and w_avg_beta in [0, 1)")

    def width(self, res: int) -> int:
        """Feature channels at resolution ``res``."""
        return min(self.channel_base // res, self.max_channels)

    @property
    def resolutions(self) -> list[int]:
        """Block resolutions 4, 8, …, R."""
        return [2**i for i in range(2, int(math.log2(self.resolution)) + 1)]

    @property
    def num_ws(self) -> int:
        """Style inputs: one per conv (1 at 4 px, 2 per higher resolution) plus the last toRGB."""
        return 2 * int(math.log2(self.resolution)) - 2


class MappingNetwork(nn.Module):
    """z [N, latent_dim] (+ labels [N]) → w [N, w_dim]."""

    def __init__(self, cfg: StyleGANConfig):
        super().__init__()
        self.embed = EqualLinear(cfg.num_classes, cfg.w_dim) if cfg.num_classes else None
        dims = [cfg.latent_dim + (cfg.w_dim if cfg.num_classes else 0)] + [cfg.w_dim] * cfg.mapping_layers
        self.layers = nn.Sequential(
            *(EqualLinear(a, b, lr_mul=cfg.mapping_lr_mul, activation="lrelu") for a, b in zip(dims[:-1], dims[1:]))
        )
        self.num_classes = cfg.num_classes

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = normalize_2nd_moment(z)  # [N, latent_dim]
        if self.embed is not None:
            onehot = F.one_hot(labels, self.num_classes).to(z.dtype)  # [N, classes]
            x = torch.cat([x, normalize_2nd_moment(self.embed(onehot))], dim=1)  # [N, latent_dim + w_dim]
        return self.layers(x)  # [N, w_dim]


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally after 2x upsampling) → + scaled noise → + bias → leaky ReLU."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, res: int, up: int = 1):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, 3, w_dim, demodulate=True, up=up)
        # fixed noise image for noise_mode="const": a buffer, so checkpoints carry it
        self.register_buffer("noise_const", torch.randn(1, 1, res, res))
        self.noise_strength = nn.Parameter(torch.zeros(out_ch))  # learned per channel, starts silent
        self.bias = nn.Parameter(torch.zeros(out_ch))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str, generator: torch.Generator | None) -> torch.Tensor:
        x = self.conv(x, w)  # [N, out, res, res]
        if noise_mode == "const":
            noise = self.noise_const  # [1, 1, res, res]
        elif noise_mode == "random":
            n, _, h, wd = x.shape
            noise = torch.randn(n, 1, h, wd, generator=generator, device=generator.device if generator else x.device)
            noise = noise.to(x.device, x.dtype)
        else:
            noise = None
        if noise is not None:
            x = x + noise * self.noise_strength.reshape(1, -1, 1, 1)
        return F.leaky_relu(x + self.bias.reshape(1, -1, 1, 1), 0.2) * math.sqrt(2.0)


class ToRGB(nn.Module):
    """Modulated 1x1 conv without demodulation: features → image residual."""

    def __init__(self, in_ch: int, img_ch: int, w_dim: int):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, img_ch, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(img_ch))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias.reshape(1, -1, 1, 1)


class SynthesisBlock(nn.Module):
    """One resolution: [upsampling conv] + conv + toRGB; adds its RGB to the upsampled image."""

    def __init__(self, cfg: StyleGANConfig, res: int):
        super().__init__()
        out_ch = cfg.width(res)
        self.first = res == 4
        if self.first:
            self.const = nn.Parameter(torch.randn(out_ch, 4, 4))
            self.conv0 = None
        else:
            self.conv0 = SynthesisLayer(cfg.width(res // 2), out_ch, cfg.w_dim, res, up=2)
        self.conv1 = SynthesisLayer(out_ch, out_ch, cfg.w_dim, res)
        self.torgb = ToRGB(out_ch, cfg.channels, cfg.w_dim)
        self.num_conv = 1 if self.first else 2

    def forward(self, x, img, ws, noise_mode, generator):
        # ws: [N, num_conv + 1, w_dim]; the last one (toRGB) is shared with the next block's first conv
        if self.first:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)  # [N, C4, 4, 4]
        else:
            x = self.conv0(x, ws[:, 0], noise_mode, generator)  # [N, C, res, res]
        x = self.conv1(x, ws[:, self.num_conv - 1], noise_mode, generator)  # [N, C, res, res]
        y = self.torgb(x, ws[:, self.num_conv])  # [N, img_ch, res, res]
        if img is not None:
            y = y + F.interpolate(img, scale_factor=2, mode="bilinear", align_corners=False)
        return x, y


class StyleGANGenerator(nn.Module):
    """z [N, latent_dim] (+ labels) → images [N, C, R, R], unbounded (the model clamps for display).

    At R = 32 with default widths::

        mapping                  # w [N, 128], broadcast to ws [N, 8, 128]
        blocks[0] (4 px)         # const [N, 128, 4, 4] → conv → rgb [N, C, 4, 4]
        blocks[1] (8 px)         # [N, 128, 8, 8]   rgb ↑ + toRGB
        blocks[2] (16 px)        # [N, 128, 16, 16]
        blocks[3] (32 px)        # [N, 64, 32, 32]  → image [N, C, 32, 32]
    """

    def __init__(self, cfg: StyleGANConfig):
        super().__init__()
        self.cfg = cfg
        self.num_ws = cfg.num_ws
        self.mapping = MappingNetwork(cfg)
        self.blocks = nn.ModuleList(SynthesisBlock(cfg, r) for r in cfg.resolutions)
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))

    @torch.no_grad()
    def update_w_avg(self, w: torch.Tensor) -> None:
        """EMA step of the tracked mean w toward the batch mean of ``w`` [N, w_dim] (call while training)."""
        self.w_avg.copy_(w.detach().float().mean(dim=0).lerp(self.w_avg, self.cfg.w_avg_beta))

    def truncate(self, w: torch.Tensor, psi: float | torch.Tensor) -> torch.Tensor:
        """w' = w_avg + ψ (w − w_avg) (:func:`explorer.models.layers.truncate`); [N, w_dim] or [N, num_ws, w_dim]."""
        return truncate(w, psi, self.w_avg)

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "const", generator: torch.Generator | None = None) -> torch.Tensor:
        """ws [N, num_ws, w_dim] → images [N, C, R, R] (unbounded)."""
        x = img = None
        i = 0
        for block in self.blocks:
            x, img = block(x, img, ws[:, i : i + block.num_conv + 1], noise_mode, generator)
            i += block.num_conv
        return img

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None, truncation: float = 1.0,
                noise_mode: str | None = None, mixing_prob: float = 0.0, update_w_avg: bool = False) -> torch.Tensor:
        """Training entry point. ``noise_mode`` None = "random" in train mode, "const" in eval mode.

        ``mixing_prob``: style-mixing regularisation — with this probability per call, the ws after a
        random layer come from a second random z (uses the global RNG, as training does).
        ``update_w_avg``: take an EMA step of ``w_avg`` with this batch's w.
        """
        w = self.mapping(z, labels)  # [N, w_dim]
        if update_w_avg:
            self.update_w_avg(w)
        ws = self.truncate(w, truncation).unsqueeze(1).repeat(1, self.num_ws, 1)  # [N, num_ws, w_dim]
        if mixing_prob > 0 and torch.rand(()) < mixing_prob:
            cut = int(torch.randint(1, self.num_ws, ()))
            w2 = self.truncate(self.mapping(torch.randn_like(z), labels), truncation)
            ws[:, cut:] = w2.unsqueeze(1)
        mode = noise_mode or ("random" if self.training else "const")
        return self.synthesis(ws, mode)


class StyleGANDiscriminator(nn.Module):
    """images [N, C, R, R] (+ labels [N]) → logits [N].

    At R = 32 with default widths::

        fromrgb                  # [N, 64, 32, 32]
        blocks (residual, ↓2)    # [N, 128, 16, 16] → [N, 128, 8, 8] → [N, 128, 4, 4]
        mbstd                    # [N, 129, 4, 4]
        conv, fc, out            # [N, 128, 4, 4] → [N, 128] → [N, 1 | cmap_dim]
    """

    def __init__(self, cfg: StyleGANConfig):
        super().__init__()
        res = cfg.resolution
        self.fromrgb = EqualConv2d(cfg.channels, cfg.width(res), 1)
        self.blocks = nn.ModuleList()
        while res > 4:
            self.blocks.append(DiscriminatorBlock(cfg.width(res), cfg.width(res // 2)))
            res //= 2
        c4 = cfg.width(4)
        self.mbstd = MinibatchStd(cfg.mbstd_group_size, 1)
        self.conv = EqualConv2d(c4 + 1, c4, 3)
        self.fc = EqualLinear(c4 * 16, c4, activation="lrelu")
        self.cmap_dim = c4 if cfg.num_classes else 0
        self.out = EqualLinear(c4, self.cmap_dim or 1)
        self.embed = EqualLinear(cfg.num_classes, c4) if cfg.num_classes else None
        self.num_classes = cfg.num_classes

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = self.fromrgb(x)  # [N, C_R, R, R]
        for block in self.blocks:
            x = block(x)  # halves H, W
        x = self.conv(self.mbstd(x))  # [N, C4, 4, 4]
        x = self.out(self.fc(x.flatten(1)))  # [N, 1 | cmap_dim]
        if self.embed is None:
            return x[:, 0]
        # projection: logit = <features, normalised class embedding> / sqrt(dim)
        cmap = normalize_2nd_moment(self.embed(F.one_hot(labels, self.num_classes).to(x.dtype)))
        return (x * cmap).sum(dim=1) / math.sqrt(self.cmap_dim)


class DiscriminatorBlock(nn.Module):
    """Residual block: (conv3 → ↓conv3) + (↓ → 1x1), summed and scaled by √½ to keep the variance."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv0 = EqualConv2d(in_ch, in_ch, 3)
        self.conv1 = EqualConv2d(in_ch, out_ch, 3, down=2)
        self.skip = EqualConv2d(in_ch, out_ch, 1, bias=False, activation=None, down=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.skip(x) + self.conv1(self.conv0(x))) * math.sqrt(0.5)
