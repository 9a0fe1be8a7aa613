"""``gan-explorer metrics CKPT ...``: evaluate a checkpoint from the terminal.

The main CLI calls :func:`add_metrics_command` with its argparse sub-parsers object; the command
sets ``func`` (``args -> exit code``) via ``set_defaults``. Output: a table whose header names the
feature extractor and says whether the numbers are comparable with published ones; with ``--metrics 1nn``
a second table puts the model's 1-NN accuracy next to reference rows (real vs real, another real
style vs real) computed with the same extractor (skip them with ``--no-reference``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import explorer
from explorer.errors import ExplorerError
from explorer.metrics.evaluate import evaluate, record_metrics
from explorer.metrics.reference import add_one_nn_reference, one_nn_rows


def add_metrics_command(subparsers) -> argparse.ArgumentParser:
    """Register ``metrics CKPT [--real NAME] [--extractor NAME] [--num N] ...``."""
    p = subparsers.add_parser(
        "metrics", help="FID / KID / IS / precision-recall / 1-NN of a generator against a real data set",
        description="Generates --num samples (latent seeds --seed .. --seed+num-1), extracts features with "
                    "--extractor and compares them with the real set. Real-set features are cached "
                    "(<cache root>/metrics: $GAN_EXPLORER_CACHE, else ~/.cache/gan-explorer).")
    p.add_argument("checkpoint", help="generator checkpoint (.safetensors, or a foreign .pth)")
    p.add_argument("--real", default="digits", help="real data set: shipped name or image folder (default digits)")
    p.add_argument("--split", default="train", choices=("train", "heldout", "all"), help="split of the real set")
    p.add_argument("--extractor", default="imagenet-trunk",
                   help="imagenet-trunk (default, offline, non-standard) | inception-v3 (needs --inception-weights) "
                        "| domain-classifier")
    p.add_argument("--metrics", default="fd,kid,is,pr",
                   help="comma list of fd,kid,is,pr,dc,1nn (default fd,kid,is,pr); fd = Fréchet distance, called "
                        "FID only with --extractor inception-v3 ('fid' is accepted as a name for it); 1nn = "
                        "leave-one-out 1-NN two-sample accuracy, printed with reference rows")
    p.add_argument("--no-reference", action="store_true",
                   help="with 1nn: skip the reference rows (real vs real, other style vs real), which extract "
                        "features of up to 2 x --num more real images")
    p.add_argument("--num", type=int, default=2000, help="number of generated samples (default 2000)")
    p.add_argument("--num-real", type=int, default=None, help="number of real images (default: same as --num)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0, help="first latent seed (default 0)")
    p.add_argument("--truncation", type=float, default=1.0)
    p.add_argument("--inception-weights", default=None,
                   help="Inception-v3 weights file (torchvision or pytorch-fid FID weights); "
                        "or set $GAN_EXPLORER_INCEPTION_WEIGHTS")
    p.add_argument("--classifier", default=None, help="classifier checkpoint for --extractor domain-classifier")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: $GAN_EXPLORER_DEVICE, else CUDA if present)")
    p.add_argument("--no-cache", action="store_true", help="recompute real-set features")
    p.add_argument("--json", default=None, help="also write the result as JSON to this file")
    p.add_argument("--record", action="store_true",
                   help="add the result to the checkpoint's model card (rewrites the .safetensors file)")
    p.set_defaults(func=run_metrics_command)
    return p


class _ProgressPrinter:
    """One updating line per stage on stderr (no dependency on a terminal library)."""

    def __init__(self, stream=None):
        # sys.stderr looked up per instance, not bound at import (a replaced or closed stream stays out)
        self.stream, self.stage, self.last = stream or sys.stderr, None, 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage != self.stage:
            if self.stage is not None:
                self.stream.write("\n")
            self.stage, self.last = stage, 0.0
        if now - self.last < 0.2 and done < total:
            return
        self.last = now
        width = 30
        filled = int(width * done / total) if total else width
        self.stream.write(f"\r{stage:<24s} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        self.stream.flush()

    def close(self) -> None:
        if self.stage is not None:
            self.stream.write("\n")
            self.stream.flush()


def format_table(results: dict) -> str:
    """Human-readable table of one evaluate() result, headed by the extractor."""
    comparable = "comparable with published numbers" if results.get("comparable_with_published") else \
        "NOT comparable with published numbers"
    lines = [
        f"extractor: {results.get('extractor')} — {results.get('extractor_label')}",
        f"           ({comparable}; id {results.get('extractor_id')})",
        f"samples: {results.get('num_fake')} generated vs {results.get('num_real')} real "
        f"({results.get('real')}/{results.get('real_split')}, {results.get('resolution')}px, seed {results.get('seed')})",
        "",
        f"{'metric':<22s} {'value':>14s}",
        f"{'-' * 22} {'-' * 14}",
    ]

    def row(name, value, std=None):
        text = f"{value:.4f}" if std is None else f"{value:.4f} ± {std:.4f}"
        lines.append(f"{name:<22s} {text:>14s}")

    if "fd" in results:
        row(results.get("fd_name") or "FD", results["fd"])
    if "kid_mean" in results:
        row("KID", results["kid_mean"], results.get("kid_std"))
    if "is_mean" in results:
        row("IS", results["is_mean"], results["is_std"])
    for key in ("precision", "recall", "density", "coverage"):
        if key in results:
            row(key, results[key])
    if "one_nn_accuracy" in results:
        row(f"1-NN ({results.get('extractor_display_name') or results.get('extractor')})", results["one_nn_accuracy"])
    if results.get("is_logits"):
        lines.append(f"IS logits: {results['is_logits']}")
    if "one_nn_accuracy" in results:
        lines += ["", *format_one_nn_table(results)]
    for note in results.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)


def format_one_nn_table(results: dict) -> list[str]:
    """The 1-NN rows (model, then any attached reference rows), headed by the extractor."""

    lines = [f"1-NN two-sample test, {results.get('extractor_display_name') or results.get('extractor')} features "
             "(0.5 = indistinguishable with equal counts, 1.0 = fully apart, well below 0.5 = copies)",
             f"{'row':<20s} {'accuracy':>8s} {'on real':>8s} {'on fake':>8s} {'chance':>7s} {'sizes':>13s}  compared",
             f"{'-' * 20} {'-' * 8} {'-' * 8} {'-' * 8} {'-' * 7} {'-' * 13}  {'-' * 8}"]
    for r in one_nn_rows(results):
        sizes = f"{r['num_fake']} vs {r['num_real']}"  # the compared side vs the real set
        lines.append(f"{r['row']:<20s} {r['one_nn_accuracy']:>8.4f} {r['one_nn_real_accuracy']:>8.4f} "
                     f"{r['one_nn_fake_accuracy']:>8.4f} {r['one_nn_chance']:>7.4f} {sizes:>13s}  {r['compared']}")
    return lines


def run_metrics_command(args) -> int:
    options = {}
    if args.inception_weights:
        options["weights"] = args.inception_weights
    if args.classifier:
        options["weights"] = args.classifier
    progress = _ProgressPrinter()
    try:
        model = explorer.load(args.checkpoint, device=args.device)
        results = evaluate(model, real=args.real, metrics=[m.strip() for m in args.metrics.split(",") if m.strip()],
                           extractor=args.extractor, num_samples=args.num, num_real=args.num_real,
                           batch_size=args.batch_size, progress=progress, seed=args.seed, device=args.device,
                           real_split=args.split, extractor_options=options, use_cache=not args.no_cache,
                           truncation=args.truncation)
        if "one_nn_accuracy" in results and not args.no_reference:
            results = add_one_nn_reference(results, args.real, args.extractor, channels=model.image_channels,
                                           batch_size=args.batch_size, device=args.device, extractor_options=options,
                                           use_cache=not args.no_cache, progress=progress)
    except ExplorerError as exc:
        progress.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    progress.close()
    print(format_table(results))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
    if args.record:
        try:
            explorer.read_metadata(args.checkpoint)  # only our own format carries a card
            own = True
        except ExplorerError:
            own = False
        if not own:
            print("note: --record only rewrites GAN Explorer's own .safetensors checkpoints; nothing recorded",
                  file=sys.stderr)
        else:
            model.card = record_metrics(model.card, results)
            explorer.save(model, args.checkpoint)
            print(f"recorded in the model card of {args.checkpoint}")
    return 0
