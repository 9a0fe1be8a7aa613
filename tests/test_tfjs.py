"""TensorFlow.js Layers models: the reader, the Keras-graph builder, the UpscalerJS importer.

The equality tests run the real ``@upscalerjs/esrgan-slim`` models (1.0.0: RDNs; 1.0.0-beta.6: ESRGAN) in node with
``@tensorflow/tfjs`` 4.22.0 (pure-JS CPU backend; ``tests/js/tfjs_predict.js``) and compares
with our import on the same input. ``./run.sh test`` installs both into ``.cache/``; this module
installs them itself when they are missing, and skips those tests only where npm/node are absent.
The reader and graph builder on small written files: tests/test_tfjs_reader.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

import explorer
from explorer.errors import CheckpointError
from explorer.importers.tfjs import read_tfjs
from explorer.importers.tfjs_layers import build_graph

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache"
ESRGAN = Path(os.environ.get("ESRGAN_SLIM_DIR", CACHE / "esrgan-slim" / "package"))
TFJS_PREFIX = CACHE / "tfjs"
PREDICT_JS = Path(__file__).parent / "js" / "tfjs_predict.js"


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


# ----- the real package and TF.js in node ------------------------------------------------------
def _npm(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["npm", *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    if proc.returncode:
        pytest.fail(f"npm {' '.join(args)} failed (npm is installed, so this is a real failure): {proc.stderr[-500:]}")


def _fetch_package(version: str, folder: Path, probe: str) -> Path:
    """``folder``/package of @upscalerjs/esrgan-slim@``version``, fetched with npm when ``probe`` is missing."""
    if not (folder / "package" / probe).is_file():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed: cannot fetch @upscalerjs/esrgan-slim (./run.sh test fetches it where npm exists)")
        CACHE.mkdir(exist_ok=True)
        _npm("pack", f"@upscalerjs/esrgan-slim@{version}", "--silent", cwd=CACHE)
        with tarfile.open(CACHE / f"upscalerjs-esrgan-slim-{version}.tgz") as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith("package/") and ".." not in m.name]
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python < 3.10.12 has no filters
            tar.extractall(folder, members=members, **safe)
    return folder / "package"


@pytest.fixture(scope="session")
def esrgan_dir() -> Path:
    """The unpacked @upscalerjs/esrgan-slim 1.0.0 package: RDNs ×2/×3/×4/×8 (fetched with npm when missing)."""
    if (ESRGAN / "models" / "x4" / "model.json").is_file():
        return ESRGAN
    return _fetch_package("1.0.0", CACHE / "esrgan-slim", "models/x4/model.json")


@pytest.fixture(scope="session")
def esrgan_beta6() -> Path:
    """@upscalerjs/esrgan-slim 1.0.0-beta.6: its one model is a real ESRGAN (RRDN), uint8-quantised."""
    return _fetch_package("1.0.0-beta.6", CACHE / "esrgan-slim-1.0.0-beta.6", "models/model.json") / "models"


@pytest.fixture(scope="session")
def tfjs_node() -> Path:
    """node_modules holding @tensorflow/tfjs 4.22.0 (installed with npm when missing)."""
    modules = TFJS_PREFIX / "node_modules"
    if not (modules / "@tensorflow" / "tfjs" / "package.json").is_file():
        if shutil.which("npm") is None or shutil.which("node") is None:
            pytest.skip("npm/node are not installed: the TensorFlow.js equality test needs @tensorflow/tfjs in node")
        TFJS_PREFIX.mkdir(parents=True, exist_ok=True)
        _npm("install", "--prefix", str(TFJS_PREFIX), "--no-save", "--no-audit", "--no-fund", "--ignore-scripts",
             "@tensorflow/tfjs@4.22.0", cwd=TFJS_PREFIX)
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    return modules


def tfjs_predict(modules: Path, model_json: Path, x_nhwc: np.ndarray, tmp: Path) -> tuple[np.ndarray, dict]:
    """TF.js's own output (NHWC float32) for ``x_nhwc`` (fed as is) and the run's info."""
    src, dst = tmp / "in.f32", tmp / "out.f32"
    x_nhwc.astype("<f4").tofile(src)
    proc = subprocess.run(["node", str(PREDICT_JS), str(model_json), str(src), *map(str, x_nhwc.shape), str(dst)],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "NODE_PATH": str(modules)})
    assert proc.returncode == 0, proc.stderr[-800:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    return np.fromfile(dst, dtype="<f4").reshape(info["shape"]), info


@pytest.mark.parametrize("scale,size", [(4, (16, 16)), (2, (12, 16)), (3, (10, 12)), (8, (8, 10))])
def test_import_equals_tensorflow_js(esrgan_dir, tfjs_node, tmp_path, scale, size):
    """explorer.load(model folder) upscales exactly as TensorFlow.js does (max abs diff ≤ 1e-4 in [-1, 1])."""
    model = explorer.load(esrgan_dir / "models" / f"x{scale}", device="cpu")
    assert model.kind == "srgan" and model.directions == (f"x{scale}",) and model.config.generator == "rdn"
    x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(scale)) * 2 - 1  # [1, 3, h, w] in [-1, 1]
    ref, info = tfjs_predict(tfjs_node, esrgan_dir / "models" / f"x{scale}" / "model.json",
                             ((x + 1) * 127.5).permute(0, 2, 3, 1).numpy(), tmp_path)  # the package feeds 0..255
    assert info["backend"] == "cpu" and info["version"] == "4.22.0"
    assert ref.shape == (1, size[0] * scale, size[1] * scale, 3)
    ref = torch.from_numpy(ref).permute(0, 3, 1, 2) / 127.5 - 1  # TF.js's 0..255 → ours
    with torch.no_grad():
        ours = model.translate(x)
    assert ours.shape == ref.shape
    assert (ours - ref.clamp(-1, 1)).abs().max() <= 1e-4
    # the generic Keras graph agrees too, before any clamping (TF.js units)
    graph = build_graph(*_topology_and_weights(esrgan_dir / "models" / f"x{scale}")).eval()
    with torch.no_grad():
        raw = graph((x + 1) * 127.5)
    assert ((raw / 127.5 - 1) - ref).abs().max() <= 1e-4


def test_esrgan_import_equals_tensorflow_js(esrgan_beta6, tfjs_node, tmp_path):
    """The beta.6 ESRGAN (uint8 weights, MultiplyBeta/PixelShuffle layers) upscales as TF.js does."""
    spec = json.loads((esrgan_beta6 / "model.json").read_text())["weightsManifest"][0]["weights"][0]
    assert spec["quantization"]["dtype"] == "uint8"
    model = explorer.load(esrgan_beta6, device="cpu")
    assert model.config.generator == "rrdn" and model.config.rdn_blocks == 10 and model.directions == ("x4",)
    x = torch.rand(1, 3, 10, 13, generator=torch.Generator().manual_seed(6)) * 2 - 1
    ref, info = tfjs_predict(tfjs_node, esrgan_beta6 / "model.json", ((x + 1) / 2).permute(0, 2, 3, 1).numpy(), tmp_path)
    assert ref.shape == (1, 40, 52, 3) and info["backend"] == "cpu"
    ref = torch.from_numpy(ref).permute(0, 3, 1, 2) * 2 - 1  # the package's 0..1 → ours
    with torch.no_grad():
        ours = model.translate(x)
    assert (ours - ref.clamp(-1, 1)).abs().max() <= 1e-4


def test_rewired_esrgan_is_refused(esrgan_beta6, tmp_path):
    folder = tmp_path / "esrgan"
    shutil.copytree(esrgan_beta6, folder)
    obj = json.loads((folder / "model.json").read_text())
    for layer in obj["modelTopology"]["model_config"]["config"]["layers"]:
        if layer["name"] == "GRL":  # the global skip now adds the first RRDB's output instead of the head
            layer["inbound_nodes"] = [[["post_blocks_conv", 0, 0, {}], ["RRDB_1_out", 0, 0, {}]]]
    (folder / "model.json").write_text(json.dumps(obj))
    with pytest.raises(CheckpointError, match="not wired like an RRDN"):
        explorer.load(folder, device="cpu")


def _topology_and_weights(path: Path):
    tm = read_tfjs(path)
    return tm.topology, tm.weights


def test_import_via_cli_and_round_trip(esrgan_dir, tmp_path):
    from explorer.cli import main

    out = tmp_path / "esrgan-x3.safetensors"
    x3 = esrgan_dir / "models" / "x3"
    assert main(["import", str(x3 / "model.json"), str(x3 / "group1-shard1of1.bin"), "--out", str(out)]) == 0
    saved = explorer.load(out, device="cpu")
    direct = explorer.load(x3, device="cpu")
    assert saved.kind == "srgan" and saved.config == direct.config and saved.config.scale == 3
    assert saved.D is None and saved.config.parts == ("G",)
    imported = saved.card["imported"]
    assert imported["files"] == ["model.json", "group1-shard1of1.bin"] and "MIT" in saved.card["licence"]
    x = torch.rand(2, 3, 7, 9) * 2 - 1
    with torch.no_grad():
        assert torch.equal(saved.translate(x), direct.translate(x))
    with pytest.raises(explorer.ExplorerError, match="no discriminator"):
        saved.discriminate(torch.zeros(1, 3, 12, 12))
    # the CLI upscales with the model's scale
    from PIL import Image

    src = tmp_path / "small.png"
    Image.new("RGB", (20, 14), (200, 40, 30)).save(src)
    assert main(["upscale", str(out), str(src), "--out", str(tmp_path / "big.png")]) == 0
    assert Image.open(tmp_path / "big.png").size == (60, 42)


def test_package_folder_names_the_models_inside(esrgan_dir):
    with pytest.raises(CheckpointError, match=r"TensorFlow.js models lie in: models/x2, models/x3, models/x4, models/x8"):
        explorer.load(esrgan_dir, device="cpu")


def test_upload_style_import_of_json_and_shard_from_separate_folders(esrgan_dir, tmp_path):
    """The Models tab hands over uploads from separate temp folders: model.json and its shard by name."""
    from explorer import zoo

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    shutil.copy(esrgan_dir / "models" / "x2" / "model.json", tmp_path / "a" / "model.json")
    with pytest.raises(CheckpointError, match="group1-shard1of1.bin' is missing"):
        zoo.import_model(tmp_path / "a" / "model.json", user_dir=tmp_path / "models", samples=False)
    shutil.copy(esrgan_dir / "models" / "x2" / "group1-shard1of1.bin", tmp_path / "b" / "group1-shard1of1.bin")
    entry = zoo.import_model([tmp_path / "a" / "model.json", tmp_path / "b" / "group1-shard1of1.bin"], name="esrgan x2",
                             user_dir=tmp_path / "models", samples=False)
    assert entry.kind == "srgan" and entry.source == "imported" and entry.path.is_file()
    assert explorer.load(entry.path, device="cpu").directions == ("x2",)


@pytest.mark.slow
def test_imported_esrgan_exports_to_onnx(esrgan_beta6, tmp_path):
    pytest.importorskip("onnxruntime")
    from explorer.export.onnx import export_onnx

    report = export_onnx(explorer.load(esrgan_beta6, device="cpu"), tmp_path / "esrgan.onnx")
    assert report.max_abs_diff <= 1e-4 and "[N, 3, 4h, 4w]" in report.outputs["output"]


def test_imported_model_exports_to_onnx(esrgan_dir, tmp_path):
    pytest.importorskip("onnxruntime")
    from explorer.export.onnx import export_onnx

    model = explorer.load(esrgan_dir / "models" / "x2", device="cpu")
    report = export_onnx(model, tmp_path / "x2.onnx")
    assert report.kind == "srgan" and report.max_abs_diff <= 1e-4
    assert "[N, 3, 2h, 2w]" in report.outputs["output"]


def test_rewired_rdn_is_refused(esrgan_dir, tmp_path):
    """A file with RDN's layer names but other wiring fails the check against its own graph."""
    folder = tmp_path / "x4"
    shutil.copytree(esrgan_dir / "models" / "x4", folder)
    obj = json.loads((folder / "model.json").read_text())
    for layer in obj["modelTopology"]["model_config"]["config"]["layers"]:
        if layer["name"] == "FDF":  # the global skip now adds F_0 instead of F_m1
            layer["inbound_nodes"] = [[["GFF_2", 0, 0, {}], ["F_0", 0, 0, {}]]]
    (folder / "model.json").write_text(json.dumps(obj))
    with pytest.raises(CheckpointError, match="not wired like an RDN"):
        explorer.load(folder, device="cpu")


