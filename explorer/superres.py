"""Super-resolution next to bicubic, scored against a reference: the one home for the comparison.

The Stylize tab, the API and ``bench/bench_superres.py`` all use these functions, so a PSNR in the
app means the same as one in the benchmark:

- :func:`degrade` makes the low-resolution input from a reference: antialiased bicubic downscale
  by the model's scale (what the shipped model was trained on);
- :func:`bicubic_upscale` is the baseline (plain bicubic, clamped to the image range);
- :func:`psnr_8bit` compares images as the user sees them: both rounded to 8 bits per channel,
  peak 255, mean squared error over every pixel and channel (RGB, or grey for one-channel models).

:func:`compare` runs the whole thing on one picture for the Stylize tab.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from explorer.images import fit_to, pil_to_tensor, tensor_to_uint8
from explorer.pipelines.translate import capped_size


def degrade(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """[N, C, H, W] in [-1, 1] (H, W multiples of ``scale``) → [N, C, H/s, W/s]: antialiased bicubic."""
    return F.interpolate(hr, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False).clamp(-1, 1)


def bicubic_upscale(lo: torch.Tensor, scale: int) -> torch.Tensor:
    """[N, C, h, w] → [N, C, s·h, s·w]: bicubic interpolation, clamped to [-1, 1] (the baseline)."""
    return F.interpolate(lo, scale_factor=scale, mode="bicubic", align_corners=False).clamp(-1, 1)


def psnr_8bit(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    """PSNR in dB of two images after rounding both to 8 bits (tensors in [-1, 1] or uint8 arrays)."""
    qa = tensor_to_uint8(a) if isinstance(a, torch.Tensor) else np.asarray(a)
    qb = tensor_to_uint8(b) if isinstance(b, torch.Tensor) else np.asarray(b)
    if qa.shape != qb.shape:
        raise ValueError(f"PSNR needs images of one shape, got {qa.shape} and {qb.shape}")
    mse = float(np.mean((qa.astype(np.float64) - qb.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


@dataclass
class Comparison:
    """One picture through a super-resolution model and through bicubic, as uint8 HxW[xC] arrays."""

    scale: int
    low: np.ndarray
    bicubic: np.ndarray
    output: np.ndarray
    reference: np.ndarray | None = None  # the original, when the input was made by shrinking it
    psnr_model: float | None = None
    psnr_bicubic: float | None = None
    resized_to: tuple[int, int] | None = None  # set when the input was shrunk to the size cap

    def summary(self) -> str:
        """A one-paragraph Markdown note for the app."""
        h, w = self.low.shape[:2]
        s = self.scale
        parts = []
        if self.psnr_model is not None:
            parts.append(f"PSNR against the original (8-bit {'RGB' if self.low.ndim == 3 else 'grey'}): "
                         f"**model {self.psnr_model:.2f} dB**, bicubic {self.psnr_bicubic:.2f} dB "
                         f"(input {w}×{h} → {s * w}×{s * h}, ×{s}).")
        else:
            parts.append(f"Input {w}×{h} → {s * w}×{s * h} (×{s}); no reference to score against.")
        if self.resized_to:
            parts.append(f"The upload was shrunk to {self.resized_to[0]}×{self.resized_to[1]} first (the app's limit; "
                         "`gan-explorer upscale` has none).")
        return " ".join(parts)


def compare(model, img: Image.Image, shrink_first: bool = True, max_side: int = 160) -> Comparison:
    """Upscale ``img`` (PIL, the model's mode) with ``model`` and with bicubic.

    ``shrink_first``: crop the picture to a multiple of the scale, shrink it by the scale with
    :func:`degrade` and score both upscales against it (PSNR); otherwise upscale the picture as it
    is (after shrinking it to ``max_side`` on its longer side when larger). Either way the model
    sees an input of at most ``max_side`` pixels a side.
    """
    s = int(model.scale)
    resized = None
    if shrink_first:
        w, h = img.size
        ws, hs = max(s, w // s * s), max(s, h // s * s)
        hi = img.crop((0, 0, ws, hs)) if (ws, hs) != (w, h) else img
        if max(hi.size) > s * max_side:
            hi = fit_to(hi, capped_size(hi.size, s * max_side, s), "resize")
        ref = pil_to_tensor(hi)  # [1, C, H, W]
        lo = degrade(ref, s)
    else:
        ref = None
        if max(img.size) > max_side:
            img = fit_to(img, capped_size(img.size, max_side), "resize")
            resized = img.size
        lo = pil_to_tensor(img)
    with torch.inference_mode():
        out = model.translate(lo, model.directions[0])  # [1, C, s·h, s·w]
    bic = bicubic_upscale(lo, s)
    result = Comparison(scale=s, low=_arr(lo), bicubic=_arr(bic), output=_arr(out), resized_to=resized)
    if ref is not None:
        result.reference = _arr(ref)
        result.psnr_model, result.psnr_bicubic = psnr_8bit(out, ref), psnr_8bit(bic, ref)
    return result


def _arr(x: torch.Tensor) -> np.ndarray:
    a = tensor_to_uint8(x)[0]  # [H, W, C]
    return a[..., 0] if a.shape[-1] == 1 else a
