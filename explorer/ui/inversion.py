"""GAN inversion: find the latent whose generated image best matches a given image.

Optimisation-based (as in Image2StyleGAN / GAN-inversion surveys): start from the best of a
few random seeds (z) or from the mean style w̄ (StyleGAN w), then run Adam on the latent to
minimise

    L = ‖G(x) − target‖²  (pixel MSE, images in [−1, 1])
      + λ_feat · ‖φ(G(x)) − φ(target)‖² / dim φ     (if a feature network φ is given)
      + λ_prior · (‖z‖²/D − 1)²                       (z only: stay near the N(0, I) shell)

with a cosine learning-rate decay. Fidelity is reported as PSNR in dB on the 8-bit scale
(peak-to-peak 2 in [−1, 1] units, so PSNR = 10·log10(4 / MSE)).

No gradio here: a ``progress(step, total, loss)`` callback reports progress; ``should_stop()``
cancels. Generator weights are never modified (only the latent requires grad).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from explorer.errors import ExplorerError
from explorer.latent import latents_from_seeds

NUM_START_SEEDS = 16
MAX_STEPS = 2000


@dataclass
class InversionResult:
    latent: torch.Tensor  # [1, D] (z or w)
    space: str  # "z" | "w"
    image: torch.Tensor  # [1, C, H, W] in [-1, 1]
    psnr: float  # dB
    mse: float
    steps: int
    losses: list[float]


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two images in [−1, 1] (peak-to-peak 2)."""
    mse = float(((a.float() - b.float()) ** 2).mean())
    return float("inf") if mse == 0 else 10.0 * math.log10(4.0 / mse)


def _generate(model, x: torch.Tensor, space: str, labels: torch.Tensor | None) -> torch.Tensor:
    if space == "w":
        return model.generate_from_w(x)  # [N, C, H, W]
    return model.generate(x, labels)


def invert(
    model,
    target: torch.Tensor,
    space: str = "z",
    label: int | None = None,
    steps: int = 300,
    lr: float = 0.05,
    feature_net=None,
    feature_weight: float = 0.5,
    prior_weight: float = 0.01,
    seed: int = 0,
    progress: Callable[[int, int, float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> InversionResult:
    """Invert ``target`` [1, C, H, W] (model resolution and channels, in [−1, 1]) into ``space``.

    Args:
        model: a DCGAN (``space="z"``) or StyleGAN (``"z"`` or ``"w"``).
        label: class for conditional generators.
        steps, lr: Adam iterations and peak learning rate.
        feature_net: optional module with ``features(x) -> [N, F]`` (e.g. the project's
            classifier) for a perceptual term; its weights are not changed.
        seed: seeds the choice of starting latents.
    Returns:
        :class:`InversionResult` with the best latent seen (lowest loss).
    """
    if not getattr(model, "can_generate", False):
        raise ExplorerError(f"a {model.kind} model has no latent space to invert into")
    if space not in ("z", "w"):
        raise ExplorerError("space must be 'z' or 'w'")
    if space == "w" and not hasattr(model, "generate_from_w"):
        raise ExplorerError(f"a {model.kind} model has no w space; invert into z")
    steps = int(steps)
    if not 1 <= steps <= MAX_STEPS:
        raise ExplorerError(f"steps must lie in 1..{MAX_STEPS}")
    res, ch = model.resolution, model.image_channels
    if target.shape != (1, ch, res, res):
        raise ExplorerError(f"the target must be one {ch}-channel {res}×{res} image, got {list(target.shape)}")
    device = model.device
    target = target.to(device, torch.float32)
    labels = None
    if model.num_classes:
        labels = torch.tensor([0 if label is None else int(label)], device=device)

    with torch.no_grad():
        if space == "w":
            start = model.w_avg.detach().reshape(1, -1).clone()  # [1, w_dim]
        else:
            cands = latents_from_seeds(model, range(seed * NUM_START_SEEDS, (seed + 1) * NUM_START_SEEDS)).to(device)  # [S, D]
            imgs = model.generate(cands, None if labels is None else labels.expand(cands.shape[0]))
            errs = ((imgs - target) ** 2).flatten(1).mean(dim=1)
            start = cands[int(errs.argmin())][None].clone()
        target_feats = feature_net.features(target).detach() if feature_net is not None else None

    x = start.requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr, betas=(0.9, 0.999))
    best = (float("inf"), start.detach().clone())
    losses: list[float] = []
    done = 0
    for step in range(steps):
        if should_stop is not None and should_stop():
            break
        for group in opt.param_groups:  # cosine decay, short linear warm-up
            group["lr"] = lr * min(1.0, (step + 1) / 10) * 0.5 * (1 + math.cos(math.pi * step / steps))
        img = _generate(model, x, space, labels)
        loss = ((img - target) ** 2).mean()
        if target_feats is not None:
            feats = feature_net.features(img)
            loss = loss + feature_weight * ((feats - target_feats) ** 2).mean()
        if space == "z" and prior_weight:
            loss = loss + prior_weight * ((x.pow(2).mean() - 1.0) ** 2)
        value = float(loss.detach())
        losses.append(value)
        if value < best[0]:
            best = (value, x.detach().clone())  # the latent this loss belongs to (before the step)
        # gradient for the latent only: the (shared, cached) networks' .grad stay untouched
        (x.grad,) = torch.autograd.grad(loss, [x])
        opt.step()
        done = step + 1
        if progress is not None:
            progress(done, steps, value)

    latent = best[1]
    with torch.no_grad():
        image = _generate(model, latent, space, labels)
    mse = float(((image - target) ** 2).mean())
    return InversionResult(latent=latent.cpu(), space=space, image=image.cpu(), psnr=psnr(image, target), mse=mse, steps=done, losses=losses)
