"""Model zoo: listing, search/filter, import (own, pytorch/examples DCGAN, junyanz CycleGAN), export, delete;
and the export/zoo/experiment subcommands."""

from __future__ import annotations

import argparse
import json

import pytest
import torch
from torch import nn

import explorer
from explorer.errors import ExplorerError
from explorer.export.cli import add_commands
from explorer.images import read_png_metadata
from explorer.models.cyclegan import CycleGAN, CycleGANConfig
from explorer.models.dcgan import DCGAN, DCGANConfig
from explorer.zoo import (
    add_model,
    default_user_dir,
    delete_model,
    describe,
    export_model,
    get_model,
    import_model,
    list_models,
)


@pytest.fixture
def dirs(tmp_path):
    shipped = tmp_path / "checkpoints"
    user = tmp_path / "home" / "models"
    shipped.mkdir()
    torch.manual_seed(0)
    model = DCGAN(DCGANConfig(resolution=32, channels=1, latent_dim=8, num_classes=10, ngf=4, ndf=4))
    model.summary["dataset"] = "digits"
    card = {"name": "DCGAN digits", "intended_use": "demo", "licence": "CC BY-SA 3.0 (data)",
            "metrics": [{"metric": "fd", "value": 12.5, "extractor": "explorer-classifier"}]}
    path = explorer.save(model, shipped / "dcgan_digits.safetensors", card=card)
    explorer.images.save_png(torch.zeros(1, 8, 8), shipped / "dcgan_digits.png")
    (shipped / "notes.safetensors").write_bytes(b"not a checkpoint")  # unreadable files are skipped
    return {"shipped_dirs": [shipped], "user_dir": user, "shipped_path": path}


def _kw(dirs):
    return {"shipped_dirs": dirs["shipped_dirs"], "user_dir": dirs["user_dir"]}


def test_shipped_entry_fields(dirs):
    (entry,) = list_models(**_kw(dirs))
    assert entry.id == "shipped:dcgan_digits" and entry.source == "shipped" and not entry.deletable
    assert entry.name == "DCGAN digits" and entry.kind == "dcgan" and entry.dataset == "digits"
    assert entry.resolution == 32 and entry.num_classes == 10
    assert entry.file_size == dirs["shipped_path"].stat().st_size
    model = explorer.load(dirs["shipped_path"], device="cpu")
    bn_stats = sum(b.numel() for n, b in model.named_buffers())
    assert entry.params == sum(p.numel() for p in model.parameters()) + bn_stats - sum(
        b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var", "num_batches_tracked")))
    assert entry.metrics[0]["value"] == 12.5 and entry.licence.startswith("CC BY-SA")
    assert entry.sample_grid == dirs["shipped_path"].with_suffix(".png")
    assert "trained by the GAN Explorer project" in entry.origin
    assert json.loads(json.dumps(entry.to_dict()))["id"] == entry.id
    assert "DCGAN digits" in describe(entry)


def test_import_own_format_then_delete(dirs):
    entry = import_model(dirs["shipped_path"], name="my copy", **{"user_dir": dirs["user_dir"]})
    assert entry.id == "user:my-copy" and entry.source == "imported" and entry.deletable
    assert entry.card["zoo"]["files"] == ["dcgan_digits.safetensors"]
    assert entry.card["zoo"]["sha256"]["dcgan_digits.safetensors"] == explorer.file_hash(dirs["shipped_path"])
    assert "imported from dcgan_digits.safetensors" in entry.origin
    assert entry.sample_grid is not None and entry.sample_grid.is_file()
    assert read_png_metadata(entry.sample_grid)["model_hash"] == explorer.file_hash(entry.path)
    ids = [e.id for e in list_models(**_kw(dirs))]
    assert ids == ["shipped:dcgan_digits", "user:my-copy"]
    # the imported weights are the original weights
    a, b = explorer.load(entry.path, device="cpu"), explorer.load(dirs["shipped_path"], device="cpu")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))

    gone = delete_model("user:my-copy", **_kw(dirs))
    assert not gone.path.exists() and not gone.sample_grid.exists()
    assert [e.id for e in list_models(**_kw(dirs))] == ["shipped:dcgan_digits"]


