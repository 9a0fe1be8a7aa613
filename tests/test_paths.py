"""explorer.paths: every on-disk place from one module, each with its environment variable."""

from __future__ import annotations

from pathlib import Path

from explorer import latent, paths, zoo
from explorer.humaneval.store import default_db_path
from explorer.metrics import cache as metrics_cache
from explorer.ui import catalog


def test_defaults_under_the_home_folder(monkeypatch, tmp_path):
    for name in (paths.HOME_ENV, paths.CACHE_ENV, paths.LEGACY_CACHE_ENV, paths.HUMANEVAL_DB_ENV, paths.CHECKPOINTS_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert paths.app_home() == tmp_path / ".local" / "share" / "gan-explorer"
    assert paths.user_models_dir() == paths.app_home() / "models" == zoo.default_user_dir() == catalog.Catalog().user_dir
    assert paths.cache_root() == tmp_path / ".cache" / "gan-explorer" == latent.cache_dir()
    assert metrics_cache.cache_dir() == paths.cache_root() / "metrics"
    assert Path(default_db_path()) == tmp_path / ".cache" / "gan-explorer" / "humaneval.sqlite3"
    assert paths.checkpoints_dir() == Path(__file__).resolve().parents[1] / "checkpoints" == zoo.shipped_dir()


def test_environment_variables_move_each_place(monkeypatch, tmp_path):
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path / "home"))
    monkeypatch.setenv(paths.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(paths.LEGACY_CACHE_ENV, str(tmp_path / "old-cache"))
    monkeypatch.setenv(paths.HUMANEVAL_DB_ENV, str(tmp_path / "he.sqlite3"))
    monkeypatch.setenv(paths.CHECKPOINTS_ENV, str(tmp_path / "ckpt"))
    assert paths.app_home() == tmp_path / "home" and paths.user_models_dir() == tmp_path / "home" / "models"
    assert latent.cache_dir() == tmp_path / "cache"  # the one cache variable wins over the older one
    assert metrics_cache.cache_dir() == tmp_path / "cache" / "metrics"
    assert default_db_path() == str(tmp_path / "he.sqlite3")
    assert zoo.shipped_dir() == tmp_path / "ckpt" and zoo.list_models(source="shipped") == []  # folder absent
    monkeypatch.delenv(paths.CACHE_ENV)
    assert metrics_cache.cache_dir() == tmp_path / "old-cache" / "metrics"  # the older variable still works
