"""The gan-explorer CLI, on tiny models saved to tmp_path (no shipped model needed)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image

import explorer
from explorer import cli
from explorer.images import read_png_metadata, tensor_to_uint8
from explorer.latent import latents_from_seeds


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_EXPLORER_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    from explorer.models.cyclegan import CycleGAN, CycleGANConfig
    from explorer.models.dcgan import DCGAN, DCGANConfig
    from explorer.models.srgan import SRGAN, SRGANConfig
    from explorer.models.stylegan import StyleGAN, StyleGANConfig

    d = tmp_path_factory.mktemp("ckpts")
    torch.manual_seed(0)
    paths = {
        "dcgan": explorer.save(DCGAN(DCGANConfig(resolution=32, ngf=8, ndf=8, latent_dim=16)), d / "dc.safetensors"),
        "cond": explorer.save(
            DCGAN(DCGANConfig(resolution=32, channels=1, ngf=8, ndf=8, latent_dim=16, num_classes=3)),
            d / "cond.safetensors",
            card={"class_names": ["cat", "dog", "owl"]},
        ),
        "cyclegan": explorer.save(CycleGAN(CycleGANConfig(ngf=4, ndf=4, num_blocks=1)), d / "cg.safetensors"),
        "srgan": explorer.save(SRGAN(SRGANConfig(num_blocks=1, num_features=8, d_features=4, resolution=16)), d / "sr.safetensors"),
        "stylegan": explorer.save(
            StyleGAN(StyleGANConfig(resolution=8, latent_dim=12, w_dim=10, mapping_layers=2, channel_base=64, max_channels=16)),
            d / "sg.safetensors",
        ),
    }
    photo = d / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (37, 50, 3), dtype=np.uint8)).save(photo)
    paths["photo"] = photo
    return {k: str(v) for k, v in paths.items()}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["-q", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# ----- info / generate ------------------------------------------------------------------------
def test_info_text_and_json(ckpts, capsys):
    code, out, _ = run(capsys, "info", ckpts["cond"])
    assert code == 0 and "kind        dcgan" in out and "0=cat, 1=dog, 2=owl" in out and "parameters" in out
    code, out, _ = run(capsys, "info", ckpts["cyclegan"], "--json")
    info = json.loads(out)
    assert info["kind"] == "cyclegan" and info["directions"] == ["AtoB", "BtoA"] and info["parameters"]["total"] > 0


def test_generate_seeds_matches_api_and_carries_provenance(ckpts, capsys, tmp_path):
    code, out, _ = run(capsys, "generate", ckpts["dcgan"], "--seeds", "3-5,9", "--truncation", "0.7", "--out", "imgs")
    assert code == 0 and "wrote 4 images to imgs" in out
    files = sorted((tmp_path / "imgs").glob("*.png"))
    assert [f.name for f in files] == ["seed0003.png", "seed0004.png", "seed0005.png", "seed0009.png"]
    model = explorer.load(ckpts["dcgan"], device="cpu")
    expected = tensor_to_uint8(model.generate(latents_from_seeds(model, [9]), truncation=0.7))[0]
    assert np.array_equal(np.asarray(Image.open(files[-1])), expected)  # lossless, same image as the API
    meta = read_png_metadata(files[-1])
    assert meta["seed"] == 9 and meta["truncation"] == 0.7 and meta["model"] == "dc"
    assert meta["model_hash"] == explorer.file_hash(ckpts["dcgan"]) and meta["synthetic"] is True and meta["latent_hash"]


def test_generate_grid_latents_and_labels(ckpts, capsys, tmp_path):
    code, out, _ = run(capsys, "generate", ckpts["cond"], "--seeds", "0-5", "--class", "dog", "--grid", "--nrow", "3", "--out", "g")
    assert code == 0 and "grid of 6 images" in out
    grid = Image.open(tmp_path / "g" / "grid.png")
    assert grid.size == (3 * 34 + 2, 2 * 34 + 2) and grid.mode == "L"
    assert read_png_metadata(tmp_path / "g" / "grid.png")["labels"] == [1] * 6
    np.save(tmp_path / "z.npy", np.random.default_rng(1).standard_normal((2, 16)).astype(np.float32))
    code, _, _ = run(capsys, "generate", ckpts["cond"], "--latents", "z.npy", "--labels", "0,2", "--out", "lat")
    assert code == 0
    assert read_png_metadata(tmp_path / "lat" / "latent0001.png")["label"] == 2
    code, _, _ = run(capsys, "generate", ckpts["stylegan"], "--seeds", "1", "--out", "sg")
    assert code == 0 and (tmp_path / "sg" / "seed0001.png").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["generate", "{cond}", "--seeds", "0-1"], "class-conditional"),
        (["generate", "{cond}", "--seeds", "0-1", "--class", "emu"], "unknown class"),
        (["generate", "{cond}", "--seeds", "0-2", "--labels", "0,1"], "2 labels given for 3 images"),
        (["generate", "{dcgan}", "--seeds", "0-1", "--class", "1"], "unconditional"),
        (["generate", "{dcgan}", "--seeds", "5-1"], "backwards"),
        (["generate", "{dcgan}", "--latents", "missing.npy"], "no such latents file"),
        (["generate", "{cyclegan}"], "does not generate"),
        (["info", "missing.safetensors"], "no such checkpoint"),
        (["translate", "{dcgan}", "{photo}"], "does not translate"),
        (["upscale", "{cyclegan}", "{photo}"], "does not upscale"),
        (["score", "{cyclegan}", "{photo}"], "--domain A or --domain B"),
        (["score", "{dcgan}", "{photo}", "--patch-map", "pm.png"], "no patch map"),
        (["import", "{photo}", "--out", "x.safetensors"], "not a checkpoint"),
        (["import", "{dcgan}", "--out", "x.pth"], ".safetensors"),
    ],
)
def test_errors_are_one_line_exit_2(ckpts, capsys, argv, message):
    code, _, err = run(capsys, *[a.format(**ckpts) for a in argv])
    assert code == 2
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_error_without_traceback_end_to_end(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "explorer.cli", "info", str(tmp_path / "nope.safetensors")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: no such checkpoint") and len(proc.stderr.strip().splitlines()) == 1


# ----- image-to-image and scores ----------------------------------------------------------------
def test_translate_and_tiled_translate(ckpts, capsys, tmp_path):
    code, out, _ = run(capsys, "translate", ckpts["cyclegan"], ckpts["photo"], "--direction", "BtoA", "--out", "t.png")
    assert code == 0 and "50×37 → 50×37" in out
    whole = np.asarray(Image.open(tmp_path / "t.png"))
    assert whole.shape == (37, 50, 3) and read_png_metadata(tmp_path / "t.png")["direction"] == "BtoA"
    code, _, _ = run(capsys, "translate", ckpts["cyclegan"], ckpts["photo"], "--tile", "24", "--overlap", "8")
    tiled = np.asarray(Image.open(tmp_path / "translated" / "photo_AtoB.png"))
    assert code == 0 and tiled.shape == (37, 50, 3)
    frames = [Image.new("RGB", (16, 16), c) for c in ("red", "blue")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    code, _, err = run(capsys, "translate", ckpts["cyclegan"], str(tmp_path / "anim.gif"))
    assert code == 2 and "animated" in err


def test_upscale_tiled(ckpts, capsys, tmp_path):
    code, out, _ = run(capsys, "upscale", ckpts["srgan"], ckpts["photo"], "--tile", "16", "--overlap", "4", "--out", "up")
    assert code == 0 and "50×37 → 200×148" in out
    tiled = np.asarray(Image.open(tmp_path / "up" / "photo_x4.png")).astype(int)
    model = explorer.load(ckpts["srgan"], device="cpu")
    from explorer.images import load_image, pil_to_tensor

    whole = tensor_to_uint8(model.translate(pil_to_tensor(load_image(ckpts["photo"]))))[0].astype(int)
    assert tiled.shape == whole.shape == (148, 200, 3)
    assert np.abs(tiled - whole).mean() < 2.0  # blended tiles agree with the one-shot upscale


def test_score_and_patch_map(ckpts, capsys, tmp_path):
    code, out, _ = run(capsys, "score", ckpts["dcgan"], ckpts["photo"], ckpts["photo"], "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 2 and rows[0]["score"] == rows[1]["score"] and 0 < rows[0]["p_real"] < 1
    code, out, _ = run(capsys, "score", ckpts["cond"], ckpts["photo"], "--labels", "2")
    assert code == 0 and "P(real)" in out
    code, out, _ = run(capsys, "score", ckpts["cyclegan"], ckpts["photo"], "--domain", "A", "--patch-map", "heat.png")
    assert code == 0 and "patches" in out
    heat = Image.open(tmp_path / "heat.png")
    assert heat.size == (50, 37) and "PatchGAN" in read_png_metadata(tmp_path / "heat.png")["content"]


# ----- import / directions ------------------------------------------------------------------------
def _pytorch_examples_layout(model) -> dict[str, torch.Tensor]:
    """Our DCGAN-64 generator renamed to pytorch/examples' nn.Sequential keys (main.0 ... main.12)."""
    g = model.G
    modules = [g.stem[0], g.stem[1], None, g.blocks[0][0], g.blocks[0][1], None, g.blocks[1][0], g.blocks[1][1], None,
               g.blocks[2][0], g.blocks[2][1], None, g.to_rgb[0]]
    out = {}
    for i, m in enumerate(modules):
        if m is not None:
            for k, v in m.state_dict().items():
                out[f"main.{i}.{k}"] = v.clone()
    return out


