"""Benchmark: cold start of ``gan-explorer serve`` to a page showing an image, against a plain
Gradio app that imports torch (``bench/plain_app.py``) — both measured in the same run.

Run ``python bench/bench_start.py`` (options: ``--repeats N`` (default 3), ``--models DIR``,
``--out FILE``).

Each start is a new process (the operating system's file cache is warm: one unmeasured start of
each app comes first, which also fills GAN Explorer's direction cache, as any earlier use would
have). Chromium is already running; the clock starts when the server process is spawned and
reads two times: the first HTTP 200 for ``/``, and the moment a page opened on it shows the
generated image (``#explore-image img`` loaded). The two apps alternate, so load on a shared
machine hits both alike. Goal (issue 15): GAN Explorer's time to an image ≤ 1.3× the plain
app's. Writes ``bench/results/start.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from bench_ui_latency import CHROMIUM_ARGS, chromium, free_port  # noqa: E402

GOAL_RATIO = 1.3


def _explorer_cmd(port: int, models: Path, home: Path) -> list[str]:
    exe = Path(sys.executable).with_name("gan-explorer")
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "explorer.cli"]
    return [*base, "serve", "--port", str(port), "--models", str(models), "--user-dir", str(home / "models")]


def _plain_cmd(port: int, checkpoint: Path) -> list[str]:
    return [sys.executable, str(ROOT / "bench" / "plain_app.py"), str(checkpoint), str(port)]


def one_start(page, cmd: list[str], port: int, env: dict, timeout: float = 300.0) -> dict:
    """Spawn ``cmd``; seconds to the first HTTP 200 and to a page showing the image."""
    url = f"http://127.0.0.1:{port}/"
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            if time.monotonic() - t0 > timeout or proc.poll() is not None:
                raise SystemExit(f"{' '.join(cmd[:3])}… did not start (exit code {proc.poll()})")
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.05)
        http = time.monotonic() - t0
        page.goto(url)
        page.wait_for_function("() => { const i = document.querySelector('#explore-image img'); return !!i && i.complete && i.naturalWidth > 0; }",
                               timeout=timeout * 1000, polling=20)
        image = time.monotonic() - t0
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {"http_s": round(http, 2), "image_s": round(image, 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=Path, default=ROOT / "checkpoints")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "start.json")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    dcgans = sorted(args.models.glob("dcgan*.safetensors"))
    if not dcgans:
        print(f"no dcgan*.safetensors in {args.models} for the plain app", file=sys.stderr)
        return 1
    home = Path(tempfile.mkdtemp(prefix="gan-explorer-bench-"))
    env = dict(os.environ, GAN_EXPLORER_HOME=str(home), GAN_EXPLORER_CACHE=str(home / "cache"))
    runs: dict[str, list[dict]] = {"GAN Explorer": [], "plain Gradio + torch": []}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS, headless=True)
            for i in range(args.repeats + 1):
                for name in runs:
                    port = free_port()
                    cmd = _explorer_cmd(port, args.models, home) if name == "GAN Explorer" else _plain_cmd(port, dcgans[0])
                    ctx = browser.new_context()
                    r = one_start(ctx.new_page(), cmd, port, env)
                    ctx.close()
                    if i > 0:  # the first round warms the file cache and the direction cache
                        runs[name].append(r)
                        print(f"  {name}: HTTP 200 after {r['http_s']} s, image after {r['image_s']} s", flush=True)
            browser.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    load = os.getloadavg()
    summary = {name: {"http_s": statistics.median(r["http_s"] for r in rs), "image_s": statistics.median(r["image_s"] for r in rs)}
               for name, rs in runs.items()}
    ours, plain = summary["GAN Explorer"], summary["plain Gradio + torch"]
    ratio = ours["image_s"] / plain["image_s"]
    print(f"\nCold start, medians of {args.repeats} (load average {load[0]:.1f}, {os.cpu_count()} CPUs)")
    print(f"{'app':24s} {'HTTP 200 s':>10s} {'image s':>8s}")
    for name, s in summary.items():
        print(f"{name:24s} {s['http_s']:>10.2f} {s['image_s']:>8.2f}")
    print(f"ratio to an image {ratio:.2f}× (HTTP 200: {ours['http_s'] / plain['http_s']:.2f}×): "
          f"{'meets' if ratio <= GOAL_RATIO else 'misses'} the {GOAL_RATIO}× goal")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"runs": runs, "median": summary, "ratio_image": round(ratio, 3), "goal_ratio": GOAL_RATIO,
                                    "load_average": load, "cpus": os.cpu_count(),
                                    "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2) + "\n")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
