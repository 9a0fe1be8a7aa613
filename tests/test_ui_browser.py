"""The web app in a real browser (Debian Chromium driven by Playwright), used as a person would:
drag sliders, upload images, start and stop a short training run and watch the plot move,
import and delete a model, and several people at once.

Tiny random-init models of every family stand in for the shipped ones (see ui_support.py).
Needs /usr/bin/chromium (or $GAN_EXPLORER_CHROMIUM); skipped without it. Never runs
`playwright install`.
"""

from __future__ import annotations

import time

import pytest

from ui_support import CHROMIUM_ARGS, SAMPLES, chromium_path, make_tiny_models, running_app

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api")
if chromium_path() is None:  # pragma: no cover - depends on the machine
    pytest.skip("no chromium found (apt-get install chromium, or set GAN_EXPLORER_CHROMIUM)", allow_module_level=True)

LOAD_TIMEOUT = 120_000
STEP_TIMEOUT = 60_000

# JS: remember the current src of an element's <img> (to wait for a new one)
_SRC = "(sel) => { const i = document.querySelector(sel + ' img'); return i ? i.src : null; }"
_NEW_SRC = "([sel, old]) => { const i = document.querySelector(sel + ' img'); return !!i && i.src !== old && i.complete; }"
_TOASTS = "() => Array.from(document.querySelectorAll('[data-testid=\"toast-body\"]')).map(t => t.innerText)"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    shipped = tmp_path_factory.mktemp("shipped")
    make_tiny_models(shipped)
    with running_app(tmp_path_factory.mktemp("app"), shipped) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(app, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(STEP_TIMEOUT)
    pg.goto(app.url)
    pg.wait_for_selector("#explore-image img", timeout=LOAD_TIMEOUT)  # first render done
    yield pg
    context.close()


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def choose(page, elem_id: str, option: str) -> None:
    """Pick ``option`` (its visible label, or a unique part of it) in a Gradio dropdown."""
    page.click(f"#{elem_id} input")
    page.get_by_role("option", name=option).first.click()


def wait_new_image(page, sel: str, old: str | None) -> str:
    page.wait_for_function(_NEW_SRC, arg=[sel, old])
    return page.evaluate(_SRC, sel)


def drag(page, sel: str, fraction_from: float, fraction_to: float, steps: int = 12) -> None:
    """Drag a slider's thumb with the mouse from one fraction of its width to another."""
    box = page.locator(f"{sel} input[type=range]").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * fraction_from, y)
    page.mouse.down()
    for k in range(1, steps + 1):
        page.mouse.move(box["x"] + box["width"] * (fraction_from + (fraction_to - fraction_from) * k / steps), y)
        time.sleep(0.03)
    page.mouse.up()


def errors(page) -> list[str]:
    return [t for t in page.evaluate(_TOASTS) if "rror" in t or "wrong" in t]


