"""Issue 13 in a real browser: what a person sees must match what the numbers say.

Same set-up as test_ui_browser.py (tiny random-init models of every family, Debian Chromium);
its fixtures and helpers are reused.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from test_ui_browser import app, browser, choose, errors, open_tab, page  # noqa: F401  (pytest fixtures)

pytestmark = pytest.mark.browser


def _status_has(page, text: str) -> None:
    page.wait_for_function("(t) => document.querySelector('#explore-status').innerText.includes(t)", arg=text)


def _download(page, button: str, suffix: str, dst) -> None:
    old = page.evaluate("() => Array.from(document.querySelectorAll('#explore-download a')).map(a => a.href).join()")
    page.click(button)
    page.wait_for_function("([old, suf]) => { const a = document.querySelector(`#explore-download a[href*='${suf}']`);"
                           " return !!a && a.href !== old; }", arg=[old, suffix])
    with page.expect_download() as dl:
        page.click(f"#explore-download a[href*='{suffix}']")
    dl.value.save_as(dst)


def _set_slider(page, elem_id: str, value: str) -> None:
    """Type a value into a slider's number box and leave it (blur = Gradio's "release": full render)."""
    page.fill(f"#{elem_id} input[type=number]", value)
    page.locator(f"#{elem_id} input[type=number]").blur()


@pytest.mark.parametrize("model_name", ["tiny DCGAN digits", "tiny StyleGAN emoji"])
def test_saved_latent_round_trips_exactly_at_any_truncation(page, tmp_path, model_name):
    """Item 2: save the latent at ψ = 0.5 with an edit, load it back: the very same pixels."""
    choose(page, "explore-model", model_name)
    _status_has(page, model_name)
    _set_slider(page, "explore-trunc", "0.5")
    _status_has(page, "ψ = 0.50")
    _set_slider(page, "explore-dir-0", "1.5")
    _status_has(page, "edits (1: +1.50)")
    _download(page, "#explore-export", ".png", tmp_path / "before.png")
    _download(page, "#explore-save-latent", ".npy", tmp_path / "latent.npy")
    page.set_input_files("#explore-load-latent input[type=file], input[type=file][accept*='.npy']", str(tmp_path / "latent.npy"))
    _status_has(page, "custom latent")
    _status_has(page, "ψ = 1.00")  # the file holds the truncated, edited latent: not truncated again
    assert page.input_value("#explore-trunc input[type=number]") == "1"
    _download(page, "#explore-export", "custom.png", tmp_path / "after.png")
    before = np.asarray(Image.open(tmp_path / "before.png"))
    after = np.asarray(Image.open(tmp_path / "after.png"))
    assert before.shape == after.shape and int(np.abs(before.astype(int) - after.astype(int)).max()) == 0
    assert not errors(page)


def test_memorisation_check_class_menu_and_rms_bounded_by_two(page):
    """Item 4: the class menu starts at "every class in turn" (not a silent 0) and cycles; pixel
    distances are RMS per value of images in [−1, 1], so they lie in [0, 2]."""
    open_tab(page, "Evaluate")
    page.wait_for_selector("#eval-class", state="visible")
    assert page.input_value("#eval-class input") == "every class in turn"
    page.fill("#eval-seeds textarea, #eval-seeds input", "0-3")
    page.click("#eval-nn-btn")
    page.wait_for_function("() => document.querySelector('#eval-nn-note').innerText.includes('RMS')")
    rows = page.locator("#eval-nn-note table tbody tr")
    assert rows.count() == 4
    classes, dists = [], []
    for r in range(4):
        cells = rows.nth(r).locator("td").all_inner_texts()
        classes.append(int(cells[1]))
        dists += [float(c) for c in cells[2:]]
    assert classes == [0, 1, 2, 3]
    assert all(0.0 <= d <= 2.0 for d in dists), dists
    choose(page, "eval-class", "7")
    page.click("#eval-nn-btn")
    page.wait_for_function("() => document.querySelector('#eval-nn-note tbody tr td:nth-child(2)').innerText === '7'")
    assert not errors(page)


def test_metrics_tab_names_the_feature_space_and_offers_every_extractor(page):
    """Items 5 and 7: no "FID" outside Inception-v3; every extractor offered; the default follows the model."""
    open_tab(page, "Evaluate")
    open_tab(page, "Metrics")
    page.wait_for_selector("#eval-extractor", state="visible")
    text = page.inner_text("#eval-extractor")
    assert "Inception-v3" in text and "ImageNet trunk" in text and "Project classifier" in text
    assert "Density / coverage" in page.inner_text("#eval-metrics")
    # the tiny DCGAN's data (digits) has a classifier: the fast extractor is preselected
    page.wait_for_function("() => document.querySelector('#eval-extractor input[value=\"domain-classifier\"]').checked")
    page.fill("#eval-num input[type=number]", "100")
    page.locator("#eval-num input[type=number]").blur()
    page.click("#eval-metrics-btn")
    page.wait_for_function("() => document.querySelector('#eval-metrics-table').innerText.includes('FD (domain classifier)')",
                           timeout=120_000)
    table = page.inner_text("#eval-metrics-table")
    assert "FID" not in table and "KID (domain classifier)" in table
    assert "without ± std" in page.inner_text("#eval-metrics-note")  # 100 samples < the KID subset size
    choose(page, "eval-model", "tiny StyleGAN emoji")  # no emoji classifier: the ImageNet trunk
    page.wait_for_function("() => document.querySelector('#eval-extractor input[value=\"imagenet-trunk\"]').checked")
    assert not errors(page)


_TOAST_TEXTS = "() => Array.from(document.querySelectorAll('[data-testid=\"toast-body\"]')).map(t => t.innerText)"


def test_discriminator_opens_on_a_generator_and_forgets_the_previous_model(page, tmp_path):
    """Item 9: "Generate and score" works by default; results of the last model go on a switch;
    a bad upload gets one toast in our words."""
    open_tab(page, "Discriminator")
    open_tab(page, "Generated")
    page.wait_for_function("() => { const b = document.querySelector('#disc-gen-btn'); return b && !b.disabled; }")
    page.click("#disc-gen-btn")
    page.wait_for_function("() => document.querySelector('#disc-gen-note').innerText.includes('Mean logit')")
    assert page.locator("#disc-gallery img").count() >= 8
    choose(page, "disc-model", "tiny CycleGAN emoji")
    page.wait_for_function("() => document.querySelector('#disc-gen-btn').disabled")
    page.wait_for_function("() => document.querySelectorAll('#disc-gallery img').length === 0")
    assert "Mean logit" not in page.inner_text("#disc-gen-note")
    assert "does not generate" in page.inner_text("#disc-gen-btn")
    open_tab(page, "Upload")
    # a picture bigger than Pillow's bomb limit (cheap to write: a PNG header that claims 30000 x 30000)
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b""))
    page.set_input_files("#disc-upload input[type=file]", str(bomb))
    page.wait_for_function(f"() => ({_TOAST_TEXTS})().length > 0")
    page.wait_for_timeout(1500)  # a second toast for the same error would have arrived by now
    toasts = page.evaluate(_TOAST_TEXTS)
    assert len(toasts) == 1, toasts
    assert "DOS" not in toasts[0] and "attack" not in toasts[0]


def test_explore_forgets_the_old_download_and_keeps_the_class_across_methods(page):
    """Item 9: the download box does not keep the previous model's file; PCA <-> SeFa keeps the class."""
    choose(page, "explore-model", "tiny DCGAN digits")
    choose(page, "explore-class", "7")
    page.wait_for_function("() => document.querySelector('#explore-status').innerText.includes('class 7')")
    page.get_by_label("SeFa (closed form)").check()
    page.wait_for_function("() => document.querySelector('#explore-dir-0').innerText.includes('SeFa 1')")
    page.wait_for_timeout(500)
    assert "class 7" in page.inner_text("#explore-status") and page.input_value("#explore-class input") == "7"
    page.click("#explore-export")
    page.wait_for_selector("#explore-download a[href*='dcgan_digits']")
    choose(page, "explore-model", "tiny StyleGAN emoji")
    page.wait_for_function("() => document.querySelector('#explore-status').innerText.includes('StyleGAN')")
    page.wait_for_selector("#explore-download", state="hidden")
    assert not errors(page)


