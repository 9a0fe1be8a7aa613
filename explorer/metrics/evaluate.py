"""High-level evaluation: generate samples, extract features, compute the requested metrics.

``evaluate`` is what the CLI (``gan-explorer metrics``), the Evaluate tab and scripts call.
Every result names its extractor and whether its scores are comparable with published numbers.
``record_metrics`` folds a result into a model card; ``nearest_neighbours`` finds the training
images closest to each sample (memorisation check). Reference rows for the 1-NN test (real vs
real, another real style vs real) are in :mod:`explorer.metrics.reference`.
"""

from __future__ import annotations

import time
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from explorer import latents_from_seeds
from explorer.data import get_dataset, list_shipped
from explorer.errors import ExplorerError
from explorer.metadata import ModelCard
from explorer.metrics import cache as stats_cache
from explorer.metrics.extractors import FeatureExtractor, extract, get_extractor, iter_batches
from explorer.metrics.frechet import feature_statistics, frechet_distance
from explorer.metrics.scores import density_coverage, inception_score, kid, one_nn_accuracy, precision_recall
from explorer.runtime import resolve_device

KNOWN_METRICS = ("fd", "kid", "is", "pr", "dc", "1nn")
#: other names accepted for a metric ("fid": the Fréchet distance, whatever the extractor; the
#: result calls it "FID" only in Inception-v3 pool3 space, else "FD (<extractor>)")
METRIC_ALIASES = {"fid": "fd"}
#: the subset-independent split used for real images: a fixed permutation, so caches are reused
REAL_SUBSET_SEED = 0

Progress = Callable[[str, int, int], None]


def real_subset_indices(size: int, count: int) -> torch.Tensor:
    """Positions (sorted) of the ``count`` real images taken from a split of ``size`` images.

    A fixed permutation (``REAL_SUBSET_SEED``), so the same count always means the same images and
    the on-disk cache is reused; :mod:`explorer.metrics.reference` needs it to pick disjoint images.
    """
    order = torch.randperm(int(size), generator=torch.Generator().manual_seed(REAL_SUBSET_SEED))[:int(count)]
    return order.sort().values


def _as_images(x, value_range: tuple[float, float] | None = None) -> torch.Tensor:
    """Tensor/array [N, C, H, W] -> float in [-1, 1].

    uint8 is 0..255. Float images are taken in the declared ``value_range`` (e.g. ``(0, 1)``) and
    mapped linearly to [-1, 1]; values outside it are refused. Undeclared float images must lie in
    [-1, 1], and a set with no negative value is refused as ambiguous (it looks like [0, 1], which
    read as [-1, 1] would be a different, washed-out set: an FD of hundreds between a set and itself).
    """
    t = torch.from_numpy(x) if isinstance(x, np.ndarray) else x
    if t.ndim != 4 or t.shape[1] not in (1, 3):
        raise ExplorerError(f"images must have shape [N, 1 or 3, H, W], got {list(t.shape)}")
    if t.dtype == torch.uint8:
        return t.float() / 127.5 - 1.0
    t = t.float()
    lo, hi = (float(v) for v in (value_range if value_range is not None else (-1.0, 1.0)))
    if not hi > lo:
        raise ExplorerError(f"value_range must be (low, high) with low < high, got {value_range!r}")
    tmin, tmax = float(t.min()), float(t.max())
    tol = 1e-3 * (hi - lo)
    if tmin < lo - tol or tmax > hi + tol:
        raise ExplorerError(f"images hold values in [{tmin:.3g}, {tmax:.3g}], outside the "
                            f"{'declared' if value_range is not None else 'expected'} range [{lo:g}, {hi:g}]"
                            + ("" if value_range is not None else "; pass value_range=(low, high)"))
    if value_range is None and tmin >= 0.0:
        raise ExplorerError("float images with no negative value look like [0, 1], not [-1, 1]: "
                            "pass value_range=(0, 1), or value_range=(-1, 1) if they really are in [-1, 1]")
    return ((t - lo) * (2.0 / (hi - lo)) - 1.0).clamp(-1.0, 1.0) if (lo, hi) != (-1.0, 1.0) else t


