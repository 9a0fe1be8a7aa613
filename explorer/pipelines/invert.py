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
cancels. Generator weights are never modified (only the latent requires grad). The Stylize tab
and ``gan-explorer invert`` (:func:`add_invert_command`) both call :func:`invert`; the latent file
layout is :func:`latent_npy_bytes`'s, which the Explore tab's "Load latent" reads.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

import explorer
from explorer.atomic import write_bytes
from explorer.cli_common import common_parent, load_model, model_identity, parse_labels, progress_bar
from explorer.data.dataset import prepare_image
from explorer.errors import ExplorerError
from explorer.images import load_image, save_png
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
    steps = _check_request(model, target, space, steps)
    device = model.device
    target = target.to(device, torch.float32)
    labels = None
    if model.num_classes:
        labels = torch.tensor([0 if label is None else int(label)], device=device)
    with torch.no_grad():
        start = _start_latent(model, target, space, labels, seed)
        target_feats = feature_net.features(target).detach() if feature_net is not None else None

    def loss_of(x: torch.Tensor) -> torch.Tensor:
        """The objective of the module docstring for latent ``x`` [1, D]."""
        img = _generate(model, x, space, labels)
        loss = ((img - target) ** 2).mean()
        if target_feats is not None:
            feats = feature_net.features(img)
            loss = loss + feature_weight * ((feats - target_feats) ** 2).mean()
        if space == "z" and prior_weight:
            loss = loss + prior_weight * ((x.pow(2).mean() - 1.0) ** 2)
        return loss

    latent, losses, done = _optimise(loss_of, start, steps, lr, progress, should_stop)
    with torch.no_grad():
        image = _generate(model, latent, space, labels)
    mse = float(((image - target) ** 2).mean())
    return InversionResult(latent=latent.cpu(), space=space, image=image.cpu(), psnr=psnr(image, target), mse=mse, steps=done, losses=losses)


def _check_request(model, target: torch.Tensor, space: str, steps: int) -> int:
    """Refuse what cannot be inverted, with a readable reason; returns ``steps`` as an int."""
    if not getattr(model, "can_generate", False):
        raise ExplorerError(f"a {model.kind} model has no latent space to invert into")
    if space not in ("z", "w"):
        raise ExplorerError("space must be 'z' or 'w'")
    if space == "w" and model.edit_space != "w":
        raise ExplorerError(f"a {model.kind} model has no w space; invert into z")
    steps = int(steps)
    if not 1 <= steps <= MAX_STEPS:
        raise ExplorerError(f"steps must lie in 1..{MAX_STEPS}")
    res, ch = model.resolution, model.image_channels
    if target.shape != (1, ch, res, res):
        raise ExplorerError(f"the target must be one {ch}-channel {res}×{res} image, got {list(target.shape)}")
    return steps


def _start_latent(model, target: torch.Tensor, space: str, labels: torch.Tensor | None, seed: int) -> torch.Tensor:
    """Where the search starts, [1, D]: the mean style w̄ (w), else the best of ``NUM_START_SEEDS`` seeds (z)."""
    if space == "w":
        return model.w_avg.detach().reshape(1, -1).clone()  # [1, w_dim]
    cands = latents_from_seeds(model, range(seed * NUM_START_SEEDS, (seed + 1) * NUM_START_SEEDS)).to(target.device)  # [S, D]
    imgs = model.generate(cands, None if labels is None else labels.expand(cands.shape[0]))
    errs = ((imgs - target) ** 2).flatten(1).mean(dim=1)  # [S]
    return cands[int(errs.argmin())][None].clone()


def _optimise(
    loss_of: Callable[[torch.Tensor], torch.Tensor],
    start: torch.Tensor,
    steps: int,
    lr: float,
    progress: Callable[[int, int, float], None] | None,
    should_stop: Callable[[], bool] | None,
) -> tuple[torch.Tensor, list[float], int]:
    """Adam on the latent with a cosine decay after a short linear warm-up.

    Returns the latent with the lowest loss seen, the loss per step, and the steps done.
    """
    x = start.requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr, betas=(0.9, 0.999))
    best = (float("inf"), start.detach().clone())
    losses: list[float] = []
    done = 0
    for step in range(steps):
        if should_stop is not None and should_stop():
            break
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / 10) * 0.5 * (1 + math.cos(math.pi * step / steps))
        loss = loss_of(x)
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
    return best[1], losses, done


