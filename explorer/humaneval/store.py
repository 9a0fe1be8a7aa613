"""SQLite storage of human-evaluation sessions: sessions, stimuli, raters, trial orders, answers.

Durability and concurrency, by construction:

- WAL journal (``PRAGMA journal_mode=WAL``, persistent in the file): readers never block the
  writer and a writer never blocks readers.
- Every operation opens its own short-lived connection, so the store is safe to share between
  the threads of a web server and between processes.
- Every write runs in ``BEGIN IMMEDIATE``: the write lock is taken up front, so two raters
  answering at once queue behind each other (``busy_timeout``) instead of failing with
  "database is locked" on a read-to-write upgrade. ``UNIQUE(rater_id, position)`` makes a
  double click, a retried request or a second browser tab record an answer at most once.
- Each answer is committed before :meth:`HumanEvalStore.answer` returns. With WAL the commit
  is in the WAL file (OS page cache) at that point, which survives a SIGKILL of the server
  with ``synchronous=NORMAL`` already; the default ``synchronous=FULL`` also fsyncs the WAL
  at each commit, so committed answers survive an OS crash or power loss too. Answers arrive
  at human speed, so the fsync per click costs nothing noticeable.

Stimuli are stored as PNG blobs in the same file: a session is one self-contained, atomically
created record, and image file names can never leak whether an image is real.

This module owns :class:`HumanEvalStore`, the one entry point; the schema and connections are in
:mod:`explorer.humaneval.schema`, sessions and raters in :mod:`explorer.humaneval.sessions`,
serving trials and recording answers in :mod:`explorer.humaneval.trials`.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time

from explorer.humaneval.config import CHOICES, HumanEvalError, SessionConfig
from explorer.humaneval.schema import SCHEMA_VERSION, connect, create_or_migrate, enable_wal, transaction
from explorer.humaneval.sessions import (
    CODE_LENGTH,
    JOIN_ALPHABET,
    RaterInfo,
    SessionInfo,
    add_rater,
    clean_rater_name,
    insert_session,
    new_join_code,
    normalise_code,
    rater_row,
    session_row,
)
from explorer.humaneval.stimuli import StimulusProvider, default_stimulus_provider, make_session_stimuli
from explorer.humaneval.trials import AnswerResult, Trial, record_answer, serve_next
from explorer.paths import humaneval_db

# Names other modules import from here (the store's records and constants live in the modules above).
__all__ = [
    "AnswerResult", "CHOICES", "CODE_LENGTH", "HumanEvalError", "HumanEvalStore", "JOIN_ALPHABET", "RaterInfo",
    "SCHEMA_VERSION", "SessionConfig", "SessionInfo", "StimulusProvider", "Trial", "default_db_path",
    "normalise_code",
]


def default_db_path() -> str:
    """``$GAN_EXPLORER_HUMANEVAL_DB`` or ``~/.cache/gan-explorer/humaneval.sqlite3`` (:func:`explorer.paths.humaneval_db`)."""
    return os.fspath(humaneval_db())


class HumanEvalStore:
    """All sessions in one SQLite file. Cheap to construct; safe to share across threads."""

    def __init__(self, path: str | os.PathLike | None = None, synchronous: str = "FULL", busy_timeout_ms: int = 30_000):
        if synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
            raise HumanEvalError("synchronous must be NORMAL, FULL or EXTRA (OFF could lose committed answers)")
        self.path = os.fspath(path or default_db_path())
        self.synchronous = synchronous.upper()
        self.busy_timeout_ms = int(busy_timeout_ms)
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._init_db()

    # -- connections -------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        return connect(self.path, self.synchronous, self.busy_timeout_ms)

    def _tx(self, write: bool = True):
        """One transaction on a fresh connection; IMMEDIATE for writes (see module doc)."""
        return transaction(self._connect(), write)

    def _init_db(self) -> None:
        con = self._connect()
        try:
            enable_wal(con, self.path)
        finally:
            con.close()
        with self._tx() as con:
            create_or_migrate(con, self.path)

    def integrity_check(self) -> str:
        con = self._connect()
        try:
            return con.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            con.close()

    # -- sessions ----------------------------------------------------------------------------
    def create_session(self, config: SessionConfig, provider: StimulusProvider | None = None) -> SessionInfo:
        """Validate ``config``, make the stimuli and store the session. Returns its info with the
        join code (for raters) and ``admin_token`` (for the organiser: results, closing)."""
        config.validate()
        seed = int(config.seed) if config.seed is not None else secrets.randbelow(2**31)
        if provider is None:
            provider = default_stimulus_provider()
        stimuli, items = make_session_stimuli(config, seed, provider)
        admin_token = secrets.token_urlsafe(16)
        config_json = json.dumps({**config.to_json(), "seed": seed})
        for _ in range(10):
            code = new_join_code()
            try:
                with self._tx() as con:
                    insert_session(con, code, admin_token, config.task, seed, config_json, stimuli, items)
                break
            except sqlite3.IntegrityError as exc:  # join-code collision: draw another
                if "sessions.code" not in str(exc):
                    raise
        else:
            raise HumanEvalError("could not draw an unused join code")
        return SessionInfo(code, SessionConfig.from_json(json.loads(config_json)), seed, "open", time.time(),
                           len(items), admin_token)

    def session(self, code: str) -> SessionInfo:
        with self._tx(write=False) as con:
            row = session_row(con, code)
            num = con.execute("SELECT COUNT(*) FROM items WHERE session_id=?", (row["id"],)).fetchone()[0]
        return SessionInfo(row["code"], SessionConfig.from_json(json.loads(row["config"])), row["seed"],
                           row["status"], row["created_at"], num)

    def check_admin(self, code: str, admin_token: str) -> bool:
        """True when ``admin_token`` is the organiser token of session ``code`` (constant-time)."""
        with self._tx(write=False) as con:
            row = con.execute("SELECT admin_token FROM sessions WHERE code=?", (normalise_code(code),)).fetchone()
        return bool(row) and secrets.compare_digest(row["admin_token"], str(admin_token or ""))

    def set_status(self, code: str, status: str) -> None:
        """Close a session (no new raters, no new answers) or reopen it."""
        if status not in ("open", "closed"):
            raise HumanEvalError("status must be 'open' or 'closed'")
        with self._tx() as con:
            session_row(con, code)
            con.execute("UPDATE sessions SET status=? WHERE code=?", (status, normalise_code(code)))

    # -- raters ------------------------------------------------------------------------------
    def join(self, code: str, name: str) -> RaterInfo:
        """Add a rater to an open session; they get their own trial order, seeded by their id."""
        name = clean_rater_name(name)
        token = secrets.token_urlsafe(16)
        with self._tx() as con:
            srow = session_row(con, code)
            rid, num_trials = add_rater(con, srow, name, token)
        return RaterInfo(rid, name, token, srow["code"], num_trials, 0)

    def rater(self, token: str) -> RaterInfo:
        """Look a rater up by their secret token (to resume after a page reload)."""
        with self._tx(write=False) as con:
            row = rater_row(con, token)
            n = con.execute("SELECT COUNT(*) FROM trials WHERE rater_id=?", (row["id"],)).fetchone()[0]
            done = con.execute("SELECT COUNT(*) FROM answers WHERE rater_id=?", (row["id"],)).fetchone()[0]
        return RaterInfo(row["id"], row["name"], token, row["code"], n, done)

    # -- trials and answers ------------------------------------------------------------------
    def next_trial(self, token: str) -> Trial | None:
        """The rater's first unanswered trial (None when they are done). Records when it was
        served and, for adaptive exposure, the exposure chosen by the staircase of its track."""
        with self._tx() as con:
            served = serve_next(con, token)
        return None if served is None else served.to_trial()  # PNGs decoded after the commit

    def answer(self, token: str, position: int, response: str, client_rt_ms: float | None = None) -> AnswerResult:
        """Record the rater's answer to the trial at ``position``; committed before returning.

        Answering a position twice records the first answer only (``recorded=False``), so
        double clicks and retried requests are harmless. Trials must be answered in order."""
        response = str(response).strip().lower()
        with self._tx() as con:
            result = record_answer(con, token, position, response, client_rt_ms)
        return result

    # -- read-outs ---------------------------------------------------------------------------
    def raters(self, code: str) -> list[dict]:
        """Raters of a session with their progress (no tokens)."""
        with self._tx(write=False) as con:
            srow = session_row(con, code)
            rows = con.execute(
                "SELECT r.id AS rater_id, r.name, r.joined_at,"
                " (SELECT COUNT(*) FROM trials t WHERE t.rater_id=r.id) AS num_trials,"
                " (SELECT COUNT(*) FROM answers a WHERE a.rater_id=r.id) AS num_answered"
                " FROM raters r WHERE r.session_id=? ORDER BY r.id", (srow["id"],)
            ).fetchall()
        return [dict(r) for r in rows]

    def answers(self, code: str) -> list[dict]:
        """Every answer of a session, one flat record each (what the stats and exports use)."""
        with self._tx(write=False) as con:
            srow = session_row(con, code)
            rows = con.execute(
                "SELECT s.code AS session, s.task, r.id AS rater_id, r.name AS rater_name, a.position,"
                " i.idx AS item, i.is_check, i.truth, i.model_a, i.model_b, i.track, i.seed, t.swap,"
                " a.response, a.choice, a.correct, a.exposure_ms, a.served_at, a.answered_at, a.rt_ms, a.client_rt_ms"
                " FROM answers a JOIN raters r ON r.id = a.rater_id JOIN sessions s ON s.id = r.session_id"
                " JOIN items i ON i.id = a.item_id JOIN trials t ON t.rater_id = a.rater_id AND t.position = a.position"
                " WHERE s.id=? ORDER BY a.rater_id, a.position", (srow["id"],)
            ).fetchall()
        return [dict(r) for r in rows]

    def items(self, code: str) -> list[dict]:
        """The session's items (what every rater sees), with stimulus ids, without images."""
        with self._tx(write=False) as con:
            srow = session_row(con, code)
            rows = con.execute(
                "SELECT idx AS item, is_check, truth, stim_a, stim_b, model_a, model_b, track, seed"
                " FROM items WHERE session_id=? ORDER BY idx", (srow["id"],)
            ).fetchall()
        return [dict(r) for r in rows]

    def stimuli(self, code: str) -> list[dict]:
        """Stimulus records (id, kind, source, seed, png bytes) of a session."""
        with self._tx(write=False) as con:
            srow = session_row(con, code)
            rows = con.execute("SELECT id, kind, source, seed, png FROM stimuli WHERE session_id=? ORDER BY id",
                               (srow["id"],)).fetchall()
        return [dict(r) for r in rows]

