"""The web app without a browser: its public API through gradio_client against an in-process
server, and the gradio-free pieces behind the tabs (catalog, latent editing, inversion,
discriminator diagnostics, the training-job slot)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import explorer
from explorer.errors import ExplorerError
from explorer.images import read_png_metadata

from ui_support import ROOT, SAMPLES

gradio_client = pytest.importorskip("gradio_client")


# ---------------------------------------------------------------------------------------------
# public API through gradio_client
# ---------------------------------------------------------------------------------------------
def test_only_the_documented_endpoints_are_public(client):
    named = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert named == {"/models", "/generate", "/translate", "/score"}


def test_models_lists_the_catalog(client):
    models = {m["id"]: m for m in client.predict(api_name="/models")}
    assert set(models) == {"shipped:dcgan_digits", "shipped:stylegan_emoji", "shipped:cyclegan_emoji",
                           "shipped:srgan_emoji", "shipped:classifier_digits"}
    assert models["shipped:dcgan_digits"]["num_classes"] == 10 and models["shipped:dcgan_digits"]["can_generate"]
    assert models["shipped:cyclegan_emoji"]["origin"] == "shipped" and not models["shipped:cyclegan_emoji"]["can_generate"]


def test_generate_is_deterministic_lossless_and_carries_provenance(client, shipped):
    a = client.predict("shipped:dcgan_digits", "0-3", 7, 0.8, api_name="/generate")
    b = client.predict("shipped:dcgan_digits", "0-3", 7, 0.8, api_name="/generate")
    assert Path(a).suffix == ".png"
    pa, pb = np.asarray(Image.open(a)), np.asarray(Image.open(b))
    assert pa.shape == (2 + 34, 2 + 4 * 34) and np.array_equal(pa, pb)  # 4 images of 32 px in one row, 2 px gaps
    meta = read_png_metadata(a)
    assert meta["seeds"] == [0, 1, 2, 3] and meta["class"] == 7 and meta["truncation"] == 0.8 and meta["synthetic"] is True
    # the grid equals the model's own output for those seeds (nothing lossy on the way)
    model = explorer.load(shipped / "dcgan_digits.safetensors")
    assert meta["model_file_sha256"] == explorer.file_hash(shipped / "dcgan_digits.safetensors")
    z = explorer.latents_from_seeds(model, [0])
    ref = explorer.images.tensor_to_uint8(model.generate(z * 0.8, torch.tensor([7])))[0, :, :, 0]
    assert np.array_equal(pa[2:34, 2:34], ref)


def test_translate_and_upscale(client):
    img = gradio_client.handle_file(str(SAMPLES / "emoji-google_1f434.png"))
    out = client.predict("shipped:cyclegan_emoji", img, "AtoB", api_name="/translate")
    assert Image.open(out).size == (64, 64)
    out = client.predict("shipped:srgan_emoji", img, "x4", api_name="/translate")
    assert Image.open(out).size == (256, 256)
    assert read_png_metadata(out)["direction"] == "x4"


def test_score_returns_a_probability(client, shipped):
    img = gradio_client.handle_file(str(SAMPLES / "digits_3_9123.png"))
    s = client.predict("shipped:dcgan_digits", img, 3, "", api_name="/score")
    assert 0.0 < s["p_real"] < 1.0 and s["class"] == 3
    # the API prepares an upload exactly as training prepared real images (tests/test_prepare.py)
    from explorer.images import load_image
    model = explorer.load(shipped / "dcgan_digits.safetensors").eval()
    with torch.no_grad():
        want = float(model.discriminate(model.prepare_for_discriminator(load_image(SAMPLES / "digits_3_9123.png")), labels=torch.tensor([3])).scores[0])
    assert s["score"] == pytest.approx(want, abs=1e-4)
    s = client.predict("shipped:cyclegan_emoji", img, 0, "B", api_name="/score")
    assert 0.0 < s["p_real"] < 1.0


@pytest.mark.parametrize("payload, words", [
    (b"this is not an image at all", "not an image format"),
    ((SAMPLES / "emoji-google_1f434.png").read_bytes()[:900], "truncated"),
])
def test_bad_uploads_get_a_readable_error_and_the_server_survives(client, tmp_path, payload, words):
    bad = tmp_path / "evil.png"
    bad.write_bytes(payload)
    with pytest.raises(Exception) as info:
        client.predict("shipped:srgan_emoji", gradio_client.handle_file(str(bad)), "x4", api_name="/translate")
    assert words in str(info.value)
    assert client.predict(api_name="/models")  # still serving


def test_decompression_bomb_refused_before_decoding(client, tmp_path):
    # a valid PNG header claiming 30000 x 30000 pixels (900 MP) with almost no data
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b"")
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png)
    with pytest.raises(Exception) as info:
        client.predict("shipped:srgan_emoji", gradio_client.handle_file(str(bomb)), "x4", api_name="/translate")
    assert "megapixel" in str(info.value) or "too large" in str(info.value)


def test_unknown_or_path_like_model_ids_are_refused(client):
    for bad in ("shipped:nope", "/etc/passwd", "../checkpoints/x", "user:../../secret"):
        with pytest.raises(Exception) as info:
            client.predict(bad, "0", 0, 1.0, api_name="/generate")
        assert "not in the catalog" in str(info.value)


def test_wrong_kind_for_an_endpoint(client):
    with pytest.raises(Exception) as info:
        client.predict("shipped:cyclegan_emoji", "0", 0, 1.0, api_name="/generate")
    assert "does not generate" in str(info.value)


def test_direct_rest_calls_bypassing_the_queue_are_closed(server):
    req = urllib.request.Request(server.url + "gradio_api/api/models/", data=json.dumps({"data": []}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=30)
    assert info.value.code == 404


# ---------------------------------------------------------------------------------------------
# gradio-free pieces
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def catalog(shipped, tmp_path_factory):
    from explorer.ui.catalog import Catalog

    return Catalog([shipped], tmp_path_factory.mktemp("user"))


def test_catalog_ids_origins_and_deletion_rules(catalog, shipped):
    ids = [e.id for e in catalog.entries()]
    assert ids == sorted(ids) and all(i.startswith("shipped:") for i in ids)
    with pytest.raises(ExplorerError, match="cannot be deleted"):
        catalog.delete("shipped:dcgan_digits")
    assert (shipped / "dcgan_digits.safetensors").exists()
    # a user model: listed as imported/trained, deletable
    m = explorer.load(shipped / "dcgan_digits.safetensors")
    p = catalog.user_path("my model!")
    assert p.name == "my-model.safetensors"
    explorer.save(m, p, card={"imported": {"format": "test"}})
    entry = catalog.resolve("user:my-model")
    assert entry.source == "imported" and entry.deletable
    catalog.delete("user:my-model")
    assert not p.exists()
    # a garbage file in the folder is skipped, not fatal
    (catalog.user_dir / "junk.safetensors").write_bytes(b"junk")
    assert "user:junk" not in [e.id for e in catalog.entries()]


def test_editing_seed_determinism_and_slider_edits(catalog):
    from explorer.pipelines import explore

    for model_id in ("shipped:dcgan_digits", "shipped:stylegan_emoji"):
        model, _ = catalog.load(model_id)
        label = 3 if model.num_classes else None
        req = explore.LatentRequest(seed=5, label=label, truncation=0.9, method="pca")
        a, b = explore.image_for(model, req), explore.image_for(model, req)
        assert torch.equal(a, b) and a.shape[0] == 1
        zero = explore.LatentRequest(**{**req.__dict__, "coefficients": (0.0,) * explore.NUM_DIRECTIONS})
        assert torch.equal(explore.image_for(model, zero), a)
        for method in ("pca", "sefa"):
            moved = explore.image_for(model, explore.LatentRequest(**{**req.__dict__, "method": method, "coefficients": (3.0,)}))
            assert not torch.equal(moved, a)
        grid = explore.sample_grid(model, req, 4)
        assert grid.shape[0] == 4 and torch.allclose(grid[0], a[0], atol=1e-5)
        frames = explore.interpolation(model, req, 9, 5, "slerp")
        assert frames.shape[0] == 5 and torch.allclose(frames[0], a[0], atol=1e-5)


def test_latent_files_round_trip_and_refuse_bad_ones(catalog, tmp_path):
    from explorer.pipelines import explore

    for model_id, space in (("shipped:dcgan_digits", "z"), ("shipped:stylegan_emoji", "w")):
        model, _ = catalog.load(model_id)
        req = explore.LatentRequest(seed=4, label=2 if model.num_classes else None, coefficients=(1.5, -1.0))
        x = explore.edited_latent(model, req)
        custom = explore.custom_from_npy(model, explore.latent_npy_bytes(model, x), "x.npy")
        assert custom["space"] == space
        again = explore.LatentRequest(seed=0, label=req.label, custom=custom)
        assert torch.allclose(explore.image_for(model, again), explore.image_for(model, req), atol=1e-5)
    model, _ = catalog.load("shipped:dcgan_digits")
    buf = io.BytesIO()
    np.save(buf, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ExplorerError, match="not a NumPy"):
        explore.custom_from_npy(model, buf.getvalue(), "evil.npy")
    buf = io.BytesIO()
    np.save(buf, np.zeros((3, 3), np.float32))
    with pytest.raises(ExplorerError, match="shape"):
        explore.custom_from_npy(model, buf.getvalue(), "m.npy")
    buf = io.BytesIO()
    np.save(buf, np.full(16, np.nan, np.float32))
    with pytest.raises(ExplorerError, match="NaN"):
        explore.custom_from_npy(model, buf.getvalue(), "n.npy")


def test_inversion_recovers_a_generated_image(catalog):
    from explorer.pipelines.invert import invert, psnr

    model, _ = catalog.load("shipped:dcgan_digits")
    z = explorer.latents_from_seeds(model, [123])
    target = model.generate(z, torch.tensor([4]))
    steps = []
    result = invert(model, target, space="z", label=4, steps=150, lr=0.05, progress=lambda s, t, loss: steps.append(s))
    assert steps[-1] == 150 and result.steps == 150
    start = psnr(model.generate(explorer.latents_from_seeds(model, [0]), torch.tensor([4])), target)
    assert result.psnr > start + 3 and result.psnr > 25, (start, result.psnr)
    assert all(p.grad is None for p in model.parameters())  # the shared model was not touched

    style, _ = catalog.load("shipped:stylegan_emoji")
    t2 = style.generate(explorer.latents_from_seeds(style, [9]))
    r2 = invert(style, t2, space="w", steps=60)
    assert r2.space == "w" and r2.latent.shape == (1, style.config.w_dim) and np.isfinite(r2.psnr)
    with pytest.raises(ExplorerError, match="w space"):
        invert(model, target, space="w")


def test_discriminator_score_sets_and_verdict(catalog):
    from explorer.pipelines import score as scoring

    for model_id, domain in (("shipped:dcgan_digits", None), ("shipped:cyclegan_emoji", "B"), ("shipped:srgan_emoji", None)):
        model, entry = catalog.load(model_id)
        sets = scoring.score_sets(model, entry, num=32, domain=domain)
        assert set(sets.scores) == set(scoring.SET_NAMES) and all(len(v) == 32 for v in sets.scores.values())
        frame = scoring.histogram_frame(sets.scores)
        assert set(frame["set"]) == set(scoring.SET_NAMES)
        assert np.allclose(frame.groupby("set")["share of images"].sum(), 1.0)
    rng = np.random.default_rng(0)
    over = {"training": rng.normal(2, 1, 200), "held-out real": rng.normal(0, 1, 200), "generated": rng.normal(-2, 1, 200)}
    text, alarm = scoring.overfitting_verdict(over)
    assert alarm and "Overfitting alarm" in text
    fine = {"training": rng.normal(0, 1, 200), "held-out real": rng.normal(0, 1, 200), "generated": rng.normal(-2, 1, 200)}
    text, alarm = scoring.overfitting_verdict(fine)
    assert not alarm and "No overfitting sign" in text


def test_training_slot_runs_one_job_and_publishes_the_model(tmp_path, shipped):
    from explorer.train import TrainConfig
    from explorer.ui.catalog import Catalog
    from explorer.ui.jobs import TrainingJobs

    catalog = Catalog([shipped], tmp_path / "models")
    jobs = TrainingJobs(catalog, tmp_path / "runs")
    cfg = TrainConfig(name="t", out=str(jobs.runs_dir), family="dcgan", data="digits", batch_size=8, iterations=6,
                      model={"ngf": 8, "ndf": 8, "latent_dim": 16}, classifier=None, num_samples=8, log_every=1,
                      sample_every=3, checkpoint_every=3, num_threads=1)
    jobs.start(cfg)
    with pytest.raises(ExplorerError, match="already in progress"):
        jobs.start(cfg.replace(name="u"))
    assert jobs.wait(300)
    view = jobs.view()
    assert view.state == "done", view.message
    assert [s["step"] for s in view.steps] == list(range(1, 7)) and len(view.samples) >= 2
    assert view.model_id == "user:t" and catalog.resolve("user:t").source == "trained"
    assert "t" in jobs.resumable_runs()
    # stop: a longer run ends early, cleanly, and can be resumed
    jobs.start(cfg.replace(name="long", iterations=5000))
    from explorer.ui.jobs import wait_until

    assert wait_until(lambda: len(jobs.view().steps) >= 2, timeout=300)
    assert jobs.stop()
    assert jobs.wait(300)
    assert jobs.view().state == "stopped" and "long" in jobs.resumable_runs()


def test_nothing_outside_the_ui_imports_gradio():
    code = (
        "import sys, explorer, explorer.models, explorer.data, explorer.train, explorer.metrics, explorer.cli, "
        "explorer.ui, explorer.ui.command, explorer.ui.catalog, explorer.pipelines.explore, explorer.pipelines.invert, "
        "explorer.pipelines.score, explorer.ui.jobs, explorer.ui.render, explorer.edits, explorer.edit_cli, explorer.featuremaps, "
        "explorer.ui.layerviews\n"
        "bad = [m for m in sys.modules if m == 'gradio' or m.startswith('gradio.')]\n"
        "assert not bad, bad[:5]"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=300)


def test_serve_command_parses():
    import argparse

    from explorer.ui.command import add_serve_command

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    add_serve_command(sub)
    args = parser.parse_args(["serve", "--port", "9999", "--models", "a", "--models", "b", "--no-training"])
    assert args.port == 9999 and args.model_dirs == ["a", "b"] and args.no_training and callable(args.func)


def test_train_tab_settings_become_a_training_config(tmp_path):
    from explorer.errors import ExplorerError
    from explorer.ui.tab_train import build_config

    class Jobs:
        runs_dir = tmp_path

        @staticmethod
        def fresh_name(name):
            return name

    args = dict(family="dcgan", data="digits", data_b=None, zip_payload=None, conditional=True, loss="hinge",
                lr_g=1e-4, lr_d=4e-4, batch=32, iterations=300, augments=["hflip", "diffaugment"], width="small", name="")
    cfg = build_config(Jobs, **args)
    assert cfg.conditional and cfg.mode_seeking == 1.0 and cfg.gan_loss == "hinge" and cfg.batch_size == 32
    assert cfg.augment == {"hflip": True} and cfg.diffaugment == "color,translation,cutout"
    assert cfg.sample_every == 30 and cfg.name == "dcgan-digits" and cfg.out == str(tmp_path)
    assert build_config(Jobs, **{**args, "conditional": False}).mode_seeking == 0.0
    with pytest.raises(ExplorerError, match="iterations"):
        build_config(Jobs, **{**args, "iterations": 0})


def test_train_tab_fine_tunes_a_catalog_model_and_the_run_starts_from_its_weights(tmp_path):
    from explorer.errors import ExplorerError
    from explorer.train import train
    from explorer.train.state import load_train_state
    from explorer.ui.catalog import Catalog
    from explorer.ui.tab_train import build_config

    class Jobs:
        runs_dir = tmp_path

        @staticmethod
        def fresh_name(name):
            return name

    catalog = Catalog([ROOT / "checkpoints"], tmp_path / "user")
    args = dict(family="dcgan", data="digits", data_b=None, zip_payload=None, conditional=False, loss="default",
                lr_g=0.0, lr_d=0.0, batch=8, iterations=2, augments=[], width="small", name="tune")
    cfg = build_config(Jobs, **args, start_from="shipped:dcgan_digits", catalog=catalog)
    shipped = explorer.load(ROOT / "checkpoints" / "dcgan_digits.safetensors", device="cpu")
    # the shipped model's own architecture, resolution and classes, whatever the width and checkbox said
    assert cfg.init_from.endswith("dcgan_digits.safetensors") and cfg.conditional and cfg.resolution == 32
    assert cfg.model["ngf"] == shipped.config.ngf and "parts" not in cfg.model and cfg.mode_seeking == 1.0
    result = train(cfg.replace(num_threads=1, classifier=None, num_samples=16, ema_beta=0.0))
    got = load_train_state(result.checkpoint_path)["model"]
    g = {k: v for k, v in shipped.state_dict().items() if k.startswith("G.") and v.is_floating_point() and "running" not in k}
    assert g and all(torch.equal(got[k], v) for k, v in g.items())  # lr 0: still exactly the shipped generator
    with pytest.raises(ExplorerError, match="is a StyleGAN model"):
        build_config(Jobs, **args, start_from="shipped:stylegan_emoji", catalog=catalog)
    with pytest.raises(ExplorerError):
        build_config(Jobs, **args, start_from="../../etc/passwd", catalog=catalog)  # not a listed id


def test_train_plots_are_numeric_even_before_the_first_step():
    """Before the first step the plots get no data at all (an empty frame leaves Gradio's chart
    without series for the rest of the run); after it, numeric step/value columns."""
    import gradio as gr

    from explorer.ui.jobs import RunView
    from explorer.ui.tab_train import d_frame, loss_frame

    empty = RunView(version=0, state="running")
    plot = gr.LinePlot(x="step", y="value", color="term")
    assert loss_frame(empty) is None and d_frame(empty) is None
    one = RunView(version=1, state="running", steps=[{"step": 1, "losses": {"d_loss": 0.5, "g_loss": float("nan")}, "d_real": 0.7,
                                                      "d_fake": 0.3}])
    df = loss_frame(one)
    assert plot.postprocess(df).datatypes == {"step": "quantitative", "value": "quantitative", "term": "nominal"}
    assert df["term"].tolist() == ["d_loss"] and df["value"].tolist() == [0.5]
    assert sorted(d_frame(one)["value"].tolist()) == [0.3, 0.7]


# ---------------------------------------------------------------------------------------------
# Explore's layer ranges, edit library and style mixing through the served app (issue 16)
# ---------------------------------------------------------------------------------------------
def _security_helpers():
    """queue_call/fn_index_of from tests/security/conftest.py: UI handlers are private (no api_name),
    so they are called the way the page calls them, by fn_index through the queue."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("security_helpers", ROOT / "tests" / "security" / "conftest.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_explore_layer_ranges_library_and_mixing_through_the_server(server, client):
    from explorer.pipelines.explore import NUM_DIRECTIONS as n

    sec = _security_helpers()
    call = lambda name, data: sec.queue_call(server.url, sec.fn_index_of(server.demo, name), data, "issue16s1")  # noqa: E731
    out = call("on_model", ["shipped:stylegan_emoji", "pca", None])
    assert out["success"], out
    presets = out["output"]["data"][1 + n]  # the first slider's layer control
    assert presets["visible"] and [c[1] for c in presets["choices"]] == ["all", "coarse", "fine", "custom"]
    inputs = ["shipped:stylegan_emoji", 3, None, 1.0, "pca", 2.5, *[0.0] * (n - 1), "coarse", 0, 5, *["all", 0, 5] * (n - 1), None, 0.0, None]
    out = call("full", inputs)
    assert out["success"] and "1: +2.50 @ layers 0–2" in out["output"]["data"][1]
    custom = list(inputs)
    custom[5 + n : 8 + n] = ["custom", 4, 2]  # from 4 to 2: backwards
    out = call("full", custom)
    assert out["success"] is False and "first ≤ last" in str(out["output"])
    # save the slider as a named edit: it lands beside the user's models, as JSON
    out = call("save_edit", ["pose", 0, *inputs])
    assert out["success"] and out["output"]["data"][0]["choices"] == [["pose", "pose"]]
    files = list((server.home / "edits").glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["edits"][0]["layers"] == [0, 2]
    out = call("save_edit", ["pose", 0, *inputs])
    assert out["success"] is False and "exists already" in str(out["output"])
    # choose it: the strength comes back, and the render applies it (sliders at 0)
    plain = list(inputs)
    plain[5] = 0.0
    out = call("pick_edit", ["pose", *plain])
    assert out["success"] and out["output"]["data"][0]["value"] == 2.5
    plain[-3:-1] = ["pose", 2.5]
    out = call("full", plain)
    assert out["success"] and "saved edit *pose* +2.50" in out["output"]["data"][1]
    # style mixing: A, B and the mix
    out = call("show_mix_view", [7, [16], "resampled", 3, *plain])
    assert out["success"] and len(out["output"]["data"]) == 3 and all(isinstance(d, dict) and d.get("path") for d in out["output"]["data"])
    out = call("show_mix_view", [7, [64], "frozen", 0, *plain])
    assert out["success"] is False and "not in the list of choices" in str(out["output"])  # the checkbox group refuses it
    # none of this is public API
    assert not {"save_edit", "show_mix_view", "pick_edit"} & set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])


def test_stylize_starts_on_the_general_upscaler_when_it_ships(tmp_path):
    """The Super-resolution tab opens on srgan_general (best on every held-out kind), not on the first name
    in order (srgan_emoji, which only suits Noto emoji on white); without it, on the first upscaler."""
    from explorer.ui.app import build_app

    def sr_default(model_dirs):
        demo = build_app(model_dirs=model_dirs, user_dir=tmp_path / "user")
        (dd,) = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "stylize-sr-model"]
        return dd.value, [value for _, value in dd.choices]

    value, ids = sr_default([ROOT / "checkpoints"])
    assert value == "shipped:srgan_general" and ids[0] == "shipped:srgan_emoji"
    only_emoji = tmp_path / "only_emoji"
    only_emoji.mkdir()
    (only_emoji / "srgan_emoji.safetensors").symlink_to(ROOT / "checkpoints" / "srgan_emoji.safetensors")
    assert sr_default([only_emoji]) == ("shipped:srgan_emoji", ["shipped:srgan_emoji"])
