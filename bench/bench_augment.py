"""Benchmark experiment: does synthetic data from the shipped conditional DCGAN help a digit classifier?

Run ``python bench/bench_augment.py`` (options: ``--generator``, ``--seeds``, ``--real``, ``--synthetic``,
``--steps``, ``--width``, ``--threads``, ``--quick``). The same experiment as
``gan-explorer experiment augment`` (see ``explorer/experiments/augment.py`` for the protocol):
the small project classifier trained on 100 / 500 / 1,000 real labelled digits from the ``train``
split, with and without N synthetic images per class from ``checkpoints/dcgan_digits.safetensors``,
and on the synthetic images alone; accuracy on the held-out real split, mean and 95 % Student-t
interval over seeds, plus the paired (per-seed) difference.

Defaults (3 seeds, 250 steps of batch 64 per run, classifier width 16, N = 100 per class) are sized
to finish in under ten minutes on two CPU cores. Writes ``bench/results/augment.json`` (every run,
summaries, the Markdown table) and ``assets/augment_experiment.png`` and prints the table. If the
generator checkpoint does not exist yet, says so and exits 0 without writing anything (so
``./run.sh bench`` continues with the other benchmarks).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--generator", default=str(ROOT / "checkpoints" / "dcgan_digits.safetensors"))
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--real", default="100,500,1000", help="real labelled budgets")
    ap.add_argument("--synthetic", default="100", help="synthetic images per class (comma-separated values)")
    ap.add_argument("--seeds", default="0-2", help="repetitions, e.g. 0-4")
    ap.add_argument("--steps", type=int, default=250, help="optimisation steps per training run")
    ap.add_argument("--width", type=int, default=16, help="classifier width")
    ap.add_argument("--truncation", type=float, default=1.0)
    ap.add_argument("--min-confidence", type=float, default=None)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 seeds, budgets 50/100, 20 synthetic/class, 30 steps")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "augment.json"))
    ap.add_argument("--plot", default=str(ROOT / "assets" / "augment_experiment.png"))
    args = ap.parse_args(argv)

    import torch

    from explorer.experiments.augment import AugmentSettings, markdown_table, run_augment, write_results
    from explorer.latent import parse_seeds

    if not Path(args.generator).is_file():
        print(f"SKIPPED: generator checkpoint {args.generator} does not exist yet; train or pass one with --generator")
        return 0
    torch.set_num_threads(args.threads)
    settings = AugmentSettings(
        generator=args.generator, dataset=args.dataset, real_sizes=tuple(parse_seeds(args.real)),
        synthetic_per_class=tuple(parse_seeds(args.synthetic)), seeds=tuple(parse_seeds(args.seeds)), steps=args.steps,
        width=args.width, truncation=args.truncation, min_confidence=args.min_confidence,
    )
    if args.quick:
        settings = AugmentSettings(**{**settings.__dict__, "real_sizes": (50, 100), "synthetic_per_class": (20,),
                                      "seeds": (0, 1), "steps": 30})
    started = time.perf_counter()

    def progress(done: int, total: int, what: str) -> None:
        print(f"[{done}/{total}] {what}  ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)

    results = run_augment(settings, progress=progress, device="cpu")
    try:
        shown = str(Path(settings.generator).resolve().relative_to(ROOT))
    except ValueError:
        shown = settings.generator
    results["settings"]["generator"] = shown  # no machine-specific absolute paths in the committed JSON
    written = write_results(results, args.out, args.plot)
    print(markdown_table(results))
    print(f"\n{results['wall_time_s']:.0f} s wall, {results['cpu_time_s']:.0f} s CPU, {args.threads} threads")
    for what, path in written.items():
        print(f"wrote {what}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
