"""Scores of human-evaluation sessions: error rates, exposure thresholds, Bradley-Terry
strengths, per-rater statistics, all with bootstrap confidence intervals.

Everything here is a pure function of a session's config and its answer records (as returned
by ``HumanEvalStore.answers`` or read back from a CSV export), so a summary can be recomputed
from an export without the database.

Bootstrap: by default two-stage ("raters+trials"): resample raters with replacement, then
each drawn rater's trials with replacement. This covers both between-rater variation and
the finite number of trials per rater; "raters" or "trials" alone are available. Two-stage
resampling is implemented exactly with multinomial weights: the trial weights of a rater
drawn c times are Multinomial(c * n_r, uniform), the sum of c independent resamples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from explorer.humaneval.config import HumanEvalError, SessionConfig
from explorer.humaneval.staircase import replay

RESAMPLE_MODES = ("raters+trials", "raters", "trials")
_ALL = object()  # internal keys that can never collide with a model name
_WIN_MATRIX = object()


# -- bootstrap ---------------------------------------------------------------------------------
def bootstrap_weights(rater_index: np.ndarray, num_boot: int, rng: np.random.Generator,
                      resample: str = "raters+trials") -> np.ndarray:
    """Resampling weights ``[num_boot, N]`` for N answers belonging to raters ``rater_index``
    (ints 0..R-1); weighted sums with them are bootstrap replicates of plain sums."""
    if resample not in RESAMPLE_MODES:
        raise HumanEvalError(f"resample must be one of {', '.join(RESAMPLE_MODES)}, got {resample!r}")
    rater_index = np.asarray(rater_index, dtype=np.int64)
    num_raters = int(rater_index.max()) + 1 if rater_index.size else 0
    weights = np.zeros((num_boot, rater_index.size))
    if num_raters == 0:
        return weights
    if resample == "trials":
        rater_counts = np.ones((num_boot, num_raters), np.int64)
    else:
        rater_counts = rng.multinomial(num_raters, np.full(num_raters, 1.0 / num_raters), size=num_boot)
    for r in range(num_raters):
        idx = np.flatnonzero(rater_index == r)
        if idx.size == 0:
            continue
        if resample == "raters":
            weights[:, idx] = rater_counts[:, r:r + 1]
            continue
        # Multinomial(c * n_r, uniform) per replicate, as counts of uniform draws (much faster
        # than numpy's row-by-row binomial multinomial).
        draws_per_boot = rater_counts[:, r] * idx.size
        boot_of_draw = np.repeat(np.arange(num_boot), draws_per_boot)
        draws = rng.integers(0, idx.size, boot_of_draw.size)
        weights[:, idx] = np.bincount(boot_of_draw * idx.size + draws,
                                      minlength=num_boot * idx.size).reshape(num_boot, idx.size)
    return weights


def bootstrap_sums(rater_index: np.ndarray, values: np.ndarray, num_boot: int, rng: np.random.Generator,
                   resample: str = "raters+trials", chunk: int = 256) -> np.ndarray:
    """Bootstrap replicates ``[num_boot, S]`` of the column sums of ``values`` ``[N, S]``,
    built ``chunk`` replicates at a time so memory stays bounded for large sessions."""
    values = np.asarray(values, float)  # [N, S]
    out = [bootstrap_weights(rater_index, min(chunk, num_boot - start), rng, resample) @ values
           for start in range(0, num_boot, chunk)]
    return np.concatenate(out) if out else np.zeros((0, values.shape[1]))


def _interval(replicates: np.ndarray, level: float) -> list[float | None]:
    """Percentile interval of bootstrap replicates along axis 0 (NaN replicates ignored)."""
    alpha = (1.0 - level) / 2.0
    reps = np.asarray(replicates, float)
    out = []
    for col in reps.reshape(len(reps), -1).T:
        col = col[np.isfinite(col)]
        out.append([float(np.quantile(col, alpha)), float(np.quantile(col, 1 - alpha))] if col.size else [None, None])
    return out


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _num(x) -> float | None:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)


# -- per-rater statistics ----------------------------------------------------------------------
#: a rater who gave one and the same answer to at least this many trials is flagged
MIN_ANSWERS_FOR_CONSTANT = 8


def rater_stats(config: SessionConfig, answers: Sequence[dict], num_items: int | None = None) -> list[dict]:
    """Per-rater statistics and the attention-check flag.

    accuracy: share of correct non-check real-vs-fake answers (None for pairwise).
    checks_passed / checks_total: answered attention checks (obvious fakes judged "fake";
    identical pairs judged "tie"). A rater is flagged when they answered at least one check
    and passed fewer than ``config.min_check_pass_rate`` of them, or gave the same answer to every
    one of at least ``MIN_ANSWERS_FOR_CONSTANT`` trials.
    median_rt_ms: median response time, the browser's measurement where it sent one.
    Pairwise extras: tie_rate and left_rate (a strong side bias hints at careless clicking)."""
    by_rater: dict[int, list[dict]] = {}
    for a in answers:
        by_rater.setdefault(int(a["rater_id"]), []).append(a)
    out = []
    for rid, rows in sorted(by_rater.items()):
        rows.sort(key=lambda a: int(a["position"]))
        scored = [a for a in rows if not int(a["is_check"])]
        checks = [a for a in rows if int(a["is_check"])]
        passed = sum(int(a["correct"] or 0) for a in checks)
        rts = [a["client_rt_ms"] if a.get("client_rt_ms") is not None else a.get("rt_ms") for a in rows]
        rts = [float(x) for x in rts if x is not None]
        rate = passed / len(checks) if checks else None
        flagged = rate is not None and rate < config.min_check_pass_rate - 1e-12
        reasons = [f"passed {passed} of {len(checks)} attention checks"] if flagged else []
        if len(rows) >= MIN_ANSWERS_FOR_CONSTANT and len({a["response"] for a in rows}) == 1:
            flagged = True  # one button for everything: no judgement in it, whatever the checks say
            reasons.append(f"gave the same answer ({rows[0]['response']}) to all {len(rows)} trials")
        stat = dict(
            rater_id=rid, name=rows[0].get("rater_name"), num_answered=len(rows),
            complete=None if num_items is None else len(rows) >= num_items,
            accuracy=(sum(int(a["correct"]) for a in scored) / len(scored)
                      if scored and config.task == "real_vs_fake" else None),
            checks_passed=passed, checks_total=len(checks), check_pass_rate=rate,
            median_rt_ms=float(np.median(rts)) if rts else None,
            flagged=flagged,
            reason="; ".join(reasons),
        )
        if config.task == "pairwise":
            stat["tie_rate"] = sum(a["choice"] == "tie" for a in scored) / len(scored) if scored else None
            stat["left_rate"] = sum(a["response"] == "left" for a in scored) / len(scored) if scored else None
        if config.task == "real_vs_fake" and config.exposure == "adaptive":
            # A threshold is only an estimate once its track has converged (min_reversals reversals);
            # before that it mostly reflects the start exposure, so it is withheld, not reported.
            stairs = {name: _track_staircase(config, scored, m) for m, name in enumerate(config.names)}
            stat["converged"] = {name: st.converged for name, st in stairs.items()}
            stat["threshold_ms"] = {name: _num(st.threshold_ms()) if st.converged else None
                                    for name, st in stairs.items()}
        out.append(stat)
    return out


def _track_staircase(config: SessionConfig, scored_rows: Sequence[dict], track: int):
    rows = sorted((a for a in scored_rows if a["track"] is not None and int(a["track"]) == track),
                  key=lambda a: int(a["position"]))
    return replay((bool(int(a["correct"])) for a in rows), config.staircase)


# -- Bradley-Terry -----------------------------------------------------------------------------
def bradley_terry(wins: np.ndarray, pseudocount: float = 0.1, tol: float = 1e-10, max_iter: int = 200) -> np.ndarray:
    """Bradley-Terry log-strengths from a win matrix: maximum likelihood by Newton's method.

    Args:
        wins: ``[..., K, K]``; ``wins[i, j]`` = (weighted) times i was preferred to j
            (ties counted as half a win each by the caller). Leading axes are batched, so all
            bootstrap replicates are fitted at once.
        pseudocount: virtual wins added each way for every pair. The maximum-likelihood
            estimate does not exist when a model wins (or loses) every comparison; this weak
            symmetric prior keeps strengths finite and shrinks them slightly towards equality.
    Returns:
        ``[..., K]`` log-strengths theta with sum(theta) = 0; P(i beats j) = sigmoid(theta_i - theta_j).

    Newton rather than Hunter's MM iteration: the log-likelihood is concave, the Hessian is a
    weighted graph Laplacian (K x K, tiny), and Newton needs ~10 steps where MM needs thousands
    when one model dominates. Steps are capped at 2 nats for robustness far from the optimum.
    """
    wins = np.asarray(wins, float)
    k = wins.shape[-1]
    w = wins + pseudocount * (1.0 - np.eye(k))
    n = w + np.swapaxes(w, -1, -2)
    theta = np.zeros(wins.shape[:-1])
    ones = np.full((k, k), 1.0 / k)  # adding 11^T/k pins the free shift (null space of the Laplacian)
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(theta[..., None, :] - theta[..., :, None]))  # P(i beats j)
        grad = (w - n * p).sum(-1)  # [..., K], sums to 0
        c = n * p * (1.0 - p)
        lap = np.eye(k) * c.sum(-1)[..., None, :] - c  # minus the Hessian
        # tiny ridge: stays solvable when a pair was never compared or the MLE diverges
        step = np.linalg.solve(lap + ones + 1e-9 * np.eye(k), grad[..., None])[..., 0]
        size = np.abs(step).max(-1, keepdims=True)
        theta = theta + step * np.minimum(1.0, 2.0 / np.maximum(size, 1e-300))
        if size.max(initial=0.0) < tol:
            break
    return theta - theta.mean(-1, keepdims=True)


# -- summaries ---------------------------------------------------------------------------------
def summarize(config: SessionConfig, answers: Sequence[dict], *, exclude_flagged: bool = True,
              num_boot: int = 2000, level: float = 0.95, seed: int = 0, resample: str = "raters+trials",
              ties: str = "half", pseudocount: float = 0.1, num_items: int | None = None) -> dict:
    """Scores of one session with bootstrap CIs; JSON-serialisable.

    Real-vs-fake, per model m (its fakes plus the reals of its track, equally many):
      error_rate = (fakes judged real + reals judged fake) / trials  (HYPE-inf score; 0.5 = chance,
      higher = more realistic), fake_error = fakes judged real / fakes (how often it fools),
      real_error = reals judged fake / reals; adaptive exposure adds threshold_ms, the mean over
      raters of each rater's staircase threshold (HYPE-time-like; higher = harder to spot), with
      a CI from resampling raters, over the raters whose track converged only (``n``), and
      tracks_converged, the share of raters whose track did. (In adaptive sessions the staircase itself holds error rates
      near 21 %, so compare thresholds there, not error rates.)
    Pairwise: Bradley-Terry log-strengths (sum 0) and win rates; ``ties`` = "half" (half a win
      each) or "drop".
    Attention checks never enter the scores; flagged raters are left out unless
    ``exclude_flagged`` is False.

    Returns a dict with ``task``, ``exposure``, ``models``, ``num_raters``,
    ``num_raters_included``, ``excluded_raters``, ``num_answers``, ``bootstrap`` (the options),
    ``raters`` (:func:`rater_stats`) and ``scores[model][stat] = {"value", "ci": [low, high], "n"?}``;
    real-vs-fake adds ``overall`` (all models pooled), pairwise adds ``win_matrix``, ``ties``
    and ``pseudocount``. Values are None where there is no data yet.
    """
    if ties not in ("half", "drop"):
        raise HumanEvalError("ties must be 'half' or 'drop'")
    raters = rater_stats(config, answers, num_items)
    excluded = {r["rater_id"] for r in raters if r["flagged"]} if exclude_flagged else set()
    included = [r["rater_id"] for r in raters if r["rater_id"] not in excluded]
    rows = [a for a in answers if int(a["rater_id"]) in set(included) and not int(a["is_check"])]
    rater_pos = {rid: i for i, rid in enumerate(sorted({int(a["rater_id"]) for a in rows}))}
    rater_index = np.array([rater_pos[int(a["rater_id"])] for a in rows], np.int64)
    rng = np.random.default_rng(seed)

    def boot(values: np.ndarray) -> np.ndarray:
        return bootstrap_sums(rater_index, values, max(0, num_boot), rng, resample)
    summary = dict(
        task=config.task, exposure=config.exposure if config.task == "real_vs_fake" else "unlimited",
        models=list(config.names), num_raters=len(raters), num_raters_included=len(rater_pos),
        excluded_raters=sorted(excluded), num_answers=len(rows),
        bootstrap=dict(num_boot=num_boot, level=level, seed=seed, resample=resample,
                       method="percentile", threshold_resample="raters"),
        raters=raters,
    )
    if config.task == "real_vs_fake":
        scores = _rvf_scores(config, rows, boot, level, raters, included, rng, num_boot)
        summary["overall"] = scores.pop(_ALL)
        summary["scores"] = scores
    else:
        scores = _pairwise_scores(config, rows, boot, level, ties, pseudocount)
        summary["win_matrix"] = scores.pop(_WIN_MATRIX)
        summary["scores"] = scores
        summary["ties"] = ties
        summary["pseudocount"] = pseudocount
    return summary


def _rvf_scores(config, rows, boot, level, raters, included, rng, num_boot) -> dict:
    names = list(config.names)
    err = np.array([1.0 - int(a["correct"]) for a in rows])
    is_fake = np.array([a["truth"] == "fake" for a in rows], bool)
    track = np.array([-1 if a["track"] is None else int(a["track"]) for a in rows])
    groups: dict[str, dict[str, np.ndarray]] = {}
    for m, name in enumerate(names):
        fake_m = is_fake & (track == m)  # a model's fakes are on its own track
        real_m = ~is_fake & (track == m)
        groups[name] = dict(error_rate=fake_m | real_m, fake_error=fake_m, real_error=real_m)
    groups[_ALL] = dict(error_rate=np.ones(len(rows), bool), fake_error=is_fake, real_error=~is_fake)
    masks = [(g, stat, mask) for g, d in groups.items() for stat, mask in d.items()]
    den = np.stack([mask.astype(float) for _, _, mask in masks], 1) if rows else np.zeros((0, len(masks)))
    num = den * err[:, None] if rows else den
    point = _ratio(num.sum(0), den.sum(0))
    sums = boot(np.concatenate([num, den], 1))
    reps = _ratio(sums[:, :len(masks)], sums[:, len(masks):])
    cis = _interval(reps, level) if len(reps) else [[None, None]] * len(masks)
    scores: dict[str, dict] = {g: {} for g in groups}
    for (g, stat, mask), value, ci in zip(masks, point, cis):
        scores[g][stat] = dict(value=_num(value), ci=ci, n=int(mask.sum()))
    if config.exposure == "adaptive":
        by_id = {r["rater_id"]: r for r in raters}
        for name in names:
            values = np.array([by_id[rid]["threshold_ms"][name] for rid in included
                               if by_id[rid]["threshold_ms"][name] is not None], float)
            entry = dict(value=_num(values.mean()) if values.size else None, ci=[None, None], n=int(values.size))
            if values.size and num_boot > 0:
                idx = rng.integers(0, values.size, (num_boot, values.size))
                entry["ci"] = _interval(values[idx].mean(1), level)[0]
            scores[name]["threshold_ms"] = entry
            # share of included raters whose track converged (only those give a threshold above)
            conv = [bool(by_id[rid]["converged"][name]) for rid in included]
            scores[name]["tracks_converged"] = dict(value=_num(np.mean(conv)) if conv else None, ci=[None, None],
                                                    n=len(conv))
    return scores


def _pairwise_scores(config, rows, boot, level, ties, pseudocount) -> dict:
    names = list(config.names)
    k = len(names)
    pos = {n: i for i, n in enumerate(names)}
    contrib = np.zeros((len(rows), k, k))  # contrib[a, i, j]: answer a's win of i over j
    for r, a in enumerate(rows):
        i, j = pos[a["model_a"]], pos[a["model_b"]]
        if a["choice"] == "a":
            contrib[r, i, j] = 1.0
        elif a["choice"] == "b":
            contrib[r, j, i] = 1.0
        elif ties == "half":
            contrib[r, i, j] = contrib[r, j, i] = 0.5
    flat = contrib.reshape(len(rows), k * k)
    wins = flat.sum(0).reshape(k, k)
    theta = bradley_terry(wins, pseudocount)
    played = wins + wins.T
    win_rate = _ratio(wins.sum(1), played.sum(1))
    scores: dict[str, dict] = {}
    boot_wins = boot(flat).reshape(-1, k, k)
    if len(boot_wins):
        theta_ci = _interval(bradley_terry(boot_wins, pseudocount), level)
        rate_ci = _interval(_ratio(boot_wins.sum(2), (boot_wins + np.swapaxes(boot_wins, 1, 2)).sum(2)), level)
    else:
        theta_ci = rate_ci = [[None, None]] * k
    if not played.sum():  # nothing compared yet: no strengths to report
        theta = np.full(k, np.nan)
        theta_ci = [[None, None]] * k
    for m, name in enumerate(names):
        scores[name] = dict(
            log_strength=dict(value=_num(theta[m]), ci=theta_ci[m]),
            strength=dict(value=_num(np.exp(theta[m])),
                          ci=[None if c is None else float(np.exp(c)) for c in theta_ci[m]]),
            win_rate=dict(value=_num(win_rate[m]), ci=rate_ci[m], n=int(round(played[m].sum()))),
        )
    scores[_WIN_MATRIX] = dict(models=names, wins=wins.tolist())
    return scores
