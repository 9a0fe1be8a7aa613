"""Human-evaluation sessions: storage, trial flow, staircase, scores, exports, durability, concurrency.

All tests use a synthetic stimulus provider (no models, no data sets) and tiny images.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from explorer.humaneval import (
    HumanEvalError,
    HumanEvalStore,
    SessionConfig,
    Staircase,
    StaircaseConfig,
    bootstrap_weights,
    bradley_terry,
    export_session,
    format_results_markdown,
    read_answers_csv,
    read_session_json,
    replay,
    results_table,
    resummarize,
    summarize,
    summarize_session,
)
from explorer.humaneval.store import JOIN_ALPHABET

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = os.path.join(REPO, "explorer")


def provider(kind, source, seeds):
    """Deterministic tiny images: reals bright, each model its own grey level."""
    base = 220 if kind == "real" else 40 + 30 * (sum(map(ord, source)) % 5)
    return np.stack([
        np.clip(base + np.random.default_rng(int(s) % 2**32).integers(-10, 10, (6, 6, 1)), 0, 255).astype(np.uint8)
        for s in seeds
    ])


def rvf_config(**kw):
    base = dict(task="real_vs_fake", models=("ckpt/a.safetensors", "ckpt/b.safetensors"), real_set="digits",
                num_trials=20, num_checks=4, exposure="fixed", exposure_ms=500, seed=7)
    base.update(kw)
    return SessionConfig(**base)


def pair_config(**kw):
    base = dict(task="pairwise", models=("a", "b", "c"), num_trials=12, num_checks=3, seed=3)
    base.update(kw)
    return SessionConfig(**base)


@pytest.fixture
def store(tmp_path):
    return HumanEvalStore(tmp_path / "he.sqlite3")


def truth_of(store, token, position):
    """The answer key of a rater's trial, read behind the store's back (the API never reveals it)."""
    con = sqlite3.connect(store.path)
    try:
        return con.execute(
            "SELECT i.truth, i.is_check, i.model_a, i.model_b, t.swap FROM trials t JOIN items i ON i.id=t.item_id"
            " JOIN raters r ON r.id=t.rater_id WHERE r.token=? AND t.position=?", (token, position)).fetchone()
    finally:
        con.close()


def run_rater(store, token, policy):
    """Answer every trial with ``policy(truth_row, trial) -> response``."""
    while (trial := store.next_trial(token)) is not None:
        store.answer(token, trial.position, policy(truth_of(store, token, trial.position), trial))


# -- sessions and the trial flow ------------------------------------------------------------------
def test_create_join_answer(store):
    info = store.create_session(rvf_config(), provider)
    assert len(info.code) == 8 and set(info.code) <= set(JOIN_ALPHABET)
    assert info.num_items == 24 and info.admin_token
    assert store.check_admin(info.code, info.admin_token) and not store.check_admin(info.code, "nope")
    items = store.items(info.code)
    assert sum(i["truth"] == "real" and not i["is_check"] for i in items) == 10 and sum(i["is_check"] for i in items) == 4
    assert sorted(i["truth"] for i in items if i["is_check"]) == ["fake", "fake", "real", "real"]  # issue 12
    assert {i["model_a"] for i in items if i["truth"] == "fake" and not i["is_check"]} == {"a", "b"}

    ada = store.join(info.code.lower(), "Ada")  # codes are case-insensitive
    bob = store.join(info.code, "  Bob  ")
    assert bob.name == "Bob" and ada.num_trials == 24
    orders = []
    for rater in (ada, bob):
        trial = store.next_trial(rater.token)
        assert trial.position == 0 and trial.exposure_ms == 500 and trial.choices == ("real", "fake")
        assert len(trial.images) == 1 and trial.images[0].shape == (6, 6, 1)
        assert not {"truth", "is_check", "model"} & set(vars(trial))  # nothing gives the answer away
        with pytest.raises(HumanEvalError):
            store.answer(rater.token, 0, "maybe")
        with pytest.raises(HumanEvalError):
            store.answer(rater.token, 1, "real")  # out of order
        assert store.answer(rater.token, 0, "real").recorded
        assert not store.answer(rater.token, 0, "fake").recorded  # double click: first answer stays
        run_rater(store, rater.token, lambda t, _: "fake")
        assert store.next_trial(rater.token) is None
        orders.append([a["item"] for a in store.answers(info.code) if a["rater_id"] == rater.rater_id])
    assert sorted(orders[0]) == sorted(orders[1]) == list(range(24))
    assert orders[0] != orders[1]  # each rater their own order
    answers = store.answers(info.code)
    assert len(answers) == 48 and all(a["response"] == "real" for a in answers if a["position"] == 0)
    assert store.rater(ada.token).num_answered == 24
    assert [r["num_answered"] for r in store.raters(info.code)] == [24, 24]

    store.set_status(info.code, "closed")
    with pytest.raises(HumanEvalError, match="closed"):
        store.join(info.code, "Cy")
    with pytest.raises(HumanEvalError, match="no session"):
        store.join("ZZZZZZZZ", "Cy")
    assert store.integrity_check() == "ok"


def test_stimuli_and_orders_are_deterministic(tmp_path):
    a, b = HumanEvalStore(tmp_path / "a.sqlite3"), HumanEvalStore(tmp_path / "b.sqlite3")
    ia, ib = a.create_session(pair_config(), provider), b.create_session(pair_config(), provider)
    assert ia.code != ib.code
    assert [s["png"] for s in a.stimuli(ia.code)] == [s["png"] for s in b.stimuli(ib.code)]
    assert a.items(ia.code) == b.items(ib.code)
    ra, rb = a.join(ia.code, "x"), b.join(ib.code, "x")  # same rater id -> same order
    ta, tb = a.next_trial(ra.token), b.next_trial(rb.token)
    assert all(np.array_equal(x, y) for x, y in zip(ta.images, tb.images))
    # pairwise: every pair of models on every seed, identical-pair checks
    items = a.items(ia.code)
    pairs = [(i["model_a"], i["model_b"]) for i in items if not i["is_check"]]
    assert sorted(set(pairs)) == [("a", "b"), ("a", "c"), ("b", "c")] and len(pairs) == 12
    assert all(i["stim_a"] == i["stim_b"] and i["truth"] == "tie" for i in items if i["is_check"])


@pytest.mark.parametrize("kw, match", [
    (dict(num_trials=21), "multiple of 4"),
    (dict(real_set=None), "real image set"),
    (dict(exposure="sometimes"), "exposure"),
    (dict(models=()), "at least one model"),
    (dict(model_names=("a", "a")), "unique"),
])
def test_config_validation(store, kw, match):
    with pytest.raises(HumanEvalError, match=match):
        store.create_session(rvf_config(**kw), provider)


def test_default_model_names_are_unique_stems():
    assert rvf_config(models=("x/a.pt", "y/a.pt", "b.safetensors")).names == ("a", "a-2", "b")


def test_provider_output_is_checked(store):
    with pytest.raises(HumanEvalError, match="uint8"):
        store.create_session(rvf_config(), lambda k, s, seeds: provider(k, s, seeds).astype(np.float32))


# -- staircase -----------------------------------------------------------------------------------
def test_staircase_down_after_streak_up_after_error():
    cfg = StaircaseConfig(start_ms=1000, min_ms=100, max_ms=4000, num_down=3, step_factor=1.25)
    s = Staircase(cfg)
    assert [s.update(True), s.update(True)] == [1000, 1000]
    assert s.update(True) == 800  # third correct in a row: shorter exposure (harder)
    assert s.update(False) == 1000  # one error: longer exposure (easier)
    assert s.reversals == [800]
    assert replay([True] * 60, cfg).exposure_ms == 100  # bounded below
    assert replay([False] * 60, cfg).exposure_ms == 4000  # bounded above


def test_staircase_converges_to_79_percent_point():
    # Simulated observer: P(correct) = 0.5 + 0.5 * (1 - exp(-t / 400)); 3-down-1-up targets 79.4 %.
    rng = np.random.default_rng(0)
    target = -400 * math.log(1 - 2 * (0.7937 - 0.5))
    thresholds = []
    for _ in range(30):
        s = Staircase(StaircaseConfig(step_factor=1.15))
        for _ in range(150):
            s.update(rng.random() < 0.5 + 0.5 * (1 - math.exp(-s.exposure_ms / 400)))
        assert s.converged
        thresholds.append(s.threshold_ms())
    assert abs(np.exp(np.mean(np.log(thresholds))) / target - 1) < 0.2


def test_adaptive_session_moves_exposure(store):
    info = store.create_session(rvf_config(models=("a",), num_trials=60, num_checks=0, exposure="adaptive"), provider)
    rater = store.join(info.code, "r")
    seen = []
    for _ in range(6):  # always correct: exposure drops every 3 trials
        trial = store.next_trial(rater.token)
        seen.append(trial.exposure_ms)
        store.answer(rater.token, trial.position, truth_of(store, rater.token, trial.position)[0])
    trial = store.next_trial(rater.token)
    assert seen == [1000, 1000, 1000, 800, 800, 800] and trial.exposure_ms == 640
    wrong = {"real": "fake", "fake": "real"}[truth_of(store, rater.token, trial.position)[0]]
    store.answer(rater.token, trial.position, wrong)
    assert store.next_trial(rater.token).exposure_ms == 800  # an error: back up
    assert store.next_trial(rater.token).exposure_ms == 800  # re-serving (page reload) does not move it
    run_rater(store, rater.token, lambda t, _: t[0])
    # issue 13: an always-right rater drives the staircase to its floor without reversals: the track
    # has not converged, so no threshold is reported for it (it would only echo the start exposure)
    summary = summarize_session(store, info.code, num_boot=100)
    assert summary["raters"][0]["converged"] == {"a": False} and summary["raters"][0]["threshold_ms"] == {"a": None}
    assert summary["scores"]["a"]["threshold_ms"]["value"] is None
    assert summary["scores"]["a"]["tracks_converged"] == {"value": 0.0, "ci": [None, None], "n": 1}
    # a rater right three times, then wrong, over and over: a reversal every few trials, converged
    steady = store.join(info.code, "s")
    count = iter(range(10**6))
    run_rater(store, steady.token, lambda t, _: t[0] if next(count) % 4 != 3 else {"real": "fake", "fake": "real"}[t[0]])
    summary = summarize_session(store, info.code, num_boot=100)
    by_name = {r["name"]: r for r in summary["raters"]}
    assert by_name["s"]["converged"] == {"a": True} and by_name["s"]["threshold_ms"]["a"] is not None
    assert summary["scores"]["a"]["threshold_ms"]["value"] == pytest.approx(by_name["s"]["threshold_ms"]["a"])
    assert summary["scores"]["a"]["threshold_ms"]["n"] == 1 and summary["scores"]["a"]["tracks_converged"]["value"] == 0.5


def test_adaptive_sessions_need_enough_trials_per_track():
    from explorer.humaneval.config import MIN_ADAPTIVE_TRIALS_PER_TRACK

    with pytest.raises(HumanEvalError, match="at least 60 trials per model"):
        rvf_config(num_trials=40, exposure="adaptive").validate()
    rvf_config(num_trials=2 * MIN_ADAPTIVE_TRIALS_PER_TRACK, exposure="adaptive").validate()


# -- scores ----------------------------------------------------------------------------------------
def test_error_rates_on_planted_answers(store):
    info = store.create_session(rvf_config(num_checks=2), provider)
    # Rater 1 judges every fake of model a real and everything else right; rater 2 also misses
    # every real. Exact expected rates follow.
    run_rater(store, store.join(info.code, "p").token,
              lambda t, _: "real" if (t[0] == "fake" and t[2] == "a" and not t[1]) else t[0])
    run_rater(store, store.join(info.code, "q").token,
              lambda t, _: "real" if (t[0] == "fake" and t[2] == "a" and not t[1]) else
              ("fake" if t[0] == "real" and not t[1] else t[0]))
    s = summarize_session(store, info.code, num_boot=300)
    a, b = s["scores"]["a"], s["scores"]["b"]
    assert a["fake_error"]["value"] == 1.0 and b["fake_error"]["value"] == 0.0
    assert a["real_error"]["value"] == b["real_error"]["value"] == 0.5
    assert a["error_rate"]["value"] == 0.75 and b["error_rate"]["value"] == 0.25
    assert a["error_rate"]["n"] == 20 and s["overall"]["error_rate"]["value"] == 0.5
    lo, hi = a["error_rate"]["ci"]
    assert 0.2 <= lo <= 0.75 <= hi <= 1.0
    assert s["raters"][0]["accuracy"] == 0.75 and s["raters"][0]["checks_passed"] == 2


def simulated_rvf_answers(rng, num_raters, num_per_group, p_fake, p_real, rater_sd=0.0):
    """Synthetic answer records: model m's fakes judged real with prob p_fake[m] (+ rater effect)."""
    out = []
    for r in range(num_raters):
        shift = rng.normal(0, rater_sd)
        pos = 0
        for m, (pf, name) in enumerate(zip(p_fake, ("a", "b"))):
            for truth, p in (("fake", pf), ("real", p_real)):
                p = float(np.clip(p + shift, 0, 1))
                for _ in range(num_per_group):
                    wrong = rng.random() < p
                    out.append(dict(rater_id=r, rater_name=f"r{r}", position=pos, is_check=0, truth=truth,
                                    model_a=name if truth == "fake" else None, model_b=None, track=m,
                                    response=("real" if truth == "fake" else "fake") if wrong else truth,
                                    choice="x", correct=int(not wrong), rt_ms=1000.0,
                                    client_rt_ms=None))
                    pos += 1
    return out


