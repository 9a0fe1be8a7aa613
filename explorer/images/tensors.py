"""Tensors ↔ pictures, sizing policies and tiled processing.

Part of :mod:`explorer.images` (import from there). Images are float tensors in [-1, 1], [N, C, H, W].
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from PIL import Image

from explorer.errors import ImageInputError
from explorer.images.decode import convert_mode
from explorer.models import layers
from explorer.models.tiling import blend_tiles

#: default cap on pixels processed by :func:`process_in_tiles` (input side): 16 megapixels
DEFAULT_MAX_TILE_PIXELS = 16_000_000

# ----------------------------------------------------------------------------------------
# tensors
# ----------------------------------------------------------------------------------------
def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """8-bit RGB/L PIL image → float32 tensor [1, C, H, W] in [-1, 1]."""
    if img.mode not in ("RGB", "L"):
        img = convert_mode(img, "RGB")
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    x = torch.from_numpy(arr.copy()).permute(2, 0, 1).float()  # [C, H, W]
    return (x / 127.5 - 1.0).unsqueeze(0)  # [1, C, H, W]


def tensor_to_uint8(x: torch.Tensor) -> np.ndarray:
    """Tensor [C, H, W] or [N, C, H, W] in [-1, 1] → uint8 array [H, W, C] or [N, H, W, C] (rounded, clipped)."""
    if x.ndim not in (3, 4):
        raise ValueError(f"expected [C, H, W] or [N, C, H, W], got shape {list(x.shape)}")
    y = ((x.detach().float().cpu() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return y.permute(*(range(x.ndim - 3)), -2, -1, -3).numpy()


def tensor_to_pil(x: torch.Tensor) -> Image.Image:
    """One image, tensor [C, H, W] or [1, C, H, W] in [-1, 1] (C = 1 or 3) → PIL "L"/"RGB"."""
    if x.ndim == 4:
        if x.shape[0] != 1:
            raise ValueError(f"tensor_to_pil takes one image, got a batch of {x.shape[0]}; use make_grid or index it")
        x = x[0]
    if x.ndim != 3 or x.shape[0] not in (1, 3):
        raise ValueError(f"expected [1|3, H, W], got shape {list(x.shape)}")
    arr = tensor_to_uint8(x)
    return Image.fromarray(arr[:, :, 0], "L") if arr.shape[2] == 1 else Image.fromarray(arr, "RGB")

# ----------------------------------------------------------------------------------------
# sizing
# ----------------------------------------------------------------------------------------
FIT_POLICIES = ("center-crop", "pad", "resize")


def fit_to(
    img: Image.Image,
    size: int | tuple[int, int],
    policy: str = "center-crop",
    background: tuple[int, int, int] = (0, 0, 0),
) -> Image.Image:
    """Bring ``img`` to ``size`` (an int for a square, or ``(width, height)``).

    Policies:
      * ``"center-crop"`` (default): scale so the image *covers* the target, keeping its aspect
        ratio, then crop the centre. Nothing is distorted; edges of the long side are lost.
      * ``"pad"``: scale so the image *fits inside* the target, then pad (centred) with
        ``background``. Nothing is lost or distorted; the borders are synthetic.
      * ``"resize"``: stretch to the target; the aspect ratio changes.
    Resampling is Lanczos (antialiased), so downscaling does not alias.
    """
    tw, th = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if tw <= 0 or th <= 0:
        raise ValueError(f"target size must be positive, got {tw}×{th}")
    if policy not in FIT_POLICIES:
        raise ValueError(f"policy must be one of {FIT_POLICIES}, got {policy!r}")
    w, h = img.size
    if (w, h) == (tw, th):
        return img.copy()
    if policy == "resize":
        return img.resize((tw, th), Image.LANCZOS)
    if policy == "center-crop":
        scale = max(tw / w, th / h)
        nw, nh = max(tw, round(w * scale)), max(th, round(h * scale))
        scaled = img.resize((nw, nh), Image.LANCZOS) if (nw, nh) != (w, h) else img
        left, top = (nw - tw) // 2, (nh - th) // 2
        return scaled.crop((left, top, left + tw, top + th))
    scale = min(tw / w, th / h)
    nw, nh = max(1, min(tw, round(w * scale))), max(1, min(th, round(h * scale)))
    scaled = img.resize((nw, nh), Image.LANCZOS) if (nw, nh) != (w, h) else img
    fill = background[0] if img.mode == "L" else tuple(background)
    canvas = Image.new(img.mode, (tw, th), fill)
    canvas.paste(scaled, ((tw - nw) // 2, (th - nh) // 2))
    return canvas


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Pad [N, C, H, W] on the bottom/right so H and W are multiples of ``multiple``.

    The padding rule is the networks' own (:func:`explorer.models.layers.pad_to_multiple`: reflection,
    replicate where the image is too small to reflect). Returns ``(padded, box)`` with
    ``box = (top, left, height, width)`` of the original content, for :func:`crop_back`.
    """
    if multiple < 1:
        raise ValueError("multiple must be >= 1")
    padded, (h, w) = layers.pad_to_multiple(x, multiple)
    return padded, (0, 0, int(h), int(w))


