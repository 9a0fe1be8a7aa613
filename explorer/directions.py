"""Unsupervised edit directions of a generator's latent space, cached per model.

Directions are returned as :class:`Directions` and cached in memory and on disk under
``$GAN_EXPLORER_CACHE/directions`` (default ``~/.cache/gan-explorer``), keyed by
:func:`model_hash` (the weights) and the arguments:

- :func:`pca_directions` — GANSpace (Härkönen et al. 2020). StyleGAN: PCA of w = mapping(z),
  directions live in w-space. DCGAN: PCA of the generator's first feature map (the 4×4
  stem output, after BatchNorm and ReLU), transferred back to z-space by least-squares
  regression of z on the PCA coordinates, as GANSpace does for BigGAN. Why features and not
  z: z ~ N(0, I) is isotropic, so PCA on z itself finds nothing; and the stem's *pre*-activation
  is linear in z, so its PCA would merely repeat SeFa. The first non-linear features are the
  earliest place where the generator's own structure shows. The regressed vectors are made
  orthonormal by Gram–Schmidt in variance order (the first keeps its exact direction). For
  class-conditional models the per-class mean is removed before the PCA, so the components
  describe variation within a class — what z controls — rather than between classes.
- :func:`sefa_directions` — closed-form SeFa (Shen & Zhou 2021): eigenvectors of AᵀA, where the
  rows of A are the weight vectors with which the generator's first latent-consuming layer
  reads the latent (each row scaled to unit norm, as in the SeFa reference code). DCGAN: the
  first ConvTranspose weight [latent_dim(+embed), C, 4, 4] → A = its z rows reshaped
  [latent_dim, C·16]ᵀ; directions in z-space. StyleGAN: the style affines of all modulated
  convolutions stacked → directions in w-space.

:func:`apply_directions` adds ``Σ coefficient_k · direction_k`` to z or w. The families supply
what is analysed (``GANModel.sefa_weight`` / ``GANModel.pca_features``). All names are also
importable from :mod:`explorer.latent`.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from explorer.atomic import atomic_path
from explorer.errors import ExplorerError
from explorer.paths import cache_root


@dataclass(frozen=True, eq=False)
class Directions:
    """Unsupervised edit directions of one model.

    Attributes:
        vectors: [K, D] orthonormal rows, most important first.
        values: [K] PCA variances or SeFa eigenvalues, descending.
        explained: [K] share of the total (variance or eigenvalue sum) each direction carries.
        stds: [K] standard deviation of latents along each direction — a natural unit for
            sliders (exactly 1 in z-space, where z ~ N(0, I); in w-space measured on samples of
            the mapping network).
        mean: [D] mean of the space (zeros for z; the sample mean of w for StyleGAN).
        space: "z" or "w" — which vector the directions are added to.
        method: "pca" or "sefa".
        model_hash: hash of the generator weights the directions belong to.
        params: the arguments that produced them.
    """

    vectors: torch.Tensor
    values: torch.Tensor
    explained: torch.Tensor
    stds: torch.Tensor
    mean: torch.Tensor
    space: str
    method: str
    model_hash: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def num_components(self) -> int:
        return int(self.vectors.shape[0])

    def save(self, path: str | os.PathLike) -> Path:
        """Write an ``.npz`` (plain arrays + JSON, no pickle); atomic."""
        path = Path(path)
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(
                tmp,
                vectors=self.vectors.numpy(),
                values=self.values.numpy(),
                explained=self.explained.numpy(),
                stds=self.stds.numpy(),
                mean=self.mean.numpy(),
                info=np.array(json.dumps({"space": self.space, "method": self.method, "model_hash": self.model_hash, "params": self.params})),
            )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Directions":
        """Read a file written by :meth:`save`."""
        try:
            with np.load(path, allow_pickle=False) as data:
                info = json.loads(str(data["info"]))
                arrays = {k: torch.from_numpy(np.array(data[k])) for k in ("vectors", "values", "explained", "stds", "mean")}
        except FileNotFoundError:
            raise ExplorerError(f"no such directions file: {path}") from None
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
            raise ExplorerError(f"{Path(path).name} is not a directions file ({exc})") from None
        return cls(**arrays, space=info["space"], method=info["method"], model_hash=info.get("model_hash", ""), params=info.get("params", {}))


def apply_directions(
    x: torch.Tensor, directions: Directions, coefficients: Sequence[float] | torch.Tensor, scale: str = "unit"
) -> torch.Tensor:
    """Return ``x + Σ_k c_k · s_k · v_k`` for the first ``len(coefficients)`` directions.

    ``x`` is z or w ([D] or [N, D], in ``directions.space``); ``coefficients`` [K'] (same for all
    rows) or [N, K'] with K' ≤ K. ``scale="unit"``: c is a distance along the unit vector;
    ``scale="std"``: c counts standard deviations of the sampled latents along it (s_k = stds[k]).
    """
    c = torch.as_tensor(coefficients, dtype=torch.float32)
    k = c.shape[-1] if c.ndim else 1
    c = c.reshape(-1, k) if c.ndim <= 1 else c
    if k > directions.num_components:
        raise ExplorerError(f"{k} coefficients given, but only {directions.num_components} directions exist")
    if x.shape[-1] != directions.vectors.shape[1]:
        raise ExplorerError(
            f"directions live in a {directions.vectors.shape[1]}-dimensional {directions.space}-space, got vectors of size {x.shape[-1]}"
        )
    if scale not in ("unit", "std"):
        raise ExplorerError(f"scale must be 'unit' or 'std', got {scale!r}")
    v = directions.vectors[:k].to(torch.float32)  # [K', D]
    if scale == "std":
        c = c * directions.stds[:k].to(torch.float32)
    delta = (c @ v).to(x.device, x.dtype)  # [1 or N, D]
    out = x + (delta[0] if x.ndim == 1 and delta.shape[0] == 1 else delta)
    return out


# --- model access (per family) ------------------------------------------------------------
def _generator(model) -> torch.nn.Module:
    g = getattr(model, "G", None)
    if g is None or not model.can_generate:
        raise ExplorerError(f"a {model.kind} model has no latent space to find directions in")
    return g


def _sefa_weight(model) -> tuple[torch.Tensor, str]:
    """Rows = weight vectors reading the latent: [M, D]; and the space ("z" or "w") — the family's own layer."""
    _generator(model)
    return model.sefa_weight()


def _features(model, z: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, str]:
    """Features to run PCA on, [S, M], and the space the directions are returned in (the family's hook)."""
    _generator(model)
    return model.pca_features(z, labels)


# --- hashing and caching ------------------------------------------------------------------
#: bumped whenever the direction algorithms change, so stale disk-cache entries are not reused
DIRECTIONS_VERSION = 1

_HASHES: "weakref.WeakKeyDictionary[torch.nn.Module, tuple[tuple[int, ...], str]]" = weakref.WeakKeyDictionary()
_MEMORY: dict[tuple[str, str, str], Directions] = {}
_LOCK = threading.Lock()


def model_hash(model: torch.nn.Module, length: int = 16) -> str:
    """SHA-256 of the model's weights (names, shapes, dtypes, bytes), hex, truncated.

    Identical weights give identical hashes whatever file or process they came from. The
    value is memoised per model and recomputed when any tensor has been modified in place
    (training steps, ``load_state_dict``), detected through the tensors' version counters.
    """
    state = model.state_dict()
    versions = tuple(t._version for t in state.values())
    with _LOCK:
        hit = _HASHES.get(model)
    if hit is not None and hit[0] == versions:
        return hit[1][:length]
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    digest = h.hexdigest()
    with _LOCK:
        _HASHES[model] = (versions, digest)
    return digest[:length]


cache_dir = cache_root  # root of GAN Explorer's caches (explorer.paths)


def _cached(model, method: str, params: dict[str, Any], compute, use_cache: bool) -> Directions:
    key_hash = model_hash(model)
    param_key = json.dumps(params, sort_keys=True)
    key = (key_hash, method, param_key)
    if use_cache:
        with _LOCK:
            hit = _MEMORY.get(key)
        if hit is not None:
            return hit
        path = cache_dir() / "directions" / f"{key_hash}_{method}_{hashlib.sha256(param_key.encode()).hexdigest()[:8]}.npz"
        if path.is_file():
            try:
                found = Directions.load(path)
                if found.model_hash == key_hash and found.method == method and found.params == params:
                    with _LOCK:
                        _MEMORY[key] = found
                    return found
            except ExplorerError:
                pass  # a corrupt cache file is recomputed and overwritten
    result = compute()
    result = Directions(**{**result.__dict__, "model_hash": key_hash, "params": params})
    if use_cache:
        with _LOCK:
            _MEMORY[key] = result
        try:
            result.save(path)
        except OSError:
            pass  # a read-only home must not break the feature; the memory cache still works
    return result


def clear_directions_cache(disk: bool = False) -> None:
    """Forget cached directions (and delete the on-disk ones with ``disk=True``)."""
    with _LOCK:
        _MEMORY.clear()
    if disk:
        for p in (cache_dir() / "directions").glob("*.npz"):
            p.unlink(missing_ok=True)


# --- the two methods ----------------------------------------------------------------------
def _sign_fix(vectors: torch.Tensor) -> torch.Tensor:
    """Deterministic sign: each row's largest-magnitude entry is positive."""
    idx = vectors.abs().argmax(dim=1, keepdim=True)
    signs = torch.sign(vectors.gather(1, idx))
    return vectors * torch.where(signs == 0, torch.ones_like(signs), signs)


def _pca(features: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Exact PCA of [S, M] (float64). Returns mean [M], components [k, M], variances [k], total variance."""
    s, m = features.shape
    mean = features.mean(dim=0)
    fc = features - mean
    total = float((fc * fc).sum() / (s - 1))
    if m <= s:
        evals, evecs = torch.linalg.eigh(fc.T @ fc / (s - 1))  # ascending
        evals, comps = evals.flip(0)[:k], evecs.flip(1)[:, :k].T  # [k], [k, M]
    else:  # fewer samples than features: eigen-decompose the Gram matrix instead (S×S)
        evals, evecs = torch.linalg.eigh(fc @ fc.T / (s - 1))
        evals, u = evals.flip(0)[:k], evecs.flip(1)[:, :k]  # [k], [S, k]
        comps = (fc.T @ u).T  # [k, M]
        comps = comps / comps.norm(dim=1, keepdim=True).clamp_min(1e-300)
    return mean, comps, evals.clamp_min(0.0), torch.tensor(total, dtype=torch.float64)


def _sample_inputs(model, num_samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    z = torch.randn(num_samples, model.latent_dim, generator=gen)  # [S, D]
    labels = torch.randint(0, model.num_classes, (num_samples,), generator=gen) if model.num_classes else None
    return z, labels


@torch.no_grad()
def _batched_features(model, z: torch.Tensor, labels: torch.Tensor | None, batch: int = 1000) -> tuple[torch.Tensor, str]:
    was_training = model.training
    model.eval()
    try:
        outs, space = [], "z"
        for i in range(0, z.shape[0], batch):
            lab = labels[i : i + batch].to(model.device) if labels is not None else None
            f, space = _features(model, z[i : i + batch].to(model.device), lab)
            outs.append(f.detach().to("cpu", torch.float64))
    finally:
        model.train(was_training)
    return torch.cat(outs), space


def pca_directions(model, num_samples: int = 5000, num_components: int = 10, seed: int = 0, cache: bool = True) -> Directions:
    """GANSpace-style principal directions (see the module docstring for what is analysed).

    Args:
        model: a DCGAN or StyleGAN model.
        num_samples: latents sampled (deterministically from ``seed``) for the PCA.
        num_components: K, the number of directions returned (most variance first).
        seed: seed of the sample.
        cache: reuse/store results in the memory and disk caches.
    Returns:
        :class:`Directions` with orthonormal ``vectors`` [K, D] sorted by explained variance.
    """
    _generator(model)
    num_components, num_samples = int(num_components), int(num_samples)
    if num_components < 1:
        raise ExplorerError("num_components must be at least 1")
    if num_samples < num_components + 2:
        raise ExplorerError(f"num_samples must exceed num_components + 1 (got {num_samples} samples for {num_components} components)")
    params = {"num_samples": num_samples, "num_components": num_components, "seed": int(seed), "version": DIRECTIONS_VERSION}

    def compute() -> Directions:
        z, labels = _sample_inputs(model, num_samples, seed)
        feats, space = _batched_features(model, z, labels)  # [S, M]
        raw_mean = feats.mean(dim=0)
        if labels is not None:  # conditional: analyse variation *within* classes, which is what z controls
            for c in labels.unique():
                rows = labels == c
                feats[rows] -= feats[rows].mean(dim=0)
        k = min(num_components, feats.shape[1], num_samples - 1, model.latent_dim if space == "z" else feats.shape[1])
        mean, comps, variances, total = _pca(feats, k)
        if space == "w":  # the features are the space itself
            vectors = _sign_fix(comps)
            stds = variances.sqrt()
            space_mean = raw_mean
        else:  # transfer feature-space components to z by least squares (GANSpace §2.2)
            coords = (feats - mean) @ comps.T  # [S, k] PCA coordinates
            basis = torch.linalg.lstsq(coords, z.to(torch.float64)).solution  # [k, D]: z ≈ coords @ basis
            q, r = torch.linalg.qr(basis.T)  # Gram–Schmidt in variance order: q[:, i] ∥ span(basis[:i+1])
            signs = torch.sign(torch.diagonal(r))
            q = q * torch.where(signs == 0, torch.ones_like(signs), signs)[None]
            vectors = q.T  # [k, D], row 0 ∥ basis[0]
            stds = torch.ones(vectors.shape[0], dtype=torch.float64)  # z ~ N(0, I): unit std along any unit vector
            space_mean = torch.zeros(model.latent_dim, dtype=torch.float64)
        return Directions(
            vectors=vectors.float().contiguous(),
            values=variances.float(),
            explained=(variances / total.clamp_min(1e-300)).float(),
            stds=stds.float(),
            mean=space_mean.float(),
            space=space,
            method="pca",
        )

    return _cached(model, "pca", params, compute, cache)


def sefa_directions(model, num_components: int = 10, normalize_rows: bool = True, cache: bool = True) -> Directions:
    """Closed-form SeFa directions: top eigenvectors of AᵀA (see the module docstring for A).

    Args:
        model: a DCGAN or StyleGAN model.
        num_components: K, the number of directions returned (largest eigenvalue first).
        normalize_rows: scale each row of A to unit norm first, as the SeFa reference code does,
            so layers with larger weights do not dominate the stacked StyleGAN affines.
        cache: reuse/store results in the memory and disk caches.
    Returns:
        :class:`Directions` with orthonormal ``vectors`` [K, D] in z-space (DCGAN) or w-space (StyleGAN).
    """
    _generator(model)
    if int(num_components) < 1:
        raise ExplorerError("num_components must be at least 1")
    params = {"num_components": int(num_components), "normalize_rows": bool(normalize_rows), "version": DIRECTIONS_VERSION}

    def compute() -> Directions:
        a, space = _sefa_weight(model)
        a = a.detach().to("cpu", torch.float64)  # [M, D]
        if normalize_rows:
            a = a / a.norm(dim=1, keepdim=True).clamp_min(1e-12)
        evals, evecs = torch.linalg.eigh(a.T @ a)  # ascending
        k = min(int(num_components), a.shape[1])
        evals, vectors = evals.flip(0)[:k].clamp_min(0.0), _sign_fix(evecs.flip(1)[:, :k].T)  # [k], [k, D]
        total = torch.linalg.eigvalsh(a.T @ a).clamp_min(0).sum()
        if space == "w":  # spread and centre of w along each direction, from a fixed sample
            z, labels = _sample_inputs(model, 2000, 0)
            w, _ = _batched_features(model, z, labels)
            mean, stds = w.mean(dim=0), (w @ vectors.T).std(dim=0)
        else:
            mean, stds = torch.zeros(a.shape[1], dtype=torch.float64), torch.ones(k, dtype=torch.float64)
        return Directions(
            vectors=vectors.float().contiguous(),
            values=evals.float(),
            explained=(evals / total.clamp_min(1e-300)).float(),
            stds=stds.float(),
            mean=mean.float(),
            space=space,
            method="sefa",
        )

    return _cached(model, "sefa", params, compute, cache)


def find_directions(model, method: str = "sefa", num_components: int = 10, **kwargs: Any) -> Directions:
    """Dispatch to :func:`pca_directions` or :func:`sefa_directions` by name."""
    if method == "pca":
        return pca_directions(model, num_components=num_components, **kwargs)
    if method == "sefa":
        return sefa_directions(model, num_components=num_components, **kwargs)
    raise ExplorerError(f"direction method must be 'pca' or 'sefa', got {method!r}")
