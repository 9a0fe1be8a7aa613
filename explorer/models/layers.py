"""Layers and helpers shared by several model families.

What lives here: the DCGAN/CycleGAN weight initialisation, the reflection-padded residual
block of the CycleGAN ResNet generator, pad-to-a-multiple / crop-back for fully
convolutional image-to-image networks, and the grad-mode policy of the inference verbs.
Family-specific layers stay in their family's file; append new shared layers at the end.
"""

from __future__ import annotations

import contextlib
import math
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from explorer.errors import ExplorerError


def init_normal_(module: nn.Module, std: float = 0.02) -> None:
    """DCGAN-paper initialisation, also used by CycleGAN (Radford et al. 2016, §4).

    Conv / transposed-conv / linear weights ~ N(0, std), biases 0; batch-norm scales ~ N(1, std),
    shifts 0. Call as ``model.apply(init_normal_)``.
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        weight = module.parametrizations.weight.original if hasattr(module, "parametrizations") else module.weight
        nn.init.normal_(weight, 0.0, std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, std)
        nn.init.zeros_(module.bias)


class ReflectResBlock(nn.Module):
    """CycleGAN residual block: x + IN(conv3(pad(ReLU(IN(conv3(pad(x))))))).

    Reflection padding instead of zero padding avoids border artefacts (Zhu et al. 2017, §7.2).
    ``body`` indices follow the layer order so foreign checkpoints map by position:
    0 pad, 1 conv, 2 IN, 3 ReLU, [4 dropout], then pad, conv, IN.
    """

    def __init__(self, dim: int, use_dropout: bool = False, bias: bool = True):
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=bias),  # [N, dim, H, W]
            nn.InstanceNorm2d(dim, affine=False, track_running_stats=False),
            nn.ReLU(True),
        ]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=bias),  # [N, dim, H, W]
            nn.InstanceNorm2d(dim, affine=False, track_running_stats=False),
        ]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)  # [N, dim, H, W]


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "reflect") -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad ``x`` [N, C, H, W] at the bottom/right so H and W are multiples of ``multiple``.

    Returns the padded tensor and the original (H, W) for :func:`crop_to`. Reflection padding
    keeps image statistics at the border (zero padding would look like a black frame to the net).
    """
    h, w = x.shape[-2:]
    pad_h = (-h) % multiple
    pad_w = (-w) % multiple
    if pad_h or pad_w:
        if mode == "reflect" and (pad_h >= h or pad_w >= w):
            mode = "replicate"  # reflect needs pad < size; only hit by images a few pixels wide
        x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
    return x, (h, w)


