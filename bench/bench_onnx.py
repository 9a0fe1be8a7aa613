"""Benchmark: ONNX Runtime (CPU) vs PyTorch (CPU) images/s for the exported generators.

Run ``python bench/bench_onnx.py`` (options: ``--threads``, ``--rounds``, ``--quick``, ``--out``).

Models (random weights: speed does not depend on their values), each exported with
``explorer.export.export_onnx`` (TorchScript exporter, opset 17, verified against PyTorch):

- DCGAN-64: the pytorch/examples generator (nz 100, ngf 64, 3 channels) — batch 1 and 64;
- StyleGAN-32: the default config (about 1.1 M generator parameters), truncation as an input — batch 1 and 64;
- CycleGAN: ResNet generator, ngf 32, 6 blocks, 128×128 input — batch 1 and 8;
- SRGAN ×4: default SRResNet (nf 64, 8 blocks), 32×32 → 128×128 — batch 1 and 8.

PyTorch rows call the public verbs (``generate``/``translate``) under ``torch.inference_mode``;
for DCGAN also the fused inference generator (``explorer.models.fuse.fuse_dcgan``) when present.
ONNX Runtime uses the CPU execution provider with the same intra-op thread count as torch (1 and torch's default).

The machine may be shared: each round measures every variant back to back (each for at least
``--min-time`` seconds) and the best round is kept. The load average is recorded.
Writes ``bench/results/onnx.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _models(quick: bool):
    import torch

    from explorer.models.cyclegan import CycleGAN, CycleGANConfig
    from explorer.models.dcgan import DCGAN, DCGANConfig
    from explorer.models.srgan import SRGAN, SRGANConfig
    from explorer.models.stylegan import StyleGAN, StyleGANConfig

    torch.manual_seed(0)
    big, small = (8, 2) if quick else (64, 8)
    return [
        ("DCGAN-64", DCGAN(DCGANConfig(resolution=64, channels=3, latent_dim=100, ngf=64, ndf=64)).eval(), (1, big), None),
        ("StyleGAN-32", StyleGAN(StyleGANConfig(resolution=32)).eval(), (1, big), None),
        ("CycleGAN 128px", CycleGAN(CycleGANConfig(ngf=32, ndf=32, num_blocks=6, resolution=128)).eval(), (1, small), 128),
        ("SRGAN x4 32→128", SRGAN(SRGANConfig()).eval(), (1, small), 32),
    ]


def _inputs(model, batch: int, side: int | None):
    import torch

    from explorer.latent import latents_from_seeds

    if side is None:
        z = latents_from_seeds(model, range(batch))
        labels = torch.arange(batch) % model.num_classes if model.num_classes else None
        return {"z": z, "labels": labels, "truncation": torch.tensor(1.0)}
    return {"image": torch.rand(batch, model.image_channels, side, side) * 2 - 1}


def _best_rate(fn, batch: int, min_time: float) -> float:
    """Images/s of ``fn`` over at least ``min_time`` seconds (after one warm-up call)."""
    fn()
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time and n >= 2:
            return n * batch / elapsed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", default=None,
                    help="comma-separated thread counts for torch and onnxruntime alike (default: 1 and torch's default)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--min-time", type=float, default=1.0, help="seconds per measurement")
    ap.add_argument("--quick", action="store_true", help="small batches, one short round (smoke test)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "onnx.json"))
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from explorer.export.onnx import export_onnx, onnx_session

    default_threads = torch.get_num_threads()
    thread_counts = [int(t) for t in args.threads.split(",")] if args.threads else sorted({1, default_threads})
    rounds, min_time = (1, 0.2) if args.quick else (args.rounds, args.min_time)
    try:
        from explorer.models.fuse import fuse_dcgan
    except ImportError:
        fuse_dcgan = None

    load_start = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, model, batches, side in _models(args.quick):
            t0 = time.perf_counter()
            export = export_onnx(model, Path(tmp) / "m.onnx")
            export_s = time.perf_counter() - t0
            input_names = list(export.inputs)
            fused = fuse_dcgan(model) if fuse_dcgan is not None and model.kind == "dcgan" else None
            for threads, batch in [(t, b) for t in thread_counts for b in batches]:
                torch.set_num_threads(threads)
                session = onnx_session(export.path, threads=threads)
                inp = _inputs(model, batch, side)
                feed = {k: inp[k].numpy() for k in input_names}
                if model.kind in ("dcgan", "stylegan"):
                    torch_fn = lambda: model.generate(inp["z"], inp["labels"])  # noqa: E731
                else:
                    direction = model.directions[0]
                    torch_fn = lambda: model.translate(inp["image"], direction)  # noqa: E731
                variants = {"pytorch": torch_fn, "onnxruntime": lambda: session.run(None, feed)}
                if fused is not None:
                    variants["pytorch fused"] = lambda: fused(inp["z"])
                with torch.inference_mode():
                    diff = float(np.abs(session.run(None, feed)[0] - torch_fn().numpy()).max())
                    best = {v: 0.0 for v in variants}
                    for _ in range(rounds):
                        for v, fn in variants.items():
                            best[v] = max(best[v], _best_rate(fn, batch, min_time))
                for v, rate in best.items():
                    rows.append({"model": name, "kind": model.kind, "variant": v, "threads": threads, "batch": batch, "images_per_s": rate,
                                 "ms_per_batch": 1000 * batch / rate, "onnx_vs_pytorch": best["onnxruntime"] / best["pytorch"],
                                 "max_abs_diff": diff, "export_s": round(export_s, 2)})
                print(f"{name} {threads} thread(s) batch {batch}: " + ", ".join(f"{v} {r:.1f} img/s" for v, r in best.items()), file=sys.stderr)

    results = {
        "benchmark": "ONNX Runtime CPU vs PyTorch CPU, images/s (best of rounds)",
        "machine": {"cpu": _cpu_name(), "cores": os.cpu_count(), "threads": thread_counts, "torch": torch.__version__,
                    "onnxruntime": __import__("onnxruntime").__version__, "platform": platform.platform(),
                    "load_average_start": load_start, "load_average_end": os.getloadavg()},
        "rounds": rounds, "min_time_s": min_time, "quick": args.quick,
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(table(results))
    print(f"\nwrote {out}")
    return 0


def table(results: dict) -> str:
    lines = ["| model | threads | batch | PyTorch img/s | ONNX Runtime img/s | ORT / PyTorch | PyTorch fused img/s | max abs diff |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    groups: dict = {}
    for r in results["rows"]:
        groups.setdefault((r["model"], r["threads"], r["batch"]), {})[r["variant"]] = r
    for (model, threads, batch), g in groups.items():
        fused = f"{g['pytorch fused']['images_per_s']:.1f}" if "pytorch fused" in g else "–"
        lines.append(f"| {model} | {threads} | {batch} | {g['pytorch']['images_per_s']:.1f} | {g['onnxruntime']['images_per_s']:.1f} | "
                     f"{g['onnxruntime']['onnx_vs_pytorch']:.2f}× | {fused} | {g['onnxruntime']['max_abs_diff']:.1e} |")
    m = results["machine"]
    lines.append(f"\n{m['cpu']} ({m['cores']} cores), torch {m['torch']}, onnxruntime {m['onnxruntime']}; "
                 f"load average {m['load_average_start'][0]:.1f} at start (shared machine: best of {results['rounds']} rounds).")
    return "\n".join(lines)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    sys.exit(main())
