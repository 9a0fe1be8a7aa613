"""The ``gan-explorer`` command line: a thin layer over the public Python API.

Own subcommands: ``info``, ``generate``, ``import``, ``directions`` here, and ``translate``,
``upscale``, ``score`` in :mod:`explorer.cli_images`; what they share (options, progress bars,
loading, labels, latent files) is :mod:`explorer.cli_common`. Other modules add theirs through :data:`COMMAND_MODULES` — one line per module,
``(module, function)``; the function receives argparse's sub-parsers object, adds its
subcommand(s) and sets ``func`` (``args -> exit code``) with ``set_defaults``. A listed module
that does not exist (not written yet, or an optional part not installed) is skipped; any other
import error is a bug and propagates.

Conventions: every :class:`~explorer.errors.ExplorerError` ends as one line ``error: ...`` on
stderr and exit code 2 (no traceback); file-system errors likewise with exit code 1; anything
else is a bug, reported in one line too (``GAN_EXPLORER_DEBUG=1`` shows its traceback). Progress
bars (tqdm, on stderr) appear for work that runs longer than a second; ``--quiet`` hides them.
Images are written as lossless PNG with provenance metadata (see ``explorer.images.save_png``).
Nothing runs at import time.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

import explorer
from explorer import __version__
from explorer.checkpoint import file_hash, read_metadata, sniff_format
from explorer.cli_common import (  # noqa: F401
    _common_options,
    common_parent,
    load_latents,
    load_model,
    model_identity,
    parse_labels,
    progress_bar,
)
from explorer.cli_images import add_image_commands
from explorer.errors import ExplorerError
from explorer.images import latent_hash, make_grid, save_png
from explorer.latent import apply_directions, latents_from_seeds, parse_seeds, pca_directions, sefa_directions
from explorer.metadata import class_names

#: Subcommands living in other modules: ``(module, function)``; see the module docstring.
COMMAND_MODULES: list[tuple[str, str]] = [
    ("explorer.ui.command", "add_serve_command"),
    ("explorer.train.cli", "add_train_command"),
    ("explorer.metrics.cli", "add_metrics_command"),
    ("explorer.data.cli", "add_data_commands"),
    ("explorer.export.cli", "add_commands"),  # export-onnx, export-dataset, zoo, experiment
    ("explorer.edit_cli", "add_edit_command"),  # edit: a saved latent edit on a batch of seeds
    ("explorer.pipelines.invert", "add_invert_command"),  # invert: image → latent (.npy for Explore)
]

# ----------------------------------------------------------------------------------------
# parser
# ----------------------------------------------------------------------------------------
def build_parser(include_modules: bool = True) -> argparse.ArgumentParser:
    """The ``gan-explorer`` parser, with the subcommands of :data:`COMMAND_MODULES` unless
    ``include_modules`` is false (then only the built-in ones; used to start faster)."""

    parser = argparse.ArgumentParser(
        prog="gan-explorer",
        description="Explore, train and evaluate GANs from the terminal.",
        parents=[_common_options(suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"gan-explorer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    common = [common_parent()]

    p = sub.add_parser("info", parents=common, help="describe a checkpoint (kind, config, card, parameters)")
    p.add_argument("checkpoint", nargs="+", help="our .safetensors file, or foreign file(s)/folder")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("generate", parents=common, help="generate images from seeds or saved latents")
    p.add_argument("checkpoint")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--seeds", default=None, help="seeds, e.g. 0-15,20,22 (default 0-15)")
    src.add_argument("--latents", default=None, help=".npy file of latents [N, latent_dim]")
    lab = p.add_mutually_exclusive_group()
    lab.add_argument("--class", dest="class_", metavar="CLASS", default=None, help="class id or name for every image (conditional models)")
    lab.add_argument("--labels", default=None, help="class ids, one per image or one for all: 3 or 0,1,2")
    p.add_argument("--truncation", type=float, default=1.0, help="truncation ψ (1 = off, <1 = more typical images)")
    p.add_argument("--grid", action="store_true", help="write one grid image instead of one file per image")
    p.add_argument("--nrow", type=int, default=None, help="images per grid row")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--out", default="generated", help="output folder (default ./generated)")
    p.set_defaults(func=cmd_generate)

    add_image_commands(sub, common)

    p = sub.add_parser("import", parents=common, help="convert foreign checkpoint(s) to our .safetensors format")
    p.add_argument("foreign", nargs="+", help="e.g. netG_epoch_24.pth, or latest_net_G_A.pth latest_net_G_B.pth, or a folder; "
                   "a TensorFlow.js Layers model: its model.json (+ weight shards) or the folder holding it")
    p.add_argument("--out", required=True, help="output .safetensors file")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("directions", parents=common, help="unsupervised edit directions (PCA / SeFa)")
    p.add_argument("checkpoint")
    p.add_argument("--method", choices=("pca", "sefa"), default="sefa")
    p.add_argument("--num", type=int, default=10, help="number of directions")
    p.add_argument("--num-samples", type=int, default=5000, help="PCA: latents sampled")
    p.add_argument("--seed", type=int, default=0, help="PCA sample seed, and the seed of --preview")
    p.add_argument("--out", default=None, help="write the directions to this .npz")
    p.add_argument("--preview", default=None, help="write a PNG: one row per direction, columns = -3..+3 std")
    p.set_defaults(func=cmd_directions)

    for module, function in COMMAND_MODULES if include_modules else ():
        register = _optional_command(module, function)
        if register is not None:
            register(sub)
    return parser


def _optional_command(module: str, function: str) -> Callable[[Any], Any] | None:
    """``module.function`` or None when that module (or a package above it) does not exist."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            return None
        raise
    return getattr(mod, function)