# ----- the imported model in the app ---------------------------------------------------------------
def test_stylize_comparison_with_an_imported_model(esrgan_dir):
    """What the Stylize tab shows: model and bicubic at the model's scale, PSNR against the original."""
    from PIL import Image

    from explorer import superres

    model = explorer.load(esrgan_dir / "models" / "x3", device="cpu")
    photo = Image.open(esrgan_dir / "assets" / "fixture.png").convert("RGB")
    result = superres.compare(model, photo, shrink_first=True, max_side=40)
    h, w = result.low.shape[:2]
    assert max(h, w) <= 40 and result.scale == 3
    assert result.output.shape == result.bicubic.shape == result.reference.shape == (3 * h, 3 * w, 3)
    ref = torch.from_numpy(result.reference).permute(2, 0, 1)[None].float() / 127.5 - 1
    lo = superres.degrade(ref, 3)
    assert np.array_equal(superres._arr(lo), result.low)
    assert result.psnr_bicubic == pytest.approx(superres.psnr_8bit(superres.bicubic_upscale(lo, 3), ref))
    assert 15 < result.psnr_model < 60 and "×3" in result.summary()
    plain = superres.compare(model, photo, shrink_first=False, max_side=30)
    assert plain.reference is None and plain.psnr_model is None and max(plain.low.shape[:2]) == 30
    assert plain.output.shape[:2] == (3 * plain.low.shape[0], 3 * plain.low.shape[1])


