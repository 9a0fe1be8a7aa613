"""Explore's per-layer views, gradio-free: style mixing by block and a generator layer's feature maps.

* :func:`mix_view` — StyleGAN style mixing shown as three images: A (the current, edited latent),
  B (another seed, same class and ψ) and the mix, in which the chosen blocks (by resolution) read
  B's styles and the others A's. The noise inputs are either the model's stored ("frozen") noise,
  as in the main image, or resampled from a noise seed — the same draw for all three images, so
  A, B and the mix differ only by their styles.
* :func:`layer_choices` / :func:`feature_view` — any generating family: the layers whose output is
  a feature map (:mod:`explorer.featuremaps`), and a labelled grid of the top channels by
  activation energy for the current request.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from explorer import featuremaps
from explorer.errors import ExplorerError
from explorer.pipelines import explore

NOISE_CHOICES = ("frozen", "resampled")


def block_choices(model) -> list[tuple[str, int]]:
    """``[("4 px · layer 0", 4), ("8 px · layers 1–2", 8), …]`` for the block checkboxes."""
    out = []
    for res, idx in model.style_blocks():
        layers = f"layer {idx[0]}" if len(idx) == 1 else f"layers {idx[0]}–{idx[-1]}"
        out.append((f"{res} px · {layers}", res))
    return out


def mix_mask(model, blocks_from_b: Sequence[int]) -> torch.Tensor:
    """Bool [num_ws]: True where the mix takes B's style (the style indices of the chosen blocks)."""
    known = {res: idx for res, idx in model.style_blocks()}
    mask = torch.zeros(model.num_ws, dtype=torch.bool)
    for res in blocks_from_b or ():
        try:
            idx = known[int(res)]
        except (KeyError, TypeError, ValueError):
            raise ExplorerError(f"this generator has no {res} px block (blocks: {', '.join(f'{r} px' for r in known)})") from None
        mask[idx] = True
    return mask


@torch.no_grad()
def mix_view(model, req: explore.LatentRequest, seed_b: int, blocks_from_b: Sequence[int], noise: str = "frozen",
             noise_seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images A, B and the mix, each [1, C, H, W] in [-1, 1] (see the module docstring)."""
    if not hasattr(model, "style_blocks"):
        raise ExplorerError("style mixing needs a generator with per-layer styles (StyleGAN)")
    if noise not in NOISE_CHOICES:
        raise ExplorerError(f"noise must be one of {', '.join(NOISE_CHOICES)}")
    ws_a = explore.to_ws(model, explore.edited_latent(model, req))  # [1, num_ws, w_dim]
    ws_b = explore.to_ws(model, explore.starting_point(model, [int(seed_b)], req.label, req.truncation))
    mask = mix_mask(model, blocks_from_b).to(ws_a.device)[None, :, None]  # [1, num_ws, 1]
    ws_mix = torch.where(mask, ws_b, ws_a)
    out = []
    for ws in (ws_a, ws_b, ws_mix):
        if noise == "frozen":
            out.append(model.synthesis(ws, noise_mode="const"))
        else:  # a fresh generator per image: all three see the same noise draw (drawn on the CPU, moved to the model)
            gen = torch.Generator(device="cpu").manual_seed(int(noise_seed))
            out.append(model.synthesis(ws, noise_mode="random", generator=gen))
    return out[0], out[1], out[2]


def _plain_forward(model, req: explore.LatentRequest):
    """A zero-argument forward pass of the request through the model's own (unfused) generator,
    so hooks on its modules fire (the Explore render may use a fused copy)."""
    x = explore.edited_latent(model, req)

    def run():
        with torch.no_grad():
            if explore.space_of(model) == "w":
                return model.generate_from_w(x)
            return model.generate(x, explore._labels(model, req.label, x.shape[0]))

    return run


def layer_choices(model) -> list[tuple[str, str]]:
    """``[(label, module name)]`` of the generator's feature-map layers, in forward order."""
    probe = explore.LatentRequest(seed=0, label=0 if model.num_classes else None)
    return [(info.label, info.name) for info in featuremaps.feature_layers(model, _plain_forward(model, probe))]


def feature_view(model, req: explore.LatentRequest, layer: str, num_channels: int = 16) -> tuple[np.ndarray, str]:
    """A labelled grid (uint8 [H, W, 3]) of ``layer``'s top channels for ``req``, and a caption."""
    names = [name for _, name in layer_choices(model)]
    if layer not in names:
        raise ExplorerError(f"pick one of this generator's layers ({', '.join(names[:4])}, …)")
    feats = featuremaps.capture(model, layer, _plain_forward(model, req))[0]  # [C, H, W]
    idx, energy = featuremaps.top_channels(feats, num_channels)
    grid = featuremaps.feature_grid(feats, idx)
    total = float(feats.pow(2).mean(dim=(1, 2)).sum())
    share = sum(energy) / total * 100 if total > 0 else 0.0
    caption = (f"`{layer}`: {len(idx)} of {feats.shape[0]} channels ({feats.shape[1]}×{feats.shape[2]}), "
               f"highest activation energy first; they carry {share:.0f} % of the layer's energy. Each cell is scaled to its own range.")
    return grid, caption
