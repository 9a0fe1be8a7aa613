"""Synthetic labelled data sets from a generator: an ImageFolder tree plus a manifest.

``export_dataset(ckpt, per_class=100, out_dir="synthetic/")`` writes::

    synthetic/
      manifest.json          # model hash/kind/config, truncation, seeds, labels, confidences
      0/  1000.png 1010.png … # one folder per class (class names, made file-name safe)
      1/  1001.png …          # unconditional models: one folder "all"

Every PNG is lossless and carries the provenance record of :func:`explorer.images.save_png`
(model, hash, seed, latent hash, label, truncation, GAN Explorer version and the "synthetic
image" statement). The manifest's ``label`` of an image is authoritative (a loader that sorts
folder names, like torchvision's ImageFolder, may number classes differently).

Seeds: the i-th candidate of class c is seed ``base + i·K + c`` for a K-class model (``base + i``
for an unconditional one), so classes never share a latent, and a larger export extends a smaller
one with the same base seed. Same arguments → byte-identical files (on the same device).

Filtering (``min_confidence``): a candidate is kept only if the project classifier gives its
intended class (conditional models) or its top class (unconditional) at least this probability;
candidates are drawn in seed order until ``per_class`` pass, at most ``max_draws_factor × per_class``
per class, after which a :class:`DataError` says how far it got.

:func:`iter_synthetic` is the in-memory core (used by the augmentation experiment);
:func:`synthetic_tensors` collects it into tensors.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch

from explorer import __version__, zoo
from explorer.atomic import write_text
from explorer.errors import DataError, ExplorerError
from explorer.export.common import resolve_model
from explorer.images import SYNTHETIC_STATEMENT, latent_hash, save_png
from explorer.latent import latents_from_seeds
from explorer.metadata import class_names as class_names_of
from explorer.models.base import GANModel
from explorer.runtime import resolve_device

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "gan-explorer-synthetic-dataset"
MANIFEST_VERSION = 1
UNCONDITIONAL_FOLDER = "all"
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


@dataclass
class SyntheticBatch:
    """Accepted images of one class: images [B, C, H, W] in [-1, 1] (CPU), their seeds and labels."""

    images: torch.Tensor
    label: int | None  # the class asked for (None: unconditional model)
    seeds: list[int]
    latents: torch.Tensor  # [B, latent_dim]
    predicted: list[int] | None  # classifier's class per image (filtering only)
    confidences: list[float] | None  # classifier probability of the intended (or top) class


def candidate_seed(base_seed: int, index: int, label: int | None, num_classes: int) -> int:
    """Seed of the ``index``-th candidate of class ``label`` (see the module docstring)."""
    if not num_classes or label is None:
        return base_seed + index
    return base_seed + index * num_classes + label


def iter_synthetic(
    model: GANModel,
    per_class: int,
    seed: int = 0,
    truncation: float = 1.0,
    min_confidence: float | None = None,
    classifier: GANModel | None = None,
    batch_size: int = 64,
    max_draws_factor: int = 20,
    classes: Sequence[int] | None = None,
) -> Iterator[SyntheticBatch]:
    """Yield accepted images class by class, in seed order (see the module docstring).

    ``model`` must be a loaded generator on its device; ``classifier`` a loaded classifier (needed
    when ``min_confidence`` is given). ``classes`` restricts a conditional model to some class ids.
    """

    if not model.can_generate or getattr(model, "G", True) is None:
        raise ExplorerError(f"a {model.kind} model does not generate images from latents")
    if per_class < 1:
        raise ExplorerError(f"per_class must be at least 1, got {per_class}")
    if seed < 0:
        raise ExplorerError(f"seed must be ≥ 0, got {seed}")
    if batch_size < 1 or max_draws_factor < 1:
        raise ExplorerError("batch_size and max_draws_factor must be at least 1")
    if min_confidence is not None:
        if not 0.0 <= float(min_confidence) <= 1.0:
            raise ExplorerError(f"min_confidence is a probability in [0, 1], got {min_confidence}")
        if classifier is None:
            raise ExplorerError("filtering by min_confidence needs a classifier")
        if classifier.kind != "classifier":
            raise ExplorerError(f"the filter needs a classifier model, got a {classifier.kind} model")
        if model.num_classes and classifier.num_classes != model.num_classes:
            raise ExplorerError(f"the classifier knows {classifier.num_classes} classes, the generator {model.num_classes}")
    k = model.num_classes
    labels: list[int | None] = list(range(k)) if k else [None]
    if classes is not None:
        if not k:
            raise ExplorerError("this model is unconditional; it has no classes to choose from")
        bad = [c for c in classes if not 0 <= int(c) < k]
        if bad:
            raise ExplorerError(f"class ids run from 0 to {k - 1}, got {bad}")
        labels = [int(c) for c in classes]
    names = class_names_of(model) if k else []
    max_draws = max_draws_factor * per_class
    for label in labels:
        accepted, draws = 0, 0
        while accepted < per_class:
            need = per_class - accepted
            n = min(batch_size, need if min_confidence is None else max_draws - draws)
            if n <= 0:
                what = f"class {names[label]!r}" if label is not None else "this model"
                raise DataError(
                    f"{what}: only {accepted} of {per_class} images reached classifier confidence {min_confidence:g} "
                    f"in {draws} draws (limit {max_draws_factor}× per class); lower min_confidence, lower truncation, "
                    "or check that the classifier fits this generator's data"
                )
            seeds = [candidate_seed(seed, draws + i, label, k) for i in range(n)]
            draws += n
            z = latents_from_seeds(model, seeds)  # [n, latent_dim]
            y = torch.full((n,), label, dtype=torch.long) if label is not None else None
            with torch.no_grad():
                x = model.generate(z, y, truncation=truncation).float().cpu()  # [n, C, H, W]
            predicted = confidences = None
            if min_confidence is not None:
                with torch.no_grad():
                    probs = torch.softmax(classifier.logits(x).float(), dim=1).cpu()  # [n, classes]
                top = probs.argmax(dim=1)
                conf = probs[:, label] if label is not None else probs.max(dim=1).values
                keep = (conf >= float(min_confidence)).nonzero().flatten()[:need]
                x, z = x[keep], z[keep]
                seeds = [seeds[i] for i in keep.tolist()]
                predicted = top[keep].tolist()
                confidences = [round(float(c), 6) for c in conf[keep]]
            if len(seeds):
                accepted += len(seeds)
                yield SyntheticBatch(x, label, seeds, z, predicted, confidences)


def synthetic_tensors(model: GANModel, per_class: int, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """All of :func:`iter_synthetic` as (images [N, C, H, W], labels [N], seeds); labels −1 if unconditional."""
    images, labels, seeds = [], [], []
    for batch in iter_synthetic(model, per_class, **kwargs):
        images.append(batch.images)
        labels += [-1 if batch.label is None else batch.label] * len(batch.seeds)
        seeds += batch.seeds
    return torch.cat(images), torch.tensor(labels, dtype=torch.long), seeds


def folder_names(class_names: Sequence[str]) -> list[str]:
    """File-name-safe, unique folder names for classes (``T-shirt/top`` → ``T-shirt-top``)."""
    out: list[str] = []
    for i, name in enumerate(class_names):
        safe = _UNSAFE.sub("-", str(name)).strip(" .-") or str(i)
        if safe in out:
            safe = f"{i}-{safe}"
        out.append(safe)
    return out


def export_dataset(
    ckpt: str | os.PathLike | GANModel,
    per_class: int,
    out_dir: str | os.PathLike,
    truncation: float = 1.0,
    seed: int = 0,
    min_confidence: float | None = None,
    classifier: str | os.PathLike | GANModel | None = None,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    overwrite: bool = False,
    max_draws_factor: int = 20,
) -> dict[str, Any]:
    """Write a synthetic labelled data set (ImageFolder layout + ``manifest.json``); returns the manifest.

    Args:
        ckpt: generator checkpoint path or a loaded DCGAN/StyleGAN model.
        per_class: images per class (unconditional models: images in all).
        out_dir: output folder; must be empty or absent unless ``overwrite`` (which removes the files a
            previous export listed in its manifest, and nothing else).
        truncation: ψ passed to ``model.generate``.
        seed: base seed (see the module docstring for the seed of each image).
        min_confidence: keep only images the classifier gives at least this probability.
        classifier: classifier path or model for the filter (default: the shipped
            ``checkpoints/classifier_<dataset>.safetensors`` of the generator's training data).
        progress: ``progress(done, total)`` after every written batch.
        device: where to generate (default: CUDA if present, else CPU).
    """
    out_dir = Path(out_dir)
    model, identity = resolve_model(ckpt)
    if not model.caps.generates or not model.can_generate:
        raise ExplorerError(f"export-dataset needs a generator (dcgan or stylegan), got a {model.kind} model")
    dev = resolve_device(device)
    model = model.to(dev)
    clf_model, clf_identity = None, None
    if min_confidence is not None:
        clf_model, clf_identity = filter_classifier(classifier, identity.get("model_dataset"))
        clf_model = clf_model.to(dev)
    _prepare_out_dir(out_dir, overwrite)

    k = model.num_classes
    class_names = class_names_of(model) if k else [UNCONDITIONAL_FOLDER]
    folders = folder_names(class_names) if k else [UNCONDITIONAL_FOLDER]
    total = per_class * max(k, 1)
    base_meta = {key: identity[key] for key in ("model", "model_kind", "model_hash", "model_file")}
    records: list[dict[str, Any]] = []
    done = 0
    batches = iter_synthetic(model, per_class, seed=seed, truncation=truncation, min_confidence=min_confidence,
                             classifier=clf_model, batch_size=batch_size, max_draws_factor=max_draws_factor)
    try:
        for batch in batches:
            _write_batch(batch, out_dir, folders, class_names, base_meta, truncation, clf_identity, records)
            done += len(batch.seeds)
            if progress is not None:
                progress(done, total)
    except DataError as exc:
        raise DataError(f"{exc} ({done} images were written to {out_dir} without a manifest)") from None
    manifest = _manifest(identity, k, class_names, folders, records, truncation=truncation, seed=seed,
                         per_class=per_class, min_confidence=min_confidence, clf_identity=clf_identity,
                         max_draws_factor=max_draws_factor, device=dev)
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    manifest = json.loads(text)  # return exactly what the file says (tuples become lists)
    write_text(out_dir / MANIFEST_NAME, text)
    return manifest


def _manifest(identity: dict[str, Any], k: int, class_names: list[str], folders: list[str],
              records: list[dict[str, Any]], *, truncation: float, seed: int, per_class: int,
              min_confidence: float | None, clf_identity: dict | None, max_draws_factor: int,
              device: torch.device) -> dict[str, Any]:
    """The manifest of an export of a ``k``-class model (0: unconditional): what made the images (model,
    seeds, filter, device) and every image's record."""
    return {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_VERSION,
        "generator": "gan-explorer",
        "version": __version__,
        "synthetic": True,
        "statement": SYNTHETIC_STATEMENT,
        "model": {
            "name": identity["model"], "kind": identity["model_kind"], "hash": identity["model_hash"],
            "hash_of": identity["model_hash_of"], "file": identity["model_file"], "config": identity["model_config"],
            "card": identity["model_card"], "dataset": identity["model_dataset"],
        },
        "truncation": float(truncation),
        "seed": int(seed),
        "seed_scheme": ("the i-th candidate of class c has seed = seed + i*num_classes + c" if k
                        else "the i-th candidate has seed = seed + i") + "; z = explorer.latents_from_seeds(model, [seed])",
        "per_class": int(per_class),
        "num_images": len(records),
        "classes": [{"label": i, "name": n, "folder": f} for i, (n, f) in enumerate(zip(class_names, folders))] if k
        else [{"label": None, "name": UNCONDITIONAL_FOLDER, "folder": UNCONDITIONAL_FOLDER}],
        "filter": None if min_confidence is None else {"classifier": clf_identity, "min_confidence": float(min_confidence),
                                                        "max_draws_factor": int(max_draws_factor)},
        "device": str(device),
        "images": records,
    }


def _write_batch(batch: SyntheticBatch, out_dir: Path, folders: list[str], class_names: list[str],
                 base_meta: dict[str, Any], truncation: float, clf_identity: dict | None, records: list) -> None:
    idx = 0 if batch.label is None else batch.label
    folder = out_dir / folders[idx]
    for i, s in enumerate(batch.seeds):
        path = folder / f"{s}.png"
        meta = {
            **base_meta,
            "seed": s,
            "latent_hash": latent_hash(batch.latents[i]),
            "truncation": float(truncation),
            "label": batch.label,
            "class_name": class_names[idx] if batch.label is not None else None,
            "classifier_confidence": batch.confidences[i] if batch.confidences is not None else None,
            "classifier_hash": clf_identity["model_hash"] if clf_identity else None,
            "use": "synthetic training data",
        }
        save_png(batch.images[i], path, meta)
        record = {"path": path.relative_to(out_dir).as_posix(), "seed": s, "label": batch.label,
                  "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        if batch.confidences is not None:
            record["confidence"] = batch.confidences[i]
            record["predicted"] = batch.predicted[i]
        records.append(record)


def filter_classifier(source, dataset: str | None) -> tuple[GANModel, dict]:
    """The filter's classifier and its identity; default: the shipped one for ``dataset``."""
    if source is None:
        # through the module, not a copied name: the zoo's shipped folder can be redirected (tests do)
        candidate = zoo.shipped_dir() / f"classifier_{dataset}.safetensors" if dataset else None
        if candidate is None or not candidate.is_file():
            raise ExplorerError(
                "filtering by confidence needs a classifier: pass one"
                + (f" (no shipped classifier for data set {dataset!r} at {candidate})" if dataset else
                   " (the generator's training data set is unknown, so no shipped classifier can be picked)")
            )
        source = candidate
    model, identity = resolve_model(source)
    if model.kind != "classifier":
        raise ExplorerError(f"the filter needs a classifier model, got a {model.kind} model")
    keep = ("model", "model_kind", "model_hash", "model_hash_of", "model_file", "model_dataset")
    return model, {k: identity[k] for k in keep}


def _prepare_out_dir(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ExplorerError(f"{out_dir} exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not overwrite:
            raise ExplorerError(f"{out_dir} is not empty; choose an empty folder or pass overwrite (--overwrite)")
        old = out_dir / MANIFEST_NAME
        if old.is_file():
            try:
                listed = json.loads(old.read_text(encoding="utf-8")).get("images", [])
            except (OSError, json.JSONDecodeError, AttributeError):
                listed = []
            root = out_dir.resolve()
            for rec in listed:
                p = (out_dir / str(rec.get("path", ""))).resolve() if isinstance(rec, dict) else None
                # only files of the old export, inside out_dir: a doctored manifest cannot reach elsewhere
                if p is not None and p.suffix == ".png" and root in p.parents and p.is_file():
                    p.unlink()
            old.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
