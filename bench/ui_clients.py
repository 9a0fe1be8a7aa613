"""Many browsers at once: the ``--clients`` and ``--formats`` parts of ``bench_ui_latency.py``.

``run_clients``: K Chromium pages (one browser, one context per page — separate sessions, as K
people) open the app and drag the truncation slider at the same time. Each page repeats: set the
slider to a new value, dispatch ``input`` (what a drag does), wait until the image for it is
loaded and the next frame painted; a move not painted within :data:`LOST_MS` is a lost frame.
Then a short pause (jittered, so the pages do not march in lockstep) and the next move. Reported:
p50/p95 input-event-to-painted latency over all pages, lost frames, and the server's CPU use —
cores it used (CPU-seconds per second) and its share of all CPU the machine spent meanwhile
(the browsers' work is the rest).

``measure_formats``: encode time (PIL, this process) and decode+paint time (Chromium, a data URL
into an ``<img>``, until the next frame) of one preview frame as PNG, lossless WebP, WebP q90 and
JPEG q90, at the model's size and enlarged 12× (nearest), with bytes and the largest pixel error.
(The paint after the decode waits for the next display frame, ~16.7 ms at 60 Hz, whatever the format.)
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import statistics
import time
from dataclasses import dataclass

import numpy as np

#: a move not painted within this many milliseconds counts as lost
LOST_MS = 5000

_CLIENT = """
async ([moves, pauseMs, seed, lostMs]) => {
  const root = document.querySelector('#explore-image');
  const el = document.querySelector('#explore-trunc input[type=range]');
  let s = seed;
  const rand = () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648; };
  const out = [];
  let v = Number(el.value);
  for (let i = 0; i < moves; i++) {
    let nv = v;
    while (Math.abs(nv - v) < 0.05) nv = Math.round((0.1 + 1.3 * rand()) * 100) / 100;
    v = nv;
    const old = (root.querySelector('img') || {}).src;
    const ms = await new Promise(resolve => {
      let t0 = 0, done = false;
      const finish = (ms) => { if (done) return; done = true; obs.disconnect(); resolve(ms); };
      const obs = new MutationObserver(() => {
        const img = root.querySelector('img');
        if (!img || !img.src || img.src === old) return;
        const painted = () => requestAnimationFrame(() => finish(performance.now() - t0));
        if (img.complete && img.naturalWidth) painted(); else img.addEventListener('load', painted, {once: true});
      });
      obs.observe(root, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
      setTimeout(() => finish(null), lostMs);
      t0 = performance.now();
      el.value = v.toFixed(2);
      el.dispatchEvent(new Event('input', {bubbles: true}));
    });
    out.push(ms);
    await new Promise(r => setTimeout(r, pauseMs * (0.5 + rand())));
  }
  return out;
}
"""

_PAINT = """
async ([url, rounds]) => {
  const img = document.createElement('img');
  img.style.width = '380px'; img.style.height = '380px'; img.style.imageRendering = 'pixelated';
  document.body.appendChild(img);
  const times = [];
  for (let i = 0; i < rounds; i++) {
    const u = url + '#' + i;   // a new URL each round: no decoded-image cache
    const t0 = performance.now();
    img.src = u;
    await img.decode();   // the format's part; the paint then waits for the next frame whatever the format
    times.push(performance.now() - t0);
    await new Promise(r => requestAnimationFrame(() => r()));
  }
  img.remove();
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}
"""


@dataclass
class CpuClock:
    """CPU seconds of one process (and its waited-for children) and of the whole machine."""

    pid: int

    def _proc(self) -> float:
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime

    @staticmethod
    def _machine() -> float:
        with open("/proc/stat") as f:
            vals = [int(x) for x in f.readline().split()[1:]]
        busy = sum(vals) - vals[3] - (vals[4] if len(vals) > 4 else 0)  # all but idle and iowait
        return busy / os.sysconf("SC_CLK_TCK")

    def read(self) -> tuple[float, float, float]:
        return time.monotonic(), self._proc(), self._machine()


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


async def _open_pages(browser, url: str, k: int, chromium_ready_timeout: float):
    contexts, pages = [], []
    for _ in range(k):  # one by one: the first page load of K browsers at once is not what is measured
        ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
        page = await ctx.new_page()
        await page.goto(url)
        await page.wait_for_selector("#explore-image img", timeout=chromium_ready_timeout * 1000)
        contexts.append(ctx)
        pages.append(page)
    return contexts, pages


async def _run_clients_async(chromium: str, args: list[str], url: str, k: int, moves: int, pause_ms: float, server_pid: int) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=args, headless=True)
        contexts, pages = await _open_pages(browser, url, k, 300)
        await asyncio.sleep(1.0)
        # a short warm-up drag per page (caches, connections), not counted
        await asyncio.gather(*(pg.evaluate(_CLIENT, [3, pause_ms, 7 + i, LOST_MS]) for i, pg in enumerate(pages)))
        clock = CpuClock(server_pid)
        t0, s0, m0 = clock.read()
        runs = await asyncio.gather(*(pg.evaluate(_CLIENT, [moves, pause_ms, 101 + 17 * i, LOST_MS]) for i, pg in enumerate(pages)))
        t1, s1, m1 = clock.read()
        for ctx in contexts:
            await ctx.close()
        await browser.close()
    lat = [ms for run in runs for ms in run if ms is not None]
    lost = sum(1 for run in runs for ms in run if ms is None)
    wall = t1 - t0
    return {
        "clients": k, "moves": k * moves, "painted": len(lat), "lost": lost,
        "p50_ms": round(statistics.median(lat), 1) if lat else None,
        "p95_ms": round(percentile(lat, 0.95), 1) if lat else None,
        "max_ms": round(max(lat), 1) if lat else None,
        "frames_per_s": round(len(lat) / wall, 1),
        "server_cores": round((s1 - s0) / wall, 2),
        "server_share_pct": round(100 * (s1 - s0) / max(1e-9, m1 - m0), 1),
        "machine_busy_cores": round((m1 - m0) / wall, 2),
    }


def run_clients(chromium: str, args: list[str], url: str, k: int, moves: int, pause_ms: float, server_pid: int) -> dict:
    """K pages drag at once on ``url``; latency, lost frames and server CPU (see the module docstring)."""
    return asyncio.run(_run_clients_async(chromium, args, url, k, moves, pause_ms, server_pid))


# ----------------------------------------------------------------------------------------
# image formats
# ----------------------------------------------------------------------------------------
FORMATS = {
    "PNG (level 1)": ("PNG", {"compress_level": 1}, "image/png"),
    "PNG (level 6)": ("PNG", {"compress_level": 6}, "image/png"),
    "WebP lossless": ("WEBP", {"lossless": True, "quality": 80, "method": 0}, "image/webp"),
    "WebP q90": ("WEBP", {"quality": 90, "method": 0}, "image/webp"),
    "JPEG q90": ("JPEG", {"quality": 90}, "image/jpeg"),
}


def _encode(arr: np.ndarray, fmt: str, opts: dict) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, **opts)
    return buf.getvalue()


def measure_formats(chromium: str, args: list[str], frame: np.ndarray, rounds: int = 40) -> list[dict]:
    """Encode (Python) and decode+paint (Chromium) time of ``frame`` in each format, two sizes."""
    from PIL import Image
    from playwright.sync_api import sync_playwright

    rgb = np.repeat(frame[:, :, None], 3, axis=2) if frame.ndim == 2 else frame
    big = np.repeat(np.repeat(rgb, 12, axis=0), 12, axis=1)
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=args, headless=True)
        page = browser.new_page()
        page.set_content("<html><body></body></html>")
        for size_name, arr in ((f"{rgb.shape[1]} px (model size, scaled by CSS)", rgb), (f"{big.shape[1]} px (enlarged on the server)", big)):
            for name, (fmt, opts, mime) in FORMATS.items():
                data = _encode(arr, fmt, opts)
                times = []
                for _ in range(rounds):
                    t = time.perf_counter()
                    _encode(arr, fmt, opts)
                    times.append((time.perf_counter() - t) * 1000)
                back = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
                url = f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
                paint = page.evaluate(_PAINT, [url, rounds])
                rows.append({"size": size_name, "format": name, "bytes": len(data), "encode_ms": round(statistics.median(times), 3),
                             "decode_ms": round(paint, 3), "max_error": int(np.abs(back - arr.astype(int)).max())})
        browser.close()
    return rows


# ----------------------------------------------------------------------------------------
# the --clients / --formats run
# ----------------------------------------------------------------------------------------
def _preview_frame(entry) -> np.ndarray:
    import explorer
    from explorer.pipelines import explore
    from explorer.ui import render

    model = explorer.load_cached(entry.path)
    req = explore.LatentRequest(seed=0, label=0 if model.num_classes else None, truncation=0.8)
    return render.to_uint8(explore.image_for(model, req))


def _print_formats(rows: list[dict]) -> None:
    print("\nPreview frame: encode (PIL, server) and decode (Chromium, data URL into a 380 px <img>), medians;"
          " the paint itself then waits for the next display frame whatever the format")
    print(f"{'size':40s} {'format':14s} {'bytes':>7s} {'encode ms':>9s} {'decode ms':>9s} {'max err':>7s}")
    for r in rows:
        print(f"{r['size']:40s} {r['format']:14s} {r['bytes']:>7} {r['encode_ms']:>9} {r['decode_ms']:>9} {r['max_error']:>7}")


def _print_clients(rows: list[dict], load: tuple) -> None:
    print(f"\nExplore truncation slider, K browsers dragging at once (load average at the end {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, "
          f"{os.cpu_count()} CPUs); lost = not painted within {LOST_MS / 1000:.0f} s")
    print(f"{'app':16s} {'K':>3s} {'moves':>6s} {'p50 ms':>7s} {'p95 ms':>7s} {'max ms':>7s} {'lost':>5s} {'frames/s':>8s} "
          f"{'server cores':>12s} {'server share':>12s}")
    for r in rows:
        print(f"{r['app']:16s} {r['clients']:>3} {r['moves']:>6} {r['p50_ms']!s:>7} {r['p95_ms']!s:>7} {r['max_ms']!s:>7} {r['lost']:>5} "
              f"{r['frames_per_s']:>8} {r['server_cores']:>12} {str(r['server_share_pct']) + ' %':>12}")
    for r in rows:
        if r["app"] == "GAN Explorer" and r["clients"] == 8:
            ok = (r["p50_ms"] or 1e9) <= 100 and (r["p95_ms"] or 1e9) <= 200 and r["lost"] == 0
            print(f"8 clients: p50 {r['p50_ms']} ms (goal ≤ 100), p95 {r['p95_ms']} ms (goal ≤ 200), lost {r['lost']} (goal 0): "
                  f"{'met' if ok else 'not met'}")


def main_clients(args, chromium: str, chromium_args: list[str], start_server, wait_up, free_port, pick_models) -> int:
    """``bench_ui_latency.py --clients K1,K2,... [--formats]``; returns the exit code."""
    import json
    import shutil
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    entries = [e for e in pick_models(args.models) if e.kind == "dcgan"]
    if not entries:
        print(f"no DCGAN model in {args.models}", file=sys.stderr)
        return 1
    entry = entries[0]
    result: dict = {"model": entry.name, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpus": os.cpu_count()}
    result["formats"] = measure_formats(chromium, chromium_args, _preview_frame(entry))
    _print_formats(result["formats"])
    if args.clients:
        ks = [int(k) for k in str(args.clients).split(",") if k.strip()]
        home = Path(tempfile.mkdtemp(prefix="gan-explorer-bench-"))
        ports = {"GAN Explorer": free_port(), "plain Gradio": free_port()}
        servers = {"GAN Explorer": start_server(args.models, ports["GAN Explorer"], False, home),
                   "plain Gradio": subprocess.Popen([sys.executable, str(root / "bench" / "plain_app.py"), str(entry.path), str(ports["plain Gradio"])],
                                                    cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)}
        rows = []
        try:
            for name, port in ports.items():
                wait_up(f"http://127.0.0.1:{port}/")
            for k in ks:
                for name, port in ports.items():
                    r = run_clients(chromium, chromium_args, f"http://127.0.0.1:{port}/", k, args.moves, args.pause_ms, servers[name].pid)
                    rows.append({"app": name, **r})
                    print(f"  {name}, {k} client(s): p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, lost {r['lost']}", flush=True)
        finally:
            for proc in servers.values():
                proc.terminate()
                proc.wait(timeout=30)
            shutil.rmtree(home, ignore_errors=True)
        result["clients"] = rows
        result["load_average"] = os.getloadavg()
        _print_clients(rows, result["load_average"])
    out = args.out if args.out.name != "ui_latency.json" else args.out.with_name("ui_clients.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(root) if out.is_relative_to(root) else out}")
    return 0
