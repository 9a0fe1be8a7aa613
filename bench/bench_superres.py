"""Benchmark: super-resolution ×4 — every shipped srgan-kind model vs the imported ESRGAN vs bicubic.

Run ``python bench/bench_superres.py`` (options: ``--esrgan``, ``--num``, ``--threads``, ``--out``).

Quality: on the held-out kinds of :mod:`explorer.data.sr_mix` — Noto emoji and Twemoji on white
and Noto on dark (64 px, the sets' held-out 10 %), MNIST digits and Fashion-MNIST items (held-out
10 %, resized 28 → 64, grey shown as RGB), 64 px crops of natural photographs that ship offline
inside pip packages and are **not** used for training (``sr_mix.HELDOUT_PHOTOS``), and those
photographs whole (cropped to a multiple of 4) — the reference is shrunk ×4
with antialiased bicubic (:func:`explorer.superres.degrade`, as the shipped model was trained) and
upscaled back by each method. PSNR is measured on 8-bit RGB (both images rounded to 8 bits, peak
255, every pixel and channel including the borders; :func:`explorer.superres.psnr_8bit`), averaged
over the images of a kind.

Speed: images/s at 64 → 256 px (batch 1 and 8, ``--threads`` intra-op threads, best of rounds of
at least ``--min-time`` seconds each, bicubic measured the same way in the same run).

The imported models come from the npm package ``@upscalerjs/esrgan-slim`` (MIT; see
:mod:`explorer.importers.upscalerjs`): version 1.0.0-beta.6's ESRGAN generator (RRDN, ``--esrgan``)
and version 1.0.0's ``models/x4`` (an RDN, ``--rdn``), read from where ``./run.sh test`` unpacks
them under ``.cache/``. Writes ``bench/results/superres.json``
(including the list of held-out photographs) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCALE = 4


def held_out_sets(num: int) -> dict[str, list]:
    """{kind: list of [1, 3, H, W] tensors in [-1, 1]} (H, W multiples of 4).

    The held-out kinds of :mod:`explorer.data.sr_mix` (64 px; the same images the shipped general
    model's test scores), then the held-out photographs whole (cropped to a multiple of 4)."""
    import torch

    from explorer.data import sr_mix

    labels = {"noto": "Noto emoji on white", "twemoji": "Twemoji on white", "emoji-dark": "Noto emoji on dark",
              "digits": "digits (MNIST, 28→64)", "fashion": "Fashion-MNIST (28→64)", "photos": "photo crops"}
    sets = {labels[kind]: list(sr_mix.heldout_images(kind, num).split(1)) for kind in sr_mix.KINDS}
    photos = []
    for package, name in sr_mix.HELDOUT_PHOTOS:
        arr = sr_mix.load_photo(package, name)
        h, w = arr.shape[0] // SCALE * SCALE, arr.shape[1] // SCALE * SCALE
        photos.append(torch.from_numpy(arr[:h, :w].copy()).permute(2, 0, 1)[None].float() / 127.5 - 1)
    sets["photographs, whole"] = photos
    return sets


def methods(imports: dict[str, Path]) -> dict:
    """{name: (model or None for bicubic, provenance)} — every shipped srgan-kind checkpoint, the import, bicubic."""
    import explorer
    from explorer.checkpoint import read_metadata

    out = {"bicubic": (None, "torch bicubic, clamped")}
    for path in sorted((ROOT / "checkpoints").glob("*.safetensors")):
        try:
            meta = read_metadata(path)
        except explorer.ExplorerError:
            continue
        if meta["kind"] == "srgan" and int(meta["config"].get("scale", 4)) == SCALE:
            out[path.stem] = (explorer.load(path, device="cpu"), f"checkpoints/{path.name} ({explorer.file_hash(path)})")
    for name, (path, prov) in imports.items():
        out[name] = (explorer.load(path, device="cpu"), prov)
    return out


def upscale(model, lo):
    import torch

    from explorer.superres import bicubic_upscale

    with torch.inference_mode():
        return bicubic_upscale(lo, SCALE) if model is None else model.translate(lo)


def quality(all_methods: dict, sets: dict) -> dict:
    from explorer.superres import degrade, psnr_8bit

    table = {}
    for kind, images in sets.items():
        row = {}
        for name, (model, _) in all_methods.items():
            scores = [psnr_8bit(upscale(model, degrade(x, SCALE)), x) for x in images]
            row[name] = sum(scores) / len(scores)
        sizes = sorted({tuple(x.shape[-2:]) for x in images})
        table[kind] = {"num_images": len(images), "sizes_hw": [list(hw) for hw in sizes], "psnr_db": row}
        print(f"  {kind}: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items()), file=sys.stderr)
    return table


def speed(all_methods: dict, min_time: float, rounds: int) -> dict:
    import torch

    out = {}
    for batch in (1, 8):
        x = torch.rand(batch, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
        best = {name: 0.0 for name in all_methods}
        for _ in range(rounds):  # all methods back to back in each round; keep each one's best
            for name, (model, _) in all_methods.items():
                upscale(model, x)  # warm-up
                n, t0 = 0, time.perf_counter()
                while (elapsed := time.perf_counter() - t0) < min_time or n < 1:
                    upscale(model, x)
                    n += 1
                best[name] = max(best[name], n * batch / elapsed)
        out[f"batch {batch}"] = best
    return out


def markdown(results: dict) -> str:
    names = list(results["methods"])
    lines = ["| held-out kind (images, size) | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for kind, row in results["psnr"].items():
        best = max(row["psnr_db"].values())
        cells = [f"**{v:.2f}**" if v == best else f"{v:.2f}" for v in row["psnr_db"].values()]
        sizes = row["sizes_hw"]
        size = f"{sizes[0][1]}×{sizes[0][0]}" if len(sizes) == 1 else f"{min(w for _, w in sizes)}–{max(w for _, w in sizes)} px wide"
        lines.append(f"| {kind} ({row['num_images']}, {size}) | " + " | ".join(cells) + " |")
    for batch, row in results["images_per_s_64_to_256"].items():
        lines.append(f"| images/s at 64→256 px, {batch} | " + " | ".join(f"{row[n]:.1f}" for n in names) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--esrgan", default=str(ROOT / ".cache" / "esrgan-slim-1.0.0-beta.6" / "package" / "models"),
                    help="esrgan-slim 1.0.0-beta.6's model folder (its ESRGAN); 'none' to skip")
    ap.add_argument("--rdn", default=str(ROOT / ".cache" / "esrgan-slim" / "package" / "models" / "x4"),
                    help="esrgan-slim 1.0.0's models/x4 folder (an RDN); 'none' to skip")
    ap.add_argument("--num", type=int, default=100, help="held-out images per kind (whole photographs: all)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-time", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "superres.json"))
    args = ap.parse_args(argv)

    import torch

    from explorer.data import sr_mix

    torch.set_num_threads(args.threads)
    imports = {}
    for name, arg, version, prov in (
            ("ESRGAN (imported)", args.esrgan, "1.0.0-beta.6", "@upscalerjs/esrgan-slim 1.0.0-beta.6 models/ (ESRGAN, MIT)"),
            ("RDN esrgan-slim (imported)", args.rdn, "1.0.0", "@upscalerjs/esrgan-slim 1.0.0 models/x4 (RDN, MIT)")):
        if arg == "none":
            continue
        if not (Path(arg) / "model.json").is_file():
            hint = f"`npm pack @upscalerjs/esrgan-slim@{version}` and unpack it there (./run.sh test does)"
            if arg != ap.get_default("esrgan" if version.endswith("beta.6") else "rdn"):
                print(f"error: {arg}/model.json not found; {hint}, or pass 'none'", file=sys.stderr)
                return 2
            print(f"note: {name} skipped: {arg}/model.json not found; {hint}", file=sys.stderr)
            continue
        imports[name] = (Path(arg), prov)
    all_methods = methods(imports)
    t0 = time.time()
    results = {
        "methods": {name: prov for name, (_, prov) in all_methods.items()},
        "scale": SCALE,
        "degradation": "antialiased bicubic ×1/4 (explorer.superres.degrade)",
        "psnr_on": "8-bit RGB, peak 255, whole image including borders, mean over images",
        "heldout_photos": [f"{package}:{name}" for package, name in sr_mix.HELDOUT_PHOTOS],
        "psnr": quality(all_methods, held_out_sets(args.num)),
        "images_per_s_64_to_256": speed(all_methods, args.min_time, args.rounds),
        "threads": args.threads,
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "load_average": os.getloadavg(), "torch": torch.__version__},
        "wall_time_s": round(time.time() - t0, 1),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))
    print(f"\nheld-out photographs: {', '.join(results['heldout_photos'])}; load average {os.getloadavg()[0]:.1f}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
