"""Layer-aware edits, the edit library, style mixing by block and the layer view (issue 16), without
a browser: explorer.edits, explorer.featuremaps, explorer.pipelines.explore/layerviews and `gan-explorer edit`."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

import explorer
from explorer import edits, featuremaps
from explorer.errors import ExplorerError
from explorer.images import read_png_metadata
from explorer.models.dcgan import DCGAN, DCGANConfig
from explorer.models.stylegan import StyleGAN, StyleGANConfig
from explorer.pipelines import explore
from explorer.ui import layerviews


@pytest.fixture(scope="module")
def style32():
    """A tiny 32 px StyleGAN (4 blocks: coarse, middle and fine presets all exist) with audible noise."""
    torch.manual_seed(0)
    m = StyleGAN(StyleGANConfig(resolution=32, latent_dim=16, w_dim=16, mapping_layers=2, channel_base=128, max_channels=16)).eval()
    with torch.no_grad():
        for mod in m.G.modules():
            if hasattr(mod, "noise_strength"):
                mod.noise_strength.fill_(0.5)  # untrained layers start silent; make resampled noise show
    return m


@pytest.fixture(scope="module")
def dcgan():
    torch.manual_seed(0)
    m = DCGAN(DCGANConfig(resolution=32, channels=1, latent_dim=16, num_classes=10, ngf=8, ndf=8)).eval()
    with torch.no_grad():
        for mod in m.G.modules():
            if isinstance(mod, torch.nn.ConvTranspose2d):
                mod.weight.mul_(8)
    return m


def test_style_blocks_and_presets_follow_resolutions(style32):
    assert style32.style_blocks() == [(4, [0]), (8, [1, 2]), (16, [3, 4]), (32, [5, 6, 7])]
    assert edits.layer_presets(style32) == {"coarse": (0, 2), "middle": (3, 4), "fine": (5, 7)}
    assert edits.range_label(style32, (3, 4)) == "layers 3–4 · 16 px"
    small = StyleGAN(StyleGANConfig(resolution=16, latent_dim=8, w_dim=8, mapping_layers=1, channel_base=64, max_channels=8))
    assert edits.layer_presets(small) == {"coarse": (0, 2), "fine": (3, 5)}  # no middle block at 16 px
    assert edits.check_range(style32, (0, 7)) is None  # the full range is "every layer"
    for bad in ((3, 2), (0, 8), (-1, 2), ("a", 2)):
        with pytest.raises(ExplorerError):
            edits.check_range(style32, bad)


def test_apply_deltas_touches_only_the_chosen_layers():
    x = torch.randn(2, 4)  # [N, D]
    d = torch.ones(4)
    ws = edits.apply_deltas(x, [(d, (1, 2))], num_ws=5)  # [N, num_ws, D]
    assert ws.shape == (2, 5, 4)
    assert torch.equal(ws[:, [0, 3, 4]], x[:, None].expand(-1, 3, -1))
    assert torch.equal(ws[:, 1:3], (x + d)[:, None].expand(-1, 2, -1))
    assert torch.equal(edits.apply_deltas(x, [(d, None)]), x + d)  # whole-latent: shape kept
    with pytest.raises(ExplorerError, match="per-layer"):
        edits.apply_deltas(x, [(d, (0, 1))], num_ws=0)


def test_coarse_and_fine_edits_of_one_direction_differ(style32):
    base = explore.image_for(style32, explore.LatentRequest(seed=3))
    coarse_req = explore.LatentRequest(seed=3, coefficients=(4.0,), layers=((0, 2),))
    fine_req = explore.LatentRequest(seed=3, coefficients=(4.0,), layers=((5, 7),))
    coarse, fine = explore.image_for(style32, coarse_req), explore.image_for(style32, fine_req)
    everywhere = explore.image_for(style32, explore.LatentRequest(seed=3, coefficients=(4.0,)))
    # mean absolute pixel difference in [-1, 1] units; a visible change is well above 0.01
    diff = lambda a, b: float((a - b).abs().mean())  # noqa: E731
    assert diff(coarse, base) > 0.02 and diff(fine, base) > 0.02 and diff(coarse, fine) > 0.02
    assert torch.equal(explore.image_for(style32, explore.LatentRequest(seed=3, coefficients=(4.0,), layers=((0, 7),))), everywhere)
    grid = explore.sample_grid(style32, coarse_req, 3)  # grids and interpolations carry the layered edit too
    assert torch.allclose(grid[0], coarse[0], atol=1e-5)
    frames = explore.interpolation(style32, coarse_req, 9, 4, "slerp")
    assert frames.shape[0] == 4 and torch.allclose(frames[0], coarse[0], atol=1e-5)
    assert torch.allclose(frames[-1], explore.image_for(style32, explore.LatentRequest(**{**coarse_req.__dict__, "seed": 9}))[0], atol=1e-5)
    ws = explore.edited_latent(style32, coarse_req)  # [1, num_ws, w_dim]: only layers 0-2 moved
    w0 = explore.edited_latent(style32, explore.LatentRequest(seed=3))
    assert ws.shape == (1, 8, 16) and torch.equal(ws[0, 3:], w0.expand(5, -1)) and not torch.equal(ws[0, :3], w0.expand(3, -1))


def test_dcgan_edits_stay_whole_latent(dcgan):
    assert edits.num_styles(dcgan) == 0 and edits.layer_presets(dcgan) == {}
    req = explore.LatentRequest(seed=1, label=3, coefficients=(2.0,), layers=((0, 2),))  # a stale range is ignored
    assert explore.edited_latent(dcgan, req).shape == (1, 16)
    with pytest.raises(ExplorerError, match="whole latent"):
        edits.check_range(dcgan, (0, 1))


def test_w_plus_latent_files_round_trip(style32):
    req = explore.LatentRequest(seed=4, coefficients=(0.0, -3.0), layers=(None, (3, 4)))
    x = explore.edited_latent(style32, req)
    data = explore.latent_npy_bytes(style32, x)
    assert np.load(io.BytesIO(data)).shape == (1, 8, 16)
    custom = explore.custom_from_npy(style32, data, "wplus.npy")
    assert custom["space"] == "w+"
    assert torch.allclose(explore.image_for(style32, explore.LatentRequest(seed=0, custom=custom)), explore.image_for(style32, req), atol=1e-6)
    buf = io.BytesIO()
    np.save(buf, np.zeros((1, 5, 16), np.float32))
    with pytest.raises(ExplorerError, match="per-layer styles"):
        explore.custom_from_npy(style32, buf.getvalue(), "short.npy")


def _edit(model, k=0, strength=2.0, layers=(0, 2), name="pose"):
    return edits.edit_from_direction(model, explore.directions(model, "pca"), k, name, strength, layers, "tiny")


def test_edit_json_round_trip_and_refusals(style32, dcgan):
    e = _edit(style32)
    back = edits.parse_edit_json(edits.edit_to_json(e), "e.json")
    assert back == e and back.layers == (0, 2) and back.source["method"] == "pca"
    good = json.loads(edits.edit_to_json(e))
    cases = [
        (b"{not json", "not a JSON edit"),
        (json.dumps({**good, "format": "other"}).encode(), "not a GAN Explorer edit"),
        (json.dumps({**good, "version": 9}).encode(), "version"),
        (json.dumps({**good, "name": " "}).encode(), "name"),
        (json.dumps({**good, "vector": [0.0] * 16}).encode(), "all zeros"),
        (json.dumps({**good, "vector": good["vector"][:-1] + ["x"]}).encode(), "vector entry"),
        (json.dumps({**good, "strength": 1e9}).encode(), "strength"),
        (json.dumps({**good, "layers": [3, 1]}).encode(), "layers"),
        (json.dumps({**good, "dim": 5}).encode(), "dim"),
        (b" " * (edits.MAX_EDIT_FILE_BYTES + 1), "too large"),
    ]
    for data, words in cases:
        with pytest.raises(ExplorerError, match=words):
            edits.parse_edit_json(data, "bad.json")
    with pytest.raises(ExplorerError, match="z-space"):
        edits.check_fits(dcgan, e)  # a w edit on a DCGAN
    wide = edits.Edit("x", "w", tuple([1.0] * 8), layers=None)
    with pytest.raises(ExplorerError, match="8 numbers"):
        edits.check_fits(style32, wide)
    beyond = edits.Edit("x", "w", tuple([1.0] * 16), layers=(0, 9))
    with pytest.raises(ExplorerError, match="not within"):
        edits.check_fits(style32, beyond)


def test_library_survives_restarts_and_loses_nothing(style32, dcgan, tmp_path):
    root = tmp_path / "edits"
    lib = edits.EditLibrary(root)
    lib.save(style32, _edit(style32, name="pose"))
    lib.save(style32, _edit(style32, k=1, layers=(5, 7), name="colour"))
    lib.save(dcgan, _edit(dcgan, layers=None, name="thick"))
    again = edits.EditLibrary(root)  # a new process reads the same files
    assert [e.name for e in again.list(style32)] == ["pose", "colour"] and [e.name for e in again.list(dcgan)] == ["thick"]
    assert again.get(style32, "colour").layers == (5, 7)
    with pytest.raises(ExplorerError, match="exists already"):
        again.save(style32, _edit(style32, name="pose"))
    again.delete(style32, "pose")
    assert [e.name for e in edits.EditLibrary(root).list(style32)] == ["colour"]
    with pytest.raises(ExplorerError, match="no saved edit"):
        again.get(style32, "pose")
    assert not list(root.glob(".*.tmp"))  # atomic writes leave no temp files
    # a damaged file is reported and left as it is
    path = lib.path_for(style32)
    path.write_text("{broken")
    with pytest.raises(ExplorerError, match="damaged"):
        lib.save(style32, _edit(style32, name="new"))
    assert path.read_text() == "{broken"


def test_saved_edit_in_explore_equals_the_batch_edit(style32):
    e = _edit(style32, k=1, strength=-2.5, layers=(3, 4))
    before, after = edits.apply_to_seeds(style32, e, [5, 6])
    req = explore.LatentRequest(seed=6, saved=e.to_dict(), saved_amount=e.strength)
    assert torch.allclose(explore.image_for(style32, req)[0], after[1], atol=1e-5)
    assert torch.allclose(explore.image_for(style32, explore.LatentRequest(seed=6))[0], before[1], atol=1e-5)
    # the same edit from the slider, on the same layers, gives the same image
    slider = explore.LatentRequest(seed=6, coefficients=(0.0, -2.5), layers=(None, (3, 4)))
    assert torch.allclose(explore.image_for(style32, slider), explore.image_for(style32, req), atol=1e-5)


def test_cli_edit_by_file_and_by_name(style32, tmp_path, monkeypatch, capsys):
    from explorer.cli import main

    monkeypatch.setenv("GAN_EXPLORER_HOME", str(tmp_path / "home"))
    ckpt = explorer.save(style32, tmp_path / "tiny.safetensors")
    model = explorer.load(ckpt)
    e = _edit(model, name="shape")
    (tmp_path / "shape.json").write_bytes(edits.edit_to_json(e))
    assert main(["edit", str(ckpt), "--edit", str(tmp_path / "shape.json"), "--seeds", "0-3", "--out", str(tmp_path / "out"), "-q"]) == 0
    files = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert files == ["compare.png", "seed0000.png", "seed0001.png", "seed0002.png", "seed0003.png"]
    meta = read_png_metadata(tmp_path / "out" / "seed0002.png")
    assert meta["edit"]["name"] == "shape" and meta["edit"]["layers"] == [0, 2] and meta["seed"] == 2
    edits.EditLibrary().save(model, e)  # saved under $GAN_EXPLORER_HOME/edits, as the app does
    assert main(["edit", str(ckpt), "--edit", "shape", "--seeds", "7", "--strength", "-1", "--out", str(tmp_path / "byname"), "-q"]) == 0
    assert (tmp_path / "byname" / "seed0007.png").is_file()
    edits.EditLibrary(tmp_path / "elsewhere").save(model, edits.Edit("other", "w", e.vector, e.std, 1.0))
    assert main(["edit", str(ckpt), "--library", str(tmp_path / "elsewhere"), "--edit", "other", "--seeds", "1", "--out", str(tmp_path / "lib"), "-q"]) == 0
    assert main(["edit", str(ckpt), "--list"]) == 0 and "shape" in capsys.readouterr().out
    assert main(["edit", str(ckpt), "--edit", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "no saved edit called 'nope'" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert main(["edit", str(ckpt), "--edit", str(tmp_path / "bad.json"), "--out", str(tmp_path / "x")]) == 2
    assert "is a JSON object" in capsys.readouterr().err


def test_style_mixing_by_block_and_noise(style32):
    req = explore.LatentRequest(seed=1)
    a, b, mix = layerviews.mix_view(style32, req, 2, [])
    assert torch.equal(mix, a) and torch.allclose(a, explore.image_for(style32, req), atol=1e-5)
    _, _, all_b = layerviews.mix_view(style32, req, 2, [4, 8, 16, 32])
    assert torch.equal(all_b, b)
    _, _, fine = layerviews.mix_view(style32, req, 2, [32])
    _, _, coarse = layerviews.mix_view(style32, req, 2, [4, 8])
    assert not torch.equal(fine, coarse) and not torch.equal(fine, a)
    r1 = layerviews.mix_view(style32, req, 2, [32], "resampled", 5)
    r2 = layerviews.mix_view(style32, req, 2, [32], "resampled", 5)
    r3 = layerviews.mix_view(style32, req, 2, [32], "resampled", 6)
    assert all(torch.equal(x, y) for x, y in zip(r1, r2))  # a noise seed gives the same noise
    assert not torch.equal(r1[0], a) and not torch.equal(r1[0], r3[0])
    with pytest.raises(ExplorerError, match="no 64 px block"):
        layerviews.mix_view(style32, req, 2, [64])


def test_layer_view_lists_layers_and_ranks_channels(style32, dcgan):
    names = [n for _, n in layerviews.layer_choices(style32)]
    assert names == ["blocks.0.conv1", "blocks.1.conv0", "blocks.1.conv1", "blocks.2.conv0", "blocks.2.conv1", "blocks.3.conv0", "blocks.3.conv1"]
    assert [n for _, n in layerviews.layer_choices(dcgan)] == ["stem", "blocks.0", "blocks.1"]
    req = explore.LatentRequest(seed=2, label=1)
    feats = featuremaps.capture(dcgan, "blocks.0", layerviews._plain_forward(dcgan, req))[0]  # [C, H, W]
    assert feats.shape == (16, 8, 8)
    idx, energy = featuremaps.top_channels(feats, 5)
    manual = feats.pow(2).mean(dim=(1, 2))
    assert idx == torch.argsort(manual, descending=True, stable=True)[:5].tolist() and energy == sorted(energy, reverse=True)
    grid, caption = layerviews.feature_view(dcgan, req, "blocks.0", 5)
    assert grid.dtype == np.uint8 and grid.ndim == 3 and grid.shape[2] == 3 and "5 of 16 channels" in caption
    other, _ = layerviews.feature_view(dcgan, explore.LatentRequest(seed=9, label=1), "blocks.0", 5)
    assert not np.array_equal(grid, other)  # follows the image
    with pytest.raises(ExplorerError, match="layers"):
        layerviews.feature_view(dcgan, req, "to_rgb", 5)


def test_on_the_shipped_stylegan_coarse_and_fine_edits_differ_visibly():
    """The README's example: PC 2 at +4 std, seed 1, class 0 — coarse layers reshape, fine ones recolour."""
    from ui_support import ROOT

    path = ROOT / "checkpoints" / "stylegan_emoji.safetensors"
    if not path.is_file():
        pytest.skip("the shipped StyleGAN is not in this checkout")
    m = explorer.load(path).eval()
    req = lambda layers: explore.LatentRequest(seed=1, label=0, coefficients=(0.0, 4.0), layers=(None, layers))  # noqa: E731
    base = explore.image_for(m, explore.LatentRequest(seed=1, label=0))
    coarse, fine = explore.image_for(m, req((0, 2))), explore.image_for(m, req((5, 7)))
    diff = lambda a, b: float((a - b).abs().mean())  # noqa: E731 - mean |Δ| in [-1, 1] units
    # measured 0.43 (coarse vs base), 0.16 (fine vs base), 0.41 (coarse vs fine)
    assert diff(coarse, base) > 0.2 and diff(fine, base) > 0.05 and diff(coarse, fine) > 0.2
