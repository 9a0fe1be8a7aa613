"""The human-evaluation SQLite file: its schema, its migrations, and how connections and transactions are opened.

Every connection is short-lived and set up the same way (busy timeout, ``synchronous`` level,
foreign keys); every transaction runs on its own connection, ``BEGIN IMMEDIATE`` for writes. Why
this makes the store safe to share between threads and processes is told in
:mod:`explorer.humaneval.store`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from explorer.humaneval.config import HumanEvalError

SCHEMA_VERSION = 1

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


def connect(path: str, synchronous: str, busy_timeout_ms: int) -> sqlite3.Connection:
    """A new autocommit connection (transactions are begun explicitly) with rows as :class:`sqlite3.Row`."""
    con = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None)
    con.row_factory = sqlite3.Row
    con.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    con.execute(f"PRAGMA synchronous={synchronous}")
    con.execute("PRAGMA foreign_keys=ON")
    return con


@contextmanager
def transaction(con: sqlite3.Connection, write: bool = True) -> Iterator[sqlite3.Connection]:
    """One transaction on ``con``, which is closed afterwards; IMMEDIATE for writes (the write lock is
    taken up front, so concurrent writers queue instead of failing on a read-to-write upgrade)."""
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


def enable_wal(con: sqlite3.Connection, path: str) -> None:
    """Switch the file to WAL mode (persistent in the file); refuse file systems where SQLite cannot."""
    mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise HumanEvalError(
            f"{path}: SQLite could not switch to WAL mode (got {mode!r}); "
            "put the human-evaluation database on a local disk"
        )


def create_or_migrate(con: sqlite3.Connection, path: str) -> None:
    """Create the tables in a new file, or bring an older file's schema up to :data:`SCHEMA_VERSION`."""
    version = con.execute("PRAGMA user_version").fetchone()[0]
    if version == 0:
        # (executescript() would COMMIT early; run the statements one by one instead)
        for stmt in _SCHEMA.split(";"):
            if stmt.strip():
                con.execute(stmt)
        con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    elif version > SCHEMA_VERSION:
        raise HumanEvalError(
            f"{path} was written by a newer GAN Explorer (schema {version} > {SCHEMA_VERSION}); upgrade"
        )
    # Future schema versions migrate here, one step at a time.
