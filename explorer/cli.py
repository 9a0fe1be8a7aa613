"""The ``gan-explorer`` command line: a thin layer over the public Python API.

Own subcommands: ``info``, ``generate``, ``translate``, ``upscale``, ``score``, ``import``,
``directions``. Other modules add theirs through :data:`COMMAND_MODULES` — one line per module,
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
import os
import importlib
import json
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from explorer.errors import ExplorerError
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

#: progress bars appear only for work that takes longer than this many seconds
PROGRESS_DELAY_S = 1.0


# ----------------------------------------------------------------------------------------
# parser
# ----------------------------------------------------------------------------------------
def _common_options(suppress: bool) -> argparse.ArgumentParser:
    """Options accepted both before and after the subcommand name."""
    default = argparse.SUPPRESS if suppress else None
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--device", default=default, help="cpu, cuda, cuda:1, ... (default: $GAN_EXPLORER_DEVICE, else CUDA if present, else CPU)")
    p.add_argument("--threads", type=int, default=default, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS if suppress else False, help="no progress bars")
    return p


def common_parent() -> argparse.ArgumentParser:
    """Parent parser with ``--device/--threads/--quiet`` for subcommands added by other modules."""
    return _common_options(suppress=True)


def build_parser(include_modules: bool = True) -> argparse.ArgumentParser:
    """The ``gan-explorer`` parser, with the subcommands of :data:`COMMAND_MODULES` unless
    ``include_modules`` is false (then only the built-in ones; used to start faster)."""
    from explorer import __version__

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

    p = sub.add_parser("translate", parents=common, help="image-to-image translation (CycleGAN)")
    p.add_argument("checkpoint")
    p.add_argument("images", nargs="+")
    p.add_argument("--direction", default=None, help="AtoB or BtoA (default: the model's first)")
    p.add_argument("--tile", type=int, default=768, help="images larger than this are translated in tiles")
    p.add_argument("--overlap", type=int, default=64)
    p.add_argument("--out", default=None, help="output .png (one input) or folder (default ./translated)")
    p.set_defaults(func=cmd_translate)

    p = sub.add_parser("upscale", parents=common, help="super-resolution at the model's scale (×2/×3/×4/×8), tiled for large images")
    p.add_argument("checkpoint")
    p.add_argument("images", nargs="+")
    p.add_argument("--tile", type=int, default=128, help="tile side in input pixels")
    p.add_argument("--overlap", type=int, default=16)
    p.add_argument("--out", default=None, help="output .png (one input) or folder (default ./upscaled)")
    p.set_defaults(func=cmd_upscale)

    p = sub.add_parser("score", parents=common, help="discriminator scores of images")
    p.add_argument("checkpoint")
    p.add_argument("images", nargs="+")
    p.add_argument("--domain", choices=("A", "B"), default=None, help="CycleGAN: which domain's discriminator")
    p.add_argument("--labels", default=None, help="class ids for conditional discriminators (one, or one per image)")
    p.add_argument("--fit", choices=("center-crop", "pad", "resize"), default="center-crop",
                   help="how images are brought to a fixed-size discriminator's resolution "
                        "(center-crop: as the training data were prepared)")
    p.add_argument("--patch-map", default=None, help="PatchGAN: write the per-patch heat map here (.png)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=cmd_score)

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
    import torch

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
# helpers
# ----------------------------------------------------------------------------------------
def _progress(args, total: int | None, desc: str, unit: str = "img"):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, delay=PROGRESS_DELAY_S, disable=bool(getattr(args, "quiet", False)),
                file=sys.stderr, leave=False)


def _tile_callback(bar) -> Callable[[int, int], None]:
    """Adapt ``process_in_tiles``'s ``progress(done, total)`` to a tqdm bar."""

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    return update


def _load(args, path_or_paths):
    import explorer

    paths = path_or_paths if isinstance(path_or_paths, list) else [path_or_paths]
    target = paths if len(paths) > 1 else paths[0]
    model = explorer.load(target, device=getattr(args, "device", None))
    return model


def _model_identity(path: str) -> dict[str, Any]:
    """Provenance fields naming the model: file name and content hash."""
    from explorer.checkpoint import file_hash

    p = Path(path)
    return {"model": p.stem, "model_file": p.name, "model_hash": file_hash(p) if p.is_file() else None}