def _is_generator_model(obj) -> bool:
    return isinstance(obj, torch.nn.Module) and hasattr(obj, "generate") and getattr(obj, "can_generate", False)


def _fake_batches(model, seeds: Sequence[int], batch_size: int, truncation: float, device) -> Iterator[torch.Tensor]:
    num_classes = int(getattr(model, "num_classes", 0) or 0)
    model.eval()
    for start in range(0, len(seeds), batch_size):
        chunk = seeds[start:start + batch_size]
        z = latents_from_seeds(model, chunk)
        # Conditional models: balanced labels (sample i gets class i mod K), independent of batch size.
        labels = torch.as_tensor([s % num_classes for s in range(start, start + len(chunk))]) if num_classes else None
        with torch.no_grad():
            x = model.generate(z.to(model.device), labels=labels, truncation=truncation)
        yield x.detach().to(device).clamp(-1, 1)


class _Sized:
    """An iterable with a length (so progress bars know the total)."""

    def __init__(self, it, n):
        self.it, self.n = it, n

    def __iter__(self):
        return iter(self.it)

    def __len__(self):
        return self.n


def _real_features(real, extractor: FeatureExtractor, resolution: int, channels: int, num_real: int | None,
                   split: str, batch_size: int, progress: Progress | None, use_cache: bool, notes: list,
                   value_range: tuple[float, float] | None = None) -> dict:
    """Features (and stats) of the real set; shipped data sets are cached on disk."""
    if isinstance(real, str):
        ds = get_dataset(real, resolution=resolution or None, channels=channels or None, split=split)
        n = len(ds) if num_real is None else min(int(num_real), len(ds))
        if num_real is not None and num_real > len(ds):
            notes.append(f"only {len(ds)} real images in {real}/{split}; using all of them")
        key = None
        if use_cache and real in list_shipped():
            key = stats_cache.cache_key(real, split, extractor.identity(), ds.resolution, ds.channels, n)
            hit = stats_cache.load(key)
            if hit is not None:
                if progress:
                    progress("real features (cached)", n, n)
                return {**hit, "name": real, "count": n}
        images, _ = ds.tensors()
        images = images[real_subset_indices(len(ds), n)]
        out = extract(extractor, images, batch_size, progress, stage="real features")
        mu, sigma = feature_statistics(out["features"])
        if key is not None:
            stats_cache.save(key, out["features"], out["logits"], mu, sigma,
                             {"dataset": real, "split": split, "extractor": extractor.identity(),
                              "resolution": ds.resolution, "channels": ds.channels, "count": n})
        return {**out, "mu": mu, "sigma": sigma, "name": real, "count": n}
    if isinstance(real, (torch.Tensor, np.ndarray)):
        images = _as_images(real, value_range)
        if num_real is not None:
            images = images[: int(num_real)]
        name = "tensor"
    else:  # an ImageDataset or any Dataset of (image, label)
        images = real
        name = getattr(real, "name", type(real).__name__)
    out = extract(extractor, images, batch_size, progress, stage="real features")
    mu, sigma = feature_statistics(out["features"])
    return {**out, "mu": mu, "sigma": sigma, "name": name, "count": out["features"].shape[0]}