# ---------------------------------------------------------------------------------------------
def test_explore_sliders_seed_grid_interpolation_and_files(page, tmp_path):
    before = page.evaluate(_SRC, "#explore-image")
    drag(page, "#explore-dir-0", 0.5, 0.85)
    after = wait_new_image(page, "#explore-image", before)
    page.wait_for_function("() => document.querySelector('#explore-status').innerText.includes('edits')")
    assert "PCA edits (1: +" in page.inner_text("#explore-status")

    # SeFa directions relabel the sliders and reset them
    page.get_by_label("SeFa (closed form)").check()
    page.wait_for_function("() => document.querySelector('#explore-dir-0').innerText.includes('SeFa 1')")
    # a new seed, the random button, a class
    page.fill("#explore-seed input", "42")
    page.press("#explore-seed input", "Enter")
    page.wait_for_function("() => document.querySelector('#explore-status').innerText.includes('seed 42')")
    page.click("#explore-random")
    page.wait_for_function("() => !document.querySelector('#explore-status').innerText.includes('seed 42')")
    choose(page, "explore-class", "7")
    page.wait_for_function("() => document.querySelector('#explore-status').innerText.includes('class 7')")
    assert page.evaluate(_SRC, "#explore-image") != after

    # sample grid and interpolation (frames + GIF)
    page.click("#explore-grid-acc button, #explore-grid-acc .label-wrap")
    page.click("#explore-grid-btn")
    page.wait_for_selector("#explore-grid img")
    page.click("#explore-interp-acc button, #explore-interp-acc .label-wrap")
    page.click("#explore-interp-btn")
    page.wait_for_selector("#explore-strip img")
    page.wait_for_function("() => { const i = document.querySelector('#explore-gif img'); return i && i.src.includes('.gif'); }")

    # export PNG with provenance, save the latent, load it back
    page.click("#explore-export")
    link = page.wait_for_selector("#explore-download a[href*='.png']")
    with page.expect_download() as dl:
        link.click()
    png = tmp_path / "x.png"
    dl.value.save_as(png)
    from explorer.images import read_png_metadata

    meta = read_png_metadata(png)
    assert meta["model"] == "tiny DCGAN digits" and meta["class"] == 7 and meta["synthetic"] is True
    page.click("#explore-save-latent")
    link = page.wait_for_selector("#explore-download a[href*='.npy']")
    with page.expect_download() as dl:
        link.click()
    npy = tmp_path / "latent.npy"
    dl.value.save_as(npy)
    page.set_input_files("#explore-load-latent input[type=file], input[type=file][accept*='.npy']", str(npy))
    page.wait_for_function("() => document.querySelector('#explore-status').innerText.includes('custom latent')")
    assert not errors(page)


def test_explore_stylegan_style_mixing(page):
    choose(page, "explore-model", "tiny StyleGAN emoji")
    page.wait_for_function("() => document.querySelector('#explore-status').innerText.includes('StyleGAN')")
    assert page.is_visible("#explore-mixing")
    assert not page.is_visible("#explore-class")
    page.click("#explore-mixing button, #explore-mixing .label-wrap")
    page.click("#explore-mix-btn")
    page.wait_for_selector("#explore-mix img")
    before = page.evaluate(_SRC, "#explore-image")
    drag(page, "#explore-dir-1", 0.5, 0.1)
    wait_new_image(page, "#explore-image", before)
    assert not errors(page)


