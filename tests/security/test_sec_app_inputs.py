"""Issue 12, bounded memory through the served app: the public API's caps, the one decoder policy
behind ``/score``, and temporary files of "Prepare download" removed when their request ends."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from PIL import Image

from conftest import fn_index_of, measure, queue_call

gradio_client = pytest.importorskip("gradio_client")

EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n%%EndComments\nnewpath 0 0 moveto 8 8 lineto stroke showpage\n%%EOF\n"


def test_large_png_to_translate_is_capped_like_the_ui(shipped, tmp_path):
    big = tmp_path / "big.png"
    Image.new("RGB", (4000, 4000), (90, 120, 200)).save(big, compress_level=9)
    assert big.stat().st_size < 200_000
    setup = f"""
from pathlib import Path
import gradio_client
from ui_support import running_app
ctx = running_app(Path({str(tmp_path)!r}) / "app", Path({str(shipped)!r}))
app = ctx.__enter__()
client = gradio_client.Client(app.url, verbose=False)
client.predict("shipped:cyclegan_emoji", gradio_client.handle_file({str(tmp_path / 'warm.png')!r}), "AtoB", api_name="/translate")
"""
    Image.new("RGB", (64, 64)).save(tmp_path / "warm.png")
    action = f"""
out = client.predict("shipped:cyclegan_emoji", gradio_client.handle_file({str(big)!r}), "AtoB", api_name="/translate")
from PIL import Image
assert max(Image.open(out).size) <= 256, Image.open(out).size
out = client.predict("shipped:srgan_emoji", gradio_client.handle_file({str(big)!r}), "x4", api_name="/translate")
assert max(Image.open(out).size) <= 4 * 160, Image.open(out).size
"""
    r = measure("import sys; sys.path.insert(0, 'tests')\n" + setup, action, timeout=400)
    assert r["ok"], r
    assert r["growth_mb"] < 400 and r["seconds"] < 60, r  # was an 8.8 GB peak and 144 s of CPU


@pytest.mark.parametrize("endpoint", ["/score", "/translate"])
def test_postscript_named_png_is_refused_by_the_api(client, tmp_path, endpoint):
    fake = tmp_path / "x.png"
    fake.write_bytes(EPS)
    args = ("shipped:dcgan_digits", gradio_client.handle_file(str(fake)), 0, "") if endpoint == "/score" else \
        ("shipped:cyclegan_emoji", gradio_client.handle_file(str(fake)), "AtoB")
    with pytest.raises(Exception, match="not an image format"):
        client.predict(*args, api_name=endpoint)


@pytest.mark.parametrize("bad", [-1, 1e9, "x"])  # NaN cannot even be sent as JSON
def test_generate_validates_numbers(client, bad):
    with pytest.raises(Exception, match="truncation"):
        client.predict("shipped:dcgan_digits", "0", 0, bad, api_name="/generate")
    with pytest.raises(Exception, match="class_index"):
        client.predict("shipped:dcgan_digits", "0", 10**6, 1.0, api_name="/generate")


def _request_dirs() -> set[Path]:
    from explorer.ui.common import TEMP_PREFIX

    return set(Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"))


def test_prepare_download_leaves_no_temp_files(server):
    before = _request_dirs()
    download = fn_index_of(server.demo, "do_download")
    folder_state = server.demo.fns[download].outputs[-1]  # the gr.State holding the request's folder
    cleanup = next(i for i, f in server.demo.fns.items()
                   if getattr(f.fn, "__name__", "") == "remove_request_temp" and folder_state in f.inputs)
    for i in range(3):  # what the page does: the click, then its .then clean-up
        session = f"dl-session-{i:04d}"
        r = queue_call(server.url, download, ["shipped:dcgan_digits"], session_hash=session)
        assert r["success"], r
        assert len(_request_dirs() - before) == 1
        r = queue_call(server.url, cleanup, [None], session_hash=session)
        assert r["success"], r
        assert _request_dirs() - before == set()


def test_stale_request_folders_are_swept(monkeypatch):
    import os
    import time

    from explorer.ui import common

    old = common.request_temp_dir("probe")
    os.utime(old, (time.time() - 2 * common.TEMP_MAX_AGE_S,) * 2)
    new = common.request_temp_dir("probe")
    assert not old.exists() and new.exists()
    common.remove_request_temp(new)
    assert not new.exists()
    outside = Path(tempfile.mkdtemp(prefix="not-ours-"))
    common.remove_request_temp(outside)  # only our own folders are ever removed
    assert outside.exists()
    outside.rmdir()