def evaluate(model_or_images, real="digits", metrics: Sequence[str] = ("fid", "kid", "is", "pr"),
             extractor: str | FeatureExtractor = "imagenet-trunk", num_samples: int = 2000,
             num_real: int | None = None, batch_size: int = 64, progress: Progress | None = None, seed: int = 0,
             device=None, real_split: str = "train", extractor_options: dict | None = None,
             use_cache: bool = True, truncation: float = 1.0, kid_subsets: int = 100,
             kid_subset_size: int = 1000, is_splits: int = 10, pr_k: int = 3, dc_k: int = 5,
             one_nn_batch_size: int | None = None, value_range: tuple[float, float] | None = None) -> dict:
    """Compute sample-quality metrics of a generator (or of given images) against a real set.

    Args:
        model_or_images: a model with ``generate`` (samples use latent seeds ``seed .. seed+num_samples-1``
            via ``explorer.latents_from_seeds``; conditional models get balanced labels ``i mod K``),
            or images (tensor/array [N, C, H, W] in [-1, 1], or a Dataset of (image, label)).
        real: a data set name for ``explorer.data.get_dataset`` (resized to the samples' resolution and
            channels; cached on disk for shipped sets), or images like ``model_or_images``.
        metrics: any of "fd" (Fréchet distance; "fid" is accepted too), "kid", "is" (needs an
            extractor with logits), "pr" (precision/recall),
            "dc" (density/coverage), "1nn" (leave-one-out 1-NN two-sample accuracy; about 0.5 = real
            and fake indistinguishable with equal counts, 1.0 = fully apart, well below 0.5 = copies;
            see :func:`explorer.metrics.reference.one_nn_reference` for rows that put it in context).
        extractor: "imagenet-trunk" (default, ships offline), "inception-v3" (needs weights: pass
            ``extractor_options={"weights": PATH}``) or "domain-classifier"; or a FeatureExtractor.
        num_samples: number of generated samples (ignored for images: all are used).
        num_real: real images to use (default: as many as samples, at most the set's size; equal
            counts keep 0.5 the chance level of "1nn").
        progress: ``progress(stage, done, total)`` called as work advances.
        seed: first latent seed.
        value_range: the value range of float images passed in (``model_or_images`` and ``real``),
            e.g. ``(0, 1)``; default: they must be in [-1, 1] (see :func:`_as_images`).
    Returns:
        A JSON-serialisable dict: the extractor (``extractor``, ``extractor_label``, ``extractor_id``,
        ``comparable_with_published``, ``fd_name``: "FID" for Inception-v3 pool3, else
        "FD (<extractor>)"), what was compared (``real``, ``num_fake``, ``num_real``, ...),
        the scores (``fd`` — also stored as ``fid`` only for Inception-v3 —, ``kid_mean``/``kid_std``
        (None when the sets are not larger than the KID subset size), ``is_mean``/``is_std``, ``precision``/``recall``,
        ``density``/``coverage``, ``one_nn_accuracy``/``one_nn_real_accuracy``/``one_nn_fake_accuracy``/
        ``one_nn_chance``), and ``notes`` on anything skipped.
    """
    started = time.perf_counter()
    metrics = _metric_names(metrics)
    if batch_size < 1 or num_samples < 2:
        raise ExplorerError("batch_size must be >= 1 and num_samples >= 2")
    device = resolve_device(device)
    options = dict(extractor_options or {})
    if extractor == "domain-classifier" and isinstance(real, str):
        options.setdefault("dataset", real)
    ext = get_extractor(extractor, device=device, **options)
    notes: list[str] = []
    fake_source, resolution, channels, fake_desc = _fake_side(model_or_images, seed, num_samples, batch_size,
                                                              truncation, device, value_range)
    fake = extract(ext, fake_source, batch_size, progress, stage="samples")
    num_fake = fake["features"].shape[0]
    real_out = None
    if any(m in metrics for m in ("fd", "kid", "pr", "dc", "1nn")):
        real_out = _real_features(real, ext, resolution, channels, num_real if num_real is not None else num_fake,
                                  real_split, batch_size, progress, use_cache, notes, value_range)
    result = {
        **ext.info(),
        "real": real_out["name"] if real_out else (real if isinstance(real, str) else None),
        "real_split": real_split if isinstance(real, str) else None,
        "num_fake": int(num_fake),
        "num_real": int(real_out["count"]) if real_out else 0,
        "resolution": resolution,
        "seed": int(seed),
        **fake_desc,
    }
    for i, name in enumerate(metrics):
        if progress:
            progress(f"metric {name}", i, len(metrics))
        _add_score(name, result, fake, real_out, ext, notes, seed=seed, kid_subsets=kid_subsets,
                   kid_subset_size=kid_subset_size, is_splits=is_splits, pr_k=pr_k, dc_k=dc_k,
                   one_nn_batch_size=one_nn_batch_size)
    if progress:
        progress("done", len(metrics), len(metrics))
    result["notes"] = notes
    result["seconds"] = round(time.perf_counter() - started, 2)
    return result


