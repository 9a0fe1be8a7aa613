"""Reference rows for the 1-NN two-sample test: what the same test says about real images.

A 1-NN accuracy of, say, 0.8 means little alone: how far apart two *real* samples look depends on
the extractor, the sample size and the data. So next to the model's row
(generated vs the compared real set, from :func:`explorer.metrics.evaluate`) we compute, with the
same extractor, the same compared real set (same split, count and images, so its cached features
are reused) and the model row's counts:

- **real vs real** — other images of the same data set (held-out ones first, then the rest of the
  set, never one of the compared images) vs the compared set: what a generator that draws fresh
  images from the data distribution would score (about the chance level).
- **other style vs real** — for a paired data set (``emoji-google`` / ``emoji-twitter`` hold the
  same emoji in two styles, in the same order): the other style's renderings of exactly the emoji
  of the real-vs-real row. The only difference between the two rows is the style, so it reads as
  "a generator with the right content in another real style".

For images given as a tensor (no data set name), the real-vs-real row is two disjoint halves of
them, and there is no other style.
"""

from __future__ import annotations

import numpy as np
import torch

from explorer.data import get_dataset, list_shipped, shipped_info
from explorer.data.splits import split_indices
from explorer.errors import ExplorerError
from explorer.metrics import cache as stats_cache
from explorer.metrics.evaluate import Progress, _as_images, _real_features, real_subset_indices
from explorer.metrics.extractors import FeatureExtractor, extract, get_extractor
from explorer.metrics.frechet import feature_statistics
from explorer.metrics.scores import one_nn_accuracy
from explorer.runtime import resolve_device

#: fixed permutation that splits given images (not a data set name) into two halves
HALVES_SEED = 1
#: result keys that hold each reference row's accuracy (scalars, so they go into model cards)
ROW_KEYS = {"real_vs_real": "one_nn_real_vs_real", "other_style": "one_nn_other_style"}


def one_nn_reference(real="digits", extractor: str | FeatureExtractor = "imagenet-trunk", split: str = "train",
                     num_samples: int = 2000, num_real: int | None = None, resolution: int | None = None,
                     channels: int | None = None, batch_size: int = 64, device=None,
                     extractor_options: dict | None = None, use_cache: bool = True,
                     progress: Progress | None = None, one_nn_batch_size: int | None = None) -> dict:
    """1-NN accuracies of real images against the real set a model is compared with.

    Pass the arguments given to :func:`explorer.metrics.evaluate` (``real_split`` there is
    ``split`` here; ``num_samples`` is the generated count the reference sides replace) and the
    model's ``resolution`` and ``channels``, so both compare against the same real images.

    Args:
        real: a data set name or folder for ``explorer.data.get_dataset``, or images [N, C, H, W]
            in [-1, 1] (then: two halves of them).
        extractor: name or instance, as in ``evaluate``.
        split: the split the compared real set is drawn from.
        num_samples: size of each reference row's non-compared side (capped at what exists).
        num_real: size of the compared real set (default ``num_samples``, capped at the split's size).
    Returns:
        A JSON-serialisable dict: the extractor (``extractor``, ``extractor_label``, ``extractor_id``,
        ...), ``real``, ``real_split``, ``num_real``, ``rows`` (each: ``key`` "real_vs_real" or
        "other_style", ``row``, ``compared``, ``num_fake``, ``num_real`` and the keys of
        :func:`explorer.metrics.one_nn_accuracy`) and ``notes``.
    """

    if batch_size < 1 or num_samples < 2:
        raise ExplorerError("batch_size must be >= 1 and num_samples >= 2")
    options = dict(extractor_options or {})
    if extractor == "domain-classifier" and isinstance(real, str):
        options.setdefault("dataset", real)
    ext = get_extractor(extractor, device=resolve_device(device), **options)
    notes: list[str] = []
    if isinstance(real, str):
        compared, rows = _named_rows(real, ext, split, int(num_samples), num_real, resolution, channels,
                                     batch_size, use_cache, progress, notes, one_nn_batch_size)
    else:
        compared, rows = _halves_rows(real, ext, batch_size, progress, notes, one_nn_batch_size)
        split = None
    return {**ext.info(), "real": compared["name"], "real_split": split, "num_real": int(compared["count"]),
            "rows": rows, "notes": notes}


