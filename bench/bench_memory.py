"""Benchmark: server memory (RSS) at start, after one tour of every tab, and over repeated tours.

Run ``python bench/bench_memory.py`` (options: ``--models DIR`` (default ``checkpoints/``),
``--tours N`` (default 5), ``--out FILE``).

The app is served as ``gan-explorer serve`` serves it (a subprocess); Debian Chromium (headless,
Playwright) takes **tours**: each tour is a new browser session (its own context, as a new
visitor) that does the main thing of every tab — Explore: drag the truncation slider, a random
seed, an interpolation GIF, a sample grid; Stylize: translate, upscale ×4 and a 30-step inversion
of a sample; Discriminator: score distributions; Train: open the dashboard
(no run: that is a training job, not a visit); Evaluate: nearest training images and Fréchet
distance + KID on 100 samples; Models: the catalog card — and then closes its tab.

The server's resident memory (``VmRSS``, and of it ``RssAnon``: heap and stacks, without the
mapped library files that a CUDA build of PyTorch brings) is read after it starts listening, after the first tour
and after each further tour. Goals (issue 15): ≤ 1.5 GB after a tour; flat over repeated tours
(the growth from tour 2 to the last tour per tour should be near zero). Writes
``bench/results/memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from bench_ui_latency import CHROMIUM_ARGS, chromium, free_port, start_server, wait_up  # noqa: E402

SAMPLES = ROOT / "assets" / "samples"
STEP_MS = 300_000  # generous: the machine may be shared


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory of a process in MB from ``/proc/PID/status``: ``VmRSS`` (all of it) or
    ``RssAnon`` (the process's own heap and stacks, without mapped library files)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for pid {pid}")


def reading(pid: int) -> dict:
    return {"rss_mb": round(rss_mb(pid), 1), "anon_mb": round(rss_mb(pid, "RssAnon"), 1)}


def _tab(page, name: str) -> None:
    """Open the (sub-)tab whose label starts with ``name``."""
    page.get_by_role("tab", name=re.compile("^" + re.escape(name))).first.click()


def _text_has(page, sel: str, text: str) -> None:
    page.wait_for_function("([s, t]) => { const e = document.querySelector(s); return !!e && e.innerText.includes(t); }", arg=[sel, text], timeout=STEP_MS)


def tour(browser, url: str) -> float:
    """One visitor does the main thing of every tab, then closes the tab; returns seconds taken."""
    t0 = time.monotonic()
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.goto(url)
    page.wait_for_selector("#explore-image img", timeout=STEP_MS)
    # Explore
    for v in ("0.9", "0.7", "0.5"):
        page.evaluate("(v) => { const e = document.querySelector('#explore-trunc input[type=range]'); e.value = v; "
                      "e.dispatchEvent(new Event('input', {bubbles: true})); }", v)
        time.sleep(0.1)
    page.evaluate("() => document.querySelector('#explore-trunc input[type=range]').dispatchEvent(new PointerEvent('pointerup', {bubbles: true}))")
    _text_has(page, "#explore-status", "ψ = 0.50")
    page.click("#explore-random")
    time.sleep(1.0)
    page.get_by_text("Interpolation", exact=True).first.click()
    page.click("#explore-interp-btn")
    page.wait_for_selector("#explore-gif img", timeout=STEP_MS)
    page.get_by_text("Sample grid", exact=True).first.click()
    page.click("#explore-grid-btn")
    page.wait_for_selector("#explore-grid img", timeout=STEP_MS)
    # Stylize
    _tab(page, "Stylize")
    page.set_input_files("#stylize-cyc-input input[type=file]", str(SAMPLES / "emoji-google_1f434.png"))
    page.wait_for_selector("#stylize-a2b img", timeout=STEP_MS)
    _tab(page, "Super-resolution")
    page.set_input_files("#stylize-sr-input input[type=file]", str(SAMPLES / "emoji-twitter_1f33b.png"))
    page.wait_for_selector("#stylize-sr img", timeout=STEP_MS)
    _tab(page, "Invert into a generator")
    page.set_input_files("#stylize-inv-input input[type=file]", str(SAMPLES / "digits_3_9123.png"))
    page.fill("#stylize-inv-steps input[type=number]", "30")
    page.press("#stylize-inv-steps input[type=number]", "Enter")
    page.click("#stylize-inv-btn")
    page.wait_for_selector("#stylize-inv-out img", timeout=STEP_MS)
    # Discriminator
    _tab(page, "Discriminator")
    page.click("#disc-hist-btn")
    _text_has(page, "#disc-hist-text", "Cohen")
    # Train: the dashboard only (its timer polls while the tab is open)
    if page.get_by_role("tab", name="Train", exact=True).count():
        _tab(page, "Train")
        time.sleep(2.0)
    # Evaluate
    _tab(page, "Evaluate")
    page.fill("#eval-seeds textarea, #eval-seeds input", "0-7")
    page.click("#eval-nn-btn")
    page.wait_for_selector("#eval-nn img", timeout=STEP_MS)
    page.get_by_role("tab", name="Metrics", exact=True).click()
    page.fill("#eval-num input[type=number]", "100")
    page.press("#eval-num input[type=number]", "Enter")
    page.click("#eval-metrics-btn")
    page.wait_for_selector("#eval-metrics-table table", timeout=STEP_MS)
    # Models
    _tab(page, "Models")
    page.wait_for_function("() => document.querySelector('#models-card').innerText.length > 10", timeout=STEP_MS)
    page.close()  # the visitor leaves: the server should free what the session held
    ctx.close()
    return time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=Path, default=ROOT / "checkpoints")
    ap.add_argument("--tours", type=int, default=5)
    ap.add_argument("--settle", type=float, default=5.0, help="seconds to wait after a tour before reading RSS")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "memory.json")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="gan-explorer-bench-"))
    port = free_port()
    server = start_server(args.models, port, False, home)
    url = f"http://127.0.0.1:{port}/"
    rows = []
    try:
        wait_up(url)
        time.sleep(args.settle)
        rows.append({"after": "start (listening, no page yet)", **reading(server.pid)})
        print(f"start: {rows[-1]['rss_mb']} MB", flush=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS, headless=True)
            for i in range(1, args.tours + 1):
                took = tour(browser, url)
                time.sleep(args.settle)
                rows.append({"after": f"tour {i}", **reading(server.pid), "tour_s": round(took, 1)})
                print(f"tour {i}: {rows[-1]['rss_mb']} MB ({took:.0f} s)", flush=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)
    load = os.getloadavg()
    per_tour = (rows[-1]["rss_mb"] - rows[2]["rss_mb"]) / (len(rows) - 3) if len(rows) > 3 else None
    print(f"\nServer RSS (load average {load[0]:.1f}, {os.cpu_count()} CPUs)")
    print(f"{'after':34s} {'RSS MB':>8s} {'of it anonymous':>15s}")
    for r in rows:
        print(f"{r['after']:34s} {r['rss_mb']:>8} {r['anon_mb']:>15}")
    if per_tour is not None:
        print(f"growth per tour after the second: {per_tour:+.1f} MB")
    after_one = rows[1]["rss_mb"] if len(rows) > 1 else None
    if after_one is not None:
        print(f"after one tour {after_one:.0f} MB: {'meets' if after_one <= 1536 else 'misses'} the 1.5 GB goal")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "growth_per_tour_mb": per_tour, "load_average": load, "cpus": os.cpu_count(),
                                    "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2) + "\n")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
