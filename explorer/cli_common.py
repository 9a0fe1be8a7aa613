"""What every ``gan-explorer`` subcommand shares: the ``--device/--threads/--quiet`` options,
progress bars, loading a model, provenance fields naming it, class labels, latent files and output paths.

Modules that add subcommands (see ``explorer.cli.COMMAND_MODULES``) import these from here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm import tqdm

from explorer.checkpoint import file_hash, load
from explorer.errors import ExplorerError
from explorer.metadata import class_names

#: progress bars appear only for work that takes longer than this many seconds
PROGRESS_DELAY_S = 1.0


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


def progress_bar(args, total: int | None, desc: str, unit: str = "img"):
    """A tqdm bar on stderr that shows up after :data:`PROGRESS_DELAY_S`, hidden by ``--quiet``."""
    return tqdm(total=total, desc=desc, unit=unit, delay=PROGRESS_DELAY_S, disable=bool(getattr(args, "quiet", False)),
                file=sys.stderr, leave=False)


def tile_callback(bar) -> Callable[[int, int], None]:
    """Adapt ``process_in_tiles``'s ``progress(done, total)`` to a tqdm bar."""

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    return update


def load_model(args, path_or_paths):
    """The model at a path (or foreign files) on ``--device``."""
    paths = path_or_paths if isinstance(path_or_paths, list) else [path_or_paths]
    target = paths if len(paths) > 1 else paths[0]
    model = load(target, device=getattr(args, "device", None))
    return model


def model_identity(path: str) -> dict[str, Any]:
    """Provenance fields naming the model: file name and content hash."""
    p = Path(path)
    return {"model": p.stem, "model_file": p.name, "model_hash": file_hash(p) if p.is_file() else None}


def parse_labels(model, class_: str | None, labels: str | None, n: int):
    """Labels tensor [n] for a conditional model, None for an unconditional one."""
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


def load_latents(path: str, latent_dim: int):
    """Latents [N, latent_dim] from a plain ``.npy`` file (no pickle), checked."""
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


def output_paths(inputs: list[str], out: str | None, default_dir: str, suffix: str) -> list[Path]:
    """One output path per input: ``out`` as a file for a single input ending in .png, else a folder."""
    if out is not None and out.lower().endswith(".png"):
        if len(inputs) != 1:
            raise ExplorerError("--out names one .png file, but several images were given; pass a folder")
        return [Path(out)]
    folder = Path(out or default_dir)
    return [folder / f"{Path(p).stem}_{suffix}.png" for p in inputs]
