"""Latent tools: seeds, slerp/lerp, truncation, interpolation, PCA/SeFa directions and their cache."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from explorer.errors import ExplorerError
from explorer.latent import (
    Directions,
    apply_directions,
    clear_directions_cache,
    interpolate,
    latents_from_seeds,
    lerp,
    model_hash,
    parse_seeds,
    pca_directions,
    sefa_directions,
    slerp,
    style_mix,
    truncate,
)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_EXPLORER_CACHE", str(tmp_path / "cache"))
    clear_directions_cache()
    yield
    clear_directions_cache()


@pytest.fixture(scope="module")
def dcgan():
    from explorer.models.dcgan import DCGAN, DCGANConfig

    torch.manual_seed(0)
    return DCGAN(DCGANConfig(resolution=32, channels=1, latent_dim=16, ngf=8, ndf=8)).eval()


@pytest.fixture(scope="module")
def stylegan():
    from explorer.models.stylegan import StyleGAN, StyleGANConfig

    torch.manual_seed(0)
    m = StyleGAN(StyleGANConfig(resolution=8, latent_dim=12, w_dim=10, mapping_layers=2, channel_base=64, max_channels=16))
    return m.eval()


# ----- seeds ---------------------------------------------------------------------------
def test_parse_seeds():
    assert parse_seeds("0-3,7, 9") == [0, 1, 2, 3, 7, 9]
    assert parse_seeds("5") == [5]
    assert parse_seeds([3, 1]) == [3, 1]
    for bad in ("", "a", "3-1", "-4", "1-", "1.5"):
        with pytest.raises(ExplorerError):
            parse_seeds(bad)
    with pytest.raises(ExplorerError, match="too many"):
        parse_seeds("0-100000000")


def test_latents_from_seeds_independent_of_batch():
    a = latents_from_seeds(8, [5, 6, 7])
    b = latents_from_seeds(8, [7])
    assert torch.equal(a[2], b[0])
    assert a.dtype == torch.float32 and a.shape == (3, 8)


# ----- interpolation -------------------------------------------------------------------
def test_slerp_endpoints_exact_and_per_row():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(4, 32, generator=g), torch.randn(4, 32, generator=g)
    assert torch.equal(slerp(a, b, 0.0), a)
    assert torch.equal(slerp(a, b, 1.0), b)
    t = torch.tensor([0.0, 0.25, 0.5, 1.0])
    out = slerp(a, b, t)
    assert torch.equal(out[0], a[0]) and torch.equal(out[3], b[3])
    assert torch.allclose(out[1], slerp(a[1], b[1], 0.25), atol=1e-6)  # rows are independent


def test_slerp_preserves_unit_norm_and_constant_speed():
    g = torch.Generator().manual_seed(2)
    a = torch.nn.functional.normalize(torch.randn(64, generator=g), dim=0)
    b = torch.nn.functional.normalize(torch.randn(64, generator=g), dim=0)
    frames = interpolate(a, b, 11)
    assert torch.allclose(frames.norm(dim=1), torch.ones(11), atol=1e-5)
    angles = torch.arccos((frames[:-1] * frames[1:]).sum(1).clamp(-1, 1))
    assert torch.allclose(angles, angles.mean().expand_as(angles), atol=1e-4)


def test_slerp_parallel_and_opposite_vectors():
    a = torch.tensor([[1.0, 2.0, 3.0]])
    mid = slerp(a, 2 * a, 0.5)  # parallel: falls back to lerp, no NaN
    assert torch.allclose(mid, 1.5 * a)
    u = torch.tensor([1.0, 0.0, 0.0])
    half = slerp(u, -u, 0.5)  # opposite: a perpendicular unit vector, not zero
    assert torch.isfinite(half).all()
    assert math.isclose(float(half.norm()), 1.0, rel_tol=1e-5) and abs(float(half @ u)) < 1e-5
    assert torch.isfinite(slerp(torch.zeros(3), u, 0.5)).all()


def test_lerp_and_interpolate_shapes():
    a, b = torch.zeros(5), torch.ones(5)
    assert torch.equal(lerp(a, b, 0.5), torch.full((5,), 0.5))
    frames = interpolate(a, b, 4, method="lerp")
    assert frames.shape == (4, 5) and torch.equal(frames[0], a) and torch.equal(frames[-1], b)
    with pytest.raises(ExplorerError):
        interpolate(a, b, 4, method="cubic")


def test_truncation():
    z = torch.randn(3, 7)
    mean = torch.randn(7)
    assert torch.equal(truncate(z, 1.0), z)
    assert torch.equal(truncate(z, 1.0, mean), z)
    assert torch.allclose(truncate(z, 0.0, mean), mean.expand(3, -1))
    assert torch.equal(truncate(z, 0.0), torch.zeros_like(z))
    assert torch.allclose(truncate(z, 0.5, mean), mean + 0.5 * (z - mean))


# ----- directions ----------------------------------------------------------------------
def _orthonormal(v: torch.Tensor) -> bool:
    return torch.allclose(v @ v.T, torch.eye(v.shape[0]), atol=1e-5)


def test_pca_dcgan_orthonormal_sorted(dcgan):
    d = pca_directions(dcgan, num_samples=400, num_components=6)
    assert d.space == "z" and d.method == "pca" and d.vectors.shape == (6, 16)
    assert _orthonormal(d.vectors)
    assert torch.all(d.values[:-1] >= d.values[1:])
    assert torch.all((d.explained > 0) & (d.explained < 1)) and float(d.explained.sum()) <= 1.0


def test_pca_stylegan_matches_independent_pca(stylegan):
    d = pca_directions(stylegan, num_samples=600, num_components=4, seed=3)
    assert d.space == "w" and d.vectors.shape == (4, 10) and _orthonormal(d.vectors)
    assert torch.all(d.values[:-1] >= d.values[1:])
    gen = torch.Generator().manual_seed(3)
    z = torch.randn(600, 12, generator=gen)
    w = stylegan.mapping(z).double()
    cov = np.cov(w.numpy(), rowvar=False)
    evals, evecs = np.linalg.eigh(cov)
    assert np.allclose(d.values.numpy(), evals[::-1][:4], rtol=1e-4)
    for k in range(4):  # same vectors up to sign
        assert abs(abs(float(d.vectors[k].double() @ torch.from_numpy(evecs[:, -1 - k]))) - 1) < 1e-4
    assert torch.allclose(d.mean, w.mean(0).float(), atol=1e-5)
    assert torch.allclose(d.stds, torch.from_numpy(np.sqrt(evals[::-1][:4])).float(), rtol=1e-4)


def test_sefa_dcgan_equals_eigenvectors(dcgan):
    d = sefa_directions(dcgan, num_components=5)
    assert d.space == "z" and _orthonormal(d.vectors)
    w = dcgan.G.stem[0].weight.detach().double().numpy()  # [latent, C, 4, 4]
    a = w.reshape(16, -1).T  # rows: what each output unit reads from z
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    evals, evecs = np.linalg.eigh(a.T @ a)
    assert np.allclose(d.values.numpy(), evals[::-1][:5], rtol=1e-5)
    for k in range(5):
        assert abs(abs(float(d.vectors[k].double() @ torch.from_numpy(evecs[:, -1 - k]))) - 1) < 1e-5


def test_sefa_stylegan_w_space(stylegan):
    d = sefa_directions(stylegan, num_components=3, normalize_rows=False)
    a = torch.cat(
        [blk_layer.conv.affine.weight * blk_layer.conv.affine.weight_gain
         for blk in stylegan.G.blocks for blk_layer in (blk.conv0, blk.conv1) if blk_layer is not None]
    ).detach().double()
    evals, evecs = torch.linalg.eigh(a.T @ a)
    assert d.space == "w" and _orthonormal(d.vectors)
    assert torch.allclose(d.values.double(), evals.flip(0)[:3], rtol=1e-5)
    for k in range(3):
        assert abs(abs(float(d.vectors[k].double() @ evecs[:, -1 - k])) - 1) < 1e-5


def test_directions_need_a_latent_space():
    from explorer.models.cyclegan import CycleGAN, CycleGANConfig

    with pytest.raises(ExplorerError):
        sefa_directions(CycleGAN(CycleGANConfig(ngf=4, ndf=4, num_blocks=1)))


def test_cache_memory_and_disk(dcgan, tmp_path):
    a = sefa_directions(dcgan, num_components=4)
    b = sefa_directions(dcgan, num_components=4)
    assert a is b  # memory hit
    files = list((tmp_path / "cache" / "directions").glob(f"{model_hash(dcgan)}_sefa_*.npz"))
    assert len(files) == 1
    clear_directions_cache()  # memory gone: the disk copy must come back identical
    c = sefa_directions(dcgan, num_components=4)
    assert c is not a
    for name in ("vectors", "values", "explained", "stds", "mean"):
        assert torch.equal(getattr(a, name), getattr(c, name))
    assert c.params == a.params and c.model_hash == a.model_hash
    files[0].write_bytes(b"garbage")  # a corrupt cache file is recomputed, not fatal
    clear_directions_cache()
    assert torch.equal(sefa_directions(dcgan, num_components=4).vectors, a.vectors)
    assert sefa_directions(dcgan, num_components=3) is not a  # params are part of the key


def test_model_hash_tracks_weight_changes(dcgan):
    from explorer.models.dcgan import DCGAN

    h = model_hash(dcgan)
    clone = DCGAN(dcgan.config)
    clone.load_state_dict(dcgan.state_dict())
    assert model_hash(clone) == h
    with torch.no_grad():
        clone.G.stem[0].weight.add_(1.0)
    assert model_hash(clone) != h


def test_apply_directions_and_file_roundtrip(dcgan, tmp_path):
    d = sefa_directions(dcgan, num_components=3)
    z = latents_from_seeds(dcgan, [0, 1])
    moved = apply_directions(z, d, [2.0])
    assert torch.allclose((moved - z) @ d.vectors.T, torch.tensor([[2.0, 0, 0]] * 2), atol=1e-5)
    per_row = apply_directions(z, d, torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
    assert torch.allclose(per_row[1] - z[1], -d.vectors[1], atol=1e-6)
    assert apply_directions(z[0], d, [0.5, 0.5, 0.5]).shape == (16,)
    with pytest.raises(ExplorerError):
        apply_directions(z, d, [1.0] * 4)
    path = d.save(tmp_path / "dirs.npz")
    back = Directions.load(path)
    assert torch.equal(back.vectors, d.vectors) and back.space == "z" and back.method == "sefa"
    img = dcgan.generate(moved)
    assert img.shape == (2, 1, 32, 32)


def test_style_mix(stylegan, dcgan):
    z1, z2 = latents_from_seeds(stylegan, [1]), latents_from_seeds(stylegan, [2])
    all_z1 = style_mix(stylegan, z1, z2, stylegan.num_ws)
    assert torch.allclose(all_z1, stylegan.generate(z1), atol=1e-6)
    assert torch.allclose(style_mix(stylegan, z1, z2, 0), stylegan.generate(z2), atol=1e-6)
    mixed = style_mix(stylegan, z1, z2, 2)
    assert mixed.shape == all_z1.shape and not torch.allclose(mixed, all_z1)
    with pytest.raises(ExplorerError, match="StyleGAN"):
        style_mix(dcgan, latents_from_seeds(dcgan, [1]), latents_from_seeds(dcgan, [2]), 1)
