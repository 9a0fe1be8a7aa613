"""Automatic metrics of the very images raters saw in a session.

Human scores and automatic metrics are only comparable on the same images: a model card's FD was
measured on thousands of other samples. :func:`stimulus_metrics` decodes a real-vs-fake
session's stored stimuli and compares each model's fakes with the session's real images, with a
named feature extractor (:func:`explorer.metrics.evaluate`). Sessions are small, so the numbers
carry their sample sizes: a Fréchet distance from a few dozen images is biased upwards (compare
only sessions of equal size), KID is the unbiased MMD² of the full sets, and the 1-NN accuracy
comes with its chance level (fakes of one model vs the reals of all tracks: unequal counts).
Attention checks are left out. Pairwise sessions show no real images, so they get no such row.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from explorer.humaneval.config import SessionConfig
from explorer.humaneval.stimuli import decode_png
from explorer.metrics import evaluate

#: what is computed on a session's stimuli
STIMULUS_METRICS = ("fd", "kid", "1nn")


def _stack(pngs: Sequence[bytes]) -> torch.Tensor:
    arr = np.stack([decode_png(p) for p in pngs])  # [N, H, W, C] uint8
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()  # [N, C, H, W] uint8


def stimulus_metrics(config: SessionConfig, stimuli: Sequence[dict], extractor: Any = "imagenet-trunk",
                     extractor_options: dict | None = None, device=None) -> dict[str, dict[str, Any]]:
    """Per model name: FD, KID and 1-NN accuracy of its session fakes vs the session's real images.

    Args:
        config: the session's config (task, model names).
        stimuli: the session's stimulus records (``HumanEvalStore.stimuli(code)``: kind, source, png).
        extractor, extractor_options: as for :func:`explorer.metrics.evaluate`.
    Returns:
        ``{model_name: {"images": "N fake vs M real", <fd_name>: value, "KID (full sets)": value,
        "1-NN accuracy": value, "1-NN chance": value, "extractor": name}}``; empty for pairwise
        sessions or when a side has fewer than two images.
    """

    if config.task != "real_vs_fake":
        return {}
    reals = [s["png"] for s in stimuli if s["kind"] == "real"]
    if len(reals) < 2:
        return {}
    real = _stack(reals)
    out: dict[str, dict[str, Any]] = {}
    for name in config.names:
        fakes = [s["png"] for s in stimuli if s["kind"] == "fake" and s["source"] == name]
        if len(fakes) < 2:
            continue
        res = evaluate(_stack(fakes), real=real, metrics=STIMULUS_METRICS, extractor=extractor, num_real=len(reals),
                       extractor_options=extractor_options, use_cache=False, device=device)
        out[name] = {
            "images": f"{res['num_fake']} fake vs {res['num_real']} real",
            res["fd_name"]: res["fd"],
            "KID (full sets)": res["kid_mean"],
            "1-NN accuracy": res["one_nn_accuracy"],
            "1-NN chance": res["one_nn_chance"],
            "extractor": res.get("extractor_display_name") or res["extractor"],
        }
    return out
