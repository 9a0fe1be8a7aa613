"""Human-evaluation tab: pure helpers (fast) and a real browser completing short sessions."""

from __future__ import annotations

import os
import shutil
import socket
import time
from types import SimpleNamespace

import numpy as np
import pytest

from explorer.humaneval import HumanEvalStore, SessionConfig, Trial
from explorer.ui.humaneval_tab import card_metrics, make_config, parse_client_info, trial_html

from test_humaneval import provider


def test_trial_html_reveals_nothing():
    img = np.zeros((6, 6, 1), np.uint8)
    html = trial_html(Trial(3, 10, "pairwise", (img, img + 1), None, ("left", "right", "tie"), "q"))
    assert html.count("data:image/png;base64,") == 2 and "data-pos='3'" in html and "data-exposure='0'" in html
    assert not any(word in html.lower() for word in ("fake", "real", "check", "truth", "model"))
    assert "he-mask" in trial_html(Trial(0, 10, "real_vs_fake", (img,), 500, ("real", "fake"), "q"))
    assert "he-done" in trial_html(None)


def test_parse_client_info():
    assert parse_client_info('{"pos": 4, "rt": 512.5}') == (4, 512.5)
    assert parse_client_info('{"pos": -1, "rt": null}') == (None, None)
    assert parse_client_info("") == (None, None) and parse_client_info("garbage") == (None, None)


def _catalog(cards):
    entries = {mid: SimpleNamespace(name=name, card=card) for mid, (name, card) in cards.items()}

    def resolve(mid):
        from explorer.errors import ExplorerError

        if mid not in entries:
            raise ExplorerError("gone")
        return entries[mid]

    return SimpleNamespace(resolve=resolve)


def test_make_config_and_card_metrics():
    cat = _catalog({
        "shipped:a": ("dcgan", {"metrics": [
            {"real": "fashion", "fid": 99.0, "recorded_at": "2026-01-02"},
            {"real": "digits", "fid": 12.0, "kid_mean": 0.01, "extractor_label": "ImageNet trunk",
             "recorded_at": "2026-01-01"}]}),
        "user:b": ("dcgan", {}),
    })
    cfg = make_config(cat, ["shipped:a", "user:b"], "digits", "real_vs_fake", 8, 2, "fixed", 400, " t ", None)
    assert cfg.names == ("dcgan (shipped:a)", "dcgan (user:b)") and cfg.exposure_ms == 400 and cfg.title == "t"
    cfg.validate()
    metrics = card_metrics(cat, cfg)
    # a record from before FD/FID naming (issue 13): its "fid" outside Inception-v3 is shown as FD (extractor)
    assert metrics == {"dcgan (shipped:a)": {"fd": 12.0, "fd_name": "FD (ImageNet trunk)", "kid_mean": 0.01,
                                             "extractor_label": "ImageNet trunk", "metrics_real_set": "digits"}}
    assert make_config(cat, ["shipped:a"], "digits", "real_vs_fake", 4, 0, "adaptive", 50, "", "").staircase.start_ms == 100
    assert make_config(cat, ["shipped:a"], "digits", "pairwise", 4, 0, "unlimited", 1, "", " 5 ").seed == 5
    assert make_config(cat, ["shipped:a"], "digits", "pairwise", 4, 0, "unlimited", 1, "", "").seed is None
    assert make_config(cat, ["shipped:a"], "digits", "pairwise", 4, 0, "unlimited", 1, "", "").real_set is None
    with pytest.raises(Exception, match="whole number"):
        make_config(cat, ["shipped:a"], "digits", "pairwise", 4, 0, "unlimited", 1, "", "x")


# -- browser -----------------------------------------------------------------------------------------
def _chromium() -> str | None:
    for path in (os.environ.get("GAN_EXPLORER_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser")):
        if path and os.path.exists(path):
            return path
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app(tmp_path):
    gr = pytest.importorskip("gradio")
    pytest.importorskip("playwright.sync_api")
    if _chromium() is None:
        pytest.skip("no chromium found (set GAN_EXPLORER_CHROMIUM)")
    from explorer.ui.catalog import Catalog
    from explorer.ui.common import AppContext, new_session
    from explorer.ui.humaneval_tab import build_humaneval_tab

    import explorer
    from explorer.models.dcgan import DCGAN, DCGANConfig

    models_dir = tmp_path / "models"
    models_dir.mkdir()
    for name, classes in (("tinya", 10), ("tinyb", 0)):  # untrained, tiny: only the plumbing matters here
        explorer.save(DCGAN(DCGANConfig(resolution=32, channels=1, latent_dim=8, num_classes=classes, ngf=4, ndf=4)),
                      models_dir / f"{name}.safetensors")
    db = tmp_path / "he.sqlite3"
    with gr.Blocks() as demo:
        ctx = AppContext(catalog=Catalog([models_dir], tmp_path / "user"), session=gr.State(new_session()))
        with gr.Tab("Human evaluation"):
            build_humaneval_tab(ctx, db_path=db)
    demo.queue(api_open=False)
    port = _free_port()
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{port}/", store=HumanEvalStore(db))
    finally:
        demo.close()


