"""The Train tab's 2-D playground in a real browser (Debian Chromium via Playwright): open it,
single-step, play, pause, switch presets, draw a data set by clicking, and leave the tab (which
pauses it). Needs /usr/bin/chromium (or $GAN_EXPLORER_CHROMIUM); skipped without it."""

from __future__ import annotations

import re
import time

import pytest

from ui_support import CHROMIUM_ARGS, chromium_path

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api")
if chromium_path() is None:  # pragma: no cover - depends on the machine
    pytest.skip("no chromium found (apt-get install chromium, or set GAN_EXPLORER_CHROMIUM)", allow_module_level=True)

_STEP = "() => { const m = /step ([\\d,]+)/.exec(document.querySelector('#pg-readout').innerText); return m ? parseInt(m[1].replace(/,/g, '')) : -1; }"
_SRC = "() => { const i = document.querySelector('#pg-plot img'); return i ? i.src : null; }"


@pytest.fixture(scope="module")
def page(server):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(60_000)
        pg.goto(server.url)
        pg.wait_for_selector("#explore-image img", timeout=120_000)
        pg.get_by_role("tab", name="Train", exact=True).click()
        pg.click("#pg-accordion button, #pg-accordion .label-wrap")
        pg.wait_for_selector("#pg-plot img")
        pg.wait_for_function(f"() => ({_STEP})() === 0")
        yield pg
        browser.close()


def step_of(page) -> int:
    return page.evaluate(_STEP)


def wait_step(page, predicate: str) -> int:
    """Wait until the readout's step satisfies the JS ``predicate`` on ``s``; return it."""
    page.wait_for_function(f"() => {{ const s = ({_STEP})(); return {predicate}; }}")
    return step_of(page)


def toasts(page) -> list[str]:
    return page.evaluate("() => Array.from(document.querySelectorAll('[data-testid=\"toast-body\"]')).map(t => t.innerText)")


def test_step_play_pause_and_leaving_the_tab(page):
    src0 = page.evaluate(_SRC)
    page.click("#pg-step")
    assert wait_step(page, "s === 10") == 10  # 10 training steps per frame by default
    assert page.evaluate(_SRC) != src0  # a new picture
    assert re.search(r"modes covered \d / 8", page.inner_text("#pg-readout"))
    page.click("#pg-play")
    wait_step(page, "s >= 60")  # frames keep coming without clicks
    page.click("#pg-pause")
    time.sleep(1.0)  # a tick already in flight may still land
    paused = step_of(page)
    time.sleep(2.0)
    assert step_of(page) == paused
    # leaving the Train tab pauses a playing playground
    page.click("#pg-play")
    wait_step(page, f"s > {paused}")
    page.get_by_role("tab", name="Explore", exact=True).click()
    time.sleep(1.0)
    left = step_of(page)
    time.sleep(2.0)
    assert step_of(page) == left
    page.get_by_role("tab", name="Train", exact=True).click()
    # choosing a speed while paused does not start playing
    page.locator("#pg-speed").get_by_label("fast", exact=True).check()
    time.sleep(2.0)
    assert step_of(page) == left
    assert not [t for t in toasts(page) if "rror" in t]


def test_presets_and_a_drawn_set(page, tmp_path):
    page.click("#pg-preset input")
    page.get_by_role("option", name="Ring — mode collapse").click()
    page.wait_for_function("() => document.querySelector('#pg-preset-note').innerText.includes('ten times faster')")
    assert wait_step(page, "s === 0") == 0
    assert page.input_value("#pg-lr-g input") == "0.003"
    # a drawn set: three clicks inside the plane define the data, then it trains on them
    page.get_by_label("Drawn set (click the plot)").check()
    page.wait_for_function("() => document.querySelector('#pg-readout').innerText.includes('Click on the plot')")
    box = page.locator("#pg-plot img").bounding_box()
    for fx, fy in ((0.3, 0.3), (0.7, 0.3), (0.5, 0.7)):  # the plane is the top 480 of 506 rows
        page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy * 480 / 506)
        time.sleep(0.8)
    page.wait_for_function("() => /coverage \\d+%/.test(document.querySelector('#pg-readout').innerText)")
    assert page.input_value("#pg-preset input") == "custom"
    page.click("#pg-step")
    assert wait_step(page, "s === 10") == 10
    assert not [t for t in toasts(page) if "rror" in t]
    # a CSV of points replaces the drawn set (and starts a fresh model); a bad one says which line
    good, bad = tmp_path / "points.csv", tmp_path / "bad.csv"
    good.write_text("x,y\n" + "".join(f"{i},{(i * 7) % 5}\n" for i in range(40)))
    bad.write_text("1,2\n3,4\nfive,6\n")
    page.set_input_files("#pg-csv input[type=file], input[type=file][accept*='.csv']", str(good))
    page.wait_for_function(f"() => ({_STEP})() === 0")
    page.wait_for_function("() => /coverage \\d+%/.test(document.querySelector('#pg-readout').innerText)")
    page.set_input_files("#pg-csv input[type=file], input[type=file][accept*='.csv']", str(bad))
    page.wait_for_function("() => Array.from(document.querySelectorAll('[data-testid=\"toast-body\"]')).some(t => t.innerText.includes('CSV line 3'))")
