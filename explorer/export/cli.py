"""Subcommands ``export-onnx``, ``export-dataset``, ``zoo`` and ``experiment augment``.

Each ``add_*_command(subparsers)`` adds one subcommand to ``gan-explorer``'s argparse sub-parsers
and sets ``func`` (``args -> exit code``); :func:`add_commands` adds all four. They are listed in
``explorer.cli.COMMAND_MODULES``. Errors are :class:`~explorer.errors.ExplorerError` (printed as
one line by ``explorer.cli.main``). Nothing runs at import time.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from explorer.cli_common import common_parent, progress_bar
from explorer.errors import ExplorerError
from explorer.experiments.augment import DEFAULT_GENERATOR, AugmentSettings, markdown_table, run_augment, write_results
from explorer.export.common import resolve_model
from explorer.export.dataset import export_dataset
from explorer.export.onnx import export_onnx
from explorer.latent import parse_seeds
from explorer.zoo import delete_model, describe, export_model, get_model, import_model, list_models


def _common() -> list[argparse.ArgumentParser]:
    return [common_parent()]


def add_commands(sub) -> None:
    """Add all four subcommands."""
    add_export_onnx_command(sub)
    add_export_dataset_command(sub)
    add_zoo_command(sub)
    add_experiment_command(sub)


# ----------------------------------------------------------------------------------------
# export-onnx
# ----------------------------------------------------------------------------------------
def add_export_onnx_command(sub) -> None:
    p = sub.add_parser("export-onnx", parents=_common(), help="export a generator to ONNX (checked with onnxruntime)",
                       description="Export a DCGAN/StyleGAN/CycleGAN/SRGAN generator to ONNX with a dynamic batch axis "
                                   "(and dynamic H, W for image-to-image models), verify it against PyTorch with "
                                   "onnxruntime, and embed provenance metadata.")
    p.add_argument("checkpoint", nargs="+", help="our .safetensors file, or foreign file(s)")
    p.add_argument("--out", required=True, help="output .onnx file (with --direction both: <stem>_AtoB.onnx and <stem>_BtoA.onnx)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--direction", default=None, help="CycleGAN: AtoB, BtoA or both (default: the model's first)")
    p.add_argument("--truncation", default=None,
                   help="generators: 'input' (a scalar input named truncation) or a fixed ψ (default: input for StyleGAN, 1 for DCGAN)")
    p.add_argument("--exporter", choices=("torchscript", "dynamo"), default="torchscript",
                   help="torch.onnx exporter (default torchscript: fast; dynamo: torch.export-based)")
    p.add_argument("--no-verify", action="store_true", help="skip the onnxruntime comparison")
    p.add_argument("--atol", type=float, default=1e-4, help="largest allowed |ONNX − PyTorch| (default 1e-4)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=cmd_export_onnx)


def cmd_export_onnx(args) -> int:
    source: Any = args.checkpoint if len(args.checkpoint) > 1 else args.checkpoint[0]
    truncation: Any = args.truncation
    if truncation is not None and truncation != "input":
        try:
            truncation = float(truncation)
        except ValueError:
            raise ExplorerError(f"--truncation must be 'input' or a number, got {args.truncation!r}") from None
    out = Path(args.out)
    jobs: list[tuple[str | None, Path]] = [(args.direction, out)]
    if args.direction == "both":
        model, _ = resolve_model(source)
        if not model.caps.domains:
            raise ExplorerError("--direction both applies to CycleGAN models")
        jobs = [(d, out.with_name(f"{out.stem}_{d}{out.suffix or '.onnx'}")) for d in model.directions]
    results = []
    for direction, path in jobs:
        r = export_onnx(source, path, opset=args.opset, direction=direction, truncation=truncation,
                        exporter=args.exporter, verify=not args.no_verify, atol=args.atol)
        results.append(r)
    if args.json:
        print(json.dumps([{"path": str(r.path), "kind": r.kind, "inputs": r.inputs, "outputs": r.outputs,
                           "max_abs_diff": r.max_abs_diff} for r in results], indent=1))
        return 0
    for r in results:
        check = f"max |ONNX − PyTorch| = {r.max_abs_diff:.2g}" if r.max_abs_diff is not None else "not verified"
        print(f"wrote {r.path} ({r.kind}; {check})")
        for name, doc in r.inputs.items():
            print(f"  input  {name}: {doc}")
        for name, doc in r.outputs.items():
            print(f"  output {name}: {doc}")
    return 0


# ----------------------------------------------------------------------------------------
# export-dataset
# ----------------------------------------------------------------------------------------
def add_export_dataset_command(sub) -> None:
    p = sub.add_parser("export-dataset", parents=_common(), help="write a synthetic labelled data set (ImageFolder + manifest)",
                       description="Generate N images per class from a (class-conditional) generator into OUT/<class>/<seed>.png "
                                   "(lossless PNG with provenance) plus OUT/manifest.json.")
    p.add_argument("checkpoint")
    p.add_argument("--per-class", type=int, required=True, help="images per class (unconditional models: in total)")
    p.add_argument("--out", required=True, help="output folder (must be empty unless --overwrite)")
    p.add_argument("--truncation", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0, help="base seed (class c, candidate i: seed + i*classes + c)")
    p.add_argument("--min-confidence", type=float, default=None,
                   help="keep only images the classifier gives at least this probability of their class")
    p.add_argument("--classifier", default=None, help="classifier checkpoint for --min-confidence (default: the shipped one for the data set)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--overwrite", action="store_true", help="replace a previous export in --out")
    p.set_defaults(func=cmd_export_dataset)


def cmd_export_dataset(args) -> int:
    with progress_bar(args, None, "export-dataset") as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        manifest = export_dataset(args.checkpoint, args.per_class, args.out, truncation=args.truncation, seed=args.seed,
                                  min_confidence=args.min_confidence, classifier=args.classifier, progress=progress,
                                  batch_size=args.batch_size, device=getattr(args, "device", None), overwrite=args.overwrite)
    classes = len(manifest["classes"])
    print(f"wrote {manifest['num_images']} images in {classes} folder{'s' if classes != 1 else ''} and manifest.json to {args.out}")
    return 0


# ----------------------------------------------------------------------------------------
# zoo
# ----------------------------------------------------------------------------------------
def add_zoo_command(sub) -> None:
    p = sub.add_parser("zoo", parents=_common(), help="the model zoo: list, search, show, import, export, delete",
                       description="Every model GAN Explorer knows: shipped (checkpoints/), imported and trained "
                                   "($GAN_EXPLORER_HOME/models, default ~/.local/share/gan-explorer/models).")
    p.add_argument("--user-dir", default=None, help="folder of imported/trained models (default: $GAN_EXPLORER_HOME/models)")
    zsub = p.add_subparsers(dest="zoo_command", metavar="ACTION")
    zsub.required = True
    q = zsub.add_parser("list", parents=_common(), help="list models (optionally filtered)")
    q.add_argument("--kind", default=None, help="dcgan, stylegan, cyclegan, srgan, classifier")
    q.add_argument("--source", choices=("shipped", "imported", "trained"), default=None)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_zoo_list, query=None)
    q = zsub.add_parser("search", parents=_common(), help="models whose name, kind, data, origin or card contain all the words")
    q.add_argument("query", nargs="+")
    q.add_argument("--kind", default=None)
    q.add_argument("--source", choices=("shipped", "imported", "trained"), default=None)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_zoo_list)
    q = zsub.add_parser("show", parents=_common(), help="one model's card")
    q.add_argument("id", help="e.g. shipped:dcgan_digits or user:my-model")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_zoo_show)
    q = zsub.add_parser("import", parents=_common(), help="import checkpoint file(s) into the user folder (our format)")
    q.add_argument("files", nargs="+", help="our .safetensors, netG_epoch_N.pth [+ netD], latest_net_G_A.pth latest_net_G_B.pth, or a run folder")
    q.add_argument("--name", default=None, help="name in the zoo (default: the first file's stem)")
    q.add_argument("--no-samples", action="store_true", help="do not write a sample grid for generators")
    q.set_defaults(func=cmd_zoo_import)
    q = zsub.add_parser("export", parents=_common(), help="copy a model to a .safetensors file (our own format) with its sample grid")
    q.add_argument("id")
    q.add_argument("out")
    q.add_argument("--overwrite", action="store_true")
    q.set_defaults(func=cmd_zoo_export)
    q = zsub.add_parser("delete", parents=_common(), help="delete an imported or trained model (shipped models cannot be deleted)")
    q.add_argument("id")
    q.set_defaults(func=cmd_zoo_delete)


def cmd_zoo_list(args) -> int:
    query = " ".join(args.query) if isinstance(args.query, list) else args.query
    entries = list_models(query=query, kind=args.kind, source=args.source, user_dir=args.user_dir)
    if args.json:
        print(json.dumps([e.to_dict() for e in entries], indent=1, default=str))
        return 0
    if not entries:
        print("no models" + (f" match {query!r}" if query else "") + " (import one with `gan-explorer zoo import FILES`)")
        return 0
    rows = [("id", "kind", "source", "res", "data", "MB", "params")]
    rows += [(e.id, e.kind, e.source, str(e.resolution or "-"), (e.dataset or "-")[:24], f"{e.file_size / 1e6:.1f}",
              f"{e.params / 1e6:.2f}M") for e in entries]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


def cmd_zoo_show(args) -> int:
    entry = get_model(args.id, user_dir=args.user_dir)
    if args.json:
        print(json.dumps(entry.to_dict(), indent=1, default=str))
    else:
        print(describe(entry))
        print(json.dumps(entry.card.to_dict(), indent=1, default=str))
    return 0


def cmd_zoo_import(args) -> int:
    entry = import_model(args.files if len(args.files) > 1 else args.files[0], name=args.name, user_dir=args.user_dir,
                         samples=not args.no_samples)
    print(f"imported {entry.name} as {entry.id} ({entry.kind}) → {entry.path}")
    return 0


def cmd_zoo_export(args) -> int:
    path = export_model(args.id, args.out, overwrite=args.overwrite, user_dir=args.user_dir)
    print(f"wrote {path}")
    return 0


def cmd_zoo_delete(args) -> int:
    entry = delete_model(args.id, user_dir=args.user_dir)
    print(f"deleted {entry.name} ({entry.path})")
    return 0


# ----------------------------------------------------------------------------------------
# experiment augment
# ----------------------------------------------------------------------------------------
def add_experiment_command(sub) -> None:
    p = sub.add_parser("experiment", parents=_common(), help="rerunnable experiments (augment)")
    esub = p.add_subparsers(dest="experiment", metavar="EXPERIMENT")
    esub.required = True
    q = esub.add_parser("augment", parents=_common(), help="does GAN-made data help a classifier with few real labels?",
                        description="Train the same small classifier on 100/500/1000 real digits with and without N synthetic "
                                    "images per class from a conditional generator; report held-out accuracy over several "
                                    "seeds with 95 % t intervals (table + plot).")
    q.add_argument("--generator", default=None, help="conditional generator checkpoint (default checkpoints/dcgan_digits.safetensors)")
    q.add_argument("--dataset", default="digits")
    q.add_argument("--real", default="100,500,1000", help="real labelled budgets, comma-separated")
    q.add_argument("--synthetic", default="100", help="synthetic images per class, comma-separated")
    q.add_argument("--seeds", default="0-2", help="repetitions, e.g. 0-4")
    q.add_argument("--steps", type=int, default=250, help="optimisation steps per training run (equal for every arm)")
    q.add_argument("--width", type=int, default=16, help="classifier width")
    q.add_argument("--batch-size", type=int, default=64)
    q.add_argument("--truncation", type=float, default=1.0)
    q.add_argument("--min-confidence", type=float, default=None, help="filter synthetic images with the shipped classifier")
    q.add_argument("--eval-limit", type=int, default=None, help="evaluate on the first N held-out images only")
    q.add_argument("--no-synthetic-only", action="store_true", help="skip the synthetic-only arm")
    q.add_argument("--json-out", default=None, help="write the results here (.json)")
    q.add_argument("--plot", default=None, help="write the chart here (.png)")
    q.add_argument("--quick", action="store_true", help="a tiny smoke run (2 seeds, 30 steps, small budgets)")
    q.set_defaults(func=cmd_experiment_augment)


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        return tuple(parse_seeds(text))
    except ExplorerError as exc:
        raise ExplorerError(f"--{what}: {exc}") from None


def cmd_experiment_augment(args) -> int:
    settings = AugmentSettings(
        generator=args.generator or DEFAULT_GENERATOR, dataset=args.dataset, real_sizes=_ints(args.real, "real"),
        synthetic_per_class=_ints(args.synthetic, "synthetic"), seeds=_ints(args.seeds, "seeds"), steps=args.steps,
        batch_size=args.batch_size, width=args.width, truncation=args.truncation, min_confidence=args.min_confidence,
        synthetic_only=not args.no_synthetic_only, eval_limit=args.eval_limit,
    )
    if args.quick:
        settings = AugmentSettings(**{**settings.__dict__, "real_sizes": (50, 100), "synthetic_per_class": (20,),
                                      "seeds": settings.seeds[:2] if len(settings.seeds) >= 2 else (0, 1), "steps": 30})
    with progress_bar(args, None, "experiment augment", unit="run") as bar:
        def progress(done: int, total: int, what: str) -> None:
            bar.total = total
            bar.set_postfix_str(what)
            bar.update(done - bar.n)

        results = run_augment(settings, progress=progress, device=getattr(args, "device", None) or "cpu")
    print(markdown_table(results))
    written = write_results(results, args.json_out, args.plot)
    for what, path in written.items():
        print(f"wrote {what}: {path}")
    return 0