def _parse_labels(model, class_: str | None, labels: str | None, n: int):
    """Labels tensor [n] for a conditional model, None for an unconditional one."""
    import torch

    if not model.num_classes:
        if class_ is not None or labels is not None:
            raise ExplorerError(f"this {model.kind} model is unconditional; drop --class/--labels")
        return None
    names = class_names(model)
    if class_ is None and labels is None:
        raise ExplorerError(
            f"this model is class-conditional ({model.num_classes} classes{': ' + ', '.join(names) if names else ''}); pass --class or --labels"
        )

    def one(token: str) -> int:
        token = token.strip()
        if token.lstrip("-").isdigit():
            value = int(token)
        elif token in names:
            value = names.index(token)
        else:
            known = f" (known: {', '.join(names)})" if names else ""
            raise ExplorerError(f"unknown class {token!r}{known}")
        if not 0 <= value < model.num_classes:
            raise ExplorerError(f"class ids run from 0 to {model.num_classes - 1}, got {value}")
        return value

    if class_ is not None:
        ids = [one(class_)] * n
    else:
        ids = [one(t) for t in labels.split(",") if t.strip()]
        if len(ids) == 1:
            ids = ids * n
        elif len(ids) != n:
            raise ExplorerError(f"{len(ids)} labels given for {n} images; give one label or one per image")
    return torch.tensor(ids, dtype=torch.long)


def _load_latents(path: str, latent_dim: int):
    import numpy as np
    import torch

    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ExplorerError(f"no such latents file: {path}") from None
    except (ValueError, OSError) as exc:
        raise ExplorerError(f"{Path(path).name} is not a .npy array file ({exc})") from None
    if not isinstance(arr, np.ndarray):
        raise ExplorerError(f"{Path(path).name}: expected one .npy array, got an archive")
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != latent_dim or not np.issubdtype(arr.dtype, np.number):
        raise ExplorerError(f"{Path(path).name} holds an array of shape {list(arr.shape)}; this model needs [N, {latent_dim}]")
    if not np.isfinite(arr).all():
        raise ExplorerError(f"{Path(path).name} contains NaN or infinite values")
    return torch.from_numpy(arr.astype(np.float32))


def _outputs(inputs: list[str], out: str | None, default_dir: str, suffix: str) -> list[Path]:
    """One output path per input: ``out`` as a file for a single input ending in .png, else a folder."""
    if out is not None and out.lower().endswith(".png"):
        if len(inputs) != 1:
            raise ExplorerError("--out names one .png file, but several images were given; pass a folder")
        return [Path(out)]
    folder = Path(out or default_dir)
    return [folder / f"{Path(p).stem}_{suffix}.png" for p in inputs]


# ----------------------------------------------------------------------------------------
# commands
# ----------------------------------------------------------------------------------------
def cmd_info(args) -> int:
    from explorer.checkpoint import file_hash, read_metadata, sniff_format

    paths = args.checkpoint
    model = _load(args, paths)
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
    import torch

    from explorer.images import latent_hash, make_grid, save_png
    from explorer.latent import latents_from_seeds, parse_seeds

    model = _load(args, args.checkpoint)
    if not model.can_generate:
        raise ExplorerError(f"a {model.kind} model does not generate from latents; try 'translate' or 'upscale'")
    if args.batch_size < 1:
        raise ExplorerError("--batch-size must be at least 1")
    if args.latents:
        z = _load_latents(args.latents, model.latent_dim)
        seeds = None
    else:
        seeds = parse_seeds(args.seeds or "0-15")
        z = latents_from_seeds(model, seeds)
    n = z.shape[0]
    labels = _parse_labels(model, args.class_, args.labels, n)
    identity = _model_identity(args.checkpoint)
    out = Path(args.out)
    images = []
    with _progress(args, n, "generating") as bar, torch.inference_mode():
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


def _image_to_image(args, model, direction: str, tile: int, overlap: int, suffix: str, default_dir: str) -> int:
    from explorer.images import load_image, save_png
    from explorer.pipelines import translate

    outputs = _outputs(args.images, args.out, default_dir, suffix)
    identity = _model_identity(args.checkpoint)
    for src, dst in zip(args.images, outputs):
        img = load_image(src, mode=translate.input_mode(model, direction), allow_animated=False)
        w, h = img.size
        with _progress(args, None, Path(src).name, unit="tile") as bar:
            y = translate.run(model, img, direction, tile=tile, overlap=overlap, progress=_tile_callback(bar))
        meta = {**identity, "kind": model.kind, "direction": direction, "source_image": Path(src).name,
                "source_size": [int(w), int(h)]}
        save_png(y.cpu(), dst, meta)
        print(f"{src} -> {dst} ({w}×{h} → {y.shape[-1]}×{y.shape[-2]})")
    return 0


def cmd_translate(args) -> int:
    from explorer.pipelines import translate

    model = _load(args, args.checkpoint)
    if model.caps.upscales:
        raise ExplorerError(f"a {model.kind} model does not translate images; use 'upscale'")
    direction = translate.check_direction(model, args.direction)
    return _image_to_image(args, model, direction, args.tile, args.overlap, suffix=direction, default_dir="translated")


