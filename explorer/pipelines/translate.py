"""Image → image with a translator (CycleGAN) or an upscaler (super-resolution): the one input
preparation and run that the Stylize tab, the HTTP API and ``gan-explorer translate/upscale`` share.

- :func:`check_direction` / :func:`input_mode`: which way the model maps, and the mode ("L" or
  "RGB") an upload is decoded in (:func:`explorer.images.load_image`) for that direction.
- :func:`prepare` sizes a decoded picture: in the Stylize tab a translator sees it as in training,
  shorter side at the training resolution (the longer side capped at :data:`MAX_SIDE_TRANSLATE`;
  very elongated pictures are centre-cropped); the HTTP API keeps its size under the same cap; an
  upscaler takes it as it is, the longer side capped at :data:`MAX_SIDE_UPSCALE`. ``size="full"``
  (the CLI) keeps any picture as it is: :func:`run` tiles it.
- :func:`run`: the network on the prepared picture, tile by tile when it is large
  (:func:`explorer.images.process_in_tiles`; an upscaler's tiles overlap by its receptive radius,
  so the tiled output equals the untiled one).
"""

from __future__ import annotations

from typing import Callable

import torch
from PIL import Image

from explorer.errors import ExplorerError
from explorer.images import fit_to, pil_to_tensor, process_in_tiles

#: longest side a translator's input gets in the app and the API
MAX_SIDE_TRANSLATE = 256
#: longest side an upscaler's input gets in the app and the API (×4 → 640 px out)
MAX_SIDE_UPSCALE = 160
#: the CLI's pixel caps for one picture (it tiles any size up to these)
MAX_PIXELS_TRANSLATE = 64_000_000


def check_direction(model, direction: str | None = None) -> str:
    """``direction`` checked against what the model does ("AtoB", "BtoA", "x4" …); default its first."""
    caps = model.caps
    if not model.directions:
        raise ExplorerError(f"a {model.kind} model does not translate images")
    direction = direction or model.directions[0]
    if direction not in model.directions:
        what = "upscales" if caps.upscales else "translates"
        raise ExplorerError(f"this model {what} {', '.join(model.directions)}, not {str(direction)[:20]!r}")
    return direction


def input_mode(model, direction: str) -> str:
    """"L" or "RGB": how an upload is decoded for ``direction`` (its source domain's channels)."""
    channels = model.channels_of(direction[0]) if model.caps.domains else model.image_channels
    return "L" if channels == 1 else "RGB"


def capped_size(size: tuple[int, int], longest: int, multiple: int = 1) -> tuple[int, int]:
    """``size`` shrunk (aspect kept) so the longer side is at most ``longest``, each side a multiple of ``multiple``."""
    w, h = size
    f = longest / max(w, h)
    return max(multiple, round(w * f) // multiple * multiple), max(multiple, round(h * f) // multiple * multiple)


def prepare(model, img: Image.Image, direction: str, size: str = "training") -> Image.Image:
    """The picture the network gets. ``size``: "training" (the Stylize tab: a translator sees the
    picture with its shorter side at its training resolution), "capped" (the HTTP API: the picture as
    it is) — both with the longer side capped at :data:`MAX_SIDE_TRANSLATE` / :data:`MAX_SIDE_UPSCALE`
    — or "full" (the CLI: as it is, any size; :func:`run` tiles it)."""
    if size not in ("training", "capped", "full"):
        raise ExplorerError(f"size must be 'training', 'capped' or 'full', not {str(size)[:20]!r}")
    if size == "full":
        return img
    w, h = img.size
    if model.caps.upscales or size == "capped":
        longest = MAX_SIDE_UPSCALE if model.caps.upscales else MAX_SIDE_TRANSLATE
        return fit_to(img, capped_size(img.size, longest), "resize") if max(w, h) > longest else img
    scale = (model.resolution or 64) / min(w, h)
    nw, nh = max(8, round(w * scale)), max(8, round(h * scale))
    if max(nw, nh) > MAX_SIDE_TRANSLATE:  # very elongated pictures: the centre
        return fit_to(img, (min(nw, MAX_SIDE_TRANSLATE), min(nh, MAX_SIDE_TRANSLATE)), "center-crop")
    return img.resize((nw, nh), Image.LANCZOS) if (nw, nh) != (w, h) else img


def run(model, img: Image.Image, direction: str, tile: int = 512, overlap: int = 32,
        progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """The network on a prepared picture: [1, C, H', W'] in [-1, 1] (H' = H × the upscaler's scale).

    Pictures larger than ``tile`` go tile by tile; an upscaler's overlap is at least 4 × its
    receptive radius (``process_in_tiles`` ignores overlap // 4 pixels at interior tile edges), so
    its tiled result equals the untiled one.
    """
    if tile < 8 or overlap < 0 or overlap >= tile:
        raise ExplorerError("need a tile of at least 8 pixels and 0 ≤ overlap < tile")
    x = pil_to_tensor(img).to(model.device)  # [1, C, H, W]
    if model.caps.upscales:
        scale, multiple = int(model.config.scale), 1
        overlap = max(overlap, 4 * int(getattr(model, "receptive_radius", 0)))
        tile, max_pixels = max(tile, 2 * overlap), int(getattr(model, "max_input_pixels", 1024 * 1024))
    else:
        scale, multiple, max_pixels = 1, int(getattr(model, "size_multiple", 4)), MAX_PIXELS_TRANSLATE
    with torch.inference_mode():
        return process_in_tiles(lambda t: model.translate(t, direction), x, tile=tile, overlap=overlap, scale=scale,
                                multiple=multiple, max_pixels=max_pixels, progress=progress)
