"""The shipped checkpoints draw what they drew when the pins were taken (issue 11's guard for refactors).

For every shipped model: fixed seeds (generators, each class for conditional ones), fixed held-out
inputs (the translator both ways, the ×4 upscalers), fp32, rendered to uint8. The pins live in
``tests/data/shipped_outputs.npz`` with each checkpoint's file hash. A refactor must leave these
images unchanged; the tolerance only absorbs another CPU's float kernels (≤ 2 grey levels on any
pixel, ≤ 0.05 on average), far below what any change of the maths would move.

A retrained checkpoint has a new hash: take new pins on purpose with
``GAN_EXPLORER_REPIN=1 python -m pytest tests/test_shipped_outputs.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import explorer
from explorer.images import tensor_to_uint8

ROOT = Path(__file__).resolve().parents[1]
PINS = Path(__file__).with_name("data") / "shipped_outputs.npz"
MODELS = ("dcgan_digits", "stylegan_emoji", "cyclegan_emoji", "srgan_emoji", "srgan_general")


def _inputs(name: str, model) -> dict[str, torch.Tensor]:
    """What each model is asked to draw: {label: images [N, C, H, W] in [-1, 1]} (fp32)."""
    from explorer.data import get_dataset, sr_mix
    from explorer.superres import degrade

    with torch.no_grad():
        if model.kind in ("dcgan", "stylegan"):
            z = explorer.latents_from_seeds(model, [0, 1, 2, 3])
            labels = torch.tensor([0, 3, 6, 9]) if model.num_classes else None
            return {"seeds 0-3": model.generate(z, labels) if labels is not None else model.generate(z)}
        if model.kind == "cyclegan":
            a = get_dataset("emoji-google", resolution=64, split="heldout").tensors()[0][:4]
            b = get_dataset("emoji-twitter", resolution=64, split="heldout").tensors()[0][:4]
            return {"A to B": model.translate(a, "AtoB"), "B to A": model.translate(b, "BtoA")}
        hr = torch.cat([sr_mix.heldout_images("noto", 2), sr_mix.heldout_images("photos", 2)])
        return {"x4": model.upscale(degrade(hr, 4))}


def _render(name: str) -> tuple[str, dict[str, np.ndarray]]:
    path = ROOT / "checkpoints" / f"{name}.safetensors"
    torch.manual_seed(0)
    model = explorer.load(path, device="cpu").eval()
    return explorer.file_hash(path), {k: tensor_to_uint8(v) for k, v in _inputs(name, model).items()}


def _repin() -> None:
    arrays, hashes = {}, {}
    for name in MODELS:
        hashes[name], outs = _render(name)
        for label, arr in outs.items():
            arrays[f"{name}|{label}"] = arr
    PINS.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(PINS, hashes=np.array(json.dumps(hashes)), **arrays)


if os.environ.get("GAN_EXPLORER_REPIN") == "1":
    _repin()


@pytest.mark.parametrize("name", MODELS)
def test_shipped_model_draws_its_pinned_images(name):
    pytest.importorskip("skimage", reason="the held-out photographs ship in scikit-image (test extra)")
    pins = np.load(PINS)
    file_hash, outs = _render(name)
    pinned_hash = json.loads(str(pins["hashes"]))[name]
    assert file_hash == pinned_hash, (f"checkpoints/{name}.safetensors changed ({file_hash} vs pinned {pinned_hash}); "
                                      "if it was retrained on purpose, take new pins (see the module docstring)")
    for label, arr in outs.items():
        ref = pins[f"{name}|{label}"]
        assert arr.shape == ref.shape, (label, arr.shape, ref.shape)
        diff = np.abs(arr.astype(np.int16) - ref.astype(np.int16))
        assert diff.max() <= 2 and diff.mean() <= 0.05, f"{name} {label}: max {diff.max()}, mean {diff.mean():.3f} grey levels off"
