"""Issue 12, human-evaluation integrity: what a dishonest or careless rater, or hostile text, can do."""

from __future__ import annotations

import time

import numpy as np
import pytest

from explorer.errors import ExplorerError
from explorer.humaneval import HumanEvalStore, SessionConfig, summarize_session
from explorer.humaneval.store import HumanEvalError

from conftest import fn_index_of, queue_call
from ui_support import make_tiny_models, running_app

EVIL = '<img src="http://attacker.example/x.png" onerror="alert(1)">'


def provider(kind, source, seeds):
    base = 220 if kind == "real" else 40 + 30 * (sum(map(ord, source)) % 5)
    return np.stack([np.clip(base + np.random.default_rng(int(s) % 2**32).integers(-10, 10, (32, 32, 1)), 0, 255)
                     .astype(np.uint8) for s in seeds])


@pytest.fixture
def store(tmp_path):
    return HumanEvalStore(tmp_path / "he.sqlite3")


def rvf(**kw):
    base = dict(task="real_vs_fake", models=("a", "b"), real_set="digits", num_trials=20, num_checks=4,
                exposure="unlimited", seed=7)
    base.update(kw)
    return SessionConfig(**base)


def answer_all(store, token, policy, client_rt_ms=None):
    while (trial := store.next_trial(token)) is not None:
        store.answer(token, trial.position, policy(store, token, trial.position), client_rt_ms=client_rt_ms)


def truth(store, token, position):
    con = store._connect()
    row = con.execute("SELECT i.truth FROM trials t JOIN items i ON i.id=t.item_id JOIN raters r ON r.id=t.rater_id"
                      " WHERE r.token=? AND t.position=?", (token, position)).fetchone()
    return row[0]


def test_response_times_are_the_servers(store):
    info = store.create_session(rvf(), provider)
    rater = store.join(info.code, "fast")
    t0 = time.time()
    answer_all(store, rater.token, lambda *a: "fake", client_rt_ms=900.0)  # claims 900 ms, answers at once
    elapsed_ms = (time.time() - t0) * 1000
    rows = store.answers(info.code)
    assert all(r["client_rt_ms"] <= r["rt_ms"] < elapsed_ms for r in rows)
    stats = summarize_session(store, info.code, num_boot=50)["raters"][0]
    assert stats["median_rt_ms"] < 900 and stats["median_rt_ms"] <= max(r["rt_ms"] for r in rows)


def test_negative_or_absurd_client_times_are_bounded(store):
    info = store.create_session(rvf(), provider)
    rater = store.join(info.code, "odd")
    for claimed in (-5.0, 1e12, float("nan"), float("inf")):
        trial = store.next_trial(rater.token)
        store.answer(rater.token, trial.position, "fake", client_rt_ms=claimed)
    rows = store.answers(info.code)
    assert all(r["client_rt_ms"] is None or 0 <= r["client_rt_ms"] <= r["rt_ms"] for r in rows)


def test_one_identity_per_name(store):
    info = store.create_session(rvf(), provider)
    store.join(info.code, "Mallory")
    for again in ("Mallory", "  mallory ", "MALLORY"):
        with pytest.raises(HumanEvalError, match="already joined"):
            store.join(info.code, again)


def test_attention_checks_have_both_answers_and_constant_answerers_are_flagged(store):
    info = store.create_session(rvf(num_checks=4), provider)
    checks = [i for i in store.items(info.code) if i["is_check"]]
    assert sorted(i["truth"] for i in checks) == ["fake", "fake", "real", "real"]
    for name, policy in [("always-fake", lambda *a: "fake"), ("always-real", lambda *a: "real"), ("honest", truth)]:
        answer_all(store, store.join(info.code, name).token, policy)
    raters = {r["name"]: r for r in summarize_session(store, info.code, num_boot=50)["raters"]}
    assert raters["always-fake"]["flagged"] and raters["always-real"]["flagged"]
    assert raters["always-fake"]["checks_passed"] == 2 and "same answer" in raters["always-fake"]["reason"]
    assert not raters["honest"]["flagged"]


def test_constant_answers_are_flagged_without_checks(store):
    info = store.create_session(rvf(num_checks=0), provider)
    answer_all(store, store.join(info.code, "lazy").token, lambda *a: "real")
    rater = summarize_session(store, info.code, num_boot=50, exclude_flagged=True)["raters"][0]
    assert rater["flagged"] and "same answer (real) to all 20" in rater["reason"]


