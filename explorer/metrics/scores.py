"""Sample-based scores on features: KID, Inception Score, precision/recall, density/coverage, 1-NN.

KID, IS and precision/recall call torch-fidelity's feature-level functions (the reference
implementations used by many papers); we only adapt inputs (float64, subset sizes, probability
inputs) and name the outputs. Density/coverage (Naeem et al., 2020) and the leave-one-out 1-NN
two-sample test (Lopez-Paz & Oquab, 2017) are not in torch-fidelity and are written here.
Fréchet distance lives in :mod:`explorer.metrics.frechet` (torch-fidelity's FID uses general,
non-symmetric eigenvalues; ours is exact, symmetric and faster).
"""

from __future__ import annotations

import importlib

import numpy as np
import torch

from explorer.errors import ExplorerError


def _torch_fidelity(module: str):
    """Import a torch-fidelity metric module, or say how to get it."""

    try:
        return importlib.import_module(f"torch_fidelity.{module}")
    except ImportError:
        raise ExplorerError("KID, IS and precision/recall need the torch-fidelity package: "
                            "pip install 'torch-fidelity>=0.3'") from None


def _as_tensor(x, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x), dtype=torch.float64)
    if t.ndim != 2 or t.shape[0] < 2:
        raise ExplorerError(f"{name} must have shape [N >= 2, D], got {list(t.shape)}")
    if not torch.isfinite(t).all():
        raise ExplorerError(f"{name} contain NaN or infinity")
    return t