BUILTIN_COMMANDS = ("info", "generate", "translate", "upscale", "score", "import", "directions")


def _command_name(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (skipping global options and their values), if any."""
    it = iter(argv)
    for token in it:
        if token in ("--device", "--threads"):
            next(it, None)
        elif not token.startswith("-"):
            return token
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``gan-explorer``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # a built-in command does not need the other modules' commands (whose imports cost start-up time)
    parser = build_parser(include_modules=_command_name(argv) not in BUILTIN_COMMANDS)
    args = parser.parse_args(argv)
    try:
        _apply_runtime(args)
        code = args.func(args)
    except ExplorerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (MemoryError, RecursionError) as exc:
        print(f"error: the input is too large or too deeply nested to process ({type(exc).__name__})", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a bug, not bad input: still one line; the traceback on request
        if os.environ.get("GAN_EXPLORER_DEBUG"):
            raise
        first = str(exc).splitlines()[0][:300] if str(exc) else ""
        print(f"error: unexpected {type(exc).__name__}: {first} (set GAN_EXPLORER_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
    return int(code or 0)


def _apply_runtime(args: argparse.Namespace) -> None:
    threads = getattr(args, "threads", None)
    if threads is not None:
        if threads < 1:
            raise ExplorerError("--threads must be at least 1")
        torch.set_num_threads(threads)
    if getattr(args, "device", None):
        try:
            device = torch.device(args.device)
        except RuntimeError:
            raise ExplorerError(f"unknown device {args.device!r} (try cpu or cuda)") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ExplorerError("--device cuda was asked for, but no CUDA device is available")


# ----------------------------------------------------------------------------------------
# commands
# ----------------------------------------------------------------------------------------
def cmd_info(args) -> int:
    paths = args.checkpoint
    model = load_model(args, paths)
    own = len(paths) == 1 and Path(paths[0]).is_file() and sniff_format(paths[0]) == "safetensors"
    meta = None
    if own:
        try:
            meta = read_metadata(paths[0])
        except ExplorerError:
            meta = None  # a foreign safetensors file (no GAN Explorer metadata)
    params = {name: sum(p.numel() for p in child.parameters()) for name, child in model.named_children() if child is not None}
    info = {
        "file": [str(p) for p in paths] if len(paths) > 1 else str(paths[0]),
        "format": f"gan-explorer v{meta['format_version']}" if meta else "foreign (imported on load)",
        "sha256": file_hash(paths[0]) if len(paths) == 1 and Path(paths[0]).is_file() else None,
        "kind": model.kind,
        "config": model.config_dict(),
        "parameters": {**params, "total": sum(p.numel() for p in model.parameters())},
        "latent_dim": model.latent_dim,
        "num_classes": model.num_classes,
        "class_names": class_names(model),
        "directions": list(model.directions),
        "card": model.card.to_dict(),
        "summary": model.summary.to_dict(),
    }
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"file        {info['file']}")
    print(f"format      {info['format']}" + (f"   sha256 {info['sha256']}" if info["sha256"] else ""))
    print(f"kind        {model.kind}")
    print("config      " + ", ".join(f"{k}={v}" for k, v in info["config"].items()))
    print("parameters  " + ", ".join(f"{k} {v:,}" for k, v in info["parameters"].items()))
    if model.can_generate:
        print(f"latent      {model.latent_dim}-d" + (f", {model.num_classes} classes" if model.num_classes else ", unconditional"))
    if info["class_names"]:
        print("classes     " + ", ".join(f"{i}={n}" for i, n in enumerate(info["class_names"])))
    if model.directions:
        print("translates  " + ", ".join(model.directions))
    for key, value in model.card.items():
        print(f"card.{key:<7s}{_short_value(value)}")
    for key, value in model.summary.items():
        print(f"train.{key:<6s}{_short_value(value)}")
    return 0


def _short_value(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return " " + (text if len(text) <= limit else text[: limit - 1] + "…")


def cmd_generate(args) -> int:
    model = load_model(args, args.checkpoint)
    if not model.can_generate:
        raise ExplorerError(f"a {model.kind} model does not generate from latents; try 'translate' or 'upscale'")
    if args.batch_size < 1:
        raise ExplorerError("--batch-size must be at least 1")
    if args.latents:
        z = load_latents(args.latents, model.latent_dim)
        seeds = None
    else:
        seeds = parse_seeds(args.seeds or "0-15")
        z = latents_from_seeds(model, seeds)
    n = z.shape[0]
    labels = parse_labels(model, args.class_, args.labels, n)
    identity = model_identity(args.checkpoint)
    out = Path(args.out)
    images = []
    with progress_bar(args, n, "generating") as bar, torch.inference_mode():
        for i in range(0, n, args.batch_size):
            zb = z[i : i + args.batch_size]
            lb = labels[i : i + args.batch_size] if labels is not None else None
            images.append(model.generate(zb, lb, truncation=args.truncation).float().cpu())
            bar.update(zb.shape[0])
    x = torch.cat(images)  # [N, C, H, W]
    common = {**identity, "kind": model.kind, "truncation": args.truncation}
    if args.grid:
        grid = make_grid(x, nrow=args.nrow)
        meta = {**common, "seeds": seeds, "latents_file": Path(args.latents).name if args.latents else None,
                "latent_hash": latent_hash(z), "labels": labels.tolist() if labels is not None else None, "grid": [n, args.nrow]}
        path = save_png(grid, out / "grid.png", meta)
        print(f"wrote a grid of {n} images to {path}")
        return 0
    written = []
    for i in range(n):
        name = f"seed{seeds[i]:04d}.png" if seeds is not None else f"latent{i:04d}.png"
        meta = {**common, "seed": seeds[i] if seeds is not None else None, "latent_hash": latent_hash(z[i]),
                "latent_index": i if seeds is None else None, "label": int(labels[i]) if labels is not None else None}
        written.append(save_png(x[i], out / name, meta))
    print(f"wrote {len(written)} image{'s' if len(written) != 1 else ''} to {out}/ ({written[0].name}{' … ' + written[-1].name if len(written) > 1 else ''})")
    return 0


def cmd_import(args) -> int:
    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise ExplorerError(f"--out must end in .safetensors, got {out.name}")
    model = load_model(args, list(args.foreign))
    path = explorer.save(model, out)
    imported = model.card.imported if isinstance(model.card.imported, dict) else {}
    parts = ", ".join(imported.get("parts", [])) or "all parts"
    print(f"imported {model.kind} ({parts}) from {', '.join(Path(f).name for f in args.foreign)} -> {path}")
    for note in imported.get("notes", []):
        print(f"  note: {note}")
    return 0


def cmd_directions(args) -> int:
    model = load_model(args, args.checkpoint)
    if args.num < 1:
        raise ExplorerError("--num must be at least 1")
    with progress_bar(args, 1, f"{args.method} directions", unit="step") as bar:
        if args.method == "pca":
            d = pca_directions(model, num_samples=args.num_samples, num_components=args.num, seed=args.seed)
        else:
            d = sefa_directions(model, num_components=args.num)
        bar.update(1)
    print(f"{d.method} directions of {Path(args.checkpoint).name} in {d.space}-space ({d.vectors.shape[1]}-d), model hash {d.model_hash}")
    label = "variance" if d.method == "pca" else "eigenvalue"
    print(f"{'#':>3s}  {label:>12s}  {'share':>7s}  {'std':>8s}")
    for k in range(d.num_components):
        print(f"{k:3d}  {float(d.values[k]):12.5g}  {float(d.explained[k]):7.2%}  {float(d.stds[k]):8.4g}")
    if args.out:
        path = d.save(args.out if args.out.endswith(".npz") else args.out + ".npz")
        print(f"wrote {path}")
    if args.preview:
        steps = torch.linspace(-3, 3, 7)
        z = latents_from_seeds(model, [args.seed])  # [1, D]
        labels = torch.zeros(1, dtype=torch.long) if model.num_classes else None
        base = model.mapping(z, labels) if d.space == "w" else z
        rows = []
        with progress_bar(args, d.num_components, "preview", unit="dir") as bar, torch.inference_mode():
            for k in range(d.num_components):
                coeffs = torch.zeros(len(steps), k + 1)
                coeffs[:, k] = steps
                moved = apply_directions(base.expand(len(steps), -1), d, coeffs, scale="std")
                if d.space == "w":
                    rows.append(model.generate_from_w(moved).cpu())
                else:
                    rows.append(model.generate(moved, labels.expand(len(steps)) if labels is not None else None).cpu())
                bar.update(1)
        grid = make_grid(torch.cat(rows), nrow=len(steps))
        path = save_png(grid, Path(args.preview), {**model_identity(args.checkpoint), "kind": model.kind, "seed": args.seed,
                                                   "content": f"{d.method} directions: rows = directions 0..{d.num_components - 1}, columns = -3..+3 std"})
        print(f"wrote preview {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
