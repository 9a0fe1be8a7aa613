"""The pixel steps of the data policy as tensor operations: channels, size and values.

One implementation for every image a model sees: data sets (:func:`uint8_to_model`, called by
:func:`explorer.data.dataset.get_dataset` on batches) and single images outside training
(:func:`prepare_image`: the Discriminator tab, the API's ``/score``, ``gan-explorer score``).

- channels: grey -> RGB repeats the channel; RGB -> grey uses ITU-R 601 luma
  (0.299 R + 0.587 G + 0.114 B, as PIL's ``convert("L")``).
- size: the shorter side is resized to the resolution (bilinear, ``antialias=True`` in
  ``torch.nn.functional.interpolate``), then the centre square is cropped.
- values: ``x / 127.5 - 1`` -> float32 in [-1, 1].
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from explorer.errors import DataError

LUMA = (0.299, 0.587, 0.114)


def convert_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """[N, C, H, W] float -> [N, channels, H, W]: grey->RGB repeats, RGB->grey is 601 luma."""
    c = x.shape[1]
    if c == channels:
        return x
    if c == 1 and channels == 3:
        return x.expand(-1, 3, -1, -1).contiguous()
    if c == 3 and channels == 1:
        w = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x * w).sum(dim=1, keepdim=True)
    raise DataError(f"cannot convert {c} channels to {channels}; use 1 (grey) or 3 (RGB)")


def resize_center_crop(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """[N, C, H, W] float -> [N, C, R, R]: shorter side to R (bilinear, antialiased), centre crop."""
    h, w = x.shape[-2:]
    if h == resolution and w == resolution:
        return x
    # The shorter side lands exactly on R; the longer one keeps the aspect ratio (never below R).
    if h <= w:
        nh, nw = resolution, max(resolution, round(w * resolution / h))
    else:
        nh, nw = max(resolution, round(h * resolution / w)), resolution
    x = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
    top, left = (nh - resolution) // 2, (nw - resolution) // 2
    return x[..., top:top + resolution, left:left + resolution]


def uint8_to_model(batch: np.ndarray, channels: int, resolution: int, out: torch.Tensor) -> None:
    """uint8 [N, H, W, C] -> ``out`` float32 [N, channels, R, R] in [-1, 1], the documented policy.

    Channel conversion and resizing are both linear, so their order does not change the result;
    we resize the smaller channel count (grey before RGB expansion, luma before resizing).
    """
    x = torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float()  # [N, C, H, W] 0..255
    if x.shape[1] > channels:
        x = convert_channels(x, channels)
    x = resize_center_crop(x, resolution)
    x = x.div(127.5).sub_(1.0).clamp_(-1.0, 1.0)
    out.copy_(x.expand(-1, channels, -1, -1) if x.shape[1] < channels else x)


def prepare_image(img, channels: int, resolution: int | None = None, max_side: int | None = None) -> torch.Tensor:
    """One decoded image -> [1, channels, H, W] float32 in [-1, 1], by the training data policy (this module and :mod:`explorer.data.dataset`).

    The single preparation for models' inputs outside training (the Discriminator tab, the API's
    ``/score``, ``gan-explorer score``): a real image prepared here equals the same image as
    :func:`get_dataset` serves it, so a discriminator judges what it was trained on.

    Args:
        img: a PIL image in mode "RGB" or "L" (as :func:`explorer.images.load_image` returns,
            transparency already composited on white) or a uint8 array [H, W] / [H, W, C].
        channels: 1 or 3; RGB -> grey is 601 luma in float, as in training.
        resolution: square output side (shorter side resized, centre crop), or None to keep the size.
        max_side: with ``resolution=None``, shrink (same filter, aspect kept) so the longer side
            is at most this.
    """
    arr = np.array(img, dtype=np.uint8)  # a writable copy
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3):
        raise DataError(f"expected an image [H, W], [H, W, 1] or [H, W, 3], got shape {list(arr.shape)}")
    h, w = arr.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)[None].float()  # [1, C, H, W] 0..255
    if x.shape[1] > channels:
        x = convert_channels(x, channels)
    if resolution is not None:
        x = resize_center_crop(x, int(resolution))
    elif max_side and max(h, w) > max_side:
        s = max_side / max(h, w)
        x = F.interpolate(x, size=(max(1, round(h * s)), max(1, round(w * s))), mode="bilinear",
                          antialias=True, align_corners=False)
    x = x.div(127.5).sub_(1.0).clamp_(-1.0, 1.0)
    return x.expand(-1, channels, -1, -1).contiguous() if x.shape[1] < channels else x
