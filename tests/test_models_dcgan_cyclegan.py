"""DCGAN, CycleGAN and classifier families: shapes, value ranges, conditioning, input checks."""

from __future__ import annotations

import copy

import pytest
import torch

import explorer
from explorer.errors import ExplorerError
from explorer.models.classifier import Classifier, ClassifierConfig
from explorer.models.cyclegan import CycleGAN, CycleGANConfig
from explorer.models.dcgan import DCGAN, DCGANConfig
from explorer.registry import families, get_family


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)
    torch.manual_seed(0)


def tiny_dcgan(**kw) -> DCGAN:
    cfg = dict(resolution=32, channels=1, latent_dim=16, ngf=4, ndf=4)
    cfg.update(kw)
    return DCGAN(DCGANConfig(**cfg)).eval()


def tiny_cyclegan(**kw) -> CycleGAN:
    cfg = dict(ngf=4, ndf=4, num_blocks=2)
    cfg.update(kw)
    return CycleGAN(CycleGANConfig(**cfg)).eval()


def test_families_registered():
    assert {"dcgan", "cyclegan", "classifier"} <= set(families())
    assert get_family("dcgan") is DCGAN and DCGAN.kind == "dcgan"


# ----- DCGAN -----------------------------------------------------------------------------------
@pytest.mark.parametrize("resolution", [32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes_and_range(resolution, channels):
    m = tiny_dcgan(resolution=resolution, channels=channels)
    z = explorer.latents_from_seeds(m, [0, 1, 2])
    x = m.generate(z)
    assert x.shape == (3, channels, resolution, resolution) and x.dtype == torch.float32
    assert x.abs().max() <= 1.0 and x.std() > 0
    out = m.discriminate(x)
    assert out.scores.shape == (3,) and out.patch_map is None and torch.isfinite(out.scores).all()


def test_dcgan_default_is_the_pytorch_examples_stack():
    m = DCGAN(DCGANConfig())
    widths = [m.G.stem[0].out_channels] + [b[0].out_channels for b in m.G.blocks] + [m.G.to_rgb[0].out_channels]
    assert widths == [512, 256, 128, 64, 3]
    assert [b[0].out_channels for b in m.D.blocks] == [64, 128, 256, 512]
    assert all(b[0].bias is None for b in m.D.blocks) and len(m.D.blocks[0]) == 2  # no BN on D's first layer


@pytest.mark.parametrize("d_norm", ["batch", "spectral", "none"])
def test_dcgan_conditional_labels_change_the_image(d_norm):
    m = tiny_dcgan(num_classes=10, d_norm=d_norm)
    z = explorer.latents_from_seeds(m, [5, 5])
    x = m.generate(z, labels=torch.tensor([1, 7]))
    assert not torch.allclose(x[0], x[1])
    same = m.generate(z, labels=[3, 3])
    assert torch.equal(same[0], same[1])
    s1 = m.discriminate(x, labels=torch.tensor([1, 7])).scores
    s2 = m.discriminate(x, labels=torch.tensor([2, 2])).scores
    assert s1.shape == (2,) and not torch.allclose(s1, s2)  # the projection term depends on the label


def test_dcgan_input_errors():
    m = tiny_dcgan(num_classes=3)
    z = torch.randn(2, 16)
    with pytest.raises(ExplorerError, match=r"\[N, 16\]"):
        m.generate(torch.randn(2, 15), labels=[0, 1])
    with pytest.raises(ExplorerError, match=r"\[N, 16\]"):
        m.generate(torch.randn(16), labels=[0])
    with pytest.raises(ExplorerError, match="pass labels"):
        m.generate(z)
    with pytest.raises(ExplorerError, match="0..2"):
        m.generate(z, labels=[0, 3])
    with pytest.raises(ExplorerError, match="labels for"):
        m.generate(z, labels=[0])
    with pytest.raises(ExplorerError, match="truncation"):
        m.generate(z, labels=[0, 1], truncation=-1)
    with pytest.raises(ExplorerError, match="32x32"):
        m.discriminate(torch.zeros(2, 1, 64, 64), labels=[0, 1])
    with pytest.raises(ExplorerError, match="shape"):
        m.discriminate(torch.zeros(2, 3, 32, 32), labels=[0, 1])
    with pytest.raises(ExplorerError):
        m.translate(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="resolution"):
        DCGANConfig(resolution=48)
    with pytest.raises(ValueError, match="parts"):
        DCGANConfig(parts=("G", "X"))


def test_dcgan_truncation_scales_z():
    m = tiny_dcgan()
    z = torch.randn(3, 16)
    assert torch.equal(m.generate(z, truncation=0.5), m.generate(z * 0.5))
    mean_image = m.generate(z, truncation=0.0)
    assert torch.allclose(mean_image[0], mean_image[2])


def test_dcgan_inference_builds_no_graph_unless_asked():
    m = tiny_dcgan()
    z = torch.randn(2, 16)
    assert not m.generate(z).requires_grad
    zg = z.clone().requires_grad_(True)  # latent inversion needs gradients w.r.t. z
    m.generate(zg).sum().backward()
    assert zg.grad is not None and zg.grad.abs().sum() > 0
    m.train()
    assert m.generate(z).requires_grad  # training mode: gradients flow to the weights


def test_dcgan_channels_last_equals_plain():
    m = tiny_dcgan(resolution=64, channels=3, ngf=8, ndf=8)
    z = torch.randn(4, 16)
    x = m.generate(z)
    s = m.discriminate(x).scores
    m.prepare_for_inference(channels_last=True)
    assert m.G.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(m.generate(z), x, atol=1e-5, rtol=0)
    torch.testing.assert_close(m.discriminate(x).scores, s, atol=1e-4, rtol=1e-4)
    m.prepare_for_inference(channels_last=False)
    torch.testing.assert_close(m.generate(z), x, atol=1e-5, rtol=0)


def test_dcgan_batch_size_independence():
    m = tiny_dcgan(resolution=64, channels=3)
    z = explorer.latents_from_seeds(m, range(6))
    full = m.generate(z)
    parts = torch.cat([m.generate(z[i : i + 1]) for i in range(6)])
    torch.testing.assert_close(full, parts, atol=1e-5, rtol=0)


# ----- CycleGAN ----------------------------------------------------------------------------------
@pytest.mark.parametrize("num_blocks", [6, 9])
def test_cyclegan_shapes_and_range(num_blocks):
    m = tiny_cyclegan(num_blocks=num_blocks, channels_a=1, channels_b=3)
    assert m.directions == ("AtoB", "BtoA")
    assert len(m.G_AB.blocks) == num_blocks
    xa = torch.rand(2, 1, 32, 40) * 2 - 1
    yb = m.translate(xa, "AtoB")
    assert yb.shape == (2, 3, 32, 40) and yb.abs().max() <= 1
    back = m.translate(yb, "BtoA")
    assert back.shape == xa.shape
    out = m.discriminate(yb, domain="B")
    assert out.patch_map.shape == (2, 1, 2, 3) and out.scores.shape == (2,)
    torch.testing.assert_close(out.scores, out.patch_map.mean(dim=(1, 2, 3)))
    assert m.discriminate(xa, domain="A").patch_map.shape == (2, 1, 2, 3)


def test_cyclegan_patchgan_is_70x70_at_256():
    m = tiny_cyclegan()
    assert m.discriminate(torch.zeros(1, 3, 256, 256), domain="A").patch_map.shape == (1, 1, 30, 30)
    # receptive field: one output patch depends on a 70x70 input window (convolutions only:
    # instance norm's statistics couple every pixel, so it is replaced by the identity here)
    d = copy.deepcopy(m.D_A)
    for i, layer in enumerate(d.net):
        if isinstance(layer, torch.nn.InstanceNorm2d):
            d.net[i] = torch.nn.Identity()
    x = torch.zeros(1, 3, 256, 256, requires_grad=True)
    d(x)[0, 0, 15, 15].backward()
    rows = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 3)))
    cols = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 2)))
    assert rows.max() - rows.min() + 1 == 70 and cols.max() - cols.min() + 1 == 70