def test_second_import_gets_a_fresh_id(dirs):
    a = import_model(dirs["shipped_path"], name="x", user_dir=dirs["user_dir"], samples=False)
    b = import_model(dirs["shipped_path"], name="x", user_dir=dirs["user_dir"], samples=False)
    assert (a.id, b.id) == ("user:x", "user:x-2") and b.sample_grid is None


def test_delete_shipped_is_refused(dirs):
    with pytest.raises(ExplorerError, match="ships with GAN Explorer and cannot be deleted"):
        delete_model("shipped:dcgan_digits", **_kw(dirs))
    assert dirs["shipped_path"].exists()


def test_unknown_and_malformed_ids(dirs):
    with pytest.raises(ExplorerError, match="no model"):
        get_model("user:nothing", **_kw(dirs))
    for bad in ("../etc/passwd", "user:../x", "dcgan_digits", "", "shipped:a/b"):
        with pytest.raises(ExplorerError, match="not a zoo id"):
            delete_model(bad, **_kw(dirs))


def _pytorch_examples_generator(nz=6, ngf=2, nc=1) -> nn.Sequential:
    """pytorch/examples dcgan/main.py netG layout: keys main.N.*, bias-free transposed convs."""
    w = [ngf * 8, ngf * 4, ngf * 2, ngf]
    layers = [nn.ConvTranspose2d(nz, w[0], 4, 1, 0, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU(True)]
    for a, b in zip(w[:-1], w[1:]):
        layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
    layers += [nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


def test_import_pytorch_examples_dcgan(dirs, tmp_path):
    torch.manual_seed(1)
    net = _pytorch_examples_generator()
    torch.save({f"main.{k}": v for k, v in net.state_dict().items()}, tmp_path / "netG_epoch_3.pth")
    entry = import_model(tmp_path / "netG_epoch_3.pth", user_dir=dirs["user_dir"])
    assert entry.id == "user:netG_epoch_3" and entry.kind == "dcgan" and entry.source == "imported"
    assert entry.resolution == 64 and "pytorch/examples" in entry.origin
    assert entry.licence and "licence of the original files" in entry.licence
    assert entry.intended_use
    assert entry.sample_grid is not None  # a generator gets a sample grid
    assert [e.id for e in list_models(source="imported", **_kw(dirs))] == ["user:netG_epoch_3"]
    assert [e.id for e in list_models(kind="dcgan", source="shipped", **_kw(dirs))] == ["shipped:dcgan_digits"]


def _junyanz_generator(nc_in, nc_out, ngf=2, blocks=1) -> nn.Module:
    """junyanz ResnetGenerator layout (keys model.N.*), instance norm without affine parameters."""

    class Block(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.conv_block = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(d, d, 3), nn.InstanceNorm2d(d), nn.ReLU(True),
                                            nn.ReflectionPad2d(1), nn.Conv2d(d, d, 3), nn.InstanceNorm2d(d))

    seq = [nn.ReflectionPad2d(3), nn.Conv2d(nc_in, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True),
           nn.Conv2d(ngf, ngf * 2, 3, 2, 1), nn.InstanceNorm2d(ngf * 2), nn.ReLU(True),
           nn.Conv2d(ngf * 2, ngf * 4, 3, 2, 1), nn.InstanceNorm2d(ngf * 4), nn.ReLU(True)]
    seq += [Block(ngf * 4) for _ in range(blocks)]
    seq += [nn.ConvTranspose2d(ngf * 4, ngf * 2, 3, 2, 1, 1), nn.InstanceNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 3, 2, 1, 1), nn.InstanceNorm2d(ngf), nn.ReLU(True),
            nn.ReflectionPad2d(3), nn.Conv2d(ngf, nc_out, 7), nn.Tanh()]
    holder = nn.Module()
    holder.model = nn.Sequential(*seq)
    return holder


def test_import_junyanz_cyclegan_pair(dirs, tmp_path):
    run = tmp_path / "horse2zebra"
    run.mkdir()
    torch.save(_junyanz_generator(3, 3).state_dict(), run / "latest_net_G_A.pth")
    torch.save(_junyanz_generator(3, 3).state_dict(), run / "latest_net_G_B.pth")
    entry = import_model([run / "latest_net_G_A.pth", run / "latest_net_G_B.pth"], name="horse2zebra",
                         user_dir=dirs["user_dir"])
    assert entry.kind == "cyclegan" and entry.source == "imported" and entry.sample_grid is None
    assert "junyanz" in entry.origin and entry.card["zoo"]["files"] == ["latest_net_G_A.pth", "latest_net_G_B.pth"]
    assert list_models(query="zebra cyclegan", **_kw(dirs)) == [entry]
    assert list_models(query="zebra dcgan", **_kw(dirs)) == []


def test_trained_models_and_search(dirs):
    torch.manual_seed(2)
    model = CycleGAN(CycleGANConfig(ngf=2, ndf=2, num_blocks=1, resolution=32))
    model.summary["dataset"] = "emoji-google"
    entry = add_model(model, "emoji style", user_dir=dirs["user_dir"])
    assert entry.source == "trained" and entry.id == "user:emoji-style"
    assert [e.id for e in list_models(source="trained", **_kw(dirs))] == ["user:emoji-style"]
    assert [e.id for e in list_models(query="EMOJI", **_kw(dirs))] == ["user:emoji-style"]
    assert [e.id for e in list_models(query="digits demo", **_kw(dirs))] == ["shipped:dcgan_digits"]
    with pytest.raises(ExplorerError, match="source must be"):
        list_models(source="downloaded", **_kw(dirs))


def test_export_model(dirs, tmp_path):
    out = export_model("shipped:dcgan_digits", tmp_path / "out" / "copy.safetensors", **_kw(dirs))
    assert out.read_bytes() == dirs["shipped_path"].read_bytes()
    assert out.with_suffix(".png").is_file()
    with pytest.raises(ExplorerError, match="already exists"):
        export_model("shipped:dcgan_digits", out, **_kw(dirs))
    with pytest.raises(ExplorerError, match=".safetensors"):
        export_model("shipped:dcgan_digits", tmp_path / "copy.pth", **_kw(dirs))


def test_user_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GAN_EXPLORER_HOME", str(tmp_path / "gx"))
    assert default_user_dir() == tmp_path / "gx" / "models"
    torch.manual_seed(0)
    add_model(DCGAN(DCGANConfig(resolution=32, latent_dim=4, ngf=2, ndf=2)), "envy", samples=False)
    assert [e.id for e in list_models(shipped_dirs=[])] == ["user:envy"]


# ----- subcommands ----------------------------------------------------------------------
def _cli(argv):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    add_commands(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_zoo_roundtrip(dirs, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("explorer.zoo.shipped_dir", lambda: dirs["shipped_dirs"][0])
    user = str(dirs["user_dir"])
    assert _cli(["zoo", "--user-dir", user, "import", str(dirs["shipped_path"]), "--name", "cli copy"]) == 0
    assert _cli(["zoo", "--user-dir", user, "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert [e["id"] for e in listed] == ["shipped:dcgan_digits", "user:cli-copy"]
    assert _cli(["zoo", "--user-dir", user, "search", "cli"]) == 0
    assert "user:cli-copy" in capsys.readouterr().out
    assert _cli(["zoo", "--user-dir", user, "export", "user:cli-copy", str(tmp_path / "e.safetensors")]) == 0
    assert _cli(["zoo", "--user-dir", user, "delete", "user:cli-copy"]) == 0
    with pytest.raises(ExplorerError, match="cannot be deleted"):
        _cli(["zoo", "--user-dir", user, "delete", "shipped:dcgan_digits"])


def test_cli_exports(dirs, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    ckpt = str(dirs["shipped_path"])
    assert _cli(["export-onnx", ckpt, "--out", str(tmp_path / "g.onnx")]) == 0
    assert "max |ONNX − PyTorch|" in capsys.readouterr().out
    assert _cli(["export-dataset", ckpt, "--per-class", "1", "--out", str(tmp_path / "ds"), "--device", "cpu"]) == 0
    assert len(list((tmp_path / "ds").rglob("*.png"))) == 10 and (tmp_path / "ds" / "manifest.json").is_file()