def _metric_names(metrics: Sequence[str]) -> tuple[str, ...]:
    """The requested metrics by their canonical names (aliases resolved, duplicates dropped, order kept)."""
    metrics = tuple(dict.fromkeys(METRIC_ALIASES.get(m.lower(), m.lower()) for m in metrics))
    unknown = [m for m in metrics if m not in KNOWN_METRICS]
    if unknown:
        raise ExplorerError(f"unknown metrics {unknown}; choose from {', '.join(KNOWN_METRICS)}")
    return metrics


def _fake_side(model_or_images, seed: int, num_samples: int, batch_size: int, truncation: float, device,
               value_range: tuple[float, float] | None) -> tuple[object, int, int, dict]:
    """The generated side: (images or batches to extract, resolution, channels, how they were made)."""
    if _is_generator_model(model_or_images):
        model = model_or_images
        seeds = list(range(int(seed), int(seed) + int(num_samples)))
        fake_source = _Sized(_fake_batches(model, seeds, batch_size, truncation, device), len(seeds))
        fake_desc = {"model_kind": model.kind, "latent_seeds": f"{seeds[0]}..{seeds[-1]}", "truncation": truncation}
        return fake_source, int(model.resolution), int(model.image_channels), fake_desc
    if isinstance(model_or_images, torch.nn.Module):
        raise ExplorerError(f"a {getattr(model_or_images, 'kind', type(model_or_images).__name__)} model cannot "
                            "generate samples from latents; translate images first and pass them as a tensor")
    is_array = isinstance(model_or_images, (torch.Tensor, np.ndarray))
    fake_source = _as_images(model_or_images, value_range) if is_array else model_or_images
    first = fake_source[0] if not isinstance(fake_source, torch.Tensor) else fake_source[:1]
    first = first[0] if isinstance(first, (tuple, list)) else first
    return fake_source, int(first.shape[-1]), int(first.shape[-3]), {"model_kind": None}


def _add_score(name: str, result: dict, fake: dict, real_out: dict | None, ext: FeatureExtractor, notes: list[str], *,
               seed: int, kid_subsets: int, kid_subset_size: int, is_splits: int, pr_k: int, dc_k: int,
               one_nn_batch_size: int | None) -> None:
    """Compute metric ``name`` from the features and add it (and any note about it) to ``result``."""
    num_fake = fake["features"].shape[0]
    if name == "fd":
        mu, sigma = feature_statistics(fake["features"])
        result["fd"] = frechet_distance(mu, sigma, real_out["mu"], real_out["sigma"])
        if result["fd_name"] == "FID":  # the name is kept for Inception-v3 pool3 only
            result["fid"] = result["fd"]
        if num_fake < ext.feature_dim:
            notes.append(f"{result['fd_name']} from {num_fake} samples in {ext.feature_dim}-d: biased upwards, "
                         "compare only runs with equal sample counts")
    elif name == "kid":
        result.update(kid(fake["features"], real_out["features"], num_subsets=kid_subsets,
                          subset_size=kid_subset_size, seed=seed))
        if result["kid_std"] is None:
            notes.append(f"KID is the unbiased MMD² of all {num_fake} generated and {result['num_real']} real "
                         f"images, without ± std: a set is no larger than the subset size ({kid_subset_size}), "
                         "so every subset would hold the same images")
    elif name == "is":
        if fake["logits"] is None:
            notes.append(f"IS skipped: the {ext.name} extractor has no class logits "
                         "(use inception-v3 or domain-classifier)")
            return
        splits = min(is_splits, num_fake)
        result.update(inception_score(logits=fake["logits"], splits=splits, seed=seed))
        result["is_logits"] = ext.logits_label
    elif name == "pr":
        result.update(precision_recall(fake["features"], real_out["features"], k=pr_k))
    elif name == "dc":
        result.update(density_coverage(fake["features"], real_out["features"], k=dc_k))
    elif name == "1nn":
        result.update(one_nn_accuracy(fake["features"], real_out["features"], batch_size=one_nn_batch_size))
        if result["num_fake"] != result["num_real"]:
            notes.append(f"1-NN with unequal counts ({result['num_fake']} generated, {result['num_real']} real): "
                         f"the chance level is {result['one_nn_chance']:.3f}, not 0.5")