@pytest.fixture(scope="module")
def app_with_import(esrgan_dir, tmp_path_factory):
    from ui_support import make_tiny_models, running_app

    shipped = tmp_path_factory.mktemp("shipped-tfjs")
    make_tiny_models(shipped)
    explorer.save(explorer.load(esrgan_dir / "models" / "x3", device="cpu"), shipped / "esrgan_x3.safetensors")
    with running_app(tmp_path_factory.mktemp("app-tfjs"), shipped) as app:
        yield app


def test_api_upscales_with_an_imported_model(app_with_import, tmp_path):
    gradio_client = pytest.importorskip("gradio_client")
    from PIL import Image

    from explorer.images import read_png_metadata

    client = gradio_client.Client(app_with_import.url, verbose=False)
    listed = {m["id"]: m for m in client.predict(api_name="/models")}
    assert listed["shipped:esrgan_x3"]["kind"] == "srgan" and not listed["shipped:esrgan_x3"]["has_discriminator"]
    src = tmp_path / "in.png"
    Image.new("RGB", (40, 30), (20, 120, 220)).save(src)
    out = client.predict("shipped:esrgan_x3", gradio_client.handle_file(str(src)), "x3", api_name="/translate")
    assert Image.open(out).size == (120, 90) and read_png_metadata(out)["direction"] == "x3"
    with pytest.raises(Exception, match="esrgan_x3 cannot translate"):
        client.predict("shipped:esrgan_x3", gradio_client.handle_file(str(src)), "x4", api_name="/translate")


