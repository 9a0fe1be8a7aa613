"""explorer.pipelines: the preparation and runs that the tabs, the HTTP API and the CLI share."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import explorer
from explorer.cli import main as cli_main
from explorer.errors import ExplorerError
from explorer.images import load_image, pil_to_tensor
from explorer.models.cyclegan import CycleGAN, CycleGANConfig
from explorer.models.srgan import SRGAN, SRGANConfig
from explorer.pipelines import translate
from explorer.pipelines.score import score_image


@pytest.fixture(scope="module")
def cyclegan():
    torch.manual_seed(0)
    return CycleGAN(CycleGANConfig(ngf=4, ndf=4, num_blocks=1, resolution=32)).eval()


@pytest.fixture(scope="module")
def srgan():
    torch.manual_seed(0)
    return SRGAN(SRGANConfig(num_blocks=1, num_features=8, d_features=4, resolution=16)).eval()


def _picture(w: int, h: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_prepare_sizes_as_each_caller_needs(cyclegan, srgan):
    pic = _picture(100, 60)
    assert translate.prepare(cyclegan, pic, "AtoB").size == (53, 32)  # shorter side = training resolution
    assert translate.prepare(cyclegan, pic, "AtoB", "capped").size == (100, 60)
    assert translate.prepare(cyclegan, _picture(1000, 500), "AtoB", "capped").size == (256, 128)
    assert translate.prepare(cyclegan, _picture(40, 400), "AtoB").size == (32, 256)  # elongated: the centre
    assert translate.prepare(srgan, _picture(400, 200), "x4").size == (160, 80)
    assert translate.prepare(srgan, pic, "x4", "full") is pic
    with pytest.raises(ExplorerError, match="size must be"):
        translate.prepare(srgan, pic, "x4", "huge")


def test_directions_and_modes_are_checked(cyclegan, srgan):
    assert translate.check_direction(cyclegan) == "AtoB" and translate.check_direction(srgan) == "x4"
    with pytest.raises(ExplorerError, match="not 'x4'"):
        translate.check_direction(cyclegan, "x4")
    assert translate.input_mode(cyclegan, "BtoA") == "RGB"


def test_run_tiles_large_pictures_without_changing_the_result(srgan):
    pic = _picture(70, 50)
    whole = srgan.translate(pil_to_tensor(pic), "x4")
    tiled = translate.run(srgan, pic, "x4", tile=24, overlap=4)  # overlap raised to the receptive radius
    assert tiled.shape == whole.shape == (1, 3, 200, 280)
    torch.testing.assert_close(tiled, whole, atol=2e-4, rtol=0)


def test_the_cli_writes_what_the_pipeline_computes(cyclegan, tmp_path):
    ckpt = explorer.save(cyclegan, tmp_path / "cg.safetensors")
    src = tmp_path / "in.png"
    _picture(48, 40, seed=3).save(src)
    assert cli_main(["translate", str(ckpt), str(src), "--out", str(tmp_path / "out.png"), "--quiet"]) == 0
    model = explorer.load(ckpt, device="cpu")
    want = translate.run(model, translate.prepare(model, load_image(src), "AtoB", "full"), "AtoB")
    got = pil_to_tensor(Image.open(tmp_path / "out.png"))
    assert got.shape == want.shape and (got - want.clamp(-1, 1)).abs().max() <= 1 / 127.5 + 1e-6


def test_score_image_judges_the_training_preparation(cyclegan):
    pic = _picture(90, 70, seed=5)
    result = score_image(cyclegan, pic, "B")
    with torch.no_grad():
        out = cyclegan.discriminate(cyclegan.prepare_for_discriminator(pic, "B"), domain="B")
    assert result.logit == pytest.approx(float(out.scores[0]), abs=1e-6)
    assert result.p_real == pytest.approx(1 / (1 + np.exp(-result.logit)), abs=1e-6)
    assert result.patch_map is not None and result.patch_map.ndim == 2
    with pytest.raises(ExplorerError, match="domain"):
        score_image(cyclegan, pic)
