"""The shipped general x4 model (``checkpoints/srgan_general.safetensors``) on held-out data of every kind.

Held out means never seen in training: the shipped data sets' held-out split (last 10 %) and the
photographs in ``explorer.data.sr_mix.HELDOUT_PHOTOS``. Inputs are made as the evaluation in the
README and ``bench/bench_superres.py`` makes them: antialiased bicubic ÷4, PSNR on 8-bit RGB.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import explorer
from explorer.data import sr_mix
from explorer.superres import bicubic_upscale, degrade, psnr_8bit
from explorer.images import tensor_to_uint8

CKPT = "checkpoints/srgan_general.safetensors"
pytest.importorskip("skimage", reason="the held-out photographs ship in scikit-image (test extra)")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return explorer.load(CKPT).eval()


def _sq_err(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Per-pixel squared error of two batches after rounding to 8 bits: [N, H, W] (mean over channels)."""
    qa, qb = (np.stack([tensor_to_uint8(x) for x in t]).astype(np.float64) for t in (a, b))
    return ((qa - qb) ** 2).reshape(qa.shape[0], qa.shape[1], qa.shape[2], -1).mean(-1)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over images of each image's 8-bit PSNR (the app's and the bench's measure)."""
    return float(np.mean([psnr_8bit(p, q) for p, q in zip(a, b)]))


# Photographs are the hardest kind: +1.05 dB here (64 crops; the card's 200 give +1.09) for the shipped 16-block
# generator (12 blocks trained 10,400 steps on sr-mix2, grown to 16 and trained 5,000 more, then 4,000 on sr-mix3).
# The 12-block model before it reached +0.96 and failed this bar; drawings gain +3.5 to +8.4 dB.
@pytest.mark.parametrize("kind", sr_mix.KINDS)
def test_beats_bicubic_by_a_decibel_on_each_heldout_kind(model, kind):
    hr = sr_mix.heldout_images(kind, 64)  # [64, 3, 64, 64]
    lr = degrade(hr, 4)
    with torch.no_grad():
        sr = model.upscale(lr)
    gain = _psnr(sr, hr) - _psnr(bicubic_upscale(lr, 4), hr)
    assert gain >= 1.0, f"{kind}: only {gain:+.2f} dB over bicubic"


def test_borders_are_as_good_as_the_interior(model):
    """The gain over bicubic in the outer 4 output pixels is within 0.5 dB of the gain inside (no frame)."""
    hr = torch.cat([sr_mix.heldout_images(k, 24) for k in ("photos", "noto", "emoji-dark", "fashion")])
    lr = degrade(hr, 4)
    with torch.no_grad():
        err_model, err_bic = _sq_err(model.upscale(lr), hr), _sq_err(bicubic_upscale(lr, 4), hr)
    ring = np.zeros(hr.shape[-2:], dtype=bool)
    ring[:4], ring[-4:], ring[:, :4], ring[:, -4:] = True, True, True, True

    def gain(mask: np.ndarray) -> float:
        return 10 * np.log10(err_bic[:, mask].mean() / err_model[:, mask].mean())

    border, interior = gain(ring), gain(~ring)
    assert border > 0 and border >= interior - 0.5, f"border {border:+.2f} dB vs interior {interior:+.2f} dB"


def test_tiled_upscale_of_a_photo_has_no_seams(model):
    """A photo big enough to be tiled comes out equal to the untiled result (seams would break this)."""
    hr = torch.from_numpy(sr_mix.load_photo("sklearn", "china.jpg")[:200, :260]).permute(2, 0, 1)[None].float() / 127.5 - 1
    with torch.no_grad():
        whole = model.G(hr)
        tiled = model.upscale_tiled(hr, tile=128)  # a tile must exceed 2 × the receptive radius (16 blocks: 40 px) + the overlap; 200×260 still makes several tiles
    assert tiled.shape == whole.shape == (1, 3, 800, 1040)
    torch.testing.assert_close(tiled, whole, atol=2e-4, rtol=0)
