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
"""

from __future__ import annotations

import json
import math
import os
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from explorer.humaneval.config import CHOICES, HumanEvalError, SessionConfig
from explorer.humaneval.staircase import replay
from explorer.humaneval.stimuli import StimulusProvider, check_stimuli, decode_png, encode_png, match_shape
from explorer.paths import humaneval_db

SCHEMA_VERSION = 1
# No 0/O, 1/I/L: codes are read aloud and typed. 31^8 ~ 8.5e11 codes (~40 bits).
JOIN_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8

_SCHEMA = """
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    admin_token TEXT NOT NULL,
    created_at REAL NOT NULL,
    task TEXT NOT NULL,
    seed INTEGER NOT NULL,
    config TEXT NOT NULL,                 -- SessionConfig as JSON
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed'))
);
CREATE TABLE stimuli (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    kind TEXT NOT NULL CHECK (kind IN ('real', 'fake', 'check')),
    source TEXT,                          -- model name, real-set name, or NULL for checks
    seed INTEGER,                         -- latent seed (fake) or selection seed (real)
    png BLOB NOT NULL
);
CREATE TABLE items (                      -- the trials every rater of a session sees
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    idx INTEGER NOT NULL,
    is_check INTEGER NOT NULL,
    truth TEXT NOT NULL,                  -- 'real' | 'fake' | 'tie' (identical pair) | '' (pairwise)
    stim_a INTEGER NOT NULL REFERENCES stimuli(id),
    stim_b INTEGER REFERENCES stimuli(id),
    model_a TEXT,
    model_b TEXT,
    track INTEGER,                        -- staircase / per-model track (real-vs-fake)
    seed INTEGER,
    UNIQUE (session_id, idx)
);
CREATE TABLE raters (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    name TEXT NOT NULL,
    token TEXT NOT NULL UNIQUE,
    joined_at REAL NOT NULL
);
CREATE TABLE trials (                     -- each rater's own order of the items
    rater_id INTEGER NOT NULL REFERENCES raters(id),
    position INTEGER NOT NULL,
    item_id INTEGER NOT NULL REFERENCES items(id),
    swap INTEGER NOT NULL,                -- pairwise: 1 = item's image b is shown on the left
    served_at REAL,
    exposure_ms INTEGER,
    PRIMARY KEY (rater_id, position)
) WITHOUT ROWID;
CREATE TABLE answers (
    id INTEGER PRIMARY KEY,
    rater_id INTEGER NOT NULL REFERENCES raters(id),
    position INTEGER NOT NULL,
    item_id INTEGER NOT NULL REFERENCES items(id),
    response TEXT NOT NULL,               -- as clicked: real/fake or left/right/tie
    choice TEXT NOT NULL,                 -- normalised: real/fake or a/b/tie
    correct INTEGER,                      -- NULL where there is no right answer
    exposure_ms INTEGER,
    served_at REAL,
    answered_at REAL NOT NULL,
    rt_ms REAL,                           -- server-side: answered_at - served_at
    client_rt_ms REAL,                    -- as measured by the browser, if it sent one
    UNIQUE (rater_id, position)
);
CREATE INDEX items_session ON items(session_id);
CREATE INDEX raters_session ON raters(session_id);
"""


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
        con = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None)
        con.row_factory = sqlite3.Row
        con.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
        con.execute(f"PRAGMA synchronous={self.synchronous}")
        con.execute("PRAGMA foreign_keys=ON")
        return con

    @contextmanager
    def _tx(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction on a fresh connection; IMMEDIATE for writes (see module doc)."""
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield con
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    def _init_db(self) -> None:
        con = self._connect()
        try:
            mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise HumanEvalError(
                    f"{self.path}: SQLite could not switch to WAL mode (got {mode!r}); "
                    "put the human-evaluation database on a local disk"
                )
        finally:
            con.close()
        with self._tx() as con:
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                # (executescript() would COMMIT early; run the statements one by one instead)
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        con.execute(stmt)
                con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            elif version > SCHEMA_VERSION:
                raise HumanEvalError(
                    f"{self.path} was written by a newer GAN Explorer (schema {version} > {SCHEMA_VERSION}); upgrade"
                )
            # Future schema versions migrate here, one step at a time.

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
            from explorer.humaneval.stimuli import default_stimulus_provider

            provider = default_stimulus_provider()
        stimuli, items = _make_stimuli(config, seed, provider)
        admin_token = secrets.token_urlsafe(16)
        config_json = json.dumps({**config.to_json(), "seed": seed})
        for _ in range(10):
            code = "".join(secrets.choice(JOIN_ALPHABET) for _ in range(CODE_LENGTH))
            try:
                with self._tx() as con:
                    sid = con.execute(
                        "INSERT INTO sessions (code, admin_token, created_at, task, seed, config) VALUES (?,?,?,?,?,?)",
                        (code, admin_token, time.time(), config.task, seed, config_json),
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
            row = self._session_row(con, code)
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
            self._session_row(con, code)
            con.execute("UPDATE sessions SET status=? WHERE code=?", (status, normalise_code(code)))

    @staticmethod
    def _session_row(con: sqlite3.Connection, code: str) -> sqlite3.Row:
        row = con.execute("SELECT * FROM sessions WHERE code=?", (normalise_code(code),)).fetchone()
        if row is None:
            raise HumanEvalError(f"no session with code {code!r}; check the code you were given")
        return row

    # -- raters ------------------------------------------------------------------------------
    def join(self, code: str, name: str) -> RaterInfo:
        """Add a rater to an open session; they get their own trial order, seeded by their id."""
        # Leading = + - @ would make spreadsheet programs run the name as a formula on export.
        name = " ".join(str(name or "").split()).lstrip("=+-@ ")
        if not 1 <= len(name) <= 60:
            raise HumanEvalError("enter a name (1 to 60 characters)")
        token = secrets.token_urlsafe(16)
        with self._tx() as con:
            srow = self._session_row(con, code)
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
        return RaterInfo(rid, name, token, srow["code"], len(items), 0)

    def rater(self, token: str) -> RaterInfo:
        """Look a rater up by their secret token (to resume after a page reload)."""
        with self._tx(write=False) as con:
            row = self._rater_row(con, token)
            n = con.execute("SELECT COUNT(*) FROM trials WHERE rater_id=?", (row["id"],)).fetchone()[0]
            done = con.execute("SELECT COUNT(*) FROM answers WHERE rater_id=?", (row["id"],)).fetchone()[0]
        return RaterInfo(row["id"], row["name"], token, row["code"], n, done)

    @staticmethod
    def _rater_row(con: sqlite3.Connection, token: str) -> sqlite3.Row:
        row = con.execute(
            "SELECT r.*, s.code, s.task, s.status, s.config FROM raters r JOIN sessions s ON s.id = r.session_id"
            " WHERE r.token=?", (str(token or ""),)
        ).fetchone()
        if row is None:
            raise HumanEvalError("unknown rater; join the session again with its code")
        return row

    # -- trials and answers ------------------------------------------------------------------
    def next_trial(self, token: str) -> Trial | None:
        """The rater's first unanswered trial (None when they are done). Records when it was
        served and, for adaptive exposure, the exposure chosen by the staircase of its track."""
        with self._tx() as con:
            r = self._rater_row(con, token)
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
        images = tuple(decode_png(pngs[i]) for i in ids)
        return Trial(t["position"], n, config.task, images, exposure, CHOICES[config.task],
                     config.question or config.default_question)

    def answer(self, token: str, position: int, response: str, client_rt_ms: float | None = None) -> AnswerResult:
        """Record the rater's answer to the trial at ``position``; committed before returning.

        Answering a position twice records the first answer only (``recorded=False``), so
        double clicks and retried requests are harmless. Trials must be answered in order."""
        response = str(response).strip().lower()
        with self._tx() as con:
            r = self._rater_row(con, token)
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

    # -- read-outs ---------------------------------------------------------------------------
    def raters(self, code: str) -> list[dict]:
        """Raters of a session with their progress (no tokens)."""
        with self._tx(write=False) as con:
            srow = self._session_row(con, code)
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
            srow = self._session_row(con, code)
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
            srow = self._session_row(con, code)
            rows = con.execute(
                "SELECT idx AS item, is_check, truth, stim_a, stim_b, model_a, model_b, track, seed"
                " FROM items WHERE session_id=? ORDER BY idx", (srow["id"],)
            ).fetchall()
        return [dict(r) for r in rows]

    def stimuli(self, code: str) -> list[dict]:
        """Stimulus records (id, kind, source, seed, png bytes) of a session."""
        with self._tx(write=False) as con:
            srow = self._session_row(con, code)
            rows = con.execute("SELECT id, kind, source, seed, png FROM stimuli WHERE session_id=? ORDER BY id",
                               (srow["id"],)).fetchall()
        return [dict(r) for r in rows]


def normalise_code(code: str) -> str:
    """Join codes are case-insensitive and may be typed with spaces or dashes."""
    return "".join(ch for ch in str(code or "").upper() if ch.isalnum())


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


def _make_stimuli(config: SessionConfig, seed: int, provider: StimulusProvider):
    """Generate/select every image of a session deterministically from ``seed``.

    Returns (stimuli, items): stimuli = [(kind, source, seed, png)], items reference stimuli by
    list index. Every model is sampled on the same latent seeds (a matched comparison)."""
    rng = np.random.default_rng([seed, 0])
    names, k = config.names, len(config.models)
    if config.task == "real_vs_fake":
        num_per_model = config.num_trials // (2 * k)
        latent_seeds = [int(s) for s in rng.choice(2**31, num_per_model, replace=False)]
    else:
        num_seeds = config.num_trials // config.num_pairs
        all_seeds = rng.choice(2**31, num_seeds + config.num_checks, replace=False)
        latent_seeds = [int(s) for s in all_seeds[:num_seeds]]
        check_seeds = [int(s) for s in all_seeds[num_seeds:]]
    gen_seeds = latent_seeds if config.task == "real_vs_fake" else latent_seeds + check_seeds
    fakes = [_as_uint8(provider("fake", src, gen_seeds), len(gen_seeds), f"model {name}")
             for src, name in zip(config.models, names)]
    # One display shape for the whole session: the largest model resolution, RGB if any is.
    height = max(f.shape[1] for f in fakes)
    width = max(f.shape[2] for f in fakes)
    channels = 3 if any(f.shape[3] == 3 for f in fakes) else 1
    fakes = [match_shape(f, height, width, channels) for f in fakes]

    stimuli: list[tuple] = []
    items: list[dict] = []

    def add(kind, source, sseed, image) -> int:
        stimuli.append((kind, source, sseed, encode_png(image)))
        return len(stimuli) - 1

    def item(a, b=None, *, truth, is_check=False, model_a=None, model_b=None, track=None, seed_=None):
        items.append(dict(a=a, b=b, truth=truth, is_check=is_check, model_a=model_a, model_b=model_b,
                          track=track, seed=seed_))

    if config.task == "real_vs_fake":
        for m, name in enumerate(names):
            for s, img in zip(latent_seeds, fakes[m]):
                item(add("fake", name, s, img), truth="fake", model_a=name, track=m, seed_=s)
        num_real = num_per_model * k
        real_seeds = [int(s) for s in rng.choice(2**31, num_real, replace=False)]
        reals = _as_uint8(provider("real", config.real_set, real_seeds), num_real, f"real set {config.real_set}")
        reals = match_shape(reals, height, width, channels)
        for j, (s, img) in enumerate(zip(real_seeds, reals)):
            item(add("real", config.real_set, s, img), truth="real", track=j % k, seed_=s)
        check_imgs, check_truths = check_stimuli(rng, config.num_checks, height, width, channels)
        for img, truth in zip(check_imgs, check_truths):
            item(add("check", None, None, img), truth=truth, is_check=True)
    else:
        stim = {(m, s): add("fake", names[m], s, fakes[m][j])
                for m in range(k) for j, s in enumerate(latent_seeds)}
        for s in latent_seeds:
            for i in range(k):
                for j in range(i + 1, k):
                    item(stim[i, s], stim[j, s], truth="", model_a=names[i], model_b=names[j], seed_=s)
        for c, s in enumerate(check_seeds):
            m = c % k
            sid = add("fake", names[m], s, fakes[m][len(latent_seeds) + c])
            item(sid, sid, truth="tie", is_check=True, model_a=names[m], model_b=names[m], seed_=s)
    return stimuli, items


def _as_uint8(images, expected: int, what: str) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[0] != expected or arr.shape[3] not in (1, 3):
        raise HumanEvalError(f"{what}: expected {expected} images [N, H, W, 1|3], got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise HumanEvalError(f"{what}: expected uint8 images, got {arr.dtype}")
    return arr