def test_results_markdown_escapes_model_names_and_labels(store):
    from explorer.humaneval.export import format_results_markdown

    info = store.create_session(rvf(models=("a", "b"), model_names=(EVIL, "b")), provider)
    answer_all(store, store.join(info.code, "r").token, truth)
    summary = summarize_session(store, info.code, num_boot=50)
    text = format_results_markdown(summary, {EVIL: {"extractor_label": EVIL, "fid": 1.0}})
    assert "attacker.example" in text and "<img" not in text.replace("\\<", "")  # \< is a literal "<" in Markdown


@pytest.mark.parametrize("field,value", [("num_trials", float("nan")), ("num_trials", 1e9), ("num_trials", 2.5),
                                         ("num_checks", -1), ("num_checks", "x"), ("exposure_ms", float("inf")),
                                         ("exposure_ms", 0)])
def test_organiser_numbers_are_validated(field, value):
    from explorer.ui.humaneval_tab import make_config

    args = dict(model_ids=[], real_set="digits", task="real_vs_fake", num_trials=20, num_checks=2,
                exposure="fixed", exposure_ms=500, title="t", seed="")
    args[field] = value

    class Catalog:
        def resolve(self, model_id):
            raise AssertionError("not reached")

    with pytest.raises(ExplorerError, match="whole number"):
        make_config(Catalog(), **args)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    shipped = tmp_path_factory.mktemp("shipped")
    make_tiny_models(shipped)
    tmp = tmp_path_factory.mktemp("he-app")
    import os

    old = os.environ.get("GAN_EXPLORER_HUMANEVAL_DB")
    os.environ["GAN_EXPLORER_HUMANEVAL_DB"] = str(tmp / "he.sqlite3")
    try:
        with running_app(tmp, shipped) as served:
            yield served
    finally:
        if old is None:
            os.environ.pop("GAN_EXPLORER_HUMANEVAL_DB", None)
        else:
            os.environ["GAN_EXPLORER_HUMANEVAL_DB"] = old


def test_title_html_is_inert_in_the_organisers_results(app):
    import os

    store = HumanEvalStore(os.environ["GAN_EXPLORER_HUMANEVAL_DB"])
    info = store.create_session(SessionConfig(task="pairwise", models=("a", "b"), num_trials=2, num_checks=0,
                                              title=EVIL, seed=1), provider)
    out = queue_call(app.url, fn_index_of(app.demo, "on_results"), [info.code, info.admin_token, True], "organiser02")
    assert out["success"], out
    text = str(out["output"]).replace("\\\\<", "")  # an escaped \< (shown as text) inside the JSON output
    assert "attacker.example" in text and "<img" not in text


def test_a_browser_session_keeps_one_rater_identity(app):
    import os

    store = HumanEvalStore(os.environ["GAN_EXPLORER_HUMANEVAL_DB"])
    info = store.create_session(rvf(), provider)
    join = fn_index_of(app.demo, "on_join")
    for name in ("eve", "eve2", "eve3"):  # the same browser session joins again under other names
        out = queue_call(app.url, join, [info.code, name, None, None], "rater-session-1")
        assert out["success"], out
    assert len(store.raters(info.code)) == 1


def test_results_export_leaves_no_temp_files(app):
    import os
    import tempfile
    from pathlib import Path

    from explorer.ui.common import TEMP_PREFIX

    def ours():
        return set(Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"))

    store = HumanEvalStore(os.environ["GAN_EXPLORER_HUMANEVAL_DB"])
    info = store.create_session(rvf(), provider)
    answer_all(store, store.join(info.code, "x").token, truth)
    export = fn_index_of(app.demo, "on_export")
    folder_state = app.demo.fns[export].outputs[-1]
    cleanup = next(i for i, f in app.demo.fns.items()
                   if getattr(f.fn, "__name__", "") == "remove_request_temp" and folder_state in f.inputs)
    before = ours()
    out = queue_call(app.url, export, [info.code, info.admin_token, True], "organiser03")
    assert out["success"], out
    assert len(ours() - before) == 1
    assert queue_call(app.url, cleanup, [None], "organiser03")["success"]
    assert ours() - before == set()