@pytest.mark.browser
def test_browser_raters_complete_sessions(app):
    from playwright.sync_api import sync_playwright

    store = app.store
    rvf = store.create_session(SessionConfig(task="real_vs_fake", models=("a",), real_set="digits", num_trials=4,
                                             num_checks=1, exposure="fixed", exposure_ms=300, seed=1), provider)
    pair = store.create_session(SessionConfig(task="pairwise", models=("a", "b"), num_trials=3, num_checks=1,
                                              seed=2), provider)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        page = browser.new_page()

        def join(code, name):
            page.goto(app.url)
            page.fill("#he-code textarea, #he-code input", code)
            page.fill("#he-name textarea, #he-name input", name)
            page.click("#he-join-btn")

        def answer_all(buttons, count):
            for i in range(count):
                trial = page.wait_for_selector("#he-stim .he-trial.he-shown", timeout=20_000)
                pos = trial.get_attribute("data-pos")
                page.click(buttons[i % len(buttons)])
                page.wait_for_function(
                    "(pos) => { const t = document.querySelector('#he-stim .he-trial');"
                    " return !t || t.dataset.pos !== pos; }", arg=pos, timeout=20_000)
            page.wait_for_selector("#he-stim .he-done", timeout=20_000)

        # real-vs-fake with a 300 ms display: the image disappears, the answer is timed in the browser
        join(rvf.code.lower(), "Ada")
        page.wait_for_selector("#he-stim .he-trial.he-shown", timeout=20_000)
        t0 = time.monotonic()
        page.wait_for_selector("#he-stim .he-trial.he-hidden", timeout=5_000)
        assert time.monotonic() - t0 < 2.0
        answer_all(["#he-real", "#he-fake"], rvf.num_items)
        # pairwise
        join(pair.code, "Bea")
        answer_all(["#he-left", "#he-right", "#he-tie"], pair.num_items)

        # a reload does not start over: the same rater resumes (and is already done)
        join(rvf.code, "Ada")
        page.wait_for_selector("#he-stim .he-done", timeout=20_000)

        # results tab with the organiser key
        page.click("button[role=tab]:has-text('Results')")
        page.fill("#he-res-code textarea, #he-res-code input", rvf.code)
        page.fill("#he-res-key input", rvf.admin_token)
        page.click("#he-results-btn")
        page.wait_for_selector("#he-results table", timeout=20_000)
        assert "error_rate" in page.inner_text("#he-results")
        # issue 13: the metrics next to the human scores are those of the session's own images
        assert "computed on the very images the raters saw" in page.inner_text("#he-results")
        assert "1-NN accuracy" in page.inner_text("#he-results table")

        # an organiser creates a session from catalog models; a rater in another browser completes it
        page.click("button[role=tab]:has-text('Organise')")
        for label in ("tinya ·", "tinyb ·"):
            page.click("#he-models input")
            page.click(f"ul[role=listbox] li:has-text('{label}')")
        page.click("#he-task label:has-text('pairwise')")
        page.fill("#he-trials input", "2")
        page.fill("#he-checks input", "1")
        page.click("#he-create")
        page.wait_for_selector("#he-created code", timeout=60_000)
        code = page.inner_text("#he-created code").strip()
        assert len(code) == 9 and code[4] == "-"
        assert "scored +" in page.inner_text("#he-created")  # checks are said to come on top (issue 13)
        page = browser.new_context().new_page()
        join(code.lower(), "Cy")
        answer_all(["#he-right"], 3)
        browser.close()
    created = store.session(code)
    assert created.config.models == ("shipped:tinya", "shipped:tinyb") and created.config.names == ("tinya", "tinyb")
    assert [a["response"] for a in store.answers(code)] == ["right"] * 3

    answers = store.answers(rvf.code)
    assert [a["position"] for a in answers] == list(range(rvf.num_items))
    assert all(a["exposure_ms"] == 300 and a["client_rt_ms"] is not None and a["client_rt_ms"] > 0 for a in answers)
    assert len(store.raters(rvf.code)) == 1  # resumed, not joined twice
    pair_answers = store.answers(pair.code)
    assert [a["response"] for a in pair_answers] == ["left", "right", "tie", "left"]
