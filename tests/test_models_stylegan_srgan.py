"""StyleGAN and SRGAN families: shapes, ranges, determinism, truncation, style mixing, the two
modulated-conv formulations, w_avg tracking, checkpoint round-trips, ×4 upscaling of odd sizes
and tiled-vs-untiled agreement. Tiny configs: the whole file runs in a few seconds on a CPU."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import explorer
from explorer.errors import ExplorerError, ImageInputError
from explorer.models.layers import ModulatedConv2d, modulated_conv2d
from explorer.models.srgan import SRGAN, SRGANConfig
from explorer.models.stylegan import StyleGAN, StyleGANConfig

TINY_SG = dict(resolution=32, latent_dim=16, w_dim=16, mapping_layers=2, channel_base=256, max_channels=32)
TINY_SR = dict(num_blocks=1, num_features=8, resolution=32, d_features=4)


def tiny_stylegan(**kw) -> StyleGAN:
    torch.manual_seed(0)
    m = StyleGAN(StyleGANConfig(**{**TINY_SG, **kw})).eval()
    # a trained-looking state: non-zero noise strengths, biases and w_avg, so the tests can see them
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "noise_strength" in name or name.endswith("bias"):
                p.normal_(0, 0.1)
        m.G.w_avg.normal_()
    return m


def tiny_srgan(**kw) -> SRGAN:
    torch.manual_seed(0)
    m = SRGAN(SRGANConfig(**{**TINY_SR, **kw}))
    with torch.no_grad():  # non-trivial BatchNorm statistics, so eval-mode BN is not the identity
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.normal_(0, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
    return m.eval()


# ----- StyleGAN ---------------------------------------------------------------------------
@pytest.mark.parametrize("resolution,channels,num_ws", [(32, 3, 8), (64, 1, 10)])
def test_stylegan_shapes_and_range(resolution, channels, num_ws):
    m = tiny_stylegan(resolution=resolution, channels=channels)
    assert m.kind == "stylegan" and m.num_ws == num_ws
    z = explorer.latents_from_seeds(m, range(3))
    x = m.generate(z)
    assert x.shape == (3, channels, resolution, resolution)
    assert x.min() >= -1 and x.max() <= 1 and x.std() > 0
    assert not x.requires_grad  # eval-mode inference builds no graph
    assert m.mapping(z).shape == (3, 16)
    assert m.discriminate(x).scores.shape == (3,)
    assert m.discriminate(x[:1]).scores.shape == (1,)  # minibatch std copes with N=1


def test_stylegan_default_size_is_cpu_friendly():
    m = StyleGAN(StyleGANConfig(resolution=64))
    widths = [m.config.width(r) for r in m.config.resolutions]
    assert widths == [128, 128, 128, 64, 32]
    assert sum(p.numel() for p in m.parameters()) < 3_000_000


def test_stylegan_const_noise_is_deterministic_and_batch_independent():
    m = tiny_stylegan()
    z = explorer.latents_from_seeds(m, [5, 6, 7])
    a, b = m.generate(z), m.generate(z)
    assert torch.equal(a, b)
    single = torch.cat([m.generate(z[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(single, a, atol=1e-5, rtol=0)
    # random noise changes the image; a seeded generator makes it reproducible; "none" differs again
    r1 = m.generate(z, noise_mode="random", generator=torch.Generator().manual_seed(1))
    r2 = m.generate(z, noise_mode="random", generator=torch.Generator().manual_seed(1))
    assert torch.equal(r1, r2) and not torch.allclose(r1, a)
    assert not torch.allclose(m.generate(z, noise_mode="none"), a)
    with pytest.raises(ExplorerError):
        m.generate(z, noise_mode="wild")


def test_stylegan_truncation():
    m = tiny_stylegan()
    z = explorer.latents_from_seeds(m, range(4))
    x0 = m.generate(z, truncation=0.0)
    avg = m.generate_from_w(m.w_avg.expand(1, -1))
    torch.testing.assert_close(x0, x0[:1].expand(4, -1, -1, -1), atol=1e-6, rtol=0)  # one image for all z
    torch.testing.assert_close(x0[:1], avg, atol=1e-5, rtol=0)  # ... the image of w_avg (batch 4 vs 1: rounding)
    w = m.mapping(z)
    assert torch.equal(m.mapping(z, truncation=1.0), w)
    assert torch.equal(m.generate(z, truncation=1.0), m.generate_from_w(w))
    torch.testing.assert_close(m.mapping(z, truncation=0.5), m.w_avg + 0.5 * (w - m.w_avg))
    with pytest.raises(ExplorerError):
        m.generate(z, truncation=float("nan"))


def test_stylegan_style_mixing():
    m = tiny_stylegan()
    z1, z2 = explorer.latents_from_seeds(m, [1, 2]), explorer.latents_from_seeds(m, [3, 4])
    x1, x2 = m.generate(z1), m.generate(z2)
    assert torch.equal(m.mix_styles(z1, z2, 0), x2)
    assert torch.equal(m.mix_styles(z1, z2, m.num_ws), x1)
    mid = m.mix_styles(z1, z2, 4)
    assert not torch.allclose(mid, x1) and not torch.allclose(mid, x2)
    # a batch of one broadcasts: one coarse source under several fine sources
    assert m.mix_styles(z1[:1], z2, 4).shape == (2, 3, 32, 32)
    # explicit ws: the first k rows of z1's w, the rest of z2's
    w1, w2 = m.mapping(z1), m.mapping(z2)
    ws = torch.cat([w1[:, None].expand(-1, 4, -1), w2[:, None].expand(-1, m.num_ws - 4, -1)], dim=1)
    assert torch.equal(m.synthesis(ws), mid)
    with pytest.raises(ExplorerError):
        m.mix_styles(z1, z2, m.num_ws + 1)


@pytest.mark.parametrize("up,demodulate,k", [(1, True, 3), (2, True, 3), (1, False, 1)])
def test_modulated_conv_formulations_agree(up, demodulate, k):
    torch.manual_seed(0)
    layer = ModulatedConv2d(6, 5, k, w_dim=7, demodulate=demodulate, up=up)
    with torch.no_grad():
        layer.affine.bias.normal_()
    x, w = torch.randn(4, 6, 8, 8), torch.randn(4, 7)
    a, b = layer(x, w, impl="scale"), layer(x, w, impl="grouped")
    assert a.shape == (4, 5, 8 * up, 8 * up)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    with pytest.raises(ValueError):
        modulated_conv2d(x, layer.weight, torch.ones(4, 6), impl="magic")


def test_stylegan_w_avg_update():
    m = StyleGAN(StyleGANConfig(**TINY_SG))
    assert torch.equal(m.w_avg, torch.zeros(16))
    w = torch.randn(8, 16)
    m.update_w_avg(w)
    beta = m.config.w_avg_beta
    torch.testing.assert_close(m.w_avg, (1 - beta) * w.mean(0))
    m.update_w_avg(w)
    torch.testing.assert_close(m.w_avg, (1 - beta**2) * w.mean(0))
    # the training entry point can take the EMA step itself
    m.train()
    before = m.w_avg.clone()
    m.G(torch.randn(4, 16), update_w_avg=True, mixing_prob=1.0)
    assert not torch.equal(m.w_avg, before)


def test_stylegan_discriminator_supports_r1():
    """Lazy R1 needs the gradient of D w.r.t. its input to be differentiable again."""
    m = tiny_stylegan().train()
    x = torch.randn(4, 3, 32, 32, requires_grad=True)
    scores = m.D(x)
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    grad.square().sum().backward()
    assert m.D.fromrgb.weight.grad is not None and torch.isfinite(m.D.fromrgb.weight.grad).all()


def test_stylegan_conditional():
    m = tiny_stylegan(num_classes=3)
    z = explorer.latents_from_seeds(m, [0, 0])
    x = m.generate(z, labels=torch.tensor([0, 2]))
    assert not torch.allclose(x[0], x[1])  # same z, different class
    assert m.discriminate(x, labels=torch.tensor([0, 2])).scores.shape == (2,)
    with pytest.raises(ExplorerError):
        m.generate(z)
    with pytest.raises(ExplorerError):
        m.discriminate(x)


def test_stylegan_rejects_bad_inputs():
    m = tiny_stylegan()
    with pytest.raises(ExplorerError):
        m.generate(torch.randn(2, 15))
    with pytest.raises(ExplorerError):
        m.synthesis(torch.randn(2, m.num_ws - 1, 16))
    with pytest.raises(ExplorerError):
        m.discriminate(torch.zeros(1, 3, 16, 16))
    with pytest.raises(ValueError):
        StyleGANConfig(resolution=48)


def test_stylegan_save_load_round_trip(tmp_path):
    m = tiny_stylegan(num_classes=2)
    path = explorer.save(m, tmp_path / "sg.safetensors", card={"intended_use": "tests"})
    back = explorer.load(path, device="cpu")
    assert back.kind == "stylegan" and back.config == m.config and back.card["intended_use"] == "tests"
    for (k, v), (k2, v2) in zip(m.state_dict().items(), back.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), k
    assert torch.equal(back.w_avg, m.w_avg)
    assert torch.equal(back.G.blocks[1].conv0.noise_const, m.G.blocks[1].conv0.noise_const)
    z, y = explorer.latents_from_seeds(m, [0, 1]), torch.tensor([0, 1])
    assert torch.equal(back.generate(z, y, truncation=0.7), m.generate(z, y, truncation=0.7))


# ----- SRGAN ------------------------------------------------------------------------------
@pytest.mark.parametrize("h,w,channels", [(13, 17, 3), (1, 1, 3), (8, 5, 1)])
def test_srgan_upscales_any_size(h, w, channels):
    m = tiny_srgan(channels=channels)
    assert m.kind == "srgan" and m.directions == ("x4",) and not m.can_generate
    x = torch.rand(2, channels, h, w) * 2 - 1
    y = m.translate(x, direction="x4")
    assert y.shape == (2, channels, 4 * h, 4 * w)
    assert y.min() >= -1 and y.max() <= 1
    assert torch.equal(m.upscale(x), y)
    with pytest.raises(ExplorerError):
        m.translate(x, direction="AtoB")


def test_srgan_default_architecture():
    m = SRGAN(SRGANConfig())
    assert len(m.G.blocks) == 8 and m.G.head[0].kernel_size == (9, 9) and m.G.tail.kernel_size == (9, 9)
    assert sum(isinstance(mod, torch.nn.PixelShuffle) for mod in m.G.modules()) == 2
    assert sum(p.numel() for p in m.G.parameters()) < 1_500_000


@pytest.mark.parametrize("num_blocks,padding", [(1, "zeros"), (8, "zeros"), (2, "replicate")])
def test_srgan_tiled_equals_untiled(num_blocks, padding):
    """The default margin is the receptive radius, so tiling changes nothing but float rounding."""
    m = tiny_srgan(num_blocks=num_blocks, padding=padding)
    assert m.receptive_radius == 8 + 2 * num_blocks
    x = torch.rand(1, 3, 60, 100) * 2 - 1
    full = m.G(x).detach()
    tile = 2 * (2 * m.receptive_radius + 4)  # tiles advance by half their size: several per axis
    tiled = m.upscale_tiled(x, tile=tile, overlap=4, batch_tiles=3)
    assert tiled.shape == full.shape
    torch.testing.assert_close(tiled, full, atol=1e-4, rtol=0)


def test_srgan_padding_option():
    """``padding="replicate"`` reaches every generator conv (the discriminator keeps zeros); others are refused."""
    m = tiny_srgan(num_blocks=2, padding="replicate")
    g_convs = [mod for mod in m.G.modules() if isinstance(mod, torch.nn.Conv2d)]
    assert len(g_convs) == 2 * 2 + 5 and all(c.padding_mode == "replicate" for c in g_convs)
    assert all(mod.padding_mode == "zeros" for mod in m.D.modules() if isinstance(mod, torch.nn.Conv2d))
    assert all(c.padding_mode == "zeros" for c in tiny_srgan().G.modules() if isinstance(c, torch.nn.Conv2d))
    with pytest.raises(ValueError, match="padding"):
        SRGANConfig(padding="reflect")


def test_srgan_bicubic_skip_starts_at_bicubic():
    """``skip="bicubic"``: output = bicubic upscale + a residual that starts near zero; clamped only in eval."""
    torch.manual_seed(0)
    m = SRGAN(SRGANConfig(**{**TINY_SR, "skip": "bicubic"}))
    x = torch.rand(2, 3, 10, 12) * 2 - 1
    bicubic = F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
    out = m.eval().upscale(x)
    assert out.shape == (2, 3, 40, 48) and out.abs().max() <= 1
    assert (out - bicubic.clamp(-1, 1)).abs().max() < 0.05
    assert m.train().G(x).abs().max() > 1  # bicubic overshoots; training sees it unclamped
    with pytest.raises(ValueError, match="skip"):
        SRGANConfig(skip="nearest")


def test_srgan_tiling_with_small_margin_stays_close():
    """With a margin below the receptive radius, only near-seam pixels differ, and the ramps keep it faint."""
    m = tiny_srgan(num_blocks=4)
    x = torch.rand(1, 3, 40, 70) * 2 - 1
    full = m.G(x).detach()
    diff = (m.upscale_tiled(x, tile=32, overlap=12, margin=2) - full).abs()
    assert 1e-5 < diff.max() < 0.05 and diff.mean() < 1e-3


def test_srgan_large_inputs_are_tiled_and_huge_ones_refused(monkeypatch):
    m = tiny_srgan()
    monkeypatch.setattr(m, "tile_pixel_cap", 30 * 30)
    calls = []
    orig = m.upscale_tiled
    monkeypatch.setattr(m, "upscale_tiled", lambda x: calls.append(x.shape) or orig(x))
    assert m.upscale(torch.zeros(1, 3, 40, 40)).shape == (1, 3, 160, 160) and calls
    monkeypatch.setattr(m, "max_input_pixels", 50 * 50)
    with pytest.raises(ImageInputError):
        m.upscale(torch.zeros(1, 3, 60, 60))


def test_srgan_discriminator_any_size():
    m = tiny_srgan()
    for size in [(32, 32), (13, 40)]:
        assert m.discriminate(torch.zeros(3, 3, *size)).scores.shape == (3,)


def test_srgan_save_load_round_trip(tmp_path):
    m = tiny_srgan()
    back = explorer.load(explorer.save(m, tmp_path / "sr.safetensors"), device="cpu")
    assert back.kind == "srgan" and back.config == m.config
    for (k, v), (k2, v2) in zip(m.state_dict().items(), back.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), k
    x = torch.rand(1, 3, 9, 11) * 2 - 1
    assert torch.equal(back.upscale(x), m.upscale(x))