def test_explore_layer_ranges_edit_library_mixing_and_layer_view(page, tmp_path):
    """Issue 16: a slider's layer range, a named edit saved/exported/imported, A/B/mix, feature maps."""
    import json

    status_has = lambda text: page.wait_for_function("(t) => document.querySelector('#explore-status').innerText.includes(t)", arg=text)  # noqa: E731
    assert not page.is_visible("#explore-layers-0")  # the DCGAN edits whole latents: no layer control
    choose(page, "explore-model", "tiny StyleGAN emoji")
    page.wait_for_selector("#explore-layers-0", state="visible")
    choose(page, "explore-layers-0", "coarse ·")
    page.fill("#explore-dir-0 input[type=number]", "3")
    page.locator("#explore-dir-0 input[type=number]").blur()
    status_has("1: +3.00 @ layers 0–2")
    coarse = page.evaluate(_SRC, "#explore-image")
    choose(page, "explore-layers-0", "fine ·")
    status_has("1: +3.00 @ layers 3–5")
    assert wait_new_image(page, "#explore-image", coarse) != coarse
    choose(page, "explore-layers-0", "custom range")
    page.wait_for_selector("#explore-layers-0-custom", state="visible")
    page.fill("#explore-layers-0-from input", "1")
    page.fill("#explore-layers-0-to input", "2")
    status_has("1: +3.00 @ layers 1–2")

    # the library: save slider 1 as "pose", apply it with the sliders at 0, export, import under a new name
    page.click("#explore-library button, #explore-library .label-wrap")
    page.fill("#explore-edit-name input, #explore-edit-name textarea", "pose")
    choose(page, "explore-edit-source", "PC 1")
    page.click("#explore-edit-save")
    page.wait_for_function("() => document.querySelector('#explore-library-note').innerText.includes('Saved pose')")
    page.click("#explore-reset")
    page.wait_for_function("() => !document.querySelector('#explore-status').innerText.includes('edits')")
    choose(page, "explore-saved", "pose")
    status_has("saved edit pose +3.00")
    assert page.input_value("#explore-saved-amount input[type=number]") == "3"
    page.click("#explore-edit-export")
    link = page.wait_for_selector("#explore-download a[href*='.json']")
    with page.expect_download() as dl:
        link.click()
    exported = json.loads(open(dl.value.path()).read())
    assert exported["name"] == "pose" and exported["layers"] == [1, 2] and exported["strength"] == 3.0
    (tmp_path / "twin.json").write_text(json.dumps({**exported, "name": "pose twin"}))
    page.set_input_files("#explore-edit-import input[type=file], input[type=file][accept*='.json']", str(tmp_path / "twin.json"))
    page.wait_for_function("() => document.querySelector('#explore-library-note').innerText.includes('Imported pose twin')")
    (tmp_path / "bad.json").write_text("{oops")
    page.set_input_files("#explore-edit-import input[type=file], input[type=file][accept*='.json']", str(tmp_path / "bad.json"))
    page.wait_for_function("() => Array.from(document.querySelectorAll('[data-testid=\"toast-body\"]')).some(t => t.innerText.includes('not a JSON edit'))")

    # style mixing: A, B and the mix; ticking another block changes the mix
    page.click("#explore-mixing button, #explore-mixing .label-wrap")
    page.click("#explore-mix-btn")
    for sel in ("#explore-mix-a", "#explore-mix-b", "#explore-mix"):
        page.wait_for_selector(f"{sel} img")
    mixed = page.evaluate(_SRC, "#explore-mix")
    page.get_by_label("4 px · layer 0").check()
    wait_new_image(page, "#explore-mix", mixed)

    # the layer view follows the image
    page.click("#explore-layerview button, #explore-layerview .label-wrap")
    page.wait_for_selector("#explore-fmaps img")
    maps = page.evaluate(_SRC, "#explore-fmaps")
    assert "channels" in page.inner_text("#explore-fmaps-note")
    page.fill("#explore-seed input", "11")
    page.press("#explore-seed input", "Enter")
    wait_new_image(page, "#explore-fmaps", maps)
    assert not [t for t in errors(page) if "not a JSON edit" not in t]


def test_stylize_translate_upscale_and_invert_into_explore(page):
    open_tab(page, "Stylize")
    page.set_input_files("#stylize-cyc-input input[type=file]", str(SAMPLES / "emoji-google_1f434.png"))
    page.wait_for_selector("#stylize-a2b img")
    page.wait_for_selector("#stylize-b2a img")
    assert "32×32" in page.inner_text("#stylize-cyc-note")  # the tiny model trained at 32 px

    open_tab(page, "Super-resolution")
    page.set_input_files("#stylize-sr-input input[type=file]", str(SAMPLES / "emoji-twitter_1f33b.png"))
    page.wait_for_selector("#stylize-sr img")
    page.wait_for_selector("#stylize-bicubic img")
    assert "PSNR against the original" in page.inner_text("#stylize-sr-note")

    open_tab(page, "Invert into a generator")
    page.set_input_files("#stylize-inv-input input[type=file]", str(SAMPLES / "digits_3_9123.png"))
    page.fill("#stylize-inv-steps input[type=number]", "30")
    page.press("#stylize-inv-steps input[type=number]", "Enter")
    page.click("#stylize-inv-btn")
    page.wait_for_selector("#stylize-inv-out img")
    assert "PSNR" in page.inner_text("#stylize-inv-note")
    page.click("#stylize-to-explore")
    page.wait_for_function("() => document.querySelector('#explore-status').innerText.includes('inversion of digits_3_9123.png')")
    before = page.evaluate(_SRC, "#explore-image")
    drag(page, "#explore-dir-0", 0.5, 0.2)  # the sliders now edit the inverted image
    wait_new_image(page, "#explore-image", before)
    assert "inversion of" in page.inner_text("#explore-status")
    assert not errors(page)


