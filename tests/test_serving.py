"""Bounded memory when many people use one server (issue 15): the model cache stays within its
limit however many sessions render, evicted models are really freed, closed tabs' sessions go."""

from __future__ import annotations

import gc
import random
import threading
import time
import weakref

import pytest
import torch

import explorer
from explorer import memory, model_cache
from explorer.pipelines import explore
from explorer.ui.catalog import Catalog
from ui_support import CHROMIUM_ARGS, chromium_path


@pytest.fixture
def many_models(tmp_path):
    """Six different tiny DCGANs (different weights, so different file hashes)."""
    from explorer.models.dcgan import DCGAN, DCGANConfig

    folder = tmp_path / "models"
    folder.mkdir()
    for i in range(6):
        torch.manual_seed(i)
        explorer.save(DCGAN(DCGANConfig(resolution=32, channels=1, latent_dim=8, ngf=4, ndf=4)).eval(), folder / f"g{i}.safetensors",
                      card={"name": f"g{i}"})
    return folder


def test_renders_across_many_sessions_keep_the_model_cache_within_its_limit(many_models, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_EXPLORER_MAX_MODELS", "2")
    model_cache.clear_cache()
    catalog = Catalog([many_models], tmp_path / "user")
    ids = [e.id for e in catalog.entries()]
    assert len(ids) == 6
    seen: list[weakref.ref] = []
    sizes, errors = [], []
    lock = threading.Lock()

    def session(n: int) -> None:  # one visitor: picks models, drags, renders
        rng = random.Random(n)
        try:
            for step in range(12):
                model, _ = catalog.load(rng.choice(ids))
                req = explore.LatentRequest(seed=step, truncation=rng.uniform(0.3, 1.0), coefficients=(rng.uniform(-2, 2),))
                img = explore.image_for(model, req)
                assert img.shape == (1, 1, 32, 32)
                with lock:
                    seen.append(weakref.ref(model))
                    sizes.append(model_cache.cache_info()["num_models"])
                del model
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    assert max(sizes) <= 2 and model_cache.cache_info()["num_models"] <= 2
    gc.collect()
    alive = {id(r()) for r in seen if r() is not None}
    assert len(alive) <= 2  # evicted models are freed: no direction, fused-layer or batcher cache keeps them
    assert explore.RENDERS.num_lanes == 0
    model_cache.clear_cache()


def test_model_cache_is_least_recently_used_and_loads_once(many_models, monkeypatch):
    monkeypatch.setenv("GAN_EXPLORER_MAX_MODELS", "2")
    model_cache.clear_cache()
    paths = sorted(many_models.glob("*.safetensors"))
    a = explorer.load_cached(paths[0])
    b = explorer.load_cached(paths[1])
    assert explorer.load_cached(paths[0]) is a  # a is now the most recent
    explorer.load_cached(paths[2])  # evicts b, not a
    assert explorer.load_cached(paths[0]) is a
    assert explorer.load_cached(paths[1]) is not b
    # many sessions asking for one new file at once load it once
    model_cache.clear_cache()
    got = []
    threads = [threading.Thread(target=lambda: got.append(explorer.load_cached(paths[3]))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(got) == 8 and len({id(m) for m in got}) == 1
    monkeypatch.setenv("GAN_EXPLORER_MAX_MODEL_MB", "0.001")  # a byte limit below one model keeps just the newest
    explorer.load_cached(paths[4])
    assert model_cache.cache_info()["num_models"] == 1
    model_cache.clear_cache()


def test_memory_helpers_report_and_trim():
    rss = memory.rss_bytes()
    assert rss is None or rss > 10 << 20
    assert memory.trim() in (True, False)
    assert memory.trim(min_interval_s=3600) is False  # rate-limited


@pytest.mark.browser
def test_a_closed_tab_frees_its_session(server, monkeypatch):
    sync_api = pytest.importorskip("playwright.sync_api")
    if chromium_path() is None:
        pytest.skip("no chromium")
    from explorer.ui import sessions

    monkeypatch.setenv("GAN_EXPLORER_SESSION_GRACE_S", "0.5")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        before = sessions.num_sessions(server.demo)
        contexts = []
        for _ in range(3):
            ctx = browser.new_context()
            page = ctx.new_page()
            page.goto(server.url)
            page.wait_for_selector("#explore-image img", timeout=120_000)
            contexts.append(ctx)
        assert sessions.num_sessions(server.demo) == before + 3
        contexts[0].close()
        contexts[1].close()
        deadline = time.monotonic() + 30
        while sessions.num_sessions(server.demo) > before + 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sessions.num_sessions(server.demo) == before + 1  # the open tab keeps its state
        contexts[2].close()
        browser.close()


def test_warm_up_loads_the_first_generator_once_the_port_listens(shipped, tmp_path, monkeypatch):
    import socket

    from explorer.ui import warmup

    model_cache.clear_cache()
    catalog = Catalog([shipped], tmp_path / "user")
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        port = srv.getsockname()[1]
        thread = warmup.start(catalog, "127.0.0.1", port, timeout_s=30)
        time.sleep(0.3)
        assert model_cache.cache_info()["num_models"] == 0  # nothing before the server listens
        srv.listen()
        thread.join(60)
    assert not thread.is_alive()
    first = catalog.entries(lambda e: e.can_generate)[0]
    model, _ = catalog.load(first.id)
    assert model_cache.cache_info()["num_models"] == 1  # the page's load found it already loaded
    assert model in explore._DIRECTIONS and "pca" in explore._DIRECTIONS[model]
    model_cache.clear_cache()
