"""Residual dense generators imported from TensorFlow.js: RDN and ESRGAN's RRDN.

``@upscalerjs/esrgan-slim`` 1.0.0-beta.7 and later ship RDNs (:class:`RDN`); its 1.0.0-beta.6
ships an ESRGAN generator (:class:`RRDN`, described at the end of this docstring).

RDN:

After Zhang et al., "Residual Dense Network for Image Super-Resolution" (CVPR 2018), in the
layout of idealo's ``image-super-resolution`` (ISR) that UpscalerJS trained and converted to
TensorFlow.js (Keras names in brackets; all convs 3x3 'same' unless noted, with bias)::

    head      conv C→G0                [F_m1]     # [N, G0, h, w]
    entry     conv G0→G0               [F_0]
    D blocks  each: C × (conv →G, ReLU), densely concatenated [F_d_c],
              1x1 fuse →G0 [LFF_d], + block input [LRL_d]
    global    concat of the D block outputs, 1x1 →G0 [GFF_1], conv [GFF_2], + head [FDF]
    upsample  5x5 conv →64, ReLU [UPN1]; conv →32, ReLU [UPN2]; conv →C·s² [UPN3];
              nearest-neighbour ×s [UPsample]
    tail      conv C·s²→C at full resolution [SR]   # [N, C, s·h, s·w]

The 64/32 widths of the up-sampling convs are fixed in ISR. Pixel values: the package feeds
0..255 and reads 0..255 back (its model definition's ``inputRange``/``outputRange``); this module
takes our [-1, 1] images, rescales to ``0..pixel_max`` and back, and clamps the result to [-1, 1].

RRDN, the ESRGAN generator (Wang et al., "ESRGAN", ECCV 2018 workshops; ISR's RRDN layout)::

    head       conv C→nf                                   [Pre_blocks_conv]
    T RRDBs    each: 3 dense blocks (C convs →G with ReLU, densely concatenated [F_t_d_c],
               3x3 fuse →nf [LFF_t_d], ×β + block input [LRL_t_d]); ×β + RRDB input [RRDB_t_out]
    global     conv [post_blocks_conv] + head [GRL]
    upsample   conv →C·s² [PreShuffle]; depth-to-space ×s, TensorFlow's channel order [PixelShuffle]
    tail       conv C→C at full resolution [SR]

β = 0.2 (the paper's residual scaling; the file's ``MultiplyBeta`` layers). The package feeds
pixels / 255 (0..1) and clips the output to 0..1: ``pixel_max`` = 1 and the same clamp here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: widths of ISR's two up-sampling convolutions before the last one
UP_WIDTHS = (64, 32)


class DenseBlock(nn.Module):
    """C convs, each seeing the block input and every earlier conv's ReLU output; 1x1 fuse; residual."""

    def __init__(self, nf: int, growth: int, num_layers: int):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(nf + c * growth, growth, 3, padding=1) for c in range(num_layers))
        self.fuse = nn.Conv2d(nf + num_layers * growth, nf, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]  # [N, nf, h, w], then [N, growth, h, w] each
        for conv in self.convs:
            feats.append(torch.relu(conv(torch.cat(feats, dim=1))))
        return x + self.fuse(torch.cat(feats, dim=1))  # [N, nf, h, w]


def depth_to_space(x: torch.Tensor, block: int) -> torch.Tensor:
    """TensorFlow's ``depth_to_space`` (NHWC semantics) on [N, C·b², H, W] → [N, C, H·b, W·b].

    TF reads input channel (i·b + j)·C + c into output pixel offset (i, j), channel c; torch's
    ``pixel_shuffle`` reads channel c·b² + i·b + j instead, so the channel axis is split the other way.
    """
    n, cb, h, w = x.shape
    c = cb // (block * block)
    x = x.reshape(n, block, block, c, h, w)  # [N, i, j, C, H, W]
    return x.permute(0, 3, 4, 1, 5, 2).reshape(n, c, h * block, w * block)


#: ESRGAN's residual scaling and dense blocks per RRDB (fixed in the paper and in ISR's RRDN)
RRDB_BETA, RDBS_PER_RRDB = 0.2, 3