def check_truncation(psi: float) -> float:
    """ψ as a float, or a clear error unless it is a finite number ≥ 0."""
    try:
        value = float(psi)
    except (TypeError, ValueError):
        raise ExplorerError(f"truncation must be a finite number ≥ 0, got {psi!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ExplorerError(f"truncation must be a finite number ≥ 0, got {value}")
    return value


def truncate(x: torch.Tensor, psi: float | torch.Tensor, mean: torch.Tensor | None = None) -> torch.Tensor:
    """The truncation trick, one rule for every family and export: ``mean + ψ·(x − mean)``.

    ``mean`` None is 0, the mode of z's N(0, I) prior (x' = ψ·x); StyleGAN passes its tracked
    mean w. ψ = 1 returns ``x`` itself, ψ = 0 the mean. ``psi`` is a number ≥ 0, or a 0-d tensor
    (a traced ONNX input: not checked, never short-cut). Works on [N, D] and [N, L, D].
    """
    if not isinstance(psi, torch.Tensor):
        psi = check_truncation(psi)
        if psi == 1.0:
            return x
    if mean is None:
        return x * psi
    return mean.to(x.device, x.dtype).lerp(x, psi)


def crop_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Crop ``x`` [N, C, H', W'] back to the top-left ``size`` = (H, W)."""
    h, w = size
    return x[..., :h, :w]


@contextlib.contextmanager
def grad_mode_for(module: nn.Module, *inputs: torch.Tensor | None) -> Iterator[None]:
    """Autograd policy of the inference verbs (``generate``/``translate``/``discriminate``).

    Gradients are tracked only when someone can want them: the module is in training mode,
    or an input requires grad (latent inversion, gradient penalties). Plain inference on an
    eval-mode model therefore runs without building a graph — faster, and far less memory.
    An enclosing ``torch.no_grad()`` always wins.
    """
    wanted = torch.is_grad_enabled() and (module.training or any(t is not None and t.requires_grad for t in inputs))
    with torch.set_grad_enabled(wanted):
        yield


def is_power_of_two(n: int) -> bool:
    return n > 0 and 2 ** int(math.log2(n)) == n


# ----- StyleGAN2-style building blocks (equalised learning rate, modulated convolution) -----
# Used by explorer/models/stylegan_networks.py. "Equalised learning rate" (Karras et al. 2018) stores
# weights as N(0, 1) and multiplies by He's constant 1/sqrt(fan_in) at run time, so Adam's
# per-parameter step sizes are equal in effect for every layer regardless of its fan-in.

LRELU_GAIN = math.sqrt(2.0)  # keeps activations' second moment ~1 through leaky ReLU(0.2)


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Pixel norm: scale ``x`` so its mean square along ``dim`` is 1 (StyleGAN's z normalisation)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate; ``lr_mul`` < 1 slows it (mapping network)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, bias_init: float = 0.0,
                 lr_mul: float = 1.0, activation: str | None = None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_mul)) if bias else None
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bias * self.lr_mul if self.bias is not None else None
        x = F.linear(x, self.weight * self.weight_gain, b)
        if self.activation == "lrelu":
            x = F.leaky_relu(x, 0.2) * LRELU_GAIN
        return x


class EqualConv2d(nn.Module):
    """Conv2d ('same' padding) with equalised learning rate and optional 2x average-pool downsampling.

    With ``down=2`` the input is average-pooled *before* the convolution: a low-pass filter
    against aliasing (the role of StyleGAN2's FIR blur) that also makes the conv 4x cheaper.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str | None = "lrelu", down: int = 1):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = kernel_size // 2
        self.activation = activation
        self.down = down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.down > 1:
            x = F.avg_pool2d(x, self.down)
        x = F.conv2d(x, self.weight * self.weight_gain, self.bias, padding=self.padding)
        if self.activation == "lrelu":
            x = F.leaky_relu(x, 0.2) * LRELU_GAIN
        return x


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                     up: int = 1, impl: str = "scale", eps: float = 1e-8) -> torch.Tensor:
    """StyleGAN2 modulated convolution, 'same' padding.

    Args:
        x: [N, I, H, W] input. weight: [O, I, k, k]. styles: [N, I] per-sample input-channel scales
        (a constant gain such as equalised LR's may sit on either; the product is what counts). demodulate: rescale each output channel to unit expected variance.
        up: 1, or 2 for bilinear 2x upsampling before the convolution.
        impl: "scale" scales activations (x * s -> shared-weight conv -> * demod), which is one ordinary
        batched conv: fastest on CPU and GPU. "grouped" builds per-sample weights and runs one grouped
        conv (the textbook form); kept as the reference the tests compare against.
    Returns:
        [N, O, H*up, W*up].
    """
    n, i = styles.shape
    o, _, k, _ = weight.shape
    pad = k // 2
    if impl == "scale":
        x = x * styles.reshape(n, i, 1, 1)
        if up > 1:
            x = F.interpolate(x, scale_factor=up, mode="bilinear", align_corners=False)
        if k == 1:  # 1x1 (toRGB): a matmul; oneDNN has no fast path for so few output channels
            x = torch.matmul(weight.reshape(o, i), x.flatten(2)).reshape(n, o, *x.shape[2:])  # [N, O, H, W]
        else:
            x = F.conv2d(x, weight, padding=pad)  # [N, O, H, W]
        if demodulate:
            # sum_{i,k} (W[o,i,k] s[n,i])^2 = sum_i s[n,i]^2 * sum_k W[o,i,k]^2
            d = (styles.square() @ weight.square().sum(dim=(2, 3)).t() + eps).rsqrt()  # [N, O]
            x = x * d.reshape(n, o, 1, 1)
        return x
    if impl == "grouped":
        w = weight.unsqueeze(0) * styles.reshape(n, 1, i, 1, 1)  # [N, O, I, k, k]
        if demodulate:
            w = w * (w.square().sum(dim=(2, 3, 4), keepdim=True) + eps).rsqrt()
        if up > 1:
            x = F.interpolate(x, scale_factor=up, mode="bilinear", align_corners=False)
        h, wd = x.shape[2:]
        out = F.conv2d(x.reshape(1, n * i, h, wd), w.reshape(n * o, i, k, k), padding=pad, groups=n)
        return out.reshape(n, o, h, wd)
    raise ValueError(f"unknown modulated conv impl {impl!r}; use 'scale' or 'grouped'")


class ModulatedConv2d(nn.Module):
    """Modulated conv whose per-sample input scales come from ``w`` through a learned affine map."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, w_dim: int,
                 demodulate: bool = True, up: int = 1):
        super().__init__()
        # bias_init=1: styles start at 1, so an untrained layer behaves like a plain conv
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.demodulate = demodulate
        self.up = up

    def forward(self, x: torch.Tensor, w: torch.Tensor, impl: str = "scale") -> torch.Tensor:
        # the He gain goes on the styles, not the weight: same product, one weight-sized multiply fewer
        styles = self.affine(w) * self.weight_gain  # [N, I]
        return modulated_conv2d(x, self.weight, styles, self.demodulate, self.up, impl)


class MinibatchStd(nn.Module):
    """Append the mean std of features over small groups of the batch (StyleGAN's minibatch std).

    Lets D see batch diversity, which discourages mode collapse. The group size is the largest
    divisor of N not above ``group_size``, so any batch size works (N=1 gives a zero feature).
    """

    def __init__(self, group_size: int = 4, num_channels: int = 1):
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = max(d for d in range(1, min(self.group_size, n) + 1) if n % d == 0)
        f = self.num_channels
        y = x.reshape(g, n // g, f, c // f, h, w)  # [G, M, F, c, H, W]
        y = (y - y.mean(dim=0)).square().mean(dim=0)  # variance over the group
        y = (y + 1e-8).sqrt().mean(dim=(2, 3, 4))  # [M, F]
        y = y.reshape(n // g, f, 1, 1).repeat(g, 1, h, w)  # [N, F, H, W]
        return torch.cat([x, y], dim=1)
