"""Foreign checkpoints import with numeric equality to the original architectures.

The reference networks below are written here from the published descriptions (pytorch/examples
``dcgan/main.py``; Zhu et al. 2017 appendix / junyanz ``ResnetGenerator`` and ``NLayerDiscriminator``),
random-initialised (BatchNorm running statistics too, so eval-mode BN is not the identity),
saved as bare state_dicts under the original file names, imported with ``explorer.load``, and
compared on the same inputs: max abs difference ≤ 1e-5 in fp32.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import explorer
from explorer.errors import CheckpointError, ExplorerError

TOL = 1e-5


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def randomise_(net: nn.Module, seed: int) -> nn.Module:
    """Non-trivial random weights, biases and BatchNorm statistics; returns the net in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.fill_(7)
            elif name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen) * 1.5 + 0.5)
            elif name.endswith("running_mean"):
                t.copy_(torch.randn(t.shape, generator=gen) * 0.1)
            elif t.ndim == 1:  # BN scale/shift or conv bias
                t.copy_(1.0 + 0.2 * torch.randn(t.shape, generator=gen) if "weight" in name else 0.1 * torch.randn(t.shape, generator=gen))
            else:
                t.copy_(torch.randn(t.shape, generator=gen) * 0.1)
    return net.eval()


# ----- pytorch/examples dcgan/main.py, rebuilt from its description ------------------------
class RefDCGANGenerator(nn.Module):
    """nz → 4x4 → 8 → 16 → 32 → 64 with widths ngf*8,4,2,1; bias-free transposed convs."""

    def __init__(self, nz: int, ngf: int, nc: int):
        super().__init__()
        widths = [ngf * 8, ngf * 4, ngf * 2, ngf]
        layers: list[nn.Module] = [nn.ConvTranspose2d(nz, widths[0], 4, 1, 0, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(True)]
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z)  # z: [N, nz, 1, 1]