class DenseBlock3(nn.Module):
    """An ESRGAN dense block: like :class:`DenseBlock` but a 3x3 fuse, scaled by β before the skip."""

    def __init__(self, nf: int, growth: int, num_layers: int):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(nf + c * growth, growth, 3, padding=1) for c in range(num_layers))
        self.fuse = nn.Conv2d(nf + num_layers * growth, nf, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for conv in self.convs:
            feats.append(torch.relu(conv(torch.cat(feats, dim=1))))
        return x + RRDB_BETA * self.fuse(torch.cat(feats, dim=1))  # [N, nf, h, w]


class RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks, scaled by β, plus the block input."""

    def __init__(self, nf: int, growth: int, num_layers: int):
        super().__init__()
        self.blocks = nn.Sequential(*(DenseBlock3(nf, growth, num_layers) for _ in range(RDBS_PER_RRDB)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + RRDB_BETA * self.blocks(x)


class RRDN(nn.Module):
    """ESRGAN generator: LR [N, C, h, w] in [-1, 1] → HR [N, C, s·h, s·w] in [-1, 1] (module docstring)."""

    def __init__(self, channels: int, nf: int, num_blocks: int, num_layers: int, growth: int, scale: int, pixel_max: float):
        super().__init__()
        self.scale, self.pixel_max = scale, float(pixel_max)
        self.head = nn.Conv2d(channels, nf, 3, padding=1)
        self.blocks = nn.Sequential(*(RRDB(nf, growth, num_layers) for _ in range(num_blocks)))
        self.post = nn.Conv2d(nf, nf, 3, padding=1)
        self.up = nn.Conv2d(nf, channels * scale * scale, 3, padding=1)
        self.tail = nn.Conv2d(channels, channels, 3, padding=1)
        # head (1), per RRDB 3 blocks of C convs + a 3x3 fuse, post (1), up (1), tail at full resolution (1/s)
        self.receptive_radius = math.ceil(1 + num_blocks * RDBS_PER_RRDB * (num_layers + 1) + 2 + 1 / scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x + 1.0) * (0.5 * self.pixel_max)  # [-1, 1] → 0..pixel_max, as the package feeds it
        head = self.head(x)  # [N, nf, h, w]
        h = self.post(self.blocks(head)) + head
        h = depth_to_space(self.up(h), self.scale)  # [N, C, s·h, s·w]
        y = self.tail(h)
        return (y * (2.0 / self.pixel_max) - 1.0).clamp(-1.0, 1.0)


class RDN(nn.Module):
    """LR images [N, C, h, w] in [-1, 1] → HR images [N, C, s·h, s·w] in [-1, 1] (see the module docstring)."""

    def __init__(self, channels: int, nf: int, num_blocks: int, num_layers: int, growth: int, scale: int, pixel_max: float):
        super().__init__()
        self.scale, self.pixel_max = scale, float(pixel_max)
        self.head = nn.Conv2d(channels, nf, 3, padding=1)
        self.entry = nn.Conv2d(nf, nf, 3, padding=1)
        self.blocks = nn.ModuleList(DenseBlock(nf, growth, num_layers) for _ in range(num_blocks))
        self.global_fuse = nn.Conv2d(nf * num_blocks, nf, 1)
        self.global_conv = nn.Conv2d(nf, nf, 3, padding=1)
        self.up1 = nn.Conv2d(nf, UP_WIDTHS[0], 5, padding=2)
        self.up2 = nn.Conv2d(UP_WIDTHS[0], UP_WIDTHS[1], 3, padding=1)
        self.up3 = nn.Conv2d(UP_WIDTHS[1], channels * scale * scale, 3, padding=1)
        self.tail = nn.Conv2d(channels * scale * scale, channels, 3, padding=1)
        # input pixels one output pixel can see, each side: head, entry (1 each), C per block,
        # global 3x3 (1), 5x5 (2), two 3x3 (2), the tail's 3x3 at full resolution (1/s)
        self.receptive_radius = math.ceil(2 + num_blocks * num_layers + 1 + 2 + 2 + 1 / scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x + 1.0) * (0.5 * self.pixel_max)  # [-1, 1] → 0..pixel_max, as the package feeds it
        head = self.head(x)  # [N, nf, h, w]
        h = self.entry(head)
        outs = []
        for block in self.blocks:
            h = block(h)
            outs.append(h)
        h = self.global_conv(self.global_fuse(torch.cat(outs, dim=1))) + head  # [N, nf, h, w]
        h = self.up3(torch.relu(self.up2(torch.relu(self.up1(h)))))  # [N, C·s², h, w]
        h = F.interpolate(h, scale_factor=self.scale, mode="nearest")  # [N, C·s², s·h, s·w]; exact for integer s
        y = self.tail(h)  # [N, C, s·h, s·w] in 0..pixel_max
        return (y * (2.0 / self.pixel_max) - 1.0).clamp(-1.0, 1.0)
