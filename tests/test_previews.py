"""Slider previews through the preview route (issue 15): query parsing, the per-session registry,
and the route's frames — identical to the full render of the same settings."""

from __future__ import annotations

import io
import math

import httpx
import numpy as np
import pytest
from PIL import Image

from explorer.pipelines import explore
from explorer.ui import previews, render
from explorer.ui.previews import PreviewError, PreviewRegistry, parse
from ui_support import running_app


@pytest.mark.parametrize("kind,value,expected", [
    ("trunc", "0.7", ("trunc", None, 0.7)),
    ("trunc", "9", ("trunc", None, 1.5)),     # clamped to the slider
    ("trunc", "-1", ("trunc", None, 0.0)),
    ("d0", "2.5", ("dir", 0, 2.5)),
    ("d7", "-80", ("dir", 7, -5.0)),
    ("saved", "1e3", ("saved", None, 5.0)),
])
def test_parse_accepts_sliders_and_clamps_values(kind, value, expected):
    got = parse(kind, value, num_directions=8, slider_range=5.0)
    assert got[:2] == expected[:2] and math.isclose(got[2], expected[2])


@pytest.mark.parametrize("kind,value,message", [
    ("trunc", "nan", "finite"), ("trunc", "inf", "finite"), ("trunc", "x", "finite"), ("trunc", None, "finite"),
    ("trunc", "1" * 40, "finite"), ("d8", "1", "unknown slider"), ("d-1", "1", "unknown slider"),
    ("dx", "1", "unknown slider"), ("seed", "1", "unknown slider"), (None, "1", "unknown slider"),
    ("d00000000", "1", "unknown slider"),
])
def test_parse_refuses_bad_queries(kind, value, message):
    with pytest.raises(PreviewError, match=message) as err:
        parse(kind, value, num_directions=8, slider_range=5.0)
    assert err.value.status == 400


def test_registry_keeps_one_key_per_session_and_drops_the_least_recently_used():
    reg = PreviewRegistry(max_sessions=3)
    states = [{"custom": None} for _ in range(4)]
    keys = [reg.register(st, f"m{i}", i) for i, st in enumerate(states)]
    assert len(set(keys)) == 4 and all(len(k) >= 20 for k in keys)
    assert [st["preview_key"] for st in states] == keys
    assert reg.get(keys[0]) is None and len(reg) == 3  # the oldest went
    assert reg.register(states[1], "m1", "again") == keys[1]  # the same session keeps its key
    assert reg.get(keys[1]) == ("m1", "again")
    reg.get(keys[2])  # used: now newer than keys[3]
    reg.register({"custom": None}, "m9", 9)
    assert reg.get(keys[3]) is None and reg.get(keys[2]) is not None
    assert reg.register(None, "m", 0) != reg.register(None, "m", 0)  # no session state: a fresh key each time


def test_changed_request_moves_one_slider():
    req = explore.LatentRequest(seed=3, truncation=0.8, coefficients=(1.0,))
    moved = previews.changed_request(req, "dir", 2, -1.5, 4)
    assert moved.coefficients == (1.0, 0.0, -1.5, 0.0) and moved.seed == 3 and moved.truncation == 0.8
    assert previews.changed_request(req, "trunc", None, 0.5, 4).truncation == 0.5
    assert previews.changed_request(req, "saved", None, 2.0, 4).saved_amount == 2.0


def test_page_script_names_only_known_sliders():
    assert "P.request('d3', value, key)" in previews.page_script("d3")
    assert previews.ROUTE.lstrip("/") in previews.page_script("trunc")
    with pytest.raises(ValueError):
        previews.page_script("x'); alert(1); ('")


def _png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def test_the_route_serves_the_frame_a_full_render_would_draw(shipped, tmp_path):
    with running_app(tmp_path, shipped) as app:
        catalog, reg = app.demo.explorer_catalog, app.demo.explorer_previews
        model_id = catalog.entries(lambda e: e.can_generate)[0].id
        model, _ = catalog.load(model_id)
        req = explore.LatentRequest(seed=5, label=0 if model.num_classes else None, truncation=1.0, coefficients=(0.5,))
        key = reg.register({"custom": None}, model_id, req)
        url = f"{app.url}explorer/preview"
        for kind, value, field, moved in (("trunc", "0.4", "truncation", 0.4), ("d1", "-2", "coefficients", (0.5, -2.0))):
            r = httpx.get(url, params={"key": key, "kind": kind, "value": value}, timeout=60)
            assert r.status_code == 200 and r.headers["content-type"] == "image/png"
            assert "no-store" in r.headers["cache-control"]
            full = explore.LatentRequest(**{**req.__dict__, field: moved})
            expected = render.to_uint8(explore.image_for(model, full))
            np.testing.assert_array_equal(_png(r.content), expected)
        # the unmoved request draws something else: the route really moved the slider
        assert not np.array_equal(_png(httpx.get(url, params={"key": key, "kind": "trunc", "value": "0.4"}).content),
                                  render.to_uint8(explore.image_for(model, req)))
        assert httpx.get(url, params={"key": "nope", "kind": "trunc", "value": "1"}).status_code == 404
        bad = httpx.get(url, params={"key": key, "kind": "trunc", "value": "nan"})
        assert bad.status_code == 400 and "finite" in bad.json()["detail"]
        assert httpx.post(url, params={"key": key, "kind": "trunc", "value": "1"}).status_code == 405
