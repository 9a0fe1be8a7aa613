"""Training throughput: GAN Explorer's loop vs pytorch/examples ``dcgan/main.py``, side by side.

Same architecture (DCGAN at 64x64, nz=100, ngf/ndf as given — our DCGAN family at resolution 64 is
layer-for-layer the example's network), same data (real MNIST digits written as PNG files into
a temporary ImageFolder; both programs read that folder), same batch size, same machine, same
run. The reference is run UNMODIFIED from a checkout of github.com/pytorch/examples (pass
``--examples DIR``; nothing of it is copied here) with its own defaults (``--workers 2``), and
its rate is read from the per-iteration lines it prints. Runs alternate (ours, theirs, ours, …)
so that load from other processes hits both alike; the median of the repeats is reported.

    python bench/bench_train.py --examples /path/to/pytorch-examples            # full DCGAN-64
    python bench/bench_train.py --examples DIR --ngf 32 --ndf 32 --seconds 60   # smaller setting
    python bench/bench_train.py --shipped-only --threads 1  # only the shipped recipes' rows (no reference needed)

It also times our loop on the shipped StyleGAN and CycleGAN recipes (``configs/*.json``, same
threads): images per second and thousands of images per hour, the budget those models train on.
Mixed precision follows the recipes' setting ("auto": bf16 only where the CPU has native bf16).

Writes a table to stdout and JSON to ``bench/results/train.json`` (one entry per setting).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LINE = re.compile(r"^\[(\d+)/(\d+)\]\[(\d+)/(\d+)\] Loss_D")


def write_image_folder(root: Path, num_images: int) -> Path:
    """Real digits as 28x28 grey PNGs in ``root/digits/<class>/`` (an ImageFolder)."""
    from PIL import Image

    from explorer.data.shipped import shipped_arrays

    arrays = shipped_arrays("digits")
    folder = root / "digits"
    for i in range(num_images):
        label = int(arrays["labels"][i])
        d = folder / str(label)
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arrays["images"][i][:, :, 0]).save(d / f"{i:05d}.png")
    return folder


def _env(args, **extra) -> dict:
    """Environment for both programs; ``--threads`` sets OMP_NUM_THREADS (torch's intra-op threads)
    the same way for both, without touching the reference's code."""
    env = dict(os.environ, **extra)
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    return env


def run_reference(main_py: Path, folder: Path, args, seconds: float, workers: int) -> dict:
    """Run pytorch/examples dcgan/main.py for ``seconds``; images/s from its iteration lines."""
    out_dir = Path(tempfile.mkdtemp(prefix="dcgan_ref_"))
    cmd = [sys.executable, "-u", str(main_py), "--dataset", "folder", "--dataroot", str(folder),
           "--batchSize", str(args.batch_size), "--imageSize", "64", "--nz", "100", "--ngf", str(args.ngf),
           "--ndf", str(args.ndf), "--niter", "1000", "--workers", str(workers), "--outf", str(out_dir),
           "--manualSeed", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=out_dir,
                            env=_env(args, PYTHONUNBUFFERED="1"))
    stamps: list[tuple[int, float]] = []
    count = 0
    t_end = None
    try:
        for line in proc.stdout:
            m = LINE.match(line)
            if not m:
                continue
            now = time.monotonic()
            count += 1
            stamps.append((count, now))
            if t_end is None and count > args.warmup:
                t_end = now + seconds
            if t_end is not None and now >= t_end:
                break
    finally:
        proc.kill()
        proc.wait()
    measured = [s for s in stamps if s[0] > args.warmup]
    if len(measured) < 2:
        raise SystemExit("the reference printed too few iterations; raise --seconds")
    (i0, t0), (i1, t1) = measured[0], measured[-1]
    return {"images_per_s": (i1 - i0) * args.batch_size / (t1 - t0), "iterations": i1 - i0, "seconds": t1 - t0,
            "load_average": os.getloadavg()[0]}


def run_ours(folder: Path, args, seconds: float, channels_last: bool) -> dict:
    """Our loop on the same folder (in a fresh process, like the reference)."""
    code = f"""
import json, sys, tempfile, time
from explorer.train import TrainConfig, train
cfg = TrainConfig(name="bench", out=tempfile.mkdtemp(prefix="dcgan_ours_"), family="dcgan", data={str(folder)!r},
                  resolution=64, channels=3, model={{"ngf": {args.ngf}, "ndf": {args.ndf}, "latent_dim": 100}},
                  loss="nonsaturating", batch_size={args.batch_size}, iterations=10**9, lr_g=2e-4, lr_d=2e-4,
                  betas=(0.5, 0.999), ema_beta=0.999, log_every={args.log_every}, checkpoint_every=10**9,
                  sample_every=10**9, classifier=None, channels_last={channels_last},
                  max_seconds={seconds + args.warmup_seconds})
steps = []
train(cfg, on_event=lambda e: steps.append((e.step, time.monotonic())) if e.type == "step" else None)
print(json.dumps(steps))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env=_env(args, PYTHONPATH=str(ROOT)))
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    steps = json.loads(out.stdout.strip().splitlines()[-1])
    warm = [s for s in steps if s[0] > args.warmup]
    (s0, t0), (s1, t1) = warm[0], warm[-1]
    return {"images_per_s": (s1 - s0) * args.batch_size / (t1 - t0), "iterations": s1 - s0, "seconds": t1 - t0,
            "load_average": os.getloadavg()[0]}


SHIPPED_RECIPES = ("stylegan_emoji", "cyclegan_emoji")


def run_recipe(name: str, args, seconds: float) -> dict:
    """Our loop on a shipped recipe (``configs/<name>.json``) for ``seconds``, in a fresh process."""
    code = f"""
import json, tempfile, time
from explorer.train import TrainConfig, train
cfg = TrainConfig.from_file({str(ROOT / "configs" / (name + ".json"))!r}, out=tempfile.mkdtemp(prefix="recipe_"),
                            log_every={args.log_every}, checkpoint_every=10**9, sample_every=10**9,
                            num_threads={args.threads or os.cpu_count()}, max_seconds={seconds + args.warmup_seconds})
cfg = cfg.replace(iterations=10**9, lr_decay_start=None)
steps = []
train(cfg, on_event=lambda e: steps.append((e.step, time.monotonic())) if e.type == "step" else None)
print(json.dumps({{"steps": steps, "batch_size": cfg.batch_size, "n_critic": cfg.n_critic}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env=_env(args, PYTHONPATH=str(ROOT)))
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    res = json.loads(out.stdout.strip().splitlines()[-1])
    warm = [s for s in res["steps"] if s[0] > args.warmup]
    if len(warm) < 2:
        raise SystemExit(f"{name}: too few steps in {seconds} s; raise --seconds")
    (s0, t0), (s1, t1) = warm[0], warm[-1]
    ips = (s1 - s0) * res["batch_size"] * res["n_critic"] / (t1 - t0)
    return {"images_per_s": ips, "thousand_images_per_hour": ips * 3.6, "iterations": s1 - s0, "seconds": t1 - t0,
            "batch_size": res["batch_size"], "load_average": os.getloadavg()[0]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--examples", default=None, help="checkout of github.com/pytorch/examples (its dcgan/main.py is run)")
    p.add_argument("--shipped-only", action="store_true", help="only time the shipped StyleGAN/CycleGAN recipes")
    p.add_argument("--recipe-seconds", type=float, default=45.0, help="measured seconds per shipped-recipe run")
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--ndf", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--num-images", type=int, default=4096, help="digits written to the image folder")
    p.add_argument("--seconds", type=float, default=60.0, help="measured seconds per run (after warm-up)")
    p.add_argument("--warmup", type=int, default=3, help="iterations ignored at the start of each run")
    p.add_argument("--warmup-seconds", type=float, default=20.0, help="extra seconds our run gets for its warm-up")
    p.add_argument("--log-every", type=int, default=5)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--workers", type=int, default=2, help="reference DataLoader workers (its default is 2)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads for both programs (OMP_NUM_THREADS); default: the machine's default")
    p.add_argument("--no-channels-last", action="store_true")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "train.json"))
    args = p.parse_args(argv)
    import torch

    if args.shipped_only:
        return recipes(args, torch)
    if not args.examples or not (Path(args.examples) / "dcgan" / "main.py").is_file():
        raise SystemExit("pass --examples pointing at a pytorch/examples checkout (its dcgan/main.py is run), "
                         "or --shipped-only")
    main_py = Path(args.examples) / "dcgan" / "main.py"

    channels_last = not args.no_channels_last
    with tempfile.TemporaryDirectory(prefix="bench_digits_") as tmp:
        folder = write_image_folder(Path(tmp), args.num_images)
        ours, theirs = [], []
        for r in range(args.repeats):
            ours.append(run_ours(folder, args, args.seconds, channels_last))
            print(f"  repeat {r + 1}: ours   {ours[-1]['images_per_s']:8.1f} img/s ({ours[-1]['iterations']} it)", flush=True)
            theirs.append(run_reference(main_py, folder, args, args.seconds, args.workers))
            print(f"  repeat {r + 1}: theirs {theirs[-1]['images_per_s']:8.1f} img/s ({theirs[-1]['iterations']} it)", flush=True)
    ours_med = statistics.median(o["images_per_s"] for o in ours)
    theirs_med = statistics.median(t["images_per_s"] for t in theirs)
    threads = args.threads or torch.get_num_threads()
    setting = f"DCGAN 64x64, nz=100, ngf={args.ngf}, ndf={args.ndf}, batch {args.batch_size}, {threads} thread(s)"
    print()
    print(f"{'loop':<44} {'images/s':>10}")
    print(f"{'pytorch/examples dcgan/main.py (workers=' + str(args.workers) + ')':<44} {theirs_med:>10.1f}")
    print(f"{'GAN Explorer train()' + (' (channels_last)' if channels_last else ''):<44} {ours_med:>10.1f}")
    print(f"speed-up: {ours_med / theirs_med:.2f}x   [{setting}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__}]")
    entry = {
        "setting": setting, "ngf": args.ngf, "ndf": args.ndf, "batch_size": args.batch_size, "nz": 100,
        "image_size": 64, "threads": threads, "data": f"{args.num_images} real MNIST digits as PNG (ImageFolder), read by both",
        "device": "cpu", "cpu_count": os.cpu_count(), "torch": torch.__version__, "platform": platform.platform(),
        "reference": {"program": "pytorch/examples dcgan/main.py (unmodified)", "workers": args.workers,
                      "runs": theirs, "median_images_per_s": theirs_med},
        "ours": {"program": "explorer.train.train (EMA on, bf16 off, channels_last=%s)" % channels_last,
                 "runs": ours, "median_images_per_s": ours_med},
        "speedup": ours_med / theirs_med, "measured_seconds_per_run": args.seconds, "repeats": args.repeats,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(out.read_text()) if out.exists() else {}
    results[setting] = entry
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return recipes(args, torch)


def recipes(args, torch) -> int:
    """Rows for the shipped StyleGAN and CycleGAN recipes (our loop only: there is no reference)."""
    from explorer.runtime import resolve_precision

    threads = args.threads or torch.get_num_threads()
    rows = {}
    print()
    print(f"{'shipped recipe':<22} {'batch':>5} {'images/s':>9} {'k images/h':>11}   [{threads} thread(s), "
          f"precision {resolve_precision('auto', 'cpu')}]")
    for name in SHIPPED_RECIPES:
        runs = [run_recipe(name, args, args.recipe_seconds) for _ in range(args.repeats)]
        best = max(runs, key=lambda r: r["images_per_s"])
        rows[name] = {"runs": runs, "median_images_per_s": statistics.median(r["images_per_s"] for r in runs),
                      "threads": threads, "precision": resolve_precision("auto", "cpu"),
                      "per_image": "one image pair (A and B)" if name.startswith("cyclegan") else "one image",
                      "date": time.strftime("%Y-%m-%d %H:%M"), "platform": platform.platform(),
                      "load_average": os.getloadavg()[0]}
        med = rows[name]["median_images_per_s"]
        print(f"{name:<22} {best['batch_size']:>5} {med:>9.1f} {med * 3.6:>11.1f}")
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    results[f"shipped recipes, {threads} thread(s)"] = rows
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