def test_error_rate_ci_covers_truth_and_resampling_modes():
    cfg = rvf_config()
    rng = np.random.default_rng(1)
    hits = 0
    for rep in range(40):
        answers = simulated_rvf_answers(rng, 8, 15, (0.4, 0.1), 0.2)
        s = summarize(cfg, answers, num_boot=400, seed=rep)
        lo, hi = s["scores"]["a"]["fake_error"]["ci"]
        hits += lo <= 0.4 <= hi
    assert hits >= 34  # nominal 95 %: 38 of 40 expected
    # heterogeneous raters: resampling raters too widens the interval over trials alone
    answers = simulated_rvf_answers(rng, 10, 20, (0.3, 0.3), 0.3, rater_sd=0.2)
    width = {mode: np.diff(summarize(cfg, answers, num_boot=800, resample=mode)["overall"]["error_rate"]["ci"])[0]
             for mode in ("trials", "raters", "raters+trials")}
    assert width["trials"] < width["raters"] <= width["raters+trials"] * 1.05


def test_bootstrap_weights_shapes():
    rng = np.random.default_rng(0)
    sizes = np.array([3, 4, 5, 6, 2])
    idx = np.repeat(np.arange(5), sizes)
    w = bootstrap_weights(idx, 300, rng, "trials")  # each rater keeps their number of trials
    assert w.shape == (300, 20) and all((w[:, idx == r].sum(1) == sizes[r]).all() for r in range(5))
    w = bootstrap_weights(idx, 300, rng, "raters")  # whole raters drawn: constant within a rater
    assert all(np.ptp(w[:, idx == r], axis=1).max() == 0 for r in range(5))
    assert (w[:, [0, 3, 7, 12, 18]].sum(1) == 5).all()  # 5 raters drawn per replicate
    w = bootstrap_weights(idx, 300, rng, "raters+trials")  # a rater drawn c times: c * n_r trials
    counts = np.stack([w[:, idx == r].sum(1) / sizes[r] for r in range(5)], 1)
    assert np.allclose(counts, counts.round()) and (counts.sum(1).round() == 5).all()
    assert np.ptp(w[:, idx == 3], axis=1).max() > 0  # and trials resampled within


