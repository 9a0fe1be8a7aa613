"""Turning tensors into things a browser shows: uint8 arrays, grids, heat-maps, GIFs, files.

No gradio here. Every image leaves as a ``uint8`` array (shown by ``gr.Image(format="png")``,
so nothing is lossy) or as a PNG/GIF file in the app's scratch folder.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from explorer.images import make_grid, tensor_to_uint8

_SCRATCH_LOCK = threading.Lock()
_SCRATCH: Path | None = None
#: files in the scratch folder older than this are removed when new ones are written
SCRATCH_MAX_AGE_S = 2 * 3600


def scratch_dir() -> Path:
    """A per-process temporary folder for downloads (PNG exports, GIFs, latents)."""
    global _SCRATCH
    with _SCRATCH_LOCK:
        if _SCRATCH is None or not _SCRATCH.is_dir():
            _SCRATCH = Path(tempfile.mkdtemp(prefix="gan-explorer-ui-"))
        return _SCRATCH


def scratch_path(stem: str, suffix: str) -> Path:
    """A fresh file path ``<scratch>/<unique>/<stem><suffix>`` (the stem is what the user downloads)."""
    root = scratch_dir()
    _sweep(root)
    folder = root / uuid.uuid4().hex[:12]
    folder.mkdir()
    return folder / f"{stem}{suffix}"


def _sweep(root: Path) -> None:
    cutoff = time.time() - SCRATCH_MAX_AGE_S
    for sub in root.iterdir():
        try:
            if sub.stat().st_mtime < cutoff:
                for f in sub.iterdir():
                    f.unlink(missing_ok=True)
                sub.rmdir()
        except OSError:
            pass  # another request may be sweeping the same folder


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """One image [C, H, W] or [1, C, H, W] in [-1, 1] → uint8 [H, W] (grey) or [H, W, 3]."""
    if x.ndim == 4:
        x = x[0]
    arr = tensor_to_uint8(x)  # [H, W, C]
    return arr[:, :, 0] if arr.shape[2] == 1 else arr


def grid(x: torch.Tensor, nrow: int | None = None, padding: int = 2) -> np.ndarray:
    """Images [N, C, H, W] in [-1, 1] → one uint8 grid image (≈ square unless ``nrow``)."""
    return np.asarray(make_grid(x, nrow=nrow, padding=padding))


def pil_grid(images: Sequence[np.ndarray], nrow: int, padding: int = 2, pad_value: int = 255) -> np.ndarray:
    """Same-size uint8 images (grey or RGB, mixed allowed) → one RGB grid array (:func:`explorer.images.make_grid`)."""
    pils = [Image.fromarray(a) for a in images]  # [H, W] → L, [H, W, 3] → RGB
    return np.asarray(make_grid(pils, nrow=nrow, padding=padding, pad_value=pad_value).convert("RGB"))


def upscale_nearest(arr: np.ndarray, min_side: int = 256) -> np.ndarray:
    """Enlarge a small uint8 image by an integer factor (nearest neighbour) to at least ``min_side``."""
    factor = max(1, -(-min_side // max(1, min(arr.shape[:2]))))
    if factor == 1:
        return arr
    return np.repeat(np.repeat(arr, factor, axis=0), factor, axis=1)


def resize_to(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubic resize of a uint8 image to ``(width, height)`` (the baseline next to super-resolution)."""
    img = Image.fromarray(arr)
    return np.asarray(img.resize(size, Image.BICUBIC))


# ----------------------------------------------------------------------------------------
# heat-maps
# ----------------------------------------------------------------------------------------
# Diverging map for P(real): 0 → red ("looks fake"), 0.5 → pale yellow, 1 → blue ("looks real").
_STOPS = np.array([[0.0, 215, 48, 39], [0.25, 252, 141, 89], [0.5, 255, 255, 191], [0.75, 145, 191, 219], [1.0, 69, 117, 180]])


def colormap(p: np.ndarray) -> np.ndarray:
    """Values in [0, 1] [H, W] → uint8 RGB [H, W, 3] on the red–yellow–blue diverging map."""
    p = np.clip(np.nan_to_num(p, nan=0.5), 0.0, 1.0)
    out = np.empty(p.shape + (3,), np.float64)
    for c in range(3):
        out[..., c] = np.interp(p, _STOPS[:, 0], _STOPS[:, c + 1])
    return out.round().astype(np.uint8)


def heatmap_overlay(image: np.ndarray, patch_logits: torch.Tensor, alpha: float = 0.55) -> tuple[np.ndarray, np.ndarray]:
    """Blend a PatchGAN map over the image it judged.

    Args:
        image: uint8 [H, W] or [H, W, 3], the image that was scored.
        patch_logits: [h, w] per-patch logits.
        alpha: opacity of the heat-map.
    Returns:
        ``(overlay, heat)``: the blended image and the heat-map alone, both uint8 [H, W, 3].
        Each patch's P(real) = sigmoid(logit) is stretched bilinearly over the image area.
    """
    h, w = image.shape[:2]
    p = torch.sigmoid(patch_logits.detach().float().cpu())[None, None]  # [1, 1, h', w']
    p = F.interpolate(p, size=(h, w), mode="bilinear", align_corners=False)[0, 0].numpy()
    heat = colormap(p)
    base = np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image
    overlay = (base.astype(np.float32) * (1 - alpha) + heat.astype(np.float32) * alpha).round().astype(np.uint8)
    return overlay, heat


# ----------------------------------------------------------------------------------------
# files
# ----------------------------------------------------------------------------------------
def write_gif(frames: Sequence[np.ndarray], path: str | os.PathLike, frame_ms: int = 80, min_side: int = 192, bounce: bool = True) -> Path:
    """Write an endlessly looping GIF of uint8 frames, enlarged (nearest) to ``min_side``.

    ``bounce`` plays the frames forward then backward, so the loop has no jump.
    """
    seq = list(frames) + (list(frames[-2:0:-1]) if bounce and len(frames) > 2 else [])
    pils = [Image.fromarray(upscale_nearest(f, min_side)) for f in seq]
    pils = [p.convert("RGB") for p in pils]
    path = Path(path)
    pils[0].save(path, save_all=True, append_images=pils[1:], duration=frame_ms, loop=0, optimize=False, disposal=2)
    return path
