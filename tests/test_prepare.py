"""One preparation for real images: training, ``model.prepare_for_discriminator`` (the app's
Discriminator tab and the API's ``/score``) and ``gan-explorer score`` give a discriminator the
same pixels, so they give the same logit (issue 13, item 1: a held-out real 8 uploaded to the app
scored P(real) 7 % while the data-set pipeline scored it real)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import explorer
from explorer import cli
from explorer.data import get_dataset, shipped_arrays
from explorer.data.dataset import prepare_image, split_indices
from explorer.images import load_image

from ui_support import ROOT, SAMPLES

DIGITS = ROOT / "checkpoints" / "dcgan_digits.safetensors"


def _heldout_digit(tmp_path, klass: int = 8):
    """A held-out digit of ``klass`` as a PNG at its native 28×28, and its position in the held-out split."""
    arrays = shipped_arrays("digits")
    idx = split_indices(len(arrays["labels"]), "heldout")
    pos = int(np.flatnonzero(arrays["labels"][idx] == klass)[0])
    path = tmp_path / f"real_{klass}.png"
    Image.fromarray(arrays["images"][idx[pos]][:, :, 0]).save(path)
    return path, pos


def test_prepare_image_equals_the_dataset_pixels(tmp_path):
    path, pos = _heldout_digit(tmp_path)
    x_data, _ = get_dataset("digits", resolution=32, channels=1, split="heldout").tensors()
    for mode in ("RGB", "L"):  # however the upload was decoded
        x = prepare_image(load_image(path, mode=mode), channels=1, resolution=32)
        assert x.shape == (1, 1, 32, 32)
        torch.testing.assert_close(x[0], x_data[pos], atol=1e-6, rtol=0)


def test_prepare_image_colour_upload_for_a_grey_model_matches_a_folder_dataset(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (40, 52, 3), dtype=np.uint8)
    (tmp_path / "data" / "a").mkdir(parents=True)
    Image.fromarray(rgb).save(tmp_path / "data" / "a" / "x.png")
    ds = get_dataset(tmp_path / "data", resolution=16, channels=1, split="all")
    x = prepare_image(load_image(tmp_path / "data" / "a" / "x.png"), channels=1, resolution=16)
    torch.testing.assert_close(x[0], ds.tensors()[0][0], atol=1e-5, rtol=0)


def test_prepare_image_any_size_keeps_aspect_and_caps_the_side():
    x = prepare_image(np.zeros((300, 600, 3), np.uint8), channels=3, max_side=256)
    assert x.shape == (1, 3, 128, 256) and float(x.max()) == -1.0
    assert prepare_image(np.full((10, 20), 255, np.uint8), channels=3).shape == (1, 3, 10, 20)


@pytest.mark.skipif(not DIGITS.exists(), reason="shipped dcgan_digits not present")
def test_shipped_discriminator_scores_a_real_digit_the_same_everywhere(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GAN_EXPLORER_CACHE", str(tmp_path / "cache"))
    model = explorer.load(DIGITS).eval()
    path, pos = _heldout_digit(tmp_path)
    x_data, _ = get_dataset("digits", resolution=model.resolution, channels=model.image_channels, split="heldout").tensors()
    label = torch.tensor([8])
    with torch.no_grad():
        want = float(model.discriminate(x_data[pos:pos + 1], labels=label).scores[0])
        got = float(model.discriminate(model.prepare_for_discriminator(load_image(path)), labels=label).scores[0])
    assert got == pytest.approx(want, abs=1e-4)
    assert cli.main(["-q", "score", str(DIGITS), str(path), "--labels", "8", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["score"] == pytest.approx(want, abs=1e-4)


@pytest.mark.skipif(not DIGITS.exists(), reason="shipped dcgan_digits not present")
def test_shipped_discriminator_calls_held_out_real_digits_real_more_often_than_not():
    """The sample images shipped for the app (held-out digits) are judged real on average."""
    model = explorer.load(DIGITS).eval()
    logits = []
    for png in sorted(SAMPLES.glob("digits_*.png")):
        klass = int(png.stem.split("_")[1])
        with torch.no_grad():
            logits.append(float(model.discriminate(model.prepare_for_discriminator(load_image(png)), labels=torch.tensor([klass])).scores[0]))
    assert logits and float(np.mean(logits)) > 0, logits