def test_bradley_terry_recovers_known_strengths():
    theta = np.array([1.0, 0.3, -0.2, -1.1])
    theta -= theta.mean()
    names = ["m0", "m1", "m2", "m3"]
    rng = np.random.default_rng(2)
    answers, pos = [], 0
    for r in range(10):
        for i in range(4):
            for j in range(i + 1, 4):
                for _ in range(150):
                    a_wins = rng.random() < 1 / (1 + math.exp(theta[j] - theta[i]))
                    answers.append(dict(rater_id=r, rater_name=f"r{r}", position=pos, is_check=0, truth="",
                                        model_a=names[i], model_b=names[j], track=None,
                                        response="left" if pos % 2 else "right",
                                        choice="a" if a_wins else "b", correct=None, rt_ms=500.0,
                                        client_rt_ms=None))
                    pos += 1
    cfg = SessionConfig(task="pairwise", models=tuple(names), num_trials=6)
    s = summarize(cfg, answers, num_boot=300)
    est = np.array([s["scores"][n]["log_strength"]["value"] for n in names])
    assert abs(est.sum()) < 1e-9
    assert list(np.argsort(-est)) == [0, 1, 2, 3]  # Spearman rho = 1
    assert np.max(np.abs(np.exp(est - theta) - 1)) < 0.1  # strengths within 10 %
    for n, t in zip(names, theta):
        lo, hi = s["scores"][n]["log_strength"]["ci"]
        assert lo - 0.05 <= t <= hi + 0.05 and hi - lo < 0.4