def test_a_new_inversion_starts_without_the_last_ones_result(page):
    """Item 9: while a new inversion runs, the previous PSNR and "Edit in Explore" are gone."""
    from ui_support import SAMPLES

    open_tab(page, "Stylize")
    page.get_by_role("tab", name="Invert into a generator").click()
    choose(page, "stylize-inv-model", "tiny DCGAN digits")
    page.set_input_files("#stylize-inv-input input[type=file]", str(SAMPLES / "digits_3_9123.png"))
    page.fill("#stylize-inv-steps input[type=number]", "20")
    page.locator("#stylize-inv-steps input[type=number]").blur()
    page.click("#stylize-inv-btn")
    page.wait_for_function("() => document.querySelector('#stylize-inv-note').innerText.includes('PSNR')")
    assert page.is_enabled("#stylize-to-explore")
    page.fill("#stylize-inv-steps input[type=number]", "1000")
    page.locator("#stylize-inv-steps input[type=number]").blur()
    page.click("#stylize-inv-btn")
    page.wait_for_function("() => !document.querySelector('#stylize-inv-note').innerText.includes('PSNR')")
    assert not page.is_enabled("#stylize-to-explore")
    page.wait_for_function("() => document.querySelector('#stylize-inv-note').innerText.includes('PSNR')", timeout=120_000)
    assert not errors(page)