def test_import_foreign_dcgan(capsys, tmp_path):
    from explorer.models.dcgan import DCGAN, DCGANConfig

    torch.manual_seed(1)
    ours = DCGAN(DCGANConfig(resolution=64, ngf=4, ndf=4, latent_dim=10, parts=("G",))).eval()
    torch.save(_pytorch_examples_layout(ours), tmp_path / "netG_epoch_3.pth")
    code, out, _ = run(capsys, "import", str(tmp_path / "netG_epoch_3.pth"), "--out", "imported.safetensors")
    assert code == 0 and "imported dcgan" in out
    back = explorer.load(tmp_path / "imported.safetensors", device="cpu")
    z = latents_from_seeds(back, [0, 1])
    assert torch.allclose(back.generate(z), ours.generate(z), atol=1e-5)


def test_directions_command(ckpts, capsys, tmp_path):
    code, out, _ = run(capsys, "directions", ckpts["dcgan"], "--method", "sefa", "--num", "4", "--out", "d.npz",
                       "--preview", "prev.png")
    assert code == 0 and "sefa directions" in out and "z-space" in out
    from explorer.latent import Directions

    d = Directions.load(tmp_path / "d.npz")
    assert d.vectors.shape == (4, 16)
    assert Image.open(tmp_path / "prev.png").size == (7 * 34 + 2, 4 * 34 + 2)
    code, out, _ = run(capsys, "directions", ckpts["stylegan"], "--method", "pca", "--num", "3", "--num-samples", "200",
                       "--preview", "sg.png")
    assert code == 0 and "w-space" in out and (tmp_path / "sg.png").exists()


