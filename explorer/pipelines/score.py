"""What a discriminator says: one image, and whole sets (no gradio here).

* :func:`score_image` — one picture judged as training prepared real images
  (``model.prepare_for_discriminator``: the same pixels training saw), its logit, P(real) and, for
  patch discriminators, the patch map; the Discriminator tab, the HTTP API and ``gan-explorer
  score`` all call it.
* :func:`score_sets` — discriminator scores on training images, held-out real images and
  generated images, the classic overfitting check: a discriminator that scores the images it
  trained on clearly higher than real images it never saw has memorised its training set
  (Karras et al. 2020, "Training GANs with limited data", fig. 1).
* :func:`overfitting_verdict` — that comparison in one sentence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image

from explorer.data import get_dataset
from explorer.errors import ExplorerError
from explorer.metadata import dataset_name
from explorer.zoo import ModelEntry

SET_NAMES = ("training", "held-out real", "generated")


@dataclass
class ImageScore:
    """One judged picture: ``logit`` (higher = more real), ``p_real`` = sigmoid(logit), ``shown``
    the input as the discriminator saw it [1, C, h, w] in [-1, 1], ``patch_map`` [h', w'] logits
    of a patch discriminator (else None)."""

    logit: float
    p_real: float
    shown: torch.Tensor
    patch_map: torch.Tensor | None


def score_image(model, img: Image.Image, domain: str | None = None, label: int | None = None,
                prepared: torch.Tensor | None = None) -> ImageScore:
    """The discriminator on one decoded picture (RGB PIL), prepared as training prepared real images.

    ``domain``: "A"/"B" for a two-domain model (required there); ``label``: the class of a
    conditional model; ``prepared``: an input the caller sized itself (the CLI's ``--fit``) instead.
    """
    if not model.caps.has_discriminator:
        raise ExplorerError(f"this {model.kind} model has no discriminator")
    if model.caps.domains and domain not in model.caps.domains:
        raise ExplorerError(f"a {model.display_name} has one discriminator per domain: choose domain A or B")
    x = model.prepare_for_discriminator(img, domain) if prepared is None else prepared  # [1, C, h, w]
    labels = torch.tensor([int(label)]) if model.num_classes and label is not None else None
    if model.num_classes and labels is None:
        raise ExplorerError("this discriminator is class-conditional: give the image's class")
    with torch.inference_mode():
        out = model.discriminate(x, labels=labels, domain=domain if model.caps.domains else None)
    logit = float(out.scores[0])
    pmap = out.patch_map[0, 0].float().cpu() if out.patch_map is not None else None
    return ImageScore(logit=logit, p_real=float(torch.sigmoid(torch.tensor(logit))), shown=x, patch_map=pmap)


def _load_split(entry: ModelEntry, split: str, num: int, resolution: int, channels: int, domain: str | None = None):
    name = dataset_name(entry.meta, domain)
    if not name:
        where = f" for domain {domain}" if domain else ""
        raise ExplorerError(f"{entry.name}'s card does not name the data set it was trained on{where}, so its training and held-out images are unknown")
    ds = get_dataset(name, resolution=resolution, channels=channels, split=split)
    images, labels = ds.tensors()  # [N, C, R, R], [N]
    if len(images) == 0:
        raise ExplorerError(f"the {split} split of {name} is empty")
    gen = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(images), generator=gen)[:num]
    return images[idx], labels[idx]


@torch.no_grad()
def _scores(model, x: torch.Tensor, labels: torch.Tensor | None, domain: str | None, batch: int = 64) -> np.ndarray:
    out = []
    for i in range(0, len(x), batch):
        lab = labels[i : i + batch] if (labels is not None and model.num_classes) else None
        out.append(model.discriminate(x[i : i + batch], labels=lab, domain=domain).scores.float().cpu())
    return torch.cat(out).numpy()


@dataclass
class ScoreSets:
    scores: dict[str, np.ndarray]  # set name -> logits [N]
    dataset: str
    note: str = ""


def score_sets(model, entry: ModelEntry, num: int = 256, domain: str | None = None) -> ScoreSets:
    """D logits on ``num`` training, held-out real and generated images.

    "Generated" means: G(z) for DCGAN/StyleGAN; for CycleGAN the other generator's translations
    of held-out images from the other domain; for ×4 super-resolution the upscaled ×4-shrunk
    held-out images.
    """
    caps = entry.caps
    if caps.domains:
        if domain not in caps.domains:
            raise ExplorerError("choose which discriminator (domain A or B)")
        res = int(entry.config.get("resolution") or 64)
        channels = model.channels_of(domain)
    else:
        res, channels = model.resolution, model.image_channels
    train_x, train_y = _load_split(entry, "train", num, res, channels, domain)
    held_x, held_y = _load_split(entry, "heldout", num, res, channels, domain)
    note = ""
    with torch.no_grad():
        if caps.domains:
            other = "B" if domain == "A" else "A"
            direction = f"{other}to{domain}"
            if not model.directions or direction not in model.directions:
                raise ExplorerError(f"this CycleGAN cannot make domain-{domain} images (no {direction} generator)")
            src, _ = _load_split(entry, "heldout", num, res, model.channels_of(other), other)
            fake = torch.cat([model.translate(src[i : i + 32], direction) for i in range(0, len(src), 32)])
            gen_y = None
            note = f"Generated = {direction} translations of held-out domain-{other} images."
        elif caps.upscales:
            direction = caps.directions[0]
            scale = int(direction[1:])
            lo = F.interpolate(held_x, scale_factor=1 / scale, mode="bicubic", align_corners=False, antialias=True).clamp(-1, 1)
            fake = torch.cat([model.translate(lo[i : i + 32], direction) for i in range(0, len(lo), 32)])
            gen_y = None
            note = f"Generated = ×{scale} upscales of ×{scale}-shrunk held-out images."
        elif caps.generates:
            gen = torch.Generator().manual_seed(12345)
            z = torch.randn(num, model.latent_dim, generator=gen)
            gen_y = torch.randint(0, max(1, model.num_classes), (num,), generator=gen) if model.num_classes else None
            fake = torch.cat([model.generate(z[i : i + 64], None if gen_y is None else gen_y[i : i + 64]) for i in range(0, num, 64)])
        elif caps.has_discriminator:
            raise ExplorerError(f"{entry.name} has no generator to compare with")
        else:
            raise ExplorerError(f"{entry.name} has no discriminator")
    scores = {
        "training": _scores(model, train_x, train_y, domain),
        "held-out real": _scores(model, held_x, held_y, domain),
        "generated": _scores(model, fake, gen_y, domain),
    }
    return ScoreSets(scores=scores, dataset=dataset_name(entry.meta, domain) or "?", note=note)


def histogram_frame(scores: dict[str, np.ndarray], bins: int = 30) -> pd.DataFrame:
    """Long-format histogram (share of each set per bin) for a ``gr.LinePlot``: columns D score, share, set."""
    allv = np.concatenate([v for v in scores.values() if len(v)])
    lo, hi = float(np.percentile(allv, 0.5)), float(np.percentile(allv, 99.5))
    if hi <= lo:
        lo, hi = lo - 1.0, hi + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    rows = []
    for name, v in scores.items():
        counts, _ = np.histogram(np.clip(v, lo, hi), bins=edges)
        share = counts / max(1, len(v))
        rows += [{"D score (logit)": float(c), "share of images": float(s), "set": name} for c, s in zip(centres, share)]
    return pd.DataFrame(rows)


def _cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    pooled = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2) if len(a) > 1 and len(b) > 1 else 0.0
    return float((a.mean() - b.mean()) / pooled) if pooled > 0 else 0.0


def overfitting_verdict(scores: dict[str, np.ndarray]) -> tuple[str, bool]:
    """One paragraph reading the three distributions, and whether the overfitting alarm is on.

    The alarm is on when training images score higher than held-out real images by more than
    half a pooled standard deviation (Cohen's d > 0.5, a "medium" effect).
    """
    tr, ho, ge = (scores[k] for k in SET_NAMES)
    d_gap = _cohens_d(tr, ho)
    d_fake = _cohens_d(ho, ge)
    alarm = d_gap > 0.5
    means = f"Mean D logit — training {tr.mean():+.2f}, held-out real {ho.mean():+.2f}, generated {ge.mean():+.2f}."
    if alarm:
        gap = (
            f"**Overfitting alarm:** the discriminator scores its training images clearly higher than real images it never saw "
            f"(gap {tr.mean() - ho.mean():+.2f}, Cohen's d = {d_gap:.2f}). It has started to memorise the training set instead of "
            "learning what real images look like, so its feedback to the generator gets worse. Remedies: more data, augmentation "
            "(DiffAugment/ADA), fewer discriminator steps, or an earlier checkpoint."
        )
    else:
        gap = (
            f"No overfitting sign: training and held-out real images get similar scores (Cohen's d = {d_gap:.2f}; the alarm "
            "sounds above 0.5). A discriminator that memorised its training set would score those clearly higher than unseen real images."
        )
    if d_fake > 0.5:
        fake = f"It still tells generated images apart from real ones (d = {d_fake:.2f})."
    elif d_fake < -0.5:
        fake = f"It scores generated images *higher* than real ones (d = {d_fake:.2f}) — the generator is currently winning."
    else:
        fake = f"It can barely tell generated from real images (d = {d_fake:.2f})."
    return " ".join([means, gap, fake]), alarm