class RefDCGANDiscriminator(nn.Module):
    """64 → 32 → 16 → 8 → 4 → 1 with widths ndf*1,2,4,8; no BN on the first layer; Sigmoid out."""

    def __init__(self, nc: int, ndf: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for a, b in ((ndf, ndf * 2), (ndf * 2, ndf * 4), (ndf * 4, ndf * 8)):
            layers += [nn.Conv2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1, 1).squeeze(1)  # [N]


# ----- junyanz CycleGAN networks, rebuilt from the paper's description ---------------------
def _inorm(ch: int) -> nn.Module:
    return nn.InstanceNorm2d(ch)  # affine=False, no running stats: the paper's instance norm


class RefResBlock(nn.Module):
    def __init__(self, dim: int, dropout: bool):
        super().__init__()
        seq: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), _inorm(dim), nn.ReLU(True)]
        if dropout:
            seq.append(nn.Dropout(0.5))
        seq += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), _inorm(dim)]
        self.conv_block = nn.Sequential(*seq)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class RefResnetGenerator(nn.Module):
    """c7s1-ngf, d2ngf, d4ngf, R4ngf x n, u2ngf, ungf, c7s1-out; reflection padding, instance norm."""

    def __init__(self, in_nc: int, out_nc: int, ngf: int, n_blocks: int, dropout: bool = False):
        super().__init__()
        seq: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_nc, ngf, 7), _inorm(ngf), nn.ReLU(True)]
        ch = ngf
        for _ in range(2):
            seq += [nn.Conv2d(ch, ch * 2, 3, stride=2, padding=1), _inorm(ch * 2), nn.ReLU(True)]
            ch *= 2
        seq += [RefResBlock(ch, dropout) for _ in range(n_blocks)]
        for _ in range(2):
            seq += [nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1, output_padding=1), _inorm(ch // 2), nn.ReLU(True)]
            ch //= 2
        seq += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*seq)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class RefNLayerDiscriminator(nn.Module):
    """C64 (no norm) - C128 - C256 (stride 2) - C512 (stride 1) - 1 channel; 4x4 kernels, padding 1."""

    def __init__(self, in_nc: int, ndf: int, n_layers: int = 3):
        super().__init__()
        seq: list[nn.Module] = [nn.Conv2d(in_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        ch = ndf
        for n in range(1, n_layers):
            out = ndf * min(2**n, 8)
            seq += [nn.Conv2d(ch, out, 4, 2, 1), _inorm(out), nn.LeakyReLU(0.2, True)]
            ch = out
        out = ndf * min(2**n_layers, 8)
        seq += [nn.Conv2d(ch, out, 4, 1, 1), _inorm(out), nn.LeakyReLU(0.2, True), nn.Conv2d(out, 1, 4, 1, 1)]
        self.model = nn.Sequential(*seq)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a.detach().float() - b.detach().float()).abs().max().item()


# ----- pytorch/examples DCGAN --------------------------------------------------------------
@pytest.mark.parametrize("nz,ngf,ndf,nc", [(100, 8, 8, 3), (16, 4, 6, 1)])
def test_dcgan_g_and_d_equal_original(tmp_path, nz, ngf, ndf, nc):
    ref_g = randomise_(RefDCGANGenerator(nz, ngf, nc), 1)
    ref_d = randomise_(RefDCGANDiscriminator(nc, ndf), 2)
    torch.save(ref_g.state_dict(), tmp_path / "netG_epoch_3.pth")
    torch.save(ref_d.state_dict(), tmp_path / "netD_epoch_3.pth")

    m = explorer.load(tmp_path / "netG_epoch_3.pth", device="cpu")  # picks up netD_epoch_3.pth
    assert m.kind == "dcgan"
    c = m.config
    assert (c.resolution, c.latent_dim, c.ngf, c.ndf, c.channels) == (64, nz, ngf, ndf, nc)
    assert set(m.card["imported"]["files"]) == {"netG_epoch_3.pth", "netD_epoch_3.pth"}
    assert m.card["imported"]["parts"] == ["G", "D"]

    z = torch.randn(5, nz, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = ref_g(z[:, :, None, None])
        x = torch.rand(5, nc, 64, 64) * 2 - 1
        want_d = ref_d(x)
    assert maxdiff(m.generate(z), want) <= TOL
    assert maxdiff(torch.sigmoid(m.discriminate(x).scores), want_d) <= TOL
    assert maxdiff(torch.sigmoid(m.discriminate(want).scores), ref_d(want).detach()) <= TOL


def test_dcgan_generator_alone_and_discriminator_alone(tmp_path):
    g_dir, d_dir = tmp_path / "g", tmp_path / "d"
    g_dir.mkdir(), d_dir.mkdir()
    ref_g = randomise_(RefDCGANGenerator(32, 4, 3), 3)
    ref_d = randomise_(RefDCGANDiscriminator(3, 4), 4)
    torch.save(ref_g.state_dict(), g_dir / "netG_epoch_0.pth")
    torch.save(ref_d.state_dict(), d_dir / "netD_epoch_0.pth")

    g_only = explorer.load(g_dir / "netG_epoch_0.pth", device="cpu")
    assert g_only.config.parts == ("G",) and g_only.D is None
    z = torch.randn(2, 32)
    assert maxdiff(g_only.generate(z), ref_g(z[:, :, None, None])) <= TOL
    with pytest.raises(ExplorerError, match="no discriminator"):
        g_only.discriminate(torch.zeros(1, 3, 64, 64))
    assert any("netD_epoch_N" in n for n in g_only.card["imported"]["notes"])

    d_only = explorer.load(d_dir / "netD_epoch_0.pth", device="cpu")
    assert d_only.config.parts == ("D",) and d_only.G is None
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    assert maxdiff(torch.sigmoid(d_only.discriminate(x).scores), ref_d(x)) <= TOL
    with pytest.raises(ExplorerError, match="no generator"):
        d_only.generate(torch.randn(1, 100))


def test_dcgan_directory_picks_latest_epoch_and_roundtrips(tmp_path):
    for epoch, seed in ((1, 10), (12, 20), (3, 30)):
        torch.save(randomise_(RefDCGANGenerator(8, 4, 1), seed).state_dict(), tmp_path / f"netG_epoch_{epoch}.pth")
        torch.save(randomise_(RefDCGANDiscriminator(1, 4), seed + 1).state_dict(), tmp_path / f"netD_epoch_{epoch}.pth")
    m = explorer.load(tmp_path, device="cpu")
    assert sorted(m.card["imported"]["files"]) == ["netD_epoch_12.pth", "netG_epoch_12.pth"]
    ref = randomise_(RefDCGANGenerator(8, 4, 1), 20)
    z = torch.randn(2, 8)
    assert maxdiff(m.generate(z), ref(z[:, :, None, None])) <= TOL
    # once imported, it is an ordinary model: our own format round-trips it exactly
    out = explorer.save(m, tmp_path / "imported.safetensors", card={"notes": "re-saved after import"})
    again = explorer.load(out, device="cpu")
    assert torch.equal(again.generate(z), m.generate(z))
    assert again.card == m.card


def test_dcgan_mismatched_sibling_is_an_error(tmp_path):
    torch.save(randomise_(RefDCGANGenerator(8, 4, 3), 0).state_dict(), tmp_path / "netG_epoch_5.pth")
    torch.save(randomise_(RefDCGANDiscriminator(1, 4), 0).state_dict(), tmp_path / "netD_epoch_5.pth")
    with pytest.raises(CheckpointError, match="do not belong together"):
        explorer.load(tmp_path / "netG_epoch_5.pth")


def test_dataparallel_prefix_is_accepted(tmp_path):
    ref = randomise_(RefDCGANGenerator(8, 4, 3), 0)
    torch.save({f"module.{k}": v for k, v in ref.state_dict().items()}, tmp_path / "G.pth")
    m = explorer.load(tmp_path / "G.pth", device="cpu")
    z = torch.randn(2, 8)
    assert maxdiff(m.generate(z), ref(z[:, :, None, None])) <= TOL


# ----- junyanz CycleGAN ---------------------------------------------------------------------
def _save_cyclegan_run(folder, nc_a, nc_b, n_blocks, ngf=4, ndf=4, dropout=False, stale_norm_buffers=False):
    folder.mkdir(parents=True, exist_ok=True)
    nets = {
        "G_A": randomise_(RefResnetGenerator(nc_a, nc_b, ngf, n_blocks, dropout), 11),
        "G_B": randomise_(RefResnetGenerator(nc_b, nc_a, ngf, n_blocks, dropout), 12),
        "D_A": randomise_(RefNLayerDiscriminator(nc_b, ndf), 13),  # judges G_A's outputs: domain B
        "D_B": randomise_(RefNLayerDiscriminator(nc_a, ndf), 14),
    }
    for name, net in nets.items():
        state = net.state_dict()
        if stale_norm_buffers:  # what PyTorch 0.3 saved for InstanceNorm layers
            state["model.2.running_mean"] = torch.zeros(ngf)
            state["model.2.running_var"] = torch.ones(ngf)
        torch.save(state, folder / f"latest_net_{name}.pth")
    return nets


@pytest.mark.parametrize(
    "n_blocks,nc_a,nc_b,dropout",
    [(6, 3, 3, False), (9, 3, 3, False), (6, 1, 3, True), (9, 3, 1, False)],
)
def test_cyclegan_run_folder_equals_original(tmp_path, n_blocks, nc_a, nc_b, dropout):
    nets = _save_cyclegan_run(tmp_path / "run", nc_a, nc_b, n_blocks, dropout=dropout)
    m = explorer.load(tmp_path / "run", device="cpu")
    assert m.kind == "cyclegan" and m.directions == ("AtoB", "BtoA")
    c = m.config
    assert (c.num_blocks, c.channels_a, c.channels_b, c.ngf, c.ndf, c.use_dropout) == (n_blocks, nc_a, nc_b, 4, 4, dropout)
    gen = torch.Generator().manual_seed(0)
    xa = torch.rand(2, nc_a, 32, 36, generator=gen) * 2 - 1
    xb = torch.rand(2, nc_b, 32, 36, generator=gen) * 2 - 1
    with torch.no_grad():
        assert maxdiff(m.translate(xa, "AtoB"), nets["G_A"](xa)) <= TOL
        assert maxdiff(m.translate(xb, "BtoA"), nets["G_B"](xb)) <= TOL
        # their D_A judges domain B (fake_B vs real_B); ours is named by the domain it judges
        out_b = m.discriminate(xb, domain="B")
        assert maxdiff(out_b.patch_map, nets["D_A"](xb)) <= TOL
        assert maxdiff(out_b.scores, nets["D_A"](xb).mean(dim=(1, 2, 3))) <= TOL
        assert maxdiff(m.discriminate(xa, domain="A").patch_map, nets["D_B"](xa)) <= TOL


def test_cyclegan_both_generators_as_a_list(tmp_path):
    nets = _save_cyclegan_run(tmp_path, 3, 3, 6)
    m = explorer.load([tmp_path / "latest_net_G_A.pth", tmp_path / "latest_net_G_B.pth"], device="cpu")
    assert m.directions == ("AtoB", "BtoA") and m.config.parts == ("G_AB", "G_BA")
    x = torch.rand(1, 3, 24, 28) * 2 - 1
    assert maxdiff(m.translate(x, "BtoA"), nets["G_B"](x)) <= TOL
    with pytest.raises(ExplorerError, match="no discriminator"):
        m.discriminate(x, domain="A")


def test_cyclegan_single_generator_is_one_way(tmp_path):
    nets = _save_cyclegan_run(tmp_path, 3, 3, 6)
    m = explorer.load(tmp_path / "latest_net_G_A.pth", device="cpu")
    assert m.directions == ("AtoB",)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert maxdiff(m.translate(x), nets["G_A"](x)) <= TOL
    with pytest.raises(ExplorerError, match="cannot translate BtoA.*latest_net_G_A.pth|latest_net_G_A.pth.*BtoA"):
        m.translate(x, "BtoA")


def test_cyclegan_test_mode_single_generator(tmp_path):
    """Their pretrained downloads are one ``latest_net_G.pth``: imported as an A→B translator."""
    ref = randomise_(RefResnetGenerator(3, 3, 4, 9), 5)
    torch.save(ref.state_dict(), tmp_path / "latest_net_G.pth")
    m = explorer.load(tmp_path, device="cpu")
    assert m.directions == ("AtoB",)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert maxdiff(m.translate(x), ref(x)) <= TOL
    assert any("does not say A or B" in n for n in m.card["imported"]["notes"])


def test_cyclegan_old_pytorch_instance_norm_buffers_are_dropped(tmp_path):
    nets = _save_cyclegan_run(tmp_path, 3, 3, 6, stale_norm_buffers=True)
    m = explorer.load(tmp_path, device="cpu")
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert maxdiff(m.translate(x), nets["G_A"](x)) <= TOL


def test_cyclegan_any_size_input_keeps_its_size(tmp_path):
    _save_cyclegan_run(tmp_path, 3, 3, 6)
    m = explorer.load(tmp_path, device="cpu")
    for h, w in ((8, 8), (13, 29), (33, 30)):
        y = m.translate(torch.rand(2, 3, h, w) * 2 - 1, "AtoB")
        assert y.shape == (2, 3, h, w) and y.abs().max() <= 1


def test_cyclegan_batchnorm_generator_is_refused(tmp_path):
    net = RefResnetGenerator(3, 3, 4, 6)
    for i, mod in enumerate(net.model):  # --norm batch: affine BN after each conv
        if isinstance(mod, nn.InstanceNorm2d):
            net.model[i] = nn.BatchNorm2d(mod.num_features)
    torch.save(net.state_dict(), tmp_path / "latest_net_G_A.pth")
    with pytest.raises(CheckpointError, match="norm batch"):
        explorer.load(tmp_path / "latest_net_G_A.pth")


# ----- refusals ------------------------------------------------------------------------------
def test_unknown_layout_lists_known_formats(tmp_path):
    torch.save({"encoder.weight": torch.zeros(3, 3), "decoder.bias": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError) as info:
        explorer.load(tmp_path / "other.pth")
    msg = str(info.value)
    assert "unrecognised checkpoint layout" in msg and "pytorch/examples" in msg and "junyanz" in msg


def test_files_of_different_formats_do_not_combine(tmp_path):
    torch.save(randomise_(RefDCGANGenerator(8, 4, 3), 0).state_dict(), tmp_path / "netG_epoch_1.pth")
    torch.save(randomise_(RefResnetGenerator(3, 3, 4, 6), 0).state_dict(), tmp_path / "latest_net_G_A.pth")
    with pytest.raises(CheckpointError, match="different formats"):
        explorer.load([tmp_path / "netG_epoch_1.pth", tmp_path / "latest_net_G_A.pth"])


def test_two_files_for_the_same_network_are_an_error(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        torch.save(randomise_(RefResnetGenerator(3, 3, 4, 6), 0).state_dict(), tmp_path / name / "latest_net_G_A.pth")
    with pytest.raises(CheckpointError, match="both G_A"):
        explorer.load([tmp_path / "a" / "latest_net_G_A.pth", tmp_path / "b" / "latest_net_G_A.pth"])


def test_directory_without_checkpoints(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(CheckpointError, match="no checkpoint files"):
        explorer.load(tmp_path)