def test_bad_upload_gets_a_readable_message(page, tmp_path):
    open_tab(page, "Stylize")
    bad = tmp_path / "broken.png"
    bad.write_bytes((SAMPLES / "emoji-google_1f434.png").read_bytes()[:900])
    page.set_input_files("#stylize-cyc-input input[type=file]", str(bad))
    page.wait_for_function("() => Array.from(document.querySelectorAll('[data-testid=\"toast-body\"]'))"
                           ".some(t => t.innerText.includes('truncated'))")
    # still usable afterwards
    page.set_input_files("#stylize-cyc-input input[type=file]", str(SAMPLES / "emoji-google_1f9f8.png"))
    page.wait_for_selector("#stylize-a2b img")


def test_discriminator_upload_heatmap_generated_and_histograms(page):
    open_tab(page, "Discriminator")
    choose(page, "disc-model", "tiny CycleGAN emoji")
    page.wait_for_selector("#disc-domain", state="visible")
    page.set_input_files("#disc-upload input[type=file]", str(SAMPLES / "emoji-twitter_1f922.png"))
    page.wait_for_selector("#disc-judged img")
    text = page.inner_text("#disc-verdict")
    assert "P(real)" in text and "patches" in text
    page.click("#disc-hist-btn")
    page.wait_for_function("() => document.querySelector('#disc-hist-text').innerText.includes('Cohen')")
    page.wait_for_selector("#disc-hist canvas, #disc-hist svg")
    choose(page, "disc-model", "tiny DCGAN digits")
    page.wait_for_selector("#disc-class", state="visible")
    page.get_by_role("tab", name="Generated", exact=True).click()
    page.click("#disc-gen-btn")
    page.wait_for_function("() => document.querySelector('#disc-gen-note').innerText.includes('Mean logit')")
    assert page.locator("#disc-gallery img").count() >= 8
    assert not errors(page)


def test_train_start_watch_the_plot_move_stop(page, app):
    open_tab(page, "Train")
    page.fill("#train-iterations input", "5000")
    page.fill("#train-batch input[type=number]", "8")
    page.press("#train-batch input[type=number]", "Enter")
    page.fill("#train-name textarea, #train-name input", "browser-run")
    page.click("#train-start")
    page.wait_for_function("() => /step \\d+ of 5000/.test(document.querySelector('#train-status').innerText)", timeout=180_000)
    page.wait_for_selector("#train-loss-plot canvas, #train-loss-plot svg", timeout=STEP_TIMEOUT)
    step = lambda: int(page.inner_text("#train-status").split("step ")[1].split(" ")[0])  # noqa: E731
    first, shot1 = step(), page.locator("#train-loss-plot").screenshot()
    page.wait_for_function(f"() => /step (\\d+) of/.exec(document.querySelector('#train-status').innerText)[1] > {first + 5}", timeout=180_000)
    time.sleep(1.5)
    shot2 = page.locator("#train-loss-plot").screenshot()
    assert step() > first and shot1 != shot2  # the curves grew
    page.wait_for_selector("#train-grid img", timeout=180_000)
    # a second start while the run is going is refused with a clear message
    page.click("#train-start")
    page.wait_for_function("() => Array.from(document.querySelectorAll('[data-testid=\"toast-body\"]')).some(t => t.innerText.includes('already in progress'))")
    page.click("#train-stop")
    page.wait_for_function("() => document.querySelector('#train-status').innerText.includes('Stopped')", timeout=180_000)
    assert "now in every model picker" in page.inner_text("#train-status")
    open_tab(page, "Explore")
    page.click("#explore-model input")
    assert page.get_by_role("option", name="browser-run").count() == 1


def test_evaluate_nearest_training_neighbours(page):
    open_tab(page, "Evaluate")
    page.fill("#eval-seeds textarea, #eval-seeds input", "0-3")
    page.click("#eval-nn-btn")
    page.wait_for_selector("#eval-nn img")
    assert "Training set: digits" in page.inner_text("#eval-nn-note")
    assert not errors(page)


