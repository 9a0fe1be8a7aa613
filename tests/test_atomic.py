"""explorer.atomic: the one atomic write (temp beside the target, fsync, rename)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from explorer.atomic import atomic_path, write_bytes, write_text


def test_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "card.json"
    write_text(target, "old")
    write_text(target, "new ✓")
    assert target.read_text(encoding="utf-8") == "new ✓"
    assert sorted(p.name for p in target.parent.iterdir()) == ["card.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = write_bytes(tmp_path / "model.safetensors", b"good")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_the_temporary_keeps_the_suffix_writers_need(tmp_path):
    target = tmp_path / "dirs.npz"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".dirs.npz.") and tmp.suffix == ".npz"
        np.savez(tmp, a=np.arange(3))  # numpy would append ".npz" to any other name
    assert np.load(target)["a"].tolist() == [0, 1, 2]


def test_concurrent_writers_each_leave_a_whole_file(tmp_path):
    target = tmp_path / "shared.txt"
    payloads = [str(i) * 100_000 for i in range(8)]
    threads = [threading.Thread(target=write_text, args=(target, p)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert target.read_text() in payloads
    assert [p.name for p in tmp_path.iterdir()] == ["shared.txt"]