def test_cyclegan_generator_layout():
    g = tiny_cyclegan(ngf=8).G_AB
    assert g.stem[0].padding == (3, 3, 3, 3) and g.stem[1].kernel_size == (7, 7) and g.stem[1].bias is not None
    assert isinstance(g.stem[2], torch.nn.InstanceNorm2d) and not g.stem[2].affine
    assert [c.stride for c in (g.down[0], g.down[3])] == [(2, 2), (2, 2)]
    assert [(c.output_padding, c.out_channels) for c in (g.up[0], g.up[3])] == [((1, 1), 16), ((1, 1), 8)]
    assert isinstance(g.head[2], torch.nn.Tanh)


def test_cyclegan_odd_sizes_are_padded_and_cropped():
    m = tiny_cyclegan()
    x = torch.rand(1, 3, 37, 50) * 2 - 1
    y = m.translate(x)
    assert y.shape == x.shape
    # for sizes already divisible by 4 nothing is padded: translate == the raw generator
    x4 = x[..., :36, :48]
    torch.testing.assert_close(m.translate(x4), m.G_AB(x4))


def test_cyclegan_input_errors():
    m = tiny_cyclegan(channels_a=1, channels_b=3)
    with pytest.raises(ExplorerError, match="direction"):
        m.translate(torch.zeros(1, 1, 16, 16), "sideways")
    with pytest.raises(ExplorerError, match=r"\[N, 3, H, W\]"):
        m.translate(torch.zeros(1, 1, 16, 16), "BtoA")
    with pytest.raises(ExplorerError, match="at least 8"):
        m.translate(torch.zeros(1, 1, 4, 16))
    with pytest.raises(ExplorerError, match="domain='A'"):
        m.discriminate(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ExplorerError, match="24"):
        m.discriminate(torch.zeros(1, 1, 16, 16), domain="A")
    with pytest.raises(ExplorerError, match="translate"):
        m.generate(torch.zeros(1, 8))
    one_way = CycleGAN(CycleGANConfig(ngf=4, ndf=4, num_blocks=1, parts=("G_AB", "D_B")))
    assert one_way.directions == ("AtoB",) and one_way.G_BA is None
    with pytest.raises(ExplorerError, match="BtoA"):
        one_way.translate(torch.zeros(1, 3, 16, 16), "BtoA")


