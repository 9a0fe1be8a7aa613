"""The playground section's handler layer (explorer.ui.train_playground) without a browser: settings
checking, inline PNG frames, the readout text, and a session whose model the store dropped."""

from __future__ import annotations

import base64
import io
import re

import pytest
from PIL import Image

from explorer.errors import ExplorerError, TrainingError
from explorer.playground import PRESETS
from explorer.playground.render import LEGEND, SIZE
from explorer.ui.train_playground import _Sessions, config_from, readout_md

EMPTY = {"key": None, "config": None, "points": []}


def picture(html: str) -> Image.Image:
    data = re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1)
    return Image.open(io.BytesIO(base64.b64decode(data)))


def test_config_from_widgets_checks_values():
    cfg = config_from("moons", "hinge", "0.002", 0.001, 2.0, 5)
    assert (cfg.distribution, cfg.loss, cfg.lr_g, cfg.d_steps, cfg.seed) == ("moons", "hinge", 0.002, 2, 5)
    with pytest.raises(ExplorerError, match="must be numbers"):
        config_from("ring", "hinge", "fast", 0.001, 1, 0)
    with pytest.raises(TrainingError, match="lr_d"):
        config_from("ring", "hinge", 0.001, 0, 1, 0)


def test_fresh_step_and_a_dropped_model_restarts():
    sessions = _Sessions()
    state, html, text = sessions.fresh(dict(EMPTY), PRESETS["ring-covers"][1])
    assert state["key"] and len(sessions.store) == 1 and "step 0" in text
    assert picture(html).size == (SIZE, SIZE + LEGEND)
    new_state, html, text = sessions.advance(state, 7)
    assert new_state == {"__type__": "update"}  # gr.skip(): the state is unchanged
    assert re.search(r"step 7\*\* · D loss [\d.]+ · G loss [\d.]+ · \*\*modes covered \d / 8\*\*", text)
    sessions.store.drop(state["key"])  # e.g. more sessions than MAX_PLAYGROUNDS
    restarted, html, text = sessions.advance(state, 3)
    assert restarted["key"] != state["key"] and restarted["config"] == state["config"] and "step 3" in text
    sessions.store.drop(restarted["key"])
    with pytest.raises(ExplorerError, match="Reset"):
        sessions.advance(dict(EMPTY), 1)


def test_drawn_set_waits_for_three_points():
    sessions = _Sessions()
    cfg = PRESETS["ring-covers"][1].replace(distribution="drawn")
    state, html, text = sessions.fresh({**EMPTY, "points": [[0.1, 0.2], [0.3, 0.4]]}, cfg)
    assert state["key"] is None and "2 so far" in text and picture(html).size == (SIZE, SIZE + LEGEND)
    state, html, text = sessions.fresh({**state, "points": [[0.1, 0.2], [0.3, 0.4], [-0.5, 0.0]]}, cfg)
    assert state["key"] and "coverage" in text and "modes covered" not in text  # modes are the ring's


def test_readout_before_the_first_step_has_no_losses():
    assert readout_md({"step": 0, "d_loss": float("nan"), "g_loss": float("nan"), "coverage": 0.0}) == \
        "**step 0** · coverage 0% of real points"
