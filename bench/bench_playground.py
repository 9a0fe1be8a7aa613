"""The 2-D playground's frame rate while training: frames per second of engine step + picture.

One frame is what a Play tick does on the server: ``steps`` training steps, the frame's data (D on
a 64×64 grid of the plane, G on the latent grid, gradient arrows), the picture (PIL), its PNG
encoding (sent inline to the page) and the readout (mode coverage). Timed for both ring presets at
1, 10 and 50 training steps per frame, each stage separately, repeats interleaved so that load
from other processes hits every setting alike; the median over repeats is reported. The issue's
target is ≥ 10 frames/s on this machine at the default 10 steps per frame.

``--browser`` also plays the playground in the served app in Chromium (speed "fast") and counts
the frames that reach the page per second: everything above plus Gradio's queue and the
browser's download and decoding.

    python bench/bench_playground.py                 # engine, 1 thread
    python bench/bench_playground.py --browser --seconds 15

Prints a table and writes ``bench/results/playground.json`` (with threads, CPU count and load).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STAGES = ("train", "frame", "render", "png", "readout")


def time_frames(preset: str, steps: int, seconds: float) -> dict:
    """Frames of ``preset`` for about ``seconds``; seconds per stage per frame (medians)."""
    from explorer.playground import PRESETS, Playground, frame_png, render_frame

    pg = Playground(PRESETS[preset][1])
    pg.train(100)  # past the first, atypical steps
    per_stage: dict[str, list[float]] = {s: [] for s in STAGES}
    end = time.perf_counter() + seconds
    cpu0 = time.process_time()
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        pg.train(steps)
        t1 = time.perf_counter()
        frame = pg.frame()
        t2 = time.perf_counter()
        picture = render_frame(frame)
        t3 = time.perf_counter()
        frame_png(picture)
        t4 = time.perf_counter()
        pg.readout()
        t5 = time.perf_counter()
        for stage, dt in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            per_stage[stage].append(dt)
    cpu = time.process_time() - cpu0
    med = {s: statistics.median(v) for s, v in per_stage.items()}
    total = sum(med.values())
    frames = len(per_stage["train"])
    # CPU seconds per frame do not depend on how many other processes share the cores: 1 / that is
    # the frame rate this process would reach with its thread(s) to itself
    return {"frames": frames, "seconds_per_stage": med, "frames_per_s": 1.0 / total, "cpu_ms_per_frame": 1000 * cpu / frames,
            "frames_per_cpu_s": frames / cpu, "load_average": os.getloadavg()[0]}


def browser_fps(seconds: float, steps: int) -> dict:
    """Play the playground in the served app (tiny stand-in models for the other tabs) and count frames."""
    import tempfile

    sys.path.insert(0, str(ROOT / "tests"))
    from playwright.sync_api import sync_playwright

    from ui_support import CHROMIUM_ARGS, chromium_path, make_tiny_models, running_app

    tmp = Path(tempfile.mkdtemp(prefix="bench-playground-"))
    make_tiny_models(tmp / "shipped")
    step_js = "() => { const m = /step ([\\d,]+)/.exec(document.querySelector('#pg-readout').innerText); return m ? parseInt(m[1].replace(/,/g, '')) : -1; }"
    with running_app(tmp, tmp / "shipped") as app, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        page.goto(app.url)
        page.wait_for_selector("#explore-image img")
        page.get_by_role("tab", name="Train", exact=True).click()
        page.click("#pg-accordion button, #pg-accordion .label-wrap")
        page.wait_for_function(f"() => ({step_js})() === 0")
        page.fill("#pg-steps input[type=number]", str(steps))
        page.press("#pg-steps input[type=number]", "Enter")
        page.locator("#pg-speed").get_by_label("fast", exact=True).check()
        page.click("#pg-play")
        page.wait_for_function(f"() => ({step_js})() > {5 * steps}")
        s0, t0, c0 = page.evaluate(step_js), time.perf_counter(), time.process_time()
        time.sleep(seconds)
        s1, t1, c1 = page.evaluate(step_js), time.perf_counter(), time.process_time()
        page.click("#pg-pause")
        browser.close()
    frames = (s1 - s0) // steps
    # the server runs in this process: its CPU per frame includes Gradio's share, not Chromium's
    return {"frames_per_s": frames / (t1 - t0), "frames": frames, "seconds": t1 - t0, "steps_per_frame": steps,
            "server_cpu_ms_per_frame": 1000 * (c1 - c0) / max(frames, 1), "load_average": os.getloadavg()[0]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--seconds", type=float, default=4.0, help="seconds per setting and repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", default="1,10,50", help="training steps per frame to time")
    ap.add_argument("--browser", action="store_true", help="also count frames reaching a Chromium page")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "playground.json"))
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    settings = [(preset, int(s)) for s in args.steps.split(",") for preset in ("ring-covers", "ring-collapses")]
    runs: dict[tuple[str, int], list[dict]] = {k: [] for k in settings}
    for _ in range(args.repeats):  # interleaved: every setting sees the same spread of machine load
        for key in settings:
            runs[key].append(time_frames(*key, args.seconds))
    rows = []
    print(f"{'preset':16} {'steps/frame':>11} {'frames/s':>9} {'/CPU-s':>7} " + " ".join(f"{s + ' ms':>10}" for s in STAGES) + f" {'load':>5}")
    for (preset, steps), reps in runs.items():
        fps = statistics.median(r["frames_per_s"] for r in reps)
        stages = {s: statistics.median(r["seconds_per_stage"][s] for r in reps) for s in STAGES}
        load = statistics.median(r["load_average"] for r in reps)
        per_cpu = statistics.median(r["frames_per_cpu_s"] for r in reps)
        rows.append({"preset": preset, "steps_per_frame": steps, "median_frames_per_s": fps, "median_frames_per_cpu_s": per_cpu,
                     "median_ms_per_stage": {s: v * 1000 for s, v in stages.items()}, "load_average": load, "runs": reps})
        print(f"{preset:16} {steps:>11} {fps:>9.1f} {per_cpu:>7.1f} " + " ".join(f"{stages[s] * 1000:>10.1f}" for s in STAGES)
              + f" {load:>5.2f}")
    result = {"what": "2-D playground frames per second while training (engine step + frame + picture + PNG + readout)",
              "target": ">= 10 frames/s at 10 steps per frame", "threads": args.threads, "cpu_count": os.cpu_count(),
              "torch": torch.__version__, "platform": platform.platform(), "engine": rows}
    if args.browser:
        result["browser"] = browser_fps(max(args.seconds, 10.0), steps=10)
        b = result["browser"]
        print(f"\nin Chromium, speed 'fast', 10 steps/frame: {b['frames_per_s']:.1f} frames/s "
              f"({b['frames']} frames in {b['seconds']:.1f} s; server CPU {b['server_cpu_ms_per_frame']:.0f} ms/frame; "
              f"load {b['load_average']:.2f})")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"\n{args.threads} thread(s), {os.cpu_count()} CPUs; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