# ----- extension hook ------------------------------------------------------------------------------
def test_command_modules_hook(tmp_path, monkeypatch, capsys):
    (tmp_path / "fake_cmds.py").write_text(textwrap.dedent("""
        from explorer.errors import ExplorerError

        def add_commands(subparsers):
            p = subparsers.add_parser("hello")
            p.add_argument("--fail", action="store_true")
            p.set_defaults(func=run)

        def run(args):
            if args.fail:
                raise ExplorerError("it failed politely")
            print("hello from a plugin")
            return 0
    """))
    (tmp_path / "broken_cmds.py").write_text("import a_dependency_that_is_missing_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli, "COMMAND_MODULES", [("fake_cmds", "add_commands"), ("explorer.not_written_yet.cli", "add")])
    assert cli.main(["hello"]) == 0 and "hello from a plugin" in capsys.readouterr().out
    assert cli.main(["hello", "--fail"]) == 2 and capsys.readouterr().err == "error: it failed politely\n"
    monkeypatch.setattr(cli, "COMMAND_MODULES", [("broken_cmds", "add_commands")])
    with pytest.raises(ModuleNotFoundError):  # a missing *dependency* is a bug, not a missing module
        cli.build_parser()


def test_global_options_before_and_after_command(ckpts, capsys):
    assert cli.main(["--device", "cpu", "-q", "info", ckpts["dcgan"]]) == 0
    assert cli.main(["info", ckpts["dcgan"], "--device", "cpu", "--threads", "1"]) == 0
    capsys.readouterr()
    assert cli.main(["info", ckpts["dcgan"], "--device", "nonsense"]) == 2
    assert "unknown device" in capsys.readouterr().err


def test_builtin_commands_skip_module_imports(monkeypatch):
    assert cli._command_name(["--device", "cpu", "-q", "generate", "x"]) == "generate"
    assert cli._command_name(["--threads", "2", "data", "list"]) == "data"
    assert cli._command_name(["--help"]) is None
    builtin = cli.build_parser(include_modules=False)
    names = set(builtin._subparsers._group_actions[0].choices)
    assert names == set(cli.BUILTIN_COMMANDS)
    monkeypatch.setattr(cli, "COMMAND_MODULES", [("explorer.errors", "no_such_function")])  # would raise if used
    cli.build_parser(include_modules=False)  # built-in commands never import the modules


# ----- invert ----------------------------------------------------------------------------------
def test_invert_writes_a_reconstruction_and_a_latent_explore_can_load(ckpts, capsys, tmp_path):
    from explorer.pipelines.explore import custom_from_npy

    code, out, _ = run(capsys, "generate", ckpts["cond"], "--seeds", "5", "--class", "dog", "--out", "gen")
    assert code == 0
    code, out, _ = run(capsys, "invert", ckpts["cond"], "gen/seed0005.png", "--class", "dog", "--steps", "60",
                       "--out", "inv/dog.png")
    assert code == 0 and "PSNR" in out and "inv/dog.npy" in out
    model = explorer.load(ckpts["cond"], device="cpu")
    z = np.load(tmp_path / "inv" / "dog.npy", allow_pickle=False)
    assert z.shape == (16,) and z.dtype == np.float32
    # the PNG is exactly what the saved latent draws, and its metadata says how close it came
    again = tensor_to_uint8(model.generate(torch.from_numpy(z)[None], torch.tensor([1])))[0][..., 0]  # grey [H, W]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "inv" / "dog.png")), again)
    meta = read_png_metadata(tmp_path / "inv" / "dog.png")
    assert meta["operation"] == "inversion" and meta["space"] == "z" and meta["latent_file"] == "dog.npy"
    assert meta["psnr_db"] > 12  # a 16-d latent of a tiny random DCGAN: the seed's own image is reachable
    custom = custom_from_npy(model, (tmp_path / "inv" / "dog.npy").read_bytes(), "dog.npy")  # the Explore tab's loader
    assert custom["space"] == "z" and np.allclose(custom["vector"], z)
    # StyleGAN inverts into w by default: a [1, w_dim] file
    code, out, _ = run(capsys, "invert", ckpts["stylegan"], ckpts["photo"], "--steps", "3", "--out", "sg.png",
                       "--latent-out", "sg_w.npy")
    assert code == 0 and np.load(tmp_path / "sg_w.npy").shape == (1, 10)


@pytest.mark.parametrize("argv, message", [
    (("invert", "{srgan}", "{photo}"), "has no latent space to invert into"),
    (("invert", "{cond}", "{photo}"), "class-conditional"),
    (("invert", "{dcgan}", "{photo}", "--space", "w"), "has no w space"),
    (("invert", "{dcgan}", "{photo}", "--steps", "0"), "steps must lie in"),
])
def test_invert_errors(ckpts, capsys, argv, message):
    code, _, err = run(capsys, *[a.format(**ckpts) for a in argv])
    assert code == 2 and message in err
