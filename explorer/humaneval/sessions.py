"""Sessions and raters in the human-evaluation database: join codes, the session and rater records,
and the SQL that stores a new session and lets a rater join it.

Functions here work on an open connection inside a transaction of :class:`~explorer.humaneval.store.HumanEvalStore`,
which owns when transactions begin and end.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from dataclasses import dataclass

import numpy as np

from explorer.humaneval.config import HumanEvalError, SessionConfig

# No 0/O, 1/I/L: codes are read aloud and typed. 31^8 ~ 8.5e11 codes (~40 bits).
JOIN_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8


@dataclass(frozen=True)
class SessionInfo:
    code: str
    config: SessionConfig
    seed: int
    status: str
    created_at: float
    num_items: int  # trials per rater, attention checks included
    admin_token: str | None = None  # only filled in by create_session


@dataclass(frozen=True)
class RaterInfo:
    rater_id: int
    name: str
    token: str  # secret; lets the same browser resume after a reload
    code: str
    num_trials: int
    num_answered: int


def normalise_code(code: str) -> str:
    """Join codes are case-insensitive and may be typed with spaces or dashes."""
    return "".join(ch for ch in str(code or "").upper() if ch.isalnum())


def new_join_code() -> str:
    """A random join code of :data:`CODE_LENGTH` characters from :data:`JOIN_ALPHABET`."""
    return "".join(secrets.choice(JOIN_ALPHABET) for _ in range(CODE_LENGTH))


def session_row(con: sqlite3.Connection, code: str) -> sqlite3.Row:
    """The ``sessions`` row of join code ``code``; :class:`HumanEvalError` if there is none."""
    row = con.execute("SELECT * FROM sessions WHERE code=?", (normalise_code(code),)).fetchone()
    if row is None:
        raise HumanEvalError(f"no session with code {code!r}; check the code you were given")
    return row


def rater_row(con: sqlite3.Connection, token: str) -> sqlite3.Row:
    """The ``raters`` row of a secret rater token, with its session's code, task, status and config."""
    row = con.execute(
        "SELECT r.*, s.code, s.task, s.status, s.config FROM raters r JOIN sessions s ON s.id = r.session_id"
        " WHERE r.token=?", (str(token or ""),)
    ).fetchone()
    if row is None:
        raise HumanEvalError("unknown rater; join the session again with its code")
    return row


def insert_session(con: sqlite3.Connection, code: str, admin_token: str, task: str, seed: int, config_json: str,
                   stimuli: list[tuple], items: list[dict]) -> None:
    """Store a session row, its stimuli and its items (as :func:`~explorer.humaneval.stimuli.session_stimuli`
    returns them). Raises :class:`sqlite3.IntegrityError` naming ``sessions.code`` if the code is taken."""
    sid = con.execute(
        "INSERT INTO sessions (code, admin_token, created_at, task, seed, config) VALUES (?,?,?,?,?,?)",
        (code, admin_token, time.time(), task, seed, config_json),
    ).lastrowid
    stim_ids = []
    for kind, source, sseed, png in stimuli:
        stim_ids.append(con.execute(
            "INSERT INTO stimuli (session_id, kind, source, seed, png) VALUES (?,?,?,?,?)",
            (sid, kind, source, sseed, png),
        ).lastrowid)
    for idx, it in enumerate(items):
        con.execute(
            "INSERT INTO items (session_id, idx, is_check, truth, stim_a, stim_b, model_a, model_b,"
            " track, seed) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (sid, idx, int(it["is_check"]), it["truth"], stim_ids[it["a"]],
             None if it["b"] is None else stim_ids[it["b"]],
             it["model_a"], it["model_b"], it["track"], it["seed"]),
        )


def clean_rater_name(name) -> str:
    """A rater's display name with whitespace collapsed; :class:`HumanEvalError` unless 1 to 60 characters."""
    # Leading = + - @ would make spreadsheet programs run the name as a formula on export.
    name = " ".join(str(name or "").split()).lstrip("=+-@ ")
    if not 1 <= len(name) <= 60:
        raise HumanEvalError("enter a name (1 to 60 characters)")
    return name


def add_rater(con: sqlite3.Connection, srow: sqlite3.Row, name: str, token: str) -> tuple[int, int]:
    """Add a rater to the open session ``srow`` with their own trial order, seeded by their id.

    Returns (rater id, number of trials)."""
    if srow["status"] != "open":
        raise HumanEvalError(f"session {srow['code']} is closed")
    taken = con.execute("SELECT 1 FROM raters WHERE session_id=? AND lower(name)=lower(?)", (srow["id"], name)).fetchone()
    if taken:  # one rater identity per person: a second join under the same name is refused
        raise HumanEvalError(f"the name {name!r} has already joined this session; to continue, use the browser "
                             "you joined with, or choose another name if you are someone else")
    items = con.execute("SELECT id, track FROM items WHERE session_id=? ORDER BY idx", (srow["id"],)).fetchall()
    rid = con.execute("INSERT INTO raters (session_id, name, token, joined_at) VALUES (?,?,?,?)",
                      (srow["id"], name, token, time.time())).lastrowid
    rng = np.random.default_rng([srow["seed"], 1, rid])
    order = rng.permutation(len(items))
    swaps = rng.integers(0, 2, len(items)) if srow["task"] == "pairwise" else np.zeros(len(items), int)
    con.executemany(
        "INSERT INTO trials (rater_id, position, item_id, swap) VALUES (?,?,?,?)",
        [(rid, pos, items[int(i)]["id"], int(swaps[pos])) for pos, i in enumerate(order)],
    )
    return rid, len(items)
