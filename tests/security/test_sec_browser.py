"""Issue 12 in a real browser: the app served on a network address — the organiser logs in on
Gradio's login page, a rater completes a session on ``/rate/`` (join code → trials → thanks)
without any login and without ever seeing the organiser's tabs."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import served
from ui_support import CHROMIUM_ARGS, chromium_path, make_tiny_models

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.browser, pytest.mark.skipif(chromium_path() is None, reason="needs Chromium")]


def provider(kind, source, seeds):
    base = 220 if kind == "real" else 60
    return np.stack([np.full((16, 16, 1), base, np.uint8) for _ in seeds])


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    shipped = tmp_path_factory.mktemp("shipped")
    make_tiny_models(shipped)
    with served(tmp_path_factory.mktemp("net-browser"), shipped) as app:
        yield app


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def test_organiser_logs_in_and_rater_completes_a_session(net, browser):
    import os

    from explorer.humaneval import HumanEvalStore, SessionConfig

    # the organiser: the login page first, the app after
    page = browser.new_context().new_page()
    page.goto(net.url)
    page.wait_for_selector("input[type=password]", timeout=60_000)
    assert page.locator("#tabs").count() == 0
    page.fill("input[type=password]", "not-the-password")
    page.locator("input[type=text]").first.fill("organiser")
    page.keyboard.press("Enter")
    page.wait_for_timeout(1500)
    assert page.locator("#tabs").count() == 0  # a wrong password gets nothing
    page.goto(net.url)
    page.wait_for_selector("input[type=password]", timeout=60_000)
    page.locator("input[type=text]").first.fill("organiser")
    page.fill("input[type=password]", net.password)
    page.keyboard.press("Enter")
    page.wait_for_selector("#tabs", timeout=60_000)

    # a session (created with the store the app uses), then a rater in a fresh browser
    store = HumanEvalStore(os.environ["GAN_EXPLORER_HUMANEVAL_DB"])
    info = store.create_session(SessionConfig(task="real_vs_fake", models=("a",), real_set="digits", num_trials=4,
                                              num_checks=2, exposure="unlimited", seed=3), provider)
    rater = browser.new_context().new_page()
    rater.goto(net.rater_url)
    rater.wait_for_selector("#he-code", timeout=60_000)
    assert rater.locator("#tabs, #tab-models, #he-organise").count() == 0
    rater.fill("#he-code textarea, #he-code input", info.code)
    rater.fill("#he-name textarea, #he-name input", "Rae")
    rater.click("#he-join-btn")
    for i in range(info.num_items):
        trial = rater.wait_for_selector("#he-stim .he-trial.he-shown", timeout=30_000)
        pos = trial.get_attribute("data-pos")
        rater.click("#he-real" if i % 2 else "#he-fake")
        rater.wait_for_function("(pos) => { const t = document.querySelector('#he-stim .he-trial');"
                                " return !t || t.dataset.pos !== pos; }", arg=pos, timeout=30_000)
    rater.wait_for_selector("#he-stim .he-done", timeout=30_000)
    answers = store.answers(info.code)
    assert len(answers) == info.num_items and all(a["client_rt_ms"] is None or a["client_rt_ms"] <= a["rt_ms"]
                                                  for a in answers)