def crop_back(y: torch.Tensor, box: tuple[int, int, int, int], scale: int = 1) -> torch.Tensor:
    """Cut the original content out of a network output: ``box`` from :func:`pad_to_multiple`,
    ``scale`` = output size / input size (4 for a ×4 upscaler)."""
    top, left, h, w = box
    return y[..., top * scale : (top + h) * scale, left * scale : (left + w) * scale]


@torch.no_grad()
def process_in_tiles(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    tile: int = 512,
    overlap: int = 32,
    scale: int = 1,
    multiple: int = 1,
    max_pixels: int | None = DEFAULT_MAX_TILE_PIXELS,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Apply an image-to-image ``fn`` to a large ``x`` [N, C, H, W] tile by tile.

    Each tile is ``tile``×``tile`` input pixels (smaller when the image is), neighbouring tiles
    overlap by at least ``overlap`` pixels and are blended with linear ramps that ignore the outer
    ``overlap // 4`` pixels of interior tile edges (:func:`explorer.models.tiling.blend_tiles`, the
    one tiling, which ``SRGAN.upscale_tiled`` shares), so seams do not show. For
    a network whose receptive radius fits in that margin, tiled output equals untiled output up to
    float rounding; networks with global statistics (instance norm) differ more — use large tiles.
    ``fn`` must map [N, C, h, w] → [N, C', h·scale, w·scale]. The input is first padded to a
    multiple of ``multiple`` (what the network needs) and the result cropped back, so the
    output is exactly [N, C', H·scale, W·scale]. ``progress(done, total)`` is called per tile.

    Raises:
        ImageInputError: if H·W exceeds ``max_pixels``.
    """
    if x.ndim != 4:
        raise ValueError(f"expected [N, C, H, W], got {list(x.shape)}")
    h, w = x.shape[-2:]
    if max_pixels is not None and h * w > max_pixels:
        raise ImageInputError(
            f"image is {w}×{h} = {h * w / 1e6:.1f} megapixels, more than the {max_pixels / 1e6:.1f} megapixel limit for this operation"
        )
    if overlap < 0 or tile <= 0:
        raise ValueError("tile must be positive and overlap non-negative")
    multiple = max(1, int(multiple))
    tile = max(multiple, tile - tile % multiple)
    overlap = min(overlap - overlap % multiple, tile - multiple)
    xp, box = pad_to_multiple(x, multiple)
    margin = overlap // 4
    out = blend_tiles(fn, xp, tile, tile - overlap, margin, overlap - margin, scale=scale, progress=progress)
    return crop_back(out, box, scale)
