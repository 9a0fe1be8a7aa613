"""Take the README's screenshots: every tab of the app, used on the shipped models.

    python tests/make_screenshots.py                     # checkpoints/ → assets/screenshots/
    python tests/make_screenshots.py --models DIR --out DIR
    python tests/make_screenshots.py --only explore-extras   # just the layer/library/mixing/layer-view shots
    python tests/make_screenshots.py --only playground       # just the Train tab's 2-D playground

Serves the app on the given models (with an empty, temporary user folder), drives Debian
Chromium through a representative action per tab, and writes one PNG per view. Not a test
(pytest does not collect it); it reuses the browser helpers of the tests.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ui_support import CHROMIUM_ARGS, ROOT, SAMPLES, chromium_path, running_app  # noqa: E402


def choose(page, elem_id: str, label: str, tries: int = 4) -> None:
    """Pick ``label`` in a dropdown; the option list re-renders while the app updates, so retry."""
    for attempt in range(tries):
        if page.input_value(f"#{elem_id} input") == label:
            return
        try:
            page.click(f"#{elem_id} input")
            page.get_by_role("option", name=label).first.click(timeout=10_000)
            return
        except Exception:  # noqa: BLE001 - detached option: close the list and try again
            page.keyboard.press("Escape")
            time.sleep(1.0)
            if attempt == tries - 1:
                raise


def explore_extras(page, browser, url: str, out: Path) -> None:
    """StyleGAN layer-range edits (the same direction on coarse vs fine layers), the edit library,
    style mixing A/B/mix, the layer view, and the layer controls at phone width (issue 16)."""

    def save(locator, name: str) -> None:
        time.sleep(1.0)
        locator.screenshot(path=str(out / f"{name}.png"))
        print("wrote", out / f"{name}.png")

    def status_has(text: str) -> None:
        page.wait_for_function("(t) => document.querySelector('#explore-status').innerText.includes(t)", arg=text)

    choose(page, "explore-model", "· StyleGAN ·")
    page.wait_for_selector("#explore-layers-1", state="visible")
    page.fill("#explore-seed input", "1")
    page.press("#explore-seed input", "Enter")
    status_has("seed **1**".replace("**", ""))
    main = page.locator("#explore-main")
    for preset, layers in (("coarse", "0–2"), ("fine", "5–7")):
        choose(page, "explore-layers-1", f"{preset} ·")
        page.fill("#explore-dir-1 input[type=number]", "4")
        page.locator("#explore-dir-1 input[type=number]").blur()
        status_has(f"2: +4.00 @ layers {layers}")
        save(main, f"explore-layers-{preset}")

    # the library: save the coarse edit, reset the sliders, apply it from the library
    choose(page, "explore-layers-1", "coarse ·")
    page.fill("#explore-dir-1 input[type=number]", "4")
    page.locator("#explore-dir-1 input[type=number]").blur()
    status_has("@ layers 0–2")
    page.click("#explore-library .label-wrap, #explore-library button")
    page.fill("#explore-edit-name input, #explore-edit-name textarea", "PC 2 shape (coarse)")
    choose(page, "explore-edit-source", "PC 2")
    page.click("#explore-edit-save")
    page.wait_for_function("() => document.querySelector('#explore-library-note').innerText.includes('Saved')")
    page.click("#explore-reset")
    page.wait_for_function("() => !document.querySelector('#explore-status').innerText.includes('edits')")
    choose(page, "explore-saved", "PC 2 shape (coarse)")
    status_has("saved edit")
    save(main, "explore-library")

    page.click("#explore-mixing .label-wrap, #explore-mixing button")
    boxes = page.locator("#explore-mix-blocks label")
    for i in range(boxes.count()):  # B's coarse blocks (shape) with A's fine ones (colour)
        box = boxes.nth(i).locator("input")
        box.set_checked(boxes.nth(i).inner_text().strip().split(" px")[0] in ("4", "8"))
    page.click("#explore-mix-btn")
    page.wait_for_selector("#explore-mix img")
    page.wait_for_selector("#explore-mix-a img")
    save(page.locator("#explore-mixing"), "explore-mixing")

    page.click("#explore-layerview .label-wrap, #explore-layerview button")
    page.wait_for_selector("#explore-fmaps img")
    save(page.locator("#explore-layerview"), "explore-layerview")

    phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True)
    phone.set_default_timeout(180_000)
    phone.goto(url)
    phone.wait_for_selector("#explore-image img", timeout=300_000)
    choose(phone, "explore-model", "· StyleGAN ·")
    phone.wait_for_selector("#explore-layers-1", state="visible")
    phone.locator("#explore-dir-1").scroll_into_view_if_needed()
    choose(phone, "explore-layers-1", "custom range")
    phone.wait_for_selector("#explore-layers-1-custom", state="visible")
    time.sleep(1.0)
    phone.screenshot(path=str(out / "phone-explore-layers.png"))
    print("wrote", out / "phone-explore-layers.png")
    phone.close()


def playground(page, out: Path) -> None:
    """The Train tab's 2-D playground: the ring preset that keeps every mode and the one that
    collapses, each played to step 1,500 (issue 16 item 5)."""
    step = "() => { const m = /step ([\\d,]+)/.exec(document.querySelector('#pg-readout').innerText); return m ? parseInt(m[1].replace(/,/g, '')) : -1; }"
    page.get_by_role("tab", name="Train", exact=True).click()
    page.click("#pg-accordion button, #pg-accordion .label-wrap")
    page.wait_for_function(f"() => ({step})() === 0")
    page.fill("#pg-steps input[type=number]", "50")
    page.press("#pg-steps input[type=number]", "Enter")
    page.locator("#pg-speed").get_by_label("fast", exact=True).check()
    for label, name in (("Ring — keeps every mode", "train-playground"), ("Ring — mode collapse", "train-playground-collapse")):
        choose(page, "pg-preset", label)
        page.wait_for_function(f"() => ({step})() === 0")
        page.click("#pg-play")
        page.wait_for_function(f"() => ({step})() >= 1500", timeout=600_000)
        page.click("#pg-pause")
        time.sleep(1.5)
        page.locator("#pg-accordion").screenshot(path=str(out / f"{name}.png"))
        print("wrote", out / f"{name}.png")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=Path, default=ROOT / "checkpoints")
    ap.add_argument("--out", type=Path, default=ROOT / "assets" / "screenshots")
    ap.add_argument("--train-seconds", type=float, default=25.0)
    ap.add_argument("--only", choices=["explore-extras", "playground"], default=None, help="take only these shots")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="gan-explorer-shots-"))
    with running_app(tmp, args.models) as app, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 900}, device_scale_factor=1)
        page.set_default_timeout(180_000)
        page.goto(app.url)
        page.wait_for_selector("#explore-image img", timeout=300_000)
        if args.only == "explore-extras":
            explore_extras(page, browser, app.url, args.out)
            browser.close()
            return 0
        if args.only == "playground":
            playground(page, args.out)
            browser.close()
            return 0

        def shot(name: str) -> None:
            time.sleep(1.0)
            page.screenshot(path=str(args.out / f"{name}.png"), full_page=True)
            print("wrote", args.out / f"{name}.png")

        def tab(name: str) -> None:
            page.get_by_role("tab", name=name, exact=True).click()
            time.sleep(0.5)

        # Explore: the DCGAN, a class, one direction moved, the sample grid
        dcgan = "· DCGAN ·"  # option labels read "<name> · <family> · <origin>"
        if dcgan:
            choose(page, "explore-model", dcgan)
            page.wait_for_function("() => document.querySelector('#explore-status').innerText.includes('seed')")
        if page.is_visible("#explore-class"):
            page.click("#explore-class input")
            page.get_by_role("option").nth(7).click()
        page.fill("#explore-dir-0 input[type=number]", "2")
        page.locator("#explore-dir-0 input[type=number]").blur()  # blur = Gradio's "release": full render
        page.click("#explore-grid-acc .label-wrap, #explore-grid-acc button")
        page.click("#explore-grid-btn")
        page.wait_for_selector("#explore-grid img")
        shot("explore")

        style = "· StyleGAN ·"
        if style:
            choose(page, "explore-model", style)
            page.wait_for_function("() => document.querySelector('#explore-status').innerText.includes('stylegan')")
            page.wait_for_selector("#explore-mixing", state="visible")
            page.click("#explore-mixing .label-wrap, #explore-mixing button")
            page.click("#explore-mix-btn")
            page.wait_for_selector("#explore-mix img")
            page.click("#explore-interp-acc .label-wrap, #explore-interp-acc button")
            page.click("#explore-interp-btn")
            page.wait_for_selector("#explore-strip img")
            shot("explore-stylegan")

        # Stylize: translation, super-resolution, inversion
        tab("Stylize")
        page.set_input_files("#stylize-cyc-input input[type=file]", str(SAMPLES / "emoji-google_1f434.png"))
        page.wait_for_selector("#stylize-b2a img")
        shot("stylize-translate")
        tab("Super-resolution")
        page.set_input_files("#stylize-sr-input input[type=file]", str(SAMPLES / "emoji-twitter_1f33b.png"))
        page.wait_for_selector("#stylize-sr img")
        shot("stylize-superres")
        tab("Invert into a generator")
        if dcgan:
            choose(page, "stylize-inv-model", dcgan)
        page.set_input_files("#stylize-inv-input input[type=file]", str(SAMPLES / "digits_3_9123.png"))
        if page.is_visible("#stylize-inv-class"):
            page.click("#stylize-inv-class input")
            page.get_by_role("option").nth(3).click()
        page.click("#stylize-inv-btn")
        page.wait_for_function("() => document.querySelector('#stylize-inv-note').innerText.includes('PSNR')")
        shot("stylize-invert")

        # Discriminator: a PatchGAN heat-map and the overfitting histograms of the same model (a
        # model switch clears the previous model's results, so both are the CycleGAN's)
        tab("Discriminator")
        cyc = "· CycleGAN ·"
        if cyc:
            choose(page, "disc-model", cyc)
            time.sleep(1)
            page.set_input_files("#disc-upload input[type=file]", str(SAMPLES / "emoji-twitter_1f434.png"))
            page.wait_for_selector("#disc-judged img")
        page.click("#disc-hist-btn")
        page.wait_for_function("() => document.querySelector('#disc-hist-text').innerText.includes('Cohen')")
        page.wait_for_selector("#disc-hist canvas, #disc-hist svg")
        shot("discriminator")

        # Train: a short live run
        tab("Train")
        page.fill("#train-iterations input", "2000")
        page.fill("#train-name textarea, #train-name input", "screenshot-run")
        page.click("#train-start")
        page.wait_for_function("() => /step \\d+ of/.test(document.querySelector('#train-status').innerText)")
        time.sleep(args.train_seconds)
        page.wait_for_selector("#train-grid img")
        shot("train")
        page.click("#train-stop")
        page.wait_for_function("() => document.querySelector('#train-status').innerText.includes('Stopped')")
        playground(page, args.out)

        # Evaluate: nearest training neighbours of DCGAN samples
        tab("Evaluate")
        if dcgan:
            choose(page, "eval-model", dcgan)
        page.click("#eval-nn-btn")
        page.wait_for_selector("#eval-nn img")
        shot("evaluate")

        # Models: catalog and a card
        tab("Models")
        page.wait_for_function("() => document.querySelector('#models-card').innerText.length > 20")
        if dcgan:
            choose(page, "models-card-model", dcgan)
            time.sleep(1)
        shot("models")

        # Phone (390 x 844): Explore with the image pinned above the sliders while one is dragged
        phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True)
        phone.set_default_timeout(180_000)
        phone.goto(app.url)
        phone.wait_for_selector("#explore-image img", timeout=300_000)
        time.sleep(1.0)
        phone.screenshot(path=str(args.out / "phone-explore.png"))
        print("wrote", args.out / "phone-explore.png")
        phone.locator("#explore-dir-5").scroll_into_view_if_needed()
        phone.fill("#explore-dir-5 input[type=number]", "2.5")
        phone.locator("#explore-dir-5 input[type=number]").blur()
        phone.wait_for_function("() => document.querySelector('#explore-status').innerText.includes('edits')")
        time.sleep(1.0)
        phone.screenshot(path=str(args.out / "phone-explore-sliders.png"))
        print("wrote", args.out / "phone-explore-sliders.png")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
