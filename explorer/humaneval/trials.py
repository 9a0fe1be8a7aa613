"""Judgements in the human-evaluation database: serving a rater's next trial and recording their answer.

Owns what a rater's browser is shown (:class:`Trial`, which carries nothing that tells the answer),
the exposure of each trial (fixed, or the adaptive staircase rebuilt from stored answers), and how a
click is scored and timed. Functions here work on an open connection inside a transaction of
:class:`~explorer.humaneval.store.HumanEvalStore`.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from dataclasses import dataclass

from explorer.humaneval.config import CHOICES, HumanEvalError, SessionConfig
from explorer.humaneval.sessions import rater_row
from explorer.humaneval.staircase import replay
from explorer.humaneval.stimuli import decode_png


@dataclass(frozen=True)
class Trial:
    """What a rater's browser needs for one trial. Deliberately carries no truth, no model
    name and no check flag: nothing here can tell the rater the answer."""

    position: int  # 0-based
    num_trials: int
    task: str
    images: tuple  # uint8 [H, W, C] arrays: one (real-vs-fake) or (left, right) (pairwise)
    exposure_ms: int | None  # None = unlimited
    choices: tuple[str, ...]
    question: str


@dataclass(frozen=True)
class AnswerResult:
    position: int
    recorded: bool  # False when this position had already been answered (duplicate click)
    num_answered: int
    num_trials: int

    @property
    def done(self) -> bool:
        return self.num_answered >= self.num_trials


@dataclass(frozen=True)
class ServedTrial:
    """A trial as read in its transaction, images still PNG bytes in display order (decoded afterwards,
    outside the transaction, by :meth:`to_trial`)."""

    position: int
    num_trials: int
    config: SessionConfig
    exposure_ms: int | None
    pngs: tuple[bytes, ...]

    def to_trial(self) -> Trial:
        images = tuple(decode_png(png) for png in self.pngs)
        return Trial(self.position, self.num_trials, self.config.task, images, self.exposure_ms,
                     CHOICES[self.config.task], self.config.question or self.config.default_question)


def serve_next(con: sqlite3.Connection, token: str) -> ServedTrial | None:
    """The rater's first unanswered trial (None when they are done), recording when it was served
    and, for adaptive exposure, the exposure chosen by the staircase of its track."""
    r = rater_row(con, token)
    config = SessionConfig.from_json(json.loads(r["config"]))
    n = con.execute("SELECT COUNT(*) FROM trials WHERE rater_id=?", (r["id"],)).fetchone()[0]
    t = con.execute(
        "SELECT t.position, t.swap, i.* FROM trials t JOIN items i ON i.id = t.item_id"
        " LEFT JOIN answers a ON a.rater_id = t.rater_id AND a.position = t.position"
        " WHERE t.rater_id=? AND a.id IS NULL ORDER BY t.position LIMIT 1", (r["id"],)
    ).fetchone()
    if t is None:
        return None
    if r["status"] != "open":
        raise HumanEvalError(f"session {r['code']} is closed")
    exposure = _exposure_for(con, config, r["id"], t)
    con.execute("UPDATE trials SET served_at=?, exposure_ms=? WHERE rater_id=? AND position=?",
                (time.time(), exposure, r["id"], t["position"]))
    ids = [t["stim_a"]] if t["stim_b"] is None else [t["stim_a"], t["stim_b"]]
    if t["swap"]:
        ids.reverse()
    pngs = {row["id"]: row["png"] for row in con.execute(
        f"SELECT id, png FROM stimuli WHERE id IN ({','.join('?' * len(ids))})", ids)}
    return ServedTrial(t["position"], n, config, exposure, tuple(pngs[i] for i in ids))


def record_answer(con: sqlite3.Connection, token: str, position: int, response: str,
                  client_rt_ms: float | None) -> AnswerResult:
    """Store ``response`` (already stripped and lower-cased) to the trial at ``position``; a position
    answered before keeps its first answer (``recorded=False``). Trials must be answered in order."""
    r = rater_row(con, token)
    task = r["task"]
    if response not in CHOICES[task]:
        raise HumanEvalError(f"answer must be one of {', '.join(CHOICES[task])}, got {response!r}")
    n = con.execute("SELECT COUNT(*) FROM trials WHERE rater_id=?", (r["id"],)).fetchone()[0]
    done = con.execute("SELECT COUNT(*) FROM answers WHERE rater_id=?", (r["id"],)).fetchone()[0]
    if con.execute("SELECT 1 FROM answers WHERE rater_id=? AND position=?", (r["id"], position)).fetchone():
        return AnswerResult(int(position), False, done, n)
    if r["status"] != "open":
        raise HumanEvalError(f"session {r['code']} is closed")
    if position != done:
        raise HumanEvalError(f"trial {position + 1} is not the current one (trial {done + 1} is)")
    t = con.execute(
        "SELECT t.*, i.truth, i.is_check FROM trials t JOIN items i ON i.id = t.item_id"
        " WHERE t.rater_id=? AND t.position=?", (r["id"], position)
    ).fetchone()
    if t is None or t["served_at"] is None:
        raise HumanEvalError(f"trial {position + 1} was never shown")
    choice, correct = _score(task, response, t)
    now = time.time()
    server_rt = (now - t["served_at"]) * 1000.0
    # The browser's clock starts when the images are painted, so its time is a little
    # shorter than the server's (serve → answer): a client may refine the server's
    # measurement but never exceed it, nor be negative — a claimed 900 ms for an answer
    # the server saw 55 ms after serving is stored as 55 ms.
    client_rt = _finite_or_none(client_rt_ms)
    if client_rt is not None:
        client_rt = min(max(client_rt, 0.0), server_rt)
    con.execute(
        "INSERT INTO answers (rater_id, position, item_id, response, choice, correct, exposure_ms,"
        " served_at, answered_at, rt_ms, client_rt_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (r["id"], position, t["item_id"], response, choice, correct, t["exposure_ms"], t["served_at"], now,
         server_rt, client_rt),
    )
    return AnswerResult(int(position), True, done + 1, n)


def _finite_or_none(x) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) and x >= 0 else None


def _score(task: str, response: str, trial: sqlite3.Row) -> tuple[str, int | None]:
    """Normalised choice and correctness of one response.

    Real-vs-fake: correct iff the response matches the truth. Pairwise: left/right map back to
    the item's a/b through the swap flag; only identical-pair checks have a right answer —
    'tie' ("no difference"), since neither side can honestly be preferred."""
    if task == "real_vs_fake":
        return response, int(response == trial["truth"])
    if response == "tie":
        choice = "tie"
    else:
        choice = "a" if (response == "left") != bool(trial["swap"]) else "b"
    correct = int(choice == "tie") if trial["is_check"] else None
    return choice, correct


def _exposure_for(con: sqlite3.Connection, config: SessionConfig, rater_id: int, trial: sqlite3.Row) -> int | None:
    if config.task != "real_vs_fake" or config.exposure == "unlimited":
        return None
    if config.exposure == "fixed":
        return int(config.exposure_ms)
    # Adaptive: one interleaved staircase per model track, rebuilt from the stored answers.
    # Checks follow the track of their position so their exposure does not stand out.
    track = trial["track"] if trial["track"] is not None else trial["position"] % len(config.models)
    rows = con.execute(
        "SELECT a.correct FROM answers a JOIN items i ON i.id = a.item_id"
        " WHERE a.rater_id=? AND i.track=? AND i.is_check=0 ORDER BY a.position", (rater_id, track)
    ).fetchall()
    return replay((row["correct"] for row in rows), config.staircase).exposure_ms
