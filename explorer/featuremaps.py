"""Feature maps of a generator's layers: which layers there are, what one of them computes for a
latent, its most active channels, and a labelled grid of them.

Layers are found the same way for every family that generates: one forward pass of the
generator with a hook on every sub-module, keeping the outermost modules whose output is a
feature map ``[N, C, H, W]`` with more channels than the image (so RGB outputs are left out) —
DCGAN's ``stem`` and ``blocks.i``, StyleGAN's ``blocks.i.conv0/conv1``. Families need to declare
nothing; the list is cached per model object.

Channels are ranked by **activation energy**, the mean of the squared activation over the map
(a channel that is silent for this latent scores 0). Each cell of the grid is min–max scaled on
its own (so the pattern shows whatever the channel's range) and coloured dark→bright. No gradio.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from explorer.errors import ExplorerError

#: most channels shown in one grid
MAX_CHANNELS = 64


@dataclass(frozen=True)
class LayerInfo:
    """One layer whose output is a feature map: module name (under the generator), channels, size."""

    name: str
    channels: int
    height: int
    width: int

    @property
    def label(self) -> str:
        return f"{self.name} · {self.channels} ch · {self.height}×{self.width}"


_LAYERS: "weakref.WeakKeyDictionary[torch.nn.Module, list[LayerInfo]]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _generator(model) -> torch.nn.Module:
    g = getattr(model, "G", None)
    if g is None or not getattr(model, "can_generate", False):
        raise ExplorerError(f"a {model.kind} model has no generator layers to look into")
    return g


def feature_layers(model, run: Callable[[], object]) -> list[LayerInfo]:
    """The generator's feature-map layers in forward order; ``run()`` performs one forward pass."""
    with _LOCK:
        hit = _LAYERS.get(model)
    if hit is not None:
        return hit
    g = _generator(model)
    seen: dict[str, tuple[int, ...]] = {}
    order: list[str] = []

    def hook_for(name):
        def hook(_mod, _inp, out):
            if isinstance(out, torch.Tensor) and out.ndim == 4 and name not in seen:
                seen[name] = tuple(out.shape)
                order.append(name)
        return hook

    handles = [m.register_forward_hook(hook_for(n)) for n, m in g.named_modules() if n]
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    image_channels = int(getattr(model, "image_channels", 3))
    layers = []
    for name in order:
        # outermost only: a module inside one that already returns a feature map is a detail of it
        inside = any(name.startswith(p + ".") for p in seen if p != name)
        _, c, h, w = seen[name]
        if not inside and c > image_channels:
            layers.append(LayerInfo(name, c, h, w))
    if not layers:
        raise ExplorerError(f"found no feature-map layers in this {model.kind} generator")
    with _LOCK:
        _LAYERS[model] = layers
    return layers


def capture(model, layer: str, run: Callable[[], object]) -> torch.Tensor:
    """The output of generator module ``layer`` during ``run()``: [N, C, H, W] (float32, CPU)."""
    g = _generator(model)
    modules = dict(g.named_modules())
    if not layer or layer not in modules:
        raise ExplorerError(f"this generator has no layer {layer!r}")
    got: list[torch.Tensor] = []
    handle = modules[layer].register_forward_hook(lambda _m, _i, out: got.append(out.detach()) if isinstance(out, torch.Tensor) else None)
    try:
        with torch.no_grad():
            run()
    finally:
        handle.remove()
    if not got or got[0].ndim != 4:
        raise ExplorerError(f"layer {layer!r} did not produce a feature map")
    return got[0].float().cpu()


def top_channels(feats: torch.Tensor, k: int) -> tuple[list[int], list[float]]:
    """Indices and energies of the ``k`` channels of ``feats`` [C, H, W] with the highest mean squared activation."""
    if feats.ndim != 3:
        raise ExplorerError(f"feature maps must be [C, H, W], got {list(feats.shape)}")
    energy = feats.pow(2).mean(dim=(1, 2))  # [C]
    k = max(1, min(int(k), feats.shape[0], MAX_CHANNELS))
    vals, idx = torch.sort(energy, descending=True, stable=True)
    return idx[:k].tolist(), vals[:k].tolist()


# dark blue → teal → yellow, like common perceptual maps (no matplotlib needed)
_ANCHORS = np.array([[20, 18, 60], [40, 90, 140], [40, 160, 130], [150, 210, 70], [250, 235, 50]], dtype=np.float32)


def _colour(u: np.ndarray) -> np.ndarray:
    pos = np.clip(u, 0, 1) * (len(_ANCHORS) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(_ANCHORS) - 2)
    t = (pos - lo)[..., None]
    return (_ANCHORS[lo] * (1 - t) + _ANCHORS[lo + 1] * t).astype(np.uint8)


def feature_grid(feats: torch.Tensor, channels: list[int], cell: int = 72, ncol: int | None = None) -> np.ndarray:
    """A uint8 RGB grid [H, W, 3]: one cell per channel of ``feats`` [C, H, W], labelled ``#index``."""
    n = len(channels)
    if n == 0:
        raise ExplorerError("no channels to show")
    ncol = ncol or int(np.ceil(np.sqrt(n)))
    nrow = int(np.ceil(n / ncol))
    label_h, pad = 14, 3
    grid = np.full((nrow * (cell + label_h + pad) + pad, ncol * (cell + pad) + pad, 3), 255, np.uint8)
    font = ImageFont.load_default()
    maps = feats[channels]  # [n, H, W]
    lo = maps.amin(dim=(1, 2), keepdim=True)
    hi = maps.amax(dim=(1, 2), keepdim=True)
    scaled = ((maps - lo) / (hi - lo).clamp_min(1e-8)).numpy()  # each cell on its own range
    reps = max(1, cell // max(feats.shape[1], feats.shape[2]))
    for i, ch in enumerate(channels):
        r, c = divmod(i, ncol)
        tile = _colour(np.kron(scaled[i], np.ones((reps, reps), np.float32)))  # nearest-neighbour upscale
        tile = np.asarray(Image.fromarray(tile).resize((cell, cell), Image.NEAREST))
        y, x = pad + r * (cell + label_h + pad) + label_h, pad + c * (cell + pad)
        grid[y : y + cell, x : x + cell] = tile
    img = Image.fromarray(grid)
    draw = ImageDraw.Draw(img)
    for i, ch in enumerate(channels):
        r, c = divmod(i, ncol)
        draw.text((pad + c * (cell + pad) + 2, pad + r * (cell + label_h + pad) + 1), f"#{ch}", fill=(0, 0, 0), font=font)
    return np.asarray(img)