def test_bradley_terry_matches_direct_likelihood_maximum():
    from scipy.optimize import minimize

    wins = np.array([[0, 7, 3], [2, 0, 6], [4, 1, 0]], float)

    def nll(t):
        t = np.append(t, -t.sum())
        d = t[:, None] - t[None, :]
        return -(wins * (d - np.logaddexp(0, d))).sum()

    ref = minimize(nll, np.zeros(2), method="BFGS", options=dict(gtol=1e-10)).x
    ref = np.append(ref, -ref.sum())
    assert np.allclose(bradley_terry(wins, pseudocount=0.0), ref, atol=1e-5)
    # batched fits equal single fits; a model that never wins stays finite with the pseudocount
    batch = np.stack([wins, wins.T])
    assert np.allclose(bradley_terry(batch)[1], bradley_terry(wins.T))
    assert np.isfinite(bradley_terry(np.array([[0, 5], [0, 0]], float))).all()


# -- attention checks ------------------------------------------------------------------------------
def test_attention_check_flagging(store):
    info = store.create_session(rvf_config(num_checks=4), provider)
    good = store.join(info.code, "good")
    careless = store.join(info.code, "careless")
    run_rater(store, good.token, lambda t, _: t[0])
    run_rater(store, careless.token, lambda t, _: "real" if not t[1] else ("fake" if t[0] == "real" else "real"))  # fails every check
    s = summarize_session(store, info.code, num_boot=100)
    by_name = {r["name"]: r for r in s["raters"]}
    assert by_name["good"]["checks_passed"] == 4 and not by_name["good"]["flagged"]
    assert by_name["careless"]["checks_passed"] == 0 and by_name["careless"]["flagged"]
    assert "0 of 4" in by_name["careless"]["reason"]
    assert s["excluded_raters"] == [careless.rater_id] and s["num_raters_included"] == 1
    assert s["overall"]["error_rate"]["value"] == 0.0
    s_all = summarize_session(store, info.code, num_boot=100, exclude_flagged=False)
    assert s_all["overall"]["error_rate"]["value"] == 0.25  # careless misses all 10 fakes: 10 errors in 40

    pinfo = store.create_session(pair_config(), provider)
    honest = store.join(pinfo.code, "honest")
    forced = store.join(pinfo.code, "forced")
    run_rater(store, honest.token, lambda t, _: "tie" if t[1] else "left")
    run_rater(store, forced.token, lambda t, _: "left")  # prefers a side even on identical pairs
    ps = summarize_session(store, pinfo.code, num_boot=50)
    flags = {r["name"]: (r["checks_passed"], r["flagged"]) for r in ps["raters"]}
    assert flags == {"honest": (3, False), "forced": (0, True)}
    assert ps["raters"][0]["left_rate"] == 1.0


