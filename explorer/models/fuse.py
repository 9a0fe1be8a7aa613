"""Inference-time fusion: a DCGAN generator with BatchNorm folded into its transposed convolutions.

In eval mode BatchNorm is a fixed per-channel affine map, y = s·x + t with
s = γ / √(σ² + ε) and t = β − μ·s, so it can be folded into the preceding (bias-free)
transposed convolution: W' = W·s (per output channel), b' = t. That removes one full pass
over every activation tensor. The fused generator also

* computes the stem (a 4×4 transposed conv applied to a 1×1 input, i.e. a plain linear map of z)
  as one matrix multiply whose output is already in channels-last order, instead of a
  convolution call on a degenerate 1×1 image;
* keeps activations in channels-last memory format, where oneDNN's transposed-convolution
  kernels are fastest on CPUs, and applies ReLU/Tanh in place.

The result equals the eval-mode generator up to float rounding (tested to 1e-5). It is an
inference artefact: it does not train (folded statistics would go stale) and is not saved;
rebuild it with :func:`fuse_dcgan` after loading or changing weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from explorer.errors import ExplorerError


def _fold(conv: nn.ConvTranspose2d, bn: nn.BatchNorm2d | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight [Cin, Cout, k, k] and bias [Cout] of ``bn(conv(x))`` as a single transposed conv."""
    w = conv.weight.detach().float()
    b = conv.bias.detach().float() if conv.bias is not None else torch.zeros(w.shape[1], device=w.device)
    if bn is None:
        return w.clone(), b.clone()
    if bn.running_mean is None or bn.running_var is None:
        raise ExplorerError("cannot fold a BatchNorm that tracks no running statistics")
    scale = bn.weight.detach().float() / torch.sqrt(bn.running_var.float() + bn.eps)  # [Cout]
    shift = bn.bias.detach().float() - bn.running_mean.float() * scale
    return w * scale[None, :, None, None], b * scale + shift


class FusedDCGANGenerator(nn.Module):
    """Eval-only DCGAN generator: z [N, latent_dim] (+ labels [N]) → images [N, C, R, R] in [-1, 1].

    Outputs are channels-last tensors (values and shape as usual; call ``.contiguous()`` if a
    consumer needs NCHW memory).
    """

    def __init__(self, generator: nn.Module):
        super().__init__()
        stem_conv, stem_bn = generator.stem[0], generator.stem[1]
        if stem_conv.stride != (1, 1) or stem_conv.padding != (0, 0) or stem_conv.kernel_size != (4, 4):
            raise ExplorerError("fuse_dcgan expects the DCGAN stem: a 4x4 transposed conv, stride 1, no padding")
        w, b = _fold(stem_conv, stem_bn)  # [in, C0, 4, 4], [C0]
        self.stem_channels = w.shape[1]
        # z @ stem_w gives [N, 4·4·C0] in (y, x, c) order = channels-last [N, 4, 4, C0]
        self.register_buffer("stem_w", w.permute(0, 2, 3, 1).reshape(w.shape[0], -1).contiguous())
        self.register_buffer("stem_b", b.repeat(16))  # [16·C0], matches the (y, x, c) order
        self.embed = generator.embed  # label embedding of conditional models (shared, not copied)
        layers = [(block[0], block[1]) for block in generator.blocks] + [(generator.to_rgb[0], None)]
        self.num_layers = len(layers)
        for i, (conv, bn) in enumerate(layers):
            wi, bi = _fold(conv, bn)
            self.register_buffer(f"w{i}", wi)  # [C_in, C_out, 4, 4]
            self.register_buffer(f"b{i}", bi if (bn is not None or conv.bias is not None) else None)  # [C_out]
        self.eval()

    def train(self, mode: bool = True) -> "FusedDCGANGenerator":
        if mode:
            raise ExplorerError("a fused generator is for inference only; train the original model")
        return super().train(False)

    @torch.inference_mode()
    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            if labels is None:
                raise ExplorerError("this generator is class-conditional: pass labels")
            z = torch.cat([z, self.embed(labels)], dim=1)  # [N, nz + embed]
        n = z.shape[0]
        h = torch.addmm(self.stem_b, z, self.stem_w)  # [N, 4·4·C0]
        h = h.view(n, 4, 4, self.stem_channels).permute(0, 3, 1, 2)  # [N, C0, 4, 4] channels-last
        h = h.relu_()
        for i in range(self.num_layers):
            h = F.conv_transpose2d(h, getattr(self, f"w{i}"), getattr(self, f"b{i}"), stride=2, padding=1)  # [N, C_i, 2s, 2s]
            h = h.tanh_() if i == self.num_layers - 1 else h.relu_()
        return h  # [N, C, R, R]


def fuse_dcgan(model) -> FusedDCGANGenerator:
    """Fused inference generator of a DCGAN model (or of its ``G``), on the same device.

    Usage::

        g = fuse_dcgan(model)
        images = g(z)            # == model.generate(z) up to float rounding, faster on CPU
    """
    generator = getattr(model, "G", model)
    if generator is None:
        raise ExplorerError("this DCGAN has no generator to fuse")
    if not hasattr(generator, "stem") or not hasattr(generator, "to_rgb"):
        raise ExplorerError("fuse_dcgan needs a DCGAN generator")
    fused = FusedDCGANGenerator(generator)
    device = next(generator.parameters()).device
    return fused.to(device=device, memory_format=torch.channels_last)