def test_models_import_and_delete(page, app, tmp_path):
    import explorer

    open_tab(page, "Models")
    page.wait_for_function("() => document.querySelector('#models-card').innerText.length > 10")
    # a pytorch/examples DCGAN generator file, as that script saves it (plain state_dict)
    import torch

    from explorer.models.dcgan import DCGAN, DCGANConfig

    ours = DCGAN(DCGANConfig(resolution=32, channels=1, latent_dim=8, ngf=4, ndf=4, parts=("G",)))
    sd = {}
    convs = [ours.G.stem[0], *[b[0] for b in ours.G.blocks], ours.G.to_rgb[0]]
    bns = [ours.G.stem[1], *[b[1] for b in ours.G.blocks]]
    for i, conv in enumerate(convs):
        sd[f"main.{3 * i}.weight"] = conv.weight.detach().clone()
        if i < len(bns):
            for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
                sd[f"main.{3 * i + 1}.{k}"] = getattr(bns[i], k).detach().clone()
    pth = tmp_path / "netG_epoch_3.pth"
    torch.save(sd, pth)
    page.set_input_files("#models-import-files input[type=file]", str(pth))
    page.fill("#models-import-name textarea, #models-import-name input", "examples dcgan")
    page.click("#models-import-btn")
    page.wait_for_function("() => document.querySelector('#models-import-note').innerText.includes('Imported')")
    assert (app.user_dir / "examples-dcgan.safetensors").exists()
    assert explorer.load(app.user_dir / "examples-dcgan.safetensors").kind == "dcgan"
    page.wait_for_function("() => document.querySelector('#models-table').innerText.includes('examples dcgan')")
    open_tab(page, "Explore")
    page.click("#explore-model input")
    assert page.get_by_role("option", name="examples dcgan").count() == 1
    page.keyboard.press("Escape")

    open_tab(page, "Models")
    choose(page, "models-delete-model", "examples dcgan")
    page.click("#models-delete-btn")  # not confirmed yet: refused
    page.wait_for_function("() => Array.from(document.querySelectorAll('[data-testid=\"toast-body\"]')).some(t => t.innerText.includes('confirm'))")
    page.check("#models-delete-confirm input")
    page.click("#models-delete-btn")
    page.wait_for_function("() => document.querySelector('#models-delete-note').innerText.includes('Deleted')")
    assert not (app.user_dir / "examples-dcgan.safetensors").exists()



def test_models_synthetic_data_set_and_model_download(page, app):
    import json
    import zipfile

    open_tab(page, "Models")
    choose(page, "models-synth-model", "tiny DCGAN digits")
    page.fill("#models-synth-per-class input[type=number]", "3")
    page.press("#models-synth-per-class input[type=number]", "Enter")
    page.click("#models-synth-btn")
    page.wait_for_function("() => document.querySelector('#models-synth-note').innerText.includes('Wrote')")
    assert "30 images" in page.inner_text("#models-synth-note")  # 3 per class x 10 classes
    with page.expect_download() as info:
        page.click("#models-synth-file a[download]")
    archive = info.value.path()
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read(next(n for n in names if n.endswith("manifest.json"))))
    assert sum(n.endswith(".png") for n in names) == 30 and manifest["num_images"] == 30
    assert manifest["synthetic"] is True and len(manifest["classes"]) == 10
    # the confidence filter needs class labels: a readable refusal for the unconditional StyleGAN
    choose(page, "models-synth-model", "tiny StyleGAN emoji")
    page.fill("#models-synth-conf input[type=number]", "0.5")
    page.press("#models-synth-conf input[type=number]", "Enter")
    page.click("#models-synth-btn")
    page.wait_for_function("() => Array.from(document.querySelectorAll('[data-testid=\"toast-body\"]')).some(t => t.innerText.includes('class-conditional'))")

    choose(page, "models-card-model", "tiny DCGAN digits")
    page.click("#models-download-btn")
    page.wait_for_selector("#models-download-files a[download]")
    with page.expect_download() as info:
        page.click("#models-download-files a[download] >> nth=0")
    import explorer

    assert explorer.load(info.value.path()).kind == "dcgan"