@pytest.mark.browser
def test_stylize_tab_upscales_with_an_imported_model_in_a_browser(app_with_import):
    """Stylize → Super-resolution with the imported ×3 model: model and bicubic at ×3, PSNR shown."""
    sync_api = pytest.importorskip("playwright.sync_api")
    from ui_support import CHROMIUM_ARGS, SAMPLES, chromium_path

    if chromium_path() is None:
        pytest.skip("no chromium found (apt-get install chromium, or set GAN_EXPLORER_CHROMIUM)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.set_default_timeout(60_000)
            page.goto(app_with_import.url)
            page.wait_for_selector("#explore-image img", timeout=120_000)
            page.get_by_role("tab", name="Stylize", exact=True).click()
            page.get_by_role("tab", name="Super-resolution", exact=True).click()
            page.click("#stylize-sr-model input")
            page.get_by_role("option", name="esrgan_x3 · SR ×3").first.click()
            page.set_input_files("#stylize-sr-input input[type=file]", str(SAMPLES / "emoji-google_1f434.png"))
            page.wait_for_function("() => { const n = document.querySelector('#stylize-sr-note'); return n && n.innerText.includes('×3'); }")
            note = page.inner_text("#stylize-sr-note")
            assert "PSNR against the original" in note and "21×21 → 63×63" in note  # 64 px cropped to 63, shrunk ×3
            page.wait_for_function("() => { const i = document.querySelector('#stylize-sr img'); return i && i.complete && i.naturalWidth > 0; }")
            size = page.evaluate("() => { const i = document.querySelector('#stylize-sr img'); return [i.naturalWidth, i.naturalHeight]; }")
            assert size == [63, 63]
            assert "Bicubic ×3" in page.inner_text("#stylize-bicubic") and "Model ×3" in page.inner_text("#stylize-sr")
        finally:
            browser.close()