def _row(key: str, label: str, compared: str, fake_features, real_features, batch_size) -> dict:
    return {"key": key, "row": label, "compared": compared,
            **one_nn_accuracy(fake_features, real_features, batch_size=batch_size)}


def _named_rows(real: str, ext, split, num_samples, num_real, resolution, channels, batch_size, use_cache,
                progress, notes, one_nn_batch_size) -> tuple[dict, list]:
    compared = _real_features(real, ext, resolution, channels, num_real if num_real is not None else num_samples,
                              split, batch_size, progress, use_cache, notes)
    full = get_dataset(real, resolution=resolution or None, channels=channels or None, split="all")
    total = len(full)
    in_split = split_indices(total, split)
    used = set(in_split[real_subset_indices(len(in_split), compared["count"]).numpy()].tolist())
    heldout = set(split_indices(total, "heldout").tolist())
    outside = sorted((p for p in range(total) if p not in used), key=lambda p: (p not in heldout, p))
    pool = outside[:num_samples]  # held-out (never trained on) first, then the rest, in stored order
    if len(pool) < 2:
        notes.append(f"no real-vs-real row: {real} has {len(outside)} image(s) outside "
                     f"the {compared['count']} compared")
        return compared, []
    if len(pool) < num_samples:
        notes.append(f"real vs real: only {len(pool)} {real} images lie outside the compared set "
                     f"(not {num_samples}); unequal counts shift the chance level")
    shipped = real in list_shipped()
    images, _ = full.tensors()
    idx = torch.as_tensor(pool)
    tag = f"1nn-outside-{split}-n{compared['count']}"
    pool_features = _features(ext, images[idx], real, tag, full, shipped and use_cache, batch_size, progress,
                              "reference: real images")
    n_heldout = sum(1 for p in pool if p in heldout)
    where = f"{real}: {n_heldout} held-out" + (f" + {len(pool) - n_heldout} other" if len(pool) > n_heldout else "")
    rows = [_row("real_vs_real", "real vs real", f"{where} images, none of the compared ones",
                 pool_features, compared["features"], one_nn_batch_size)]

    pair = shipped_info(real).get("pair") if shipped else None
    if pair:
        other = get_dataset(pair, resolution=full.resolution, channels=full.channels, split="all")
        if list(other.names) != list(full.names):
            notes.append(f"no other-style row: {pair} does not hold the same images as {real} in the same order")
            return compared, rows
        other_images, _ = other.tensors()
        other_features = _features(ext, other_images[idx], pair, f"{tag}-pair-of-{real}", other, use_cache,
                                   batch_size, progress, "reference: other style")
        rows.append(_row("other_style", "other style vs real",
                         f"{pair}: the same {len(pool)} subjects as the real-vs-real row, in {pair}'s style",
                         other_features, compared["features"], one_nn_batch_size))
    return compared, rows


def _features(ext, images: torch.Tensor, dataset: str, tag: str, ds, cached: bool, batch_size, progress, stage):
    """Features of reference images; shipped sets are cached like the compared real set."""
    key = None
    if cached:
        key = stats_cache.cache_key(dataset, tag, ext.identity(), ds.resolution, ds.channels, images.shape[0])
        hit = stats_cache.load(key)
        if hit is not None:
            if progress:
                progress(f"{stage} (cached)", images.shape[0], images.shape[0])
            return hit["features"]
    out = extract(ext, images, batch_size, progress, stage=stage)
    if key is not None:
        mu, sigma = feature_statistics(out["features"])
        stats_cache.save(key, out["features"], out["logits"], mu, sigma,
                         {"dataset": dataset, "split": tag, "extractor": ext.identity(),
                          "resolution": ds.resolution, "channels": ds.channels, "count": int(images.shape[0])})
    return out["features"]