def record_metrics(card: "ModelCard | dict | None", results: dict) -> dict:
    """Return a copy of ``card`` with ``results`` added under ``card["metrics"]`` (a list).

    An earlier entry for the same extractor, real set, sample count and seed is replaced, so
    re-running an evaluation does not pile up duplicates. Only JSON-safe scalars are kept.
    """
    card = card.to_dict() if isinstance(card, ModelCard) else dict(card or {})
    entry = {k: v for k, v in results.items() if isinstance(v, (str, int, float, bool, type(None)))}
    if results.get("notes"):
        entry["notes"] = [str(n) for n in results["notes"]]
    entry["recorded_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    same = ("extractor_id", "real", "real_split", "num_fake", "num_real", "seed", "resolution")
    previous = [e for e in card.get("metrics", []) if isinstance(e, dict)]
    kept = [e for e in previous if any(e.get(k) != entry.get(k) for k in same)]
    card["metrics"] = kept + [entry]
    return card


def nearest_neighbours(samples, train_images, k: int = 3, extractor: str | FeatureExtractor = "imagenet-trunk",
                       batch_size: int = 64, device=None, split: str = "train",
                       progress: Progress | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """For each sample, its ``k`` nearest training images (memorisation check).

    Args:
        samples: images [N, C, H, W] in [-1, 1].
        train_images: images [M, C, H, W], a Dataset, or a data set name (``split`` of it, resized
            to the samples' resolution and channels).
        extractor: a feature extractor name/instance, or "pixels" for Euclidean distance in pixel space.
    Returns:
        (indices [N, k] int64 into the training set, distances [N, k] float32), nearest first.
    """
    samples = _as_images(samples, (-1.0, 1.0))  # generated images: [-1, 1] by contract
    if isinstance(train_images, str):
        train_images = get_dataset(train_images, resolution=samples.shape[-1], channels=samples.shape[1], split=split)
    if extractor == "pixels":
        def flat(x):
            return x.reshape(x.shape[0], -1).double().numpy()

        query = flat(samples)
        train = np.concatenate([flat(_as_images(b, (-1.0, 1.0))) for b in iter_batches(train_images, 1024)])
        if train.shape[1] != query.shape[1]:
            raise ExplorerError("pixel-space neighbours need samples and training images of the same shape")
    else:
        ext = get_extractor(extractor, device=device)
        query = extract(ext, samples, batch_size, progress, stage="sample features")["features"]
        train = extract(ext, train_images, batch_size, progress, stage="training features")["features"]
    k = int(min(k, train.shape[0]))
    if k < 1:
        raise ExplorerError("k must be >= 1 and the training set non-empty")
    q, t = torch.from_numpy(query), torch.from_numpy(train)
    dists, idx = [], []
    for start in range(0, q.shape[0], 256):
        d = torch.cdist(q[start:start + 256], t)  # [b, M]
        vals, ind = d.topk(k, dim=1, largest=False)
        dists.append(vals)
        idx.append(ind)
    return torch.cat(idx).long(), torch.cat(dists).float()
