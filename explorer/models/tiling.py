"""Tiled application of an image-to-image network with feathered overlaps: the one implementation.

:func:`blend_tiles` runs ``fn`` on overlapping tiles of a large image and blends the outputs with
separable weights; both front ends call it with their own geometry:

* :meth:`explorer.models.srgan.SRGAN.upscale_tiled` — the margin is the generator's receptive
  radius, so every weighted pixel equals the untiled output (float rounding aside); tiles are
  batched through the network.
* :func:`explorer.images.process_in_tiles` — any function, the margin a quarter of the overlap,
  with padding to a size multiple, a pixel cap and progress reports.

Weights (:func:`ramp`): next to an *interior* tile edge the outer ``margin`` input pixels get weight
0 — there the tile's own border padding differs from the whole image — then the weight rises
linearly to 1 over ``width`` pixels; edges on the image border keep full weight. Outputs are summed
with their weights and divided by the summed weights, so every pixel is a convex blend.

Torch only (no PIL, no models), so a model family can import it without the image package.
"""

from __future__ import annotations

from typing import Callable

import torch


def tile_starts(size: int, tile: int, stride: int) -> list[int]:
    """Start offsets of tiles of length ``tile`` every ``stride`` pixels, the last flush with the end."""
    if size <= tile:
        return [0]
    return list(range(0, size - tile, stride)) + [size - tile]  # the last one may overlap more


def ramp(length: int, lead: bool, trail: bool, margin: float, width: float, scale: int, device=None) -> torch.Tensor:
    """1-D blend weights over a tile's output (``length`` input px → ``length·scale`` output px): [length·scale].

    ``lead``/``trail``: the tile's first/last edge is interior (another tile continues there). Next to
    such an edge the weight is 0 for ``margin`` input pixels, then rises linearly to 1 over ``width``.
    """
    pos = (torch.arange(length * scale, device=device, dtype=torch.float32) + 0.5) / scale  # input-px units
    span = max(width, 1e-6)  # width 0: a step at the margin
    wgt = torch.ones_like(pos)
    if lead:
        wgt = torch.minimum(wgt, ((pos - margin) / span).clamp(0, 1))
    if trail:
        wgt = torch.minimum(wgt, ((length - pos - margin) / span).clamp(0, 1))
    return wgt


def blend_tiles(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    tile: int,
    stride: int,
    margin: float,
    width: float,
    scale: int = 1,
    batch_tiles: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Apply ``fn`` ([T·N, C, h, w] → [T·N, C', h·scale, w·scale]) to ``x`` [N, C, H, W] tile by tile.

    Tiles are ``tile``² input pixels (smaller where the image is), start every ``stride`` pixels (the
    last flush with the border) and are weighted by :func:`ramp` (``margin``, ``width``); a ``stride``
    of at most ``tile − 2·margin`` keeps neighbouring tiles' zero zones apart, so every pixel gets
    weight. ``batch_tiles`` tiles go through ``fn`` at once, stacked along the batch. A single tile is
    ``fn(x)`` itself. ``progress(done, total)`` is called per tile. Returns [N, C', H·scale, W·scale]
    (float32 when tiled); runs under the caller's grad mode.
    """
    n, _, h, w = x.shape
    s = scale
    th, tw = min(tile, h), min(tile, w)
    boxes = [(y0, x0) for y0 in tile_starts(h, th, stride) for x0 in tile_starts(w, tw, stride)]
    if len(boxes) == 1:
        out = fn(x)
        if progress:
            progress(1, 1)
        return out
    out = norm = None
    for b in range(0, len(boxes), batch_tiles):
        chunk = boxes[b : b + batch_tiles]
        tiles = [x[..., y0 : y0 + th, x0 : x0 + tw] for y0, x0 in chunk]
        y = fn(tiles[0] if len(tiles) == 1 else torch.cat(tiles))  # [T·N, C', th·s, tw·s]
        if y.shape[0] != len(chunk) * n or y.shape[-2:] != (th * s, tw * s):
            raise ValueError(f"fn returned {list(y.shape)} for {len(chunk)}×{n} {th}×{tw} tiles at scale {s}")
        if out is None:
            out = torch.zeros(n, y.shape[1], h * s, w * s, dtype=torch.float32, device=y.device)
            norm = torch.zeros(h * s, w * s, dtype=torch.float32, device=y.device)
        parts = y.reshape(len(chunk), n, *y.shape[1:])  # [T, N, C', th·s, tw·s]
        for done, ((y0, x0), part) in enumerate(zip(chunk, parts), start=b + 1):
            wy = ramp(th, y0 > 0, y0 + th < h, margin, width, s, y.device)  # [th·s]
            wx = ramp(tw, x0 > 0, x0 + tw < w, margin, width, s, y.device)  # [tw·s]
            weight = wy[:, None] * wx[None, :]  # [th·s, tw·s]
            out[..., y0 * s : (y0 + th) * s, x0 * s : (x0 + tw) * s] += part.float() * weight
            norm[y0 * s : (y0 + th) * s, x0 * s : (x0 + tw) * s] += weight
            if progress:
                progress(done, len(boxes))
    return out / norm