def latent_npy_bytes(model, x: torch.Tensor) -> bytes:
    """One latent [1, D] as a ``.npy`` (float32, no pickle): a z is saved 1-D ``[latent_dim]``, a w
    ``[1, w_dim]``, a w+ ``[1, num_ws, w_dim]`` — the layout the Explore tab saves and loads."""
    arr = x.detach().cpu().float().numpy()
    if model.edit_space != "w":
        arr = arr.reshape(-1)
    else:
        arr = arr.reshape(1, model.num_ws, -1) if x.ndim == 3 else arr.reshape(1, -1)
    buf = io.BytesIO()
    np.save(buf, arr.astype(np.float32), allow_pickle=False)
    return buf.getvalue()


# ----------------------------------------------------------------------------------------
# gan-explorer invert (registered through explorer.cli.COMMAND_MODULES)
# ----------------------------------------------------------------------------------------
def add_invert_command(sub) -> None:
    p = sub.add_parser("invert", parents=[common_parent()],
                       help="find the latent whose image best matches a photo (GAN inversion), for Explore or edits")
    p.add_argument("checkpoint", help="a DCGAN or StyleGAN checkpoint")
    p.add_argument("image", help="the image to invert (prepared as the training data were: centre crop, resize)")
    p.add_argument("--space", choices=("z", "w"), default=None, help="latent space (default: w for StyleGAN, else z)")
    p.add_argument("--class", dest="class_", metavar="CLASS", default=None, help="class id or name (conditional models)")
    p.add_argument("--steps", type=int, default=300, help=f"Adam steps (1..{MAX_STEPS}, default 300)")
    p.add_argument("--lr", type=float, default=0.05, help="peak learning rate (default 0.05)")
    p.add_argument("--seed", type=int, default=0, help="seeds the choice of starting latents (z)")
    p.add_argument("--features", default=None, metavar="CLASSIFIER",
                   help="a classifier checkpoint whose features add a perceptual term (e.g. checkpoints/classifier_digits.safetensors)")
    p.add_argument("--out", default="inverted.png", help="the reconstruction, a PNG with provenance (default ./inverted.png)")
    p.add_argument("--latent-out", default=None, help="also write the latent as .npy (default: next to --out)")
    p.set_defaults(func=cmd_invert)


def cmd_invert(args) -> int:
    model = load_model(args, args.checkpoint)
    if not model.can_generate:
        raise ExplorerError(f"a {model.kind} model has no latent space to invert into")
    space = args.space or ("w" if model.edit_space == "w" else "z")
    labels = parse_labels(model, args.class_, None, 1)  # None for unconditional models; names or ids
    label = int(labels[0]) if labels is not None else None
    feature_net = None
    if args.features:
        feature_net = explorer.load(args.features, device=model.device, kind="classifier")
        if feature_net.config.channels != model.image_channels:  # (it resizes to its own resolution itself)
            raise ExplorerError(f"{Path(args.features).name} reads {feature_net.config.channels}-channel images; "
                                f"the generator makes {model.image_channels}-channel ones")
    target = prepare_image(load_image(args.image, mode="RGB"), model.image_channels, model.resolution)
    with progress_bar(args, total=args.steps, desc="inverting", unit="step") as bar:
        result = invert(model, target, space=space, label=label, steps=args.steps, lr=args.lr, feature_net=feature_net,
                        seed=args.seed, progress=lambda step, total, loss: bar.update(1))
    out = Path(args.out)
    latent_path = Path(args.latent_out) if args.latent_out else out.with_suffix(".npy")
    meta = {**model_identity(args.checkpoint), "kind": model.kind, "operation": "inversion",
            "source_image": Path(args.image).name, "space": result.space, "steps": result.steps,
            "psnr_db": round(result.psnr, 2), "latent_file": latent_path.name}
    save_png(result.image[0], out, meta)
    write_bytes(latent_path, latent_npy_bytes(model, result.latent))
    print(f"{args.image} -> {out} and {latent_path}: PSNR {result.psnr:.2f} dB (MSE {result.mse:.4f}) after "
          f"{result.steps} steps in {result.space}-space; load the .npy in Explore (Load latent) to edit it")
    return 0