def _halves_rows(real, ext, batch_size, progress, notes, one_nn_batch_size) -> tuple[dict, list]:
    images = _as_images(real) if isinstance(real, (torch.Tensor, np.ndarray)) else real
    features = extract(ext, images, batch_size, progress, stage="reference: real images")["features"]
    n = features.shape[0] // 2
    if n < 2:
        raise ExplorerError(f"a real-vs-real reference needs at least 4 real images, got {features.shape[0]}")
    order = torch.randperm(features.shape[0], generator=torch.Generator().manual_seed(HALVES_SEED)).numpy()
    first, second = features[order[:n]], features[order[n:2 * n]]
    notes.append(f"real vs real: two disjoint halves of the {features.shape[0]} given real images "
                 f"({n} each), so its counts are half the model row's")
    name = "tensor" if isinstance(real, (torch.Tensor, np.ndarray)) else getattr(real, "name", type(real).__name__)
    compared = {"name": name, "count": n}
    return compared, [_row("real_vs_real", "real vs real", f"half of the given real images ({n})",
                           first, second, one_nn_batch_size)]


def attach_reference(result: dict, reference: dict) -> dict:
    """A copy of an ``evaluate`` result with the reference rows: ``one_nn_reference`` (the rows) and
    one scalar per row (``one_nn_real_vs_real``, ``one_nn_other_style``) that model cards keep.

    Raises ExplorerError when the two were not computed with the same extractor and real set.
    """
    if "one_nn_accuracy" not in result:
        raise ExplorerError("the result has no 1-NN accuracy; evaluate with metrics including '1nn'")
    for key in ("extractor_id", "real", "real_split"):
        if result.get(key) != reference.get(key):
            raise ExplorerError(f"reference rows were computed with {key}={reference.get(key)!r}, "
                                f"the result with {result.get(key)!r}")
    out = dict(result)
    out["one_nn_reference"] = [dict(r) for r in reference["rows"]]
    for r in reference["rows"]:
        out[ROW_KEYS[r["key"]]] = r["one_nn_accuracy"]
    seen = list(result.get("notes", []))
    out["notes"] = seen + [n for n in reference.get("notes", []) if n not in seen]
    return out


def add_one_nn_reference(result: dict, real, extractor: str | FeatureExtractor, channels: int | None = None,
                         **options) -> dict:
    """``attach_reference(result, one_nn_reference(...))`` with the result's split, counts and resolution.

    ``real`` and ``extractor`` are what ``evaluate`` was given, ``channels`` the model's image
    channels; ``options`` go to :func:`one_nn_reference` (``batch_size``, ``device``,
    ``extractor_options``, ``use_cache``, ``progress``).
    """
    if "one_nn_accuracy" not in result:
        raise ExplorerError("the result has no 1-NN accuracy; evaluate with metrics including '1nn'")
    reference = one_nn_reference(real, extractor=extractor, split=result.get("real_split") or "train",
                                 num_samples=result["num_fake"], num_real=result["num_real"],
                                 resolution=result.get("resolution"), channels=channels, **options)
    return attach_reference(result, reference)


def one_nn_rows(result: dict) -> list[dict]:
    """Rows of the 1-NN table for display: the model's, then any attached reference rows.

    Each row: ``row``, ``compared``, ``num_fake``, ``num_real``, ``one_nn_accuracy``,
    ``one_nn_real_accuracy``, ``one_nn_fake_accuracy``, ``one_nn_chance``.
    """
    if "one_nn_accuracy" not in result:
        return []
    keys = ("num_fake", "num_real", "one_nn_accuracy", "one_nn_real_accuracy", "one_nn_fake_accuracy", "one_nn_chance")
    what = result.get("model_kind") or "given images"
    model = {"row": "model vs real", "compared": f"generated ({what})", **{k: result.get(k) for k in keys}}
    return [model] + [{"row": r["row"], "compared": r["compared"], **{k: r.get(k) for k in keys}}
                      for r in result.get("one_nn_reference", [])]