# -- exports ---------------------------------------------------------------------------------------
def test_export_round_trip(store, tmp_path):
    info = store.create_session(pair_config(), provider)
    rng = np.random.default_rng(5)
    for name in ("x", "y", "=cmd"):
        rater = store.join(info.code, name)
        while (trial := store.next_trial(rater.token)) is not None:
            store.answer(rater.token, trial.position, str(rng.choice(["left", "right", "tie"])),
                         client_rt_ms=float(rng.uniform(200, 900)))
    paths = export_session(store, info.code, tmp_path / "out", include_stimuli=True, num_boot=200)
    assert set(paths) == {"answers", "raters", "summary", "json", "stimuli"}
    assert read_answers_csv(paths["answers"]) == store.answers(info.code)
    record = read_session_json(paths["json"])
    assert record["answers"] == store.answers(info.code)
    assert "=" not in "".join(r["name"][0] for r in record["raters"])  # no spreadsheet formulas
    text = open(paths["json"]).read() + open(paths["answers"]).read()
    assert info.admin_token not in text and "token" not in text
    again = resummarize(dict(record, answers=read_answers_csv(paths["answers"])))
    assert json.loads(json.dumps(again)) == record["summary"]
    assert len(os.listdir(tmp_path / "out" / "stimuli")) == len(store.stimuli(info.code)) + 1