def cmd_upscale(args) -> int:
    model = _load(args, args.checkpoint)
    if not model.caps.upscales:
        raise ExplorerError(f"a {model.kind} model does not upscale images (need a super-resolution model)")
    return _image_to_image(args, model, model.directions[0], args.tile, args.overlap,
                           suffix=f"x{int(model.config.scale)}", default_dir="upscaled")


def cmd_score(args) -> int:
    from explorer.data.dataset import prepare_image
    from explorer.images import fit_to, load_image, tensor_to_pil
    from explorer.pipelines.score import score_image

    model = _load(args, args.checkpoint)
    if model.caps.domains and args.domain is None:
        raise ExplorerError(f"a {model.display_name} has one discriminator per domain: pass --domain A or --domain B")
    channels = model.channels_of(args.domain) if args.domain else model.image_channels
    fixed = model.resolution if model.fixed_size_discriminator else 0
    labels = _parse_labels(model, None, args.labels, len(args.images)) if model.num_classes or args.labels else None
    rows = []
    maps = []
    for i, src in enumerate(args.images):
        img = load_image(src, mode="RGB")
        # --fit other than center-crop is a deliberate departure from the training policy
        prepared = prepare_image(fit_to(img, fixed, args.fit), channels) if fixed and args.fit != "center-crop" else None
        result = score_image(model, img, args.domain, int(labels[i]) if labels is not None else None, prepared=prepared)
        rows.append({"image": src, "score": result.logit, "p_real": result.p_real})
        if result.patch_map is not None:
            maps.append((src, tensor_to_pil(result.shown[0]), result.patch_map))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        width = max(len(r["image"]) for r in rows)
        print(f"{'image':<{width}s}  {'logit':>9s}  {'P(real)':>7s}")
        for r in rows:
            print(f"{r['image']:<{width}s}  {r['score']:9.4f}  {r['p_real']:7.4f}")
    if args.patch_map:
        if not maps:
            raise ExplorerError(f"a {model.kind} discriminator gives one score per image, no patch map")
        for j, (src, img, pmap) in enumerate(maps):
            dst = Path(args.patch_map)
            if len(maps) > 1:
                dst = dst.with_name(f"{dst.stem}_{j}{dst.suffix or '.png'}")
            _save_heat_map(img, pmap, dst, {**_model_identity(args.checkpoint), "kind": model.kind, "source_image": Path(src).name,
                                            "domain": args.domain, "content": "PatchGAN heat map: red = judged real, blue = judged fake"})
            print(f"patch map of {src} ({pmap.shape[1]}×{pmap.shape[0]} patches) -> {dst}")
    return 0


def _save_heat_map(img, patch_logits, dst: Path, meta: dict) -> None:
    """Overlay sigmoid(patch logits) on the image: blue (fake) – white (0.5) – red (real)."""
    import numpy as np
    from PIL import Image

    from explorer.images import save_png

    p = 1.0 / (1.0 + np.exp(-np.clip(patch_logits.numpy(), -60, 60)))  # [h, w] in (0, 1)
    red = np.clip(2 * p, 0, 1)
    blue = np.clip(2 * (1 - p), 0, 1)
    green = np.minimum(red, blue)
    heat = (np.stack([red, green, blue], axis=2) * 255).round().astype(np.uint8)  # [h, w, 3]
    heat_img = Image.fromarray(heat, "RGB").resize(img.size, Image.NEAREST)
    base = img.convert("RGB")
    save_png(Image.blend(base, heat_img, 0.6), dst.with_suffix(".png"), meta)


def cmd_import(args) -> int:
    import explorer

    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise ExplorerError(f"--out must end in .safetensors, got {out.name}")
    model = _load(args, list(args.foreign))
    path = explorer.save(model, out)
    imported = model.card.imported if isinstance(model.card.imported, dict) else {}
    parts = ", ".join(imported.get("parts", [])) or "all parts"
    print(f"imported {model.kind} ({parts}) from {', '.join(Path(f).name for f in args.foreign)} -> {path}")
    for note in imported.get("notes", []):
        print(f"  note: {note}")
    return 0


def cmd_directions(args) -> int:
    import torch

    from explorer.images import make_grid, save_png
    from explorer.latent import apply_directions, latents_from_seeds, pca_directions, sefa_directions

    model = _load(args, args.checkpoint)
    if args.num < 1:
        raise ExplorerError("--num must be at least 1")
    with _progress(args, 1, f"{args.method} directions", unit="step") as bar:
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
        with _progress(args, d.num_components, "preview", unit="dir") as bar, torch.inference_mode():
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
        path = save_png(grid, Path(args.preview), {**_model_identity(args.checkpoint), "kind": model.kind, "seed": args.seed,
                                                   "content": f"{d.method} directions: rows = directions 0..{d.num_components - 1}, columns = -3..+3 std"})
        print(f"wrote preview {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