def _check_count(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or int(value) != value or int(value) < minimum:
        raise ExplorerError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def poly_mmd2(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD^2 of two sets [m >= 2, d] and [n >= 2, d] with the KID kernel (x·y / d + 1)^3 (float64)."""
    d, m, n = x.shape[1], x.shape[0], y.shape[0]
    k_xx = (x @ x.T / d + 1.0) ** 3  # [m, m]
    k_yy = (y @ y.T / d + 1.0) ** 3  # [n, n]
    k_xy = (x @ y.T / d + 1.0) ** 3  # [m, n]
    return float((k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
                 + (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1)) - 2.0 * k_xy.mean())


def kid(fake_features, real_features, num_subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> dict:
    """Kernel Inception Distance: unbiased MMD^2 with k(x, y) = (x·y / d + 1)^3, over random subsets.

    Returns {"kid_mean", "kid_std", "kid_subsets", "kid_subset_size"}. When a set has no more than
    ``subset_size`` samples, every subset would hold all of that set, so the spread over subsets
    would say nothing: KID is then the unbiased MMD^2 of the full sets, ``kid_std`` is None,
    ``kid_subsets`` 1 and ``kid_subset_size`` None. With a single subset ``kid_std`` is None too.
    """
    num_subsets = _check_count(num_subsets, "num_subsets", 1)
    subset_size = _check_count(subset_size, "subset_size", 2)
    f1, f2 = _as_tensor(fake_features, "fake features"), _as_tensor(real_features, "real features")
    if f1.shape[1] != f2.shape[1]:
        raise ExplorerError(f"feature sizes differ: {f1.shape[1]} vs {f2.shape[1]}")
    if min(f1.shape[0], f2.shape[0]) <= subset_size:
        return {"kid_mean": poly_mmd2(f1, f2), "kid_std": None, "kid_subsets": 1, "kid_subset_size": None}
    tf_kid = _torch_fidelity("metric_kid")
    size = subset_size
    out = tf_kid.kid_features_to_metric(
        f1, f2, kid_subsets=int(num_subsets), kid_subset_size=size, kid_kernel="poly", kid_kernel_poly_degree=3,
        kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1, rng_seed=int(seed), verbose=False,
    )
    return {"kid_mean": out[tf_kid.KEY_METRIC_KID_MEAN], "kid_std": out[tf_kid.KEY_METRIC_KID_STD] if num_subsets > 1 else None,
            "kid_subsets": num_subsets, "kid_subset_size": size}


def inception_score(logits=None, probs=None, splits: int = 10, shuffle: bool = True, seed: int = 0) -> dict:
    """Inception Score exp(E_x KL(p(y|x) || p(y))), mean and std over ``splits`` splits.

    Give class ``logits`` [N, K] or class probabilities ``probs`` [N, K] (rows sum to 1).
    Returns {"is_mean", "is_std", "is_splits"}.
    """
    tf_isc = _torch_fidelity("metric_isc")
    if (logits is None) == (probs is None):
        raise ExplorerError("give exactly one of logits or probs")
    if probs is not None:
        p = _as_tensor(probs, "probabilities")
        if (p < 0).any() or not torch.allclose(p.sum(1), torch.ones(p.shape[0], dtype=p.dtype), atol=1e-4):
            raise ExplorerError("probabilities must be non-negative and rows must sum to 1")
        # log p works as logits: softmax(log p) = p. Clamp keeps 0 * log 0 at 0 instead of NaN.
        values = p.clamp_min(1e-300).log()
    else:
        values = _as_tensor(logits, "logits")
    splits = _check_count(splits, "splits", 1)
    if not 1 <= splits <= values.shape[0]:
        raise ExplorerError(f"splits must lie in 1..{values.shape[0]}, got {splits}")
    out = tf_isc.isc_features_to_metric(values, splits=splits, shuffle=shuffle, rng_seed=int(seed))
    return {"is_mean": out[tf_isc.KEY_METRIC_ISC_MEAN], "is_std": out[tf_isc.KEY_METRIC_ISC_STD], "is_splits": splits}


def precision_recall(fake_features, real_features, k: int = 3, batch_size: int = 2048) -> dict:
    """Improved precision and recall (Kynkäänniemi et al., 2019) with k-NN manifolds.

    precision: share of fake samples inside the real manifold (a ball around some real sample
    with radius = distance to its k-th nearest real neighbour); recall: the converse.
    Returns {"precision", "recall", "pr_k"}.
    """
    k = _check_count(k, "k", 1)
    tf_prc = _torch_fidelity("metric_prc")
    f1, f2 = _as_tensor(fake_features, "fake features"), _as_tensor(real_features, "real features")
    if min(f1.shape[0], f2.shape[0]) <= k:
        raise ExplorerError(f"precision/recall with k={k} needs more than {k} samples per set")
    out = tf_prc.prc_features_to_metric(f1, f2, prc_neighborhood=int(k), prc_batch_size=int(batch_size),
                                 save_cpu_ram=True, verbose=False)
    return {"precision": out[tf_prc.KEY_METRIC_PRECISION], "recall": out[tf_prc.KEY_METRIC_RECALL], "pr_k": int(k)}


def _kth_neighbour_radii(x: torch.Tensor, k: int, batch_size: int) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest other row ([N])."""
    radii = []
    for start in range(0, x.shape[0], batch_size):
        d = torch.cdist(x[start:start + batch_size], x)  # [b, N]; includes self at distance 0
        radii.append(d.kthvalue(k + 1, dim=1).values)
    return torch.cat(radii)


def density_coverage(fake_features, real_features, k: int = 5, batch_size: int = 2048) -> dict:
    """Density and coverage (Naeem et al., 2020), with k-NN balls around the real samples.

    density: mean over fake samples of (number of real balls containing it) / k — about 1 when
    the distributions match, above 1 when fakes crowd dense real regions.
    coverage: share of real samples whose ball contains at least one fake sample.
    "Contains" is strict (distance < radius), as in the authors' code (clovaai/generative-evaluation-prdc).
    Returns {"density", "coverage", "dc_k"}.
    """
    k = _check_count(k, "k", 1)
    fake, real = _as_tensor(fake_features, "fake features"), _as_tensor(real_features, "real features")
    if real.shape[0] <= k:
        raise ExplorerError(f"density/coverage with k={k} needs more than {k} real samples")
    radii = _kth_neighbour_radii(real, k, batch_size)  # [R]
    inside_count = 0.0
    nearest_fake = torch.full((real.shape[0],), float("inf"), dtype=torch.float64)  # [R]
    for start in range(0, fake.shape[0], batch_size):
        d = torch.cdist(fake[start:start + batch_size], real)  # [b, R]
        inside_count += (d < radii).sum().item()
        nearest_fake = torch.minimum(nearest_fake, d.min(dim=0).values)
    density = inside_count / (k * fake.shape[0])
    coverage = (nearest_fake < radii).double().mean().item()
    return {"density": float(density), "coverage": float(coverage), "dc_k": int(k)}


#: tolerance of the fast squared distances (|a|^2 + |b|^2 - 2 a.b in float64), relative to the squared
#: norms involved; its rounding error is below ~2 D eps (~5e-13 for D = 2048), so this is a wide margin
_ONE_NN_RTOL = 1e-9
#: elements of one [rows, N] distance block (float64): 32 MiB per block
_ONE_NN_BLOCK = 2 ** 22


def one_nn_accuracy(fake_features, real_features, batch_size: int | None = None) -> dict:
    """Leave-one-out 1-nearest-neighbour two-sample test (Lopez-Paz & Oquab, 2017; Xu et al., 2018).

    The union of real (label 1) and fake (label 0) features is classified point by point by the
    label of its nearest *other* point (Euclidean distance; only the point itself is left out, so
    an exact duplicate of it is a neighbour at distance 0). About 0.5 means the sets are
    indistinguishable (equal sizes), 1.0 fully apart; well below 0.5 means the fakes sit closer to
    the real points than the real points to each other (copies: memorisation).

    Ties: every neighbour at the smallest distance votes, and the point scores the share of those
    votes that carry its own label (the expected accuracy of a random tie-break, without its
    randomness). "Same distance" means equal float64 squared distances computed directly as sums
    of squared differences; candidates are first found with the fast matrix-product form in
    ``batch_size``-row blocks, so 10k x 10k needs no [N, N] matrix.

    With unequal sizes 0.5 is not the chance level: ``one_nn_chance`` is the expected accuracy
    when both sets come from one distribution, (n_r (n_r - 1) + n_f (n_f - 1)) / (N (N - 1)),
    which is (n - 1) / (2n - 1) ~ 0.5 for n_r = n_f = n.

    Args:
        fake_features: [n_f >= 2, D] array or tensor.
        real_features: [n_r >= 2, D].
        batch_size: rows per distance block (default: about 2^22 / N).
    Returns:
        {"one_nn_accuracy", "one_nn_real_accuracy", "one_nn_fake_accuracy", "one_nn_chance",
        "num_real", "num_fake"}; the per-side accuracies are the shares of real (fake) points
        whose nearest other point is real (fake).
    """
    fake, real = _as_tensor(fake_features, "fake features"), _as_tensor(real_features, "real features")
    if fake.shape[1] != real.shape[1]:
        raise ExplorerError(f"fake and real features differ in size: {fake.shape[1]} vs {real.shape[1]} "
                            "(were they made by the same extractor?)")
    z = torch.cat([real, fake])  # [N, D]; real first
    labels = torch.cat([torch.ones(real.shape[0], dtype=torch.bool), torch.zeros(fake.shape[0], dtype=torch.bool)])
    num = z.shape[0]
    if batch_size is None:
        batch_size = max(1, _ONE_NN_BLOCK // num)
    if batch_size < 1:
        raise ExplorerError(f"batch_size must be >= 1, got {batch_size}")
    scores = _one_nn_scores(z, labels, int(batch_size))  # [N]
    n_r, n_f = real.shape[0], fake.shape[0]
    return {
        "one_nn_accuracy": float(scores.mean()),
        "one_nn_real_accuracy": float(scores[:n_r].mean()),
        "one_nn_fake_accuracy": float(scores[n_r:].mean()),
        "one_nn_chance": (n_r * (n_r - 1) + n_f * (n_f - 1)) / (num * (num - 1)),
        "num_real": int(n_r),
        "num_fake": int(n_f),
    }


def _one_nn_scores(z: torch.Tensor, labels: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Per point: share of its nearest other points (ties included) that share its label ([N] float64)."""
    num = z.shape[0]
    zc = z - z.mean(dim=0)  # distances are shift-invariant; centring shrinks the norms that cancel below
    sq = (zc * zc).sum(dim=1)  # [N]
    scores = torch.empty(num, dtype=torch.float64)
    for start in range(0, num, batch_size):
        stop = min(start + batch_size, num)
        local = torch.arange(stop - start)
        d2 = (sq[start:stop, None] + sq[None, :] - 2.0 * (zc[start:stop] @ zc.T)).clamp_min_(0.0)  # [b, N]
        d2[local, local + start] = float("inf")  # leave one out: never the point itself
        dmin, arg = d2.min(dim=1)  # [b]
        # Everything that could be the nearest given the fast form's rounding error is a candidate.
        margin = _ONE_NN_RTOL * (2.0 * sq[start:stop, None] + sq[None, :] + sq[arg][:, None])  # [b, N]
        cand = d2 <= dmin[:, None] + margin  # [b, N]; always holds the arg-min
        same = labels[start:stop, None] == labels[None, :]  # [b, N]
        num_cand, num_same = cand.sum(dim=1), (cand & same).sum(dim=1)  # [b]
        scores[start:stop] = (num_same == num_cand).double()  # candidates agree: 1 if own label, else 0
        # Candidates of both labels (near-ties, rare): decide with directly computed distances.
        for i in ((num_same > 0) & (num_same < num_cand)).nonzero().flatten().tolist():
            j = cand[i].nonzero().flatten()
            d = ((z[j] - z[start + i]) ** 2).sum(dim=1)  # [c]; exact for identical vectors
            tied = d == d.min()
            scores[start + i] = (tied & same[i, j]).sum().double() / tied.sum()
    return scores