# ---------------------------------------------------------------------------------------------
# several people at once
# ---------------------------------------------------------------------------------------------
_AUTODRAG = """
async ([sel, seconds, seed]) => {
  const el = document.querySelector(sel + ' input[type=range]');
  const img = () => { const i = document.querySelector('#explore-image img'); return i ? i.src : null; };
  const seen = new Set([img()]);
  let x = seed;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    x = (x * 1103515245 + 12345) % 2147483648;
    el.value = (-4 + 8 * (x / 2147483648)).toFixed(2);
    el.dispatchEvent(new Event('input', {bubbles: true}));
    await new Promise(r => setTimeout(r, 40));
    seen.add(img());
  }
  el.dispatchEvent(new PointerEvent('pointerup', {bubbles: true}));
  await new Promise(r => setTimeout(r, 1500));
  seen.add(img());
  return seen.size;
}
"""


def _concurrent_sessions(app, browser, num_sessions: int, seconds: float) -> None:
    contexts = [browser.new_context(viewport={"width": 1200, "height": 900}) for _ in range(num_sessions)]
    try:
        pages = [c.new_page() for c in contexts]
        for pg in pages:
            pg.goto(app.url)
        for pg in pages:
            pg.wait_for_selector("#explore-image img", timeout=LOAD_TIMEOUT)
        # every page drags its own slider at the same time (the loops run inside the browsers)
        for i, pg in enumerate(pages):  # start all loops first (not awaited), then collect
            pg.evaluate(f"() => {{ window.__drag = ({_AUTODRAG})(['#explore-dir-{i % 8}', {seconds}, {i + 1}]); }}")
        results = [pg.evaluate("() => window.__drag") for pg in pages]
        for i, (pg, distinct) in enumerate(zip(pages, results)):
            assert distinct >= 3, f"session {i} saw only {distinct} images"
            assert not errors(pg), f"session {i}: {errors(pg)}"
            assert "edits" in pg.inner_text("#explore-status")
    finally:
        for c in contexts:
            c.close()


def test_slider_previews_come_from_the_preview_route_and_the_full_render_wins(page):
    # previews: PNG blobs fetched by the page script (no Gradio event); on release the full
    # render's inline image replaces them and no late preview overwrites it
    page.evaluate("""() => { window.__seen = [];
      const root = document.querySelector('#explore-image');
      new MutationObserver(() => { const i = root.querySelector('img'); if (i) window.__seen.push(i.src.slice(0, 5)); })
        .observe(root, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']}); }""")
    drag(page, "#explore-trunc", 0.6, 0.25)
    page.wait_for_function("() => window.__seen.includes('blob:') && window.__seen[window.__seen.length - 1] === 'data:'")
    time.sleep(1.0)
    assert page.evaluate(_SRC, "#explore-image").startswith("data:")
    assert not errors(page)


def test_two_sessions_drag_sliders_at_once(app, browser):
    _concurrent_sessions(app, browser, 2, seconds=4)


@pytest.mark.slow
def test_eight_sessions_drag_sliders_at_once(app, browser):
    _concurrent_sessions(app, browser, 8, seconds=8)


def test_a_fresh_install_without_models_opens_cleanly(browser, tmp_path):
    empty = tmp_path / "none"
    empty.mkdir()
    with running_app(tmp_path, empty) as bare:
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        try:
            pg = context.new_page()
            pg.goto(bare.url)
            pg.wait_for_function("() => (document.querySelector('#explore-status') || {}).innerText?.includes('No generator installed')",
                                 timeout=LOAD_TIMEOUT)
            for tab in ("Stylize", "Discriminator", "Train", "Evaluate", "Models"):
                open_tab(pg, tab)
            pg.wait_for_function("() => (document.querySelector('#models-card') || {}).innerText?.includes('No models yet')")
            time.sleep(1)
            assert not errors(pg)
        finally:
            context.close()
