"""Where GAN Explorer keeps things on disk — the one place that knows (issue 11).

=========================  ======================================  ==================================
place                      default                                 environment variable
=========================  ======================================  ==================================
app home                   ``~/.local/share/gan-explorer``         ``GAN_EXPLORER_HOME``
user models                ``<app home>/models``                   (follows the app home)
caches (directions,        ``~/.cache/gan-explorer``               ``GAN_EXPLORER_CACHE`` (the older
metrics features)                                                  ``GAN_EXPLORER_CACHE_DIR`` still works)
human-evaluation database  ``~/.cache/gan-explorer/humaneval.sqlite3``  ``GAN_EXPLORER_HUMANEVAL_DB``
shipped checkpoints        ``<repository>/checkpoints``            ``GAN_EXPLORER_CHECKPOINTS``
=========================  ======================================  ==================================

Every function reads the environment when called (tests and the app set these per run).
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "GAN_EXPLORER_HOME"
CACHE_ENV = "GAN_EXPLORER_CACHE"
#: the metrics cache's former variable, still honoured when ``GAN_EXPLORER_CACHE`` is unset
LEGACY_CACHE_ENV = "GAN_EXPLORER_CACHE_DIR"
HUMANEVAL_DB_ENV = "GAN_EXPLORER_HUMANEVAL_DB"
CHECKPOINTS_ENV = "GAN_EXPLORER_CHECKPOINTS"

#: the repository root (the folder that holds the ``explorer`` package)
REPO_ROOT = Path(__file__).resolve().parents[1]


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else None


def app_home() -> Path:
    """The per-user data folder: ``$GAN_EXPLORER_HOME`` or ``~/.local/share/gan-explorer``."""
    return _env_path(HOME_ENV) or Path.home() / ".local" / "share" / "gan-explorer"


def user_models_dir() -> Path:
    """Imported and trained models: ``<app home>/models``."""
    return app_home() / "models"


def cache_root() -> Path:
    """Root of the caches: ``$GAN_EXPLORER_CACHE`` (or the older ``$GAN_EXPLORER_CACHE_DIR``) or ``~/.cache/gan-explorer``."""
    return _env_path(CACHE_ENV) or _env_path(LEGACY_CACHE_ENV) or Path.home() / ".cache" / "gan-explorer"


def humaneval_db() -> Path:
    """The human-evaluation database: ``$GAN_EXPLORER_HUMANEVAL_DB`` or ``~/.cache/gan-explorer/humaneval.sqlite3``.

    (Not under :func:`cache_root`: it holds people's answers, and moving it with a cache setting
    would hide existing sessions.)
    """
    return _env_path(HUMANEVAL_DB_ENV) or Path.home() / ".cache" / "gan-explorer" / "humaneval.sqlite3"


def checkpoints_dir() -> Path:
    """Shipped checkpoints: ``$GAN_EXPLORER_CHECKPOINTS`` or the repository's ``checkpoints/``."""
    return _env_path(CHECKPOINTS_ENV) or REPO_ROOT / "checkpoints"