def test_results_table_next_to_metrics(store):
    info = store.create_session(rvf_config(), provider)
    run_rater(store, store.join(info.code, "r").token, lambda t, _: t[0])
    s = summarize_session(store, info.code, num_boot=100)
    metrics = {"a": {"fid": 12.5, "kid": {"mean": 0.01, "std": 0.002}, "extractor": "domain-digits"},
               "b": {"fid": 30.1}}
    rows = results_table(s, metrics)
    assert [r["model"] for r in rows] == ["a", "b"]
    assert rows[0]["fid"] == 12.5 and rows[0]["kid.mean"] == 0.01 and rows[0]["extractor"] == "domain-digits"
    assert rows[0]["error_rate"] == 0.0 and "error_rate_ci_low" in rows[0]
    md = format_results_markdown(s, metrics)
    assert "error_rate (95% CI)" in md and "12.500" in md and "domain-digits" in md


# -- durability and concurrency --------------------------------------------------------------------
CHILD = textwrap.dedent("""
    import sys, types
    # Start fast: register the bare package so explorer/__init__ (which imports torch) is
    # skipped; the store itself needs only the standard library, numpy and PIL.
    pkg = types.ModuleType("explorer")
    pkg.__path__ = [sys.argv[4]]
    sys.modules["explorer"] = pkg
    from explorer.humaneval.store import HumanEvalStore
    store = HumanEvalStore(sys.argv[1], synchronous=sys.argv[3])
    token = sys.argv[2]
    while True:
        trial = store.next_trial(token)
        if trial is None:
            break
        store.answer(token, trial.position, "real" if trial.position % 3 else "fake")
        print(trial.position, flush=True)  # printed only after the commit returned
""")


@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
def test_sigkill_loses_no_committed_answer(tmp_path, synchronous):
    db = tmp_path / "he.sqlite3"
    store = HumanEvalStore(db, synchronous=synchronous)
    info = store.create_session(rvf_config(models=("a",), num_trials=600, num_checks=0), provider)
    rater = store.join(info.code, "victim")
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    printed: list[int] = []
    for round_ in range(3):  # kill, check, resume where it stopped, kill again
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(db), rater.token, synchronous, PKG],
                                stdout=subprocess.PIPE, text=True, env=env)
        want = len(printed) + 20 + 7 * round_
        while len(printed) < want:
            line = proc.stdout.readline()
            assert line, "child exited early"
            printed.append(int(line))
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream: it is busy with the next answer
        proc.wait()
        proc.stdout.close()
        stored = [a["position"] for a in HumanEvalStore(db).answers(info.code)]
        assert set(printed) <= set(stored)
        assert stored == list(range(len(stored)))  # no gaps, no duplicates
        printed = stored  # an answer committed just before the kill but not printed yet counts too
        assert store.integrity_check() == "ok"
    assert len(printed) >= 60


def test_concurrent_raters_threads_and_processes(tmp_path):
    db = tmp_path / "he.sqlite3"
    store = HumanEvalStore(db)
    info = store.create_session(rvf_config(num_trials=40, num_checks=4), provider)
    raters = [store.join(info.code, f"t{i}") for i in range(6)]
    proc_raters = [store.join(info.code, f"p{i}") for i in range(3)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(raters) * 2)

    def work(rater):
        try:
            barrier.wait()
            while (trial := store.next_trial(rater.token)) is not None:
                store.answer(rater.token, trial.position, "real" if trial.position % 2 else "fake")
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(db), r.token, "FULL", PKG], stdout=subprocess.DEVNULL,
                              env=env) for r in proc_raters]
    # two threads per rater: racing requests for the same rater (double clicks, two tabs)
    threads = [threading.Thread(target=work, args=(r,)) for r in raters for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for p in procs:
        assert p.wait(120) == 0
    errors = [e for e in errors if not (isinstance(e, HumanEvalError) and "not the current one" in str(e))]
    assert not errors, errors
    answers = store.answers(info.code)
    per_rater: dict[int, list[int]] = {}
    for a in answers:
        per_rater.setdefault(a["rater_id"], []).append(a["position"])
    assert len(per_rater) == 9
    assert all(sorted(p) == list(range(44)) for p in per_rater.values())  # each answer exactly once
    assert store.integrity_check() == "ok"


def test_store_reopens_and_rejects_newer_schema(tmp_path):
    db = tmp_path / "he.sqlite3"
    info = HumanEvalStore(db).create_session(rvf_config(), provider)
    assert HumanEvalStore(db).session(info.code).config == rvf_config()
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.execute("PRAGMA user_version=99")
    con.close()
    with pytest.raises(HumanEvalError, match="newer"):
        HumanEvalStore(db)


def test_core_does_not_import_gradio():
    code = "import sys, explorer.humaneval; assert 'gradio' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