# ----- classifier ----------------------------------------------------------------------------------
def test_classifier_shapes_and_adaptation():
    m = Classifier(ClassifierConfig(channels=1, resolution=28, num_classes=10, width=8)).eval()
    assert m.kind == "classifier" and m.feature_dim == 32 and m.latent_dim == 0
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    assert m.features(x).shape == (4, 32) and m.logits(x).shape == (4, 10)
    # other sizes and RGB are adapted, so generated 32x32 or 64x64 RGB samples can be judged
    assert m.logits(torch.rand(3, 3, 64, 64) * 2 - 1).shape == (3, 10)
    assert m.predict(x).shape == (4,)
    with pytest.raises(ExplorerError):
        m.generate(torch.zeros(1, 1))


def test_classifier_fit_learns_a_separable_problem():
    m = Classifier(ClassifierConfig(channels=1, resolution=16, num_classes=2, width=4, dropout=0.0))
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(64, 1, 16, 16, generator=gen) * 0.2 - 1
    y = torch.arange(64) % 2
    x[y == 1, :, 4:12, 4:12] = 1.0  # class 1: a bright square
    history = m.fit(x, y, epochs=6, batch_size=16, lr=5e-3, seed=0)
    assert history[-1] < history[0]
    assert (m.predict(x) == y).float().mean() >= 0.9
    assert not m.training