def test_stylize_offers_emoji_samples_to_the_emoji_translator_and_captions_fit(page):
    """Item 10: no digits or Fashion items in an emoji translator's samples; gallery captions not cut off."""
    open_tab(page, "Stylize")
    page.wait_for_selector("#stylize-cyc-examples img")
    srcs = page.eval_on_selector_all("#stylize-cyc-examples img", "els => els.map(e => e.src)")
    assert srcs and all("emoji-" in s for s in srcs), srcs
    open_tab(page, "Discriminator")
    open_tab(page, "Generated")
    page.wait_for_function("() => { const b = document.querySelector('#disc-gen-btn'); return b && !b.disabled; }")
    page.click("#disc-gen-btn")
    page.wait_for_selector("#disc-gallery .caption-label")
    cut = page.eval_on_selector_all("#disc-gallery .caption-label", "els => els.filter(e => e.scrollWidth > e.clientWidth + 1).length")
    assert cut == 0


def test_chart_legends_are_inside_their_block(page):
    """Item 8: the colour legend of a line chart is visible, not clipped below the plot."""
    open_tab(page, "Discriminator")
    page.fill("#disc-num input[type=number]", "64")
    page.locator("#disc-num input[type=number]").blur()
    page.click("#disc-hist-btn")
    page.wait_for_function("() => document.querySelector('#disc-hist-text').innerText.includes('Cohen')")
    page.wait_for_selector("#disc-hist svg text")
    boxes = page.evaluate("""() => { const b = document.querySelector('#disc-hist').getBoundingClientRect();
        const t = Array.from(document.querySelectorAll('#disc-hist svg text')).filter(e => e.textContent === 'generated');
        return {block: [b.top, b.bottom], legend: t.map(e => { const r = e.getBoundingClientRect(); return [r.top, r.bottom]; })}; }""")
    assert boxes["legend"], boxes
    assert all(boxes["block"][0] <= top and bottom <= boxes["block"][1] for top, bottom in boxes["legend"]), boxes
    # item 11: the x axis's tick labels do not run into each other. They are slanted (-40°): two
    # parallel slanted strips of text height h, dx apart, are clear of each other when dx·sin 40° >= h.
    ticks = page.evaluate("""() => Array.from(document.querySelectorAll('#disc-hist svg text'))
        .filter(e => (e.getAttribute('transform') || '').includes('rotate(320)'))  // Vega writes -40° as 320
        .map(e => { const m = e.getScreenCTM(); return [m.e, e.getBBox().height]; })""")
    assert len(ticks) > 4, ticks
    xs = sorted(t[0] for t in ticks)
    height = max(t[1] for t in ticks)
    assert min(b - a for a, b in zip(xs, xs[1:])) * math.sin(math.radians(40)) >= 0.8 * height, (xs, height)


def test_phone_explore_keeps_the_image_in_view_while_a_slider_moves(app, browser):
    """Item 11: on a 390 x 844 phone the image sits above the controls and stays on screen while the
    last slider is dragged, and the drag changes it."""
    from test_ui_browser import _NEW_SRC, _SRC, LOAD_TIMEOUT, drag

    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        pg = context.new_page()
        pg.goto(app.url)
        pg.wait_for_selector("#explore-image img", timeout=LOAD_TIMEOUT)
        img, slider = (pg.locator(s).bounding_box() for s in ("#explore-image", "#explore-dir-0"))
        assert img["y"] < slider["y"]  # the image comes first
        pg.locator("#explore-dir-7").scroll_into_view_if_needed()
        before = pg.evaluate(_SRC, "#explore-image")
        drag(pg, "#explore-dir-7", 0.5, 0.9)
        box = pg.locator("#explore-image").bounding_box()
        assert box["y"] >= -1 and box["y"] + box["height"] <= 844 + 1, box  # still on screen
        last = pg.locator("#explore-dir-7").bounding_box()
        assert last["y"] >= box["y"] + box["height"] - 1  # the slider being dragged is not under it
        pg.wait_for_function(_NEW_SRC, arg=["#explore-image", before])
    finally:
        context.close()


def test_phone_shows_every_tab(app, browser):
    """Item 11: at 390 px the six tabs wrap onto two lines instead of hiding behind "•••"."""
    from test_ui_browser import LOAD_TIMEOUT

    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        pg = context.new_page()
        pg.goto(app.url)
        pg.wait_for_selector("#explore-image img", timeout=LOAD_TIMEOUT)
        for name in ("Explore", "Stylize", "Discriminator", "Train", "Evaluate", "Models"):
            tab = pg.get_by_role("tab", name=name, exact=True)
            assert tab.is_visible(), name
            box = tab.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (name, box)
        pg.get_by_role("tab", name="Models", exact=True).click()
        pg.wait_for_selector("#models-table, #models-card, [id^=models]", state="attached")
    finally:
        context.close()
