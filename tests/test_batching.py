"""Micro-batching of renders across sessions (issue 15): one forward pass for requests that arrive
together, each caller gets its own image, and batching never changes an image."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from explorer.batching import MicroBatcher
from explorer.pipelines import explore
from explorer.ui.inline_image import InlineImage, png_data_url


def _run_threads(fn, args_list):
    out = [None] * len(args_list)
    errors = []
    barrier = threading.Barrier(len(args_list))

    def work(i, a):
        barrier.wait()
        try:
            out[i] = fn(*a)
        except Exception as exc:  # noqa: BLE001 - collected and checked below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i, a)) for i, a in enumerate(args_list)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out, errors


def test_concurrent_requests_share_calls_and_get_their_own_results():
    seen = []

    def run(key, payloads):
        seen.append((key, list(payloads)))
        time.sleep(0.02)  # a slow pass: others arrive while it runs
        return [p * 10 for p in payloads]

    b = MicroBatcher(run, window_s=0.005)
    out, errors = _run_threads(lambda v: b.submit("m", v), [(v,) for v in range(16)])
    assert not errors
    assert out == [v * 10 for v in range(16)]
    assert b.stats.requests == 16 and b.stats.calls < 16 and b.stats.largest > 1
    assert all(k == "m" for k, _ in seen)
    assert b.num_lanes == 0  # idle lanes are dropped: keys (models) are not kept alive


def test_keys_never_mix_and_an_idle_request_runs_alone_at_once():
    def run(key, payloads):
        assert len({p[0] for p in payloads}) == 1, "payloads of different keys in one call"
        time.sleep(0.01)
        return [p[1] for p in payloads]

    b = MicroBatcher(run, window_s=0.005)
    out, errors = _run_threads(lambda k, v: b.submit(k, (k, v)), [(f"k{i % 3}", i) for i in range(12)])
    assert not errors and out == list(range(12))
    assert b.stats.largest >= 2
    # nothing in flight: the request runs at once, without the gather window (here 5 s)
    lazy = MicroBatcher(run, window_s=5.0)
    t = time.perf_counter()
    assert lazy.submit("alone", ("alone", 1)) == 1
    assert time.perf_counter() - t < 2.5 and lazy.stats.calls == 1


def test_a_failing_request_fails_alone():
    def run(key, payloads):
        time.sleep(0.01)
        if any(p < 0 for p in payloads):
            raise ValueError("negative")
        return [p + 1 for p in payloads]

    b = MicroBatcher(run, window_s=0.01)
    out, errors = _run_threads(lambda v: b.submit("m", v), [(v,) for v in (1, 2, -1, 3, 4, 5)])
    assert len(errors) == 1 and "negative" in str(errors[0])
    assert sorted(o for o in out if o is not None) == [2, 3, 4, 5, 6]


def test_rows_are_capped_per_call():
    sizes = []

    def run(key, payloads):
        sizes.append(sum(len(p) for p in payloads))
        time.sleep(0.01)
        return [len(p) for p in payloads]

    b = MicroBatcher(run, window_s=0.01, max_rows=8)
    out, errors = _run_threads(lambda n: b.submit("m", [0] * n, rows=n), [(3,)] * 8 + [(20,)])
    assert not errors and out == [3] * 8 + [20]
    assert max(s for s in sizes if s != 20) <= 8  # a request bigger than the cap runs alone


@pytest.fixture(scope="module")
def tiny_generators(shipped):
    import explorer

    return {kind: explorer.load(shipped / f"{kind}_{data}.safetensors") for kind, data in (("dcgan", "digits"), ("stylegan", "emoji"))}


@pytest.mark.parametrize("kind", ["dcgan", "stylegan"])
def test_batch_size_independence(tiny_generators, kind):
    model = tiny_generators[kind]
    label = 3 if model.num_classes else None
    req = explore.LatentRequest(seed=0, label=label, truncation=0.7, coefficients=(1.0, -0.5))
    x = explore.edited_latent(model, req, list(range(8)))  # [8, D]
    together = explore._forward_batch(model, [(x, explore._labels(model, label, 8) if explore.space_of(model) == "z" else None)])[0]
    for i in range(8):
        alone = explore.render(model, x[i : i + 1], label)
        torch.testing.assert_close(alone, together[i : i + 1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["dcgan", "stylegan"])
def test_concurrent_renders_get_their_own_images(tiny_generators, kind):
    model = tiny_generators[kind]
    classes = model.num_classes or 1
    reqs = [explore.LatentRequest(seed=s, label=(s % classes) if model.num_classes else None, truncation=0.5 + 0.05 * s,
                                  coefficients=(0.1 * s,)) for s in range(12)]
    expected = [explore.image_for(model, r) for r in reqs]  # one at a time
    got, errors = _run_threads(lambda r: explore.image_for(model, r), [(r,) for r in reqs])
    assert not errors
    for e, g in zip(expected, got):
        assert g.shape == e.shape
        torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-5)
    assert len({float(g.sum()) for g in got}) == len(reqs)  # twelve different images, none swapped
    assert explore.RENDERS.num_lanes == 0


def test_inline_image_is_a_lossless_png_data_url():
    import base64
    import io

    from PIL import Image

    arr = (np.arange(32 * 32 * 3) % 251).astype(np.uint8).reshape(32, 32, 3)
    url, size = png_data_url(arr)
    assert url.startswith("data:image/png;base64,")
    back = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    assert size < 8000 and np.array_equal(back, arr)
    img = InlineImage(format="png")
    out = img.postprocess(arr)
    assert out.url == url and out.path is None
    assert img.get_block_name() == "image"  # the browser's own Image component
    big = np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8)  # ~770 KB as PNG
    assert img.postprocess(big).path  # too big to inline: Gradio's file route
