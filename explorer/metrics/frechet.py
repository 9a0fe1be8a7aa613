"""Fréchet distance between two Gaussians, exactly, in float64.

FD = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2}).

The trace term is computed without a general matrix square root: with S1 = V diag(w) V^T
(symmetric eigen-decomposition) and A = V diag(sqrt(w)), the matrix S1 S2 is similar to
the symmetric positive semi-definite A^T S2 A, so tr((S1 S2)^{1/2}) is the sum of the square
roots of its eigenvalues. Two symmetric eigen-decompositions (LAPACK ``syevd``) replace the
complex Schur decomposition inside ``scipy.linalg.sqrtm``: same answer, several times faster,
and no imaginary parts to throw away. Tiny negative eigenvalues from round-off (singular
covariances when there are fewer samples than feature dimensions) are clipped to zero; clearly
negative ones (or an asymmetric matrix) are refused: such a matrix is not a covariance.
"""

from __future__ import annotations

import numpy as np

from explorer.errors import ExplorerError


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean [D] and unbiased covariance [D, D] (float64) of features [N, D]."""
    feats = np.asarray(_to_numpy(features), dtype=np.float64)
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise ExplorerError(f"need features of shape [N >= 2, D], got {list(feats.shape)}")
    mu = feats.mean(axis=0)
    centred = feats - mu
    sigma = centred.T @ centred / (feats.shape[0] - 1)
    return mu, sigma


#: eigenvalues below -PSD_RTOL x (largest |eigenvalue|) mean "not a covariance", not round-off
PSD_RTOL = 1e-6


def _check_psd(eigenvalues: np.ndarray, what: str) -> None:
    scale = float(np.abs(eigenvalues).max(initial=0.0))
    low = float(eigenvalues.min(initial=0.0))
    if low < -PSD_RTOL * scale:
        raise ExplorerError(f"{what} is not positive semi-definite (eigenvalue {low:.3g}, largest {scale:.3g}): "
                            "not a covariance matrix")


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((sigma1 sigma2)^{1/2}) for symmetric PSD matrices, via two symmetric eigen-decompositions.

    Raises ExplorerError when sigma1, or sigma2 seen through sigma1 (a^T sigma2 a), has clearly
    negative eigenvalues: clipping them would turn garbage into a plausible distance.
    """
    w, v = np.linalg.eigh(sigma1)
    _check_psd(w, "the first covariance")
    a = v * np.sqrt(np.clip(w, 0.0, None))  # [D, D]; sigma1 = a a^T
    m = a.T @ sigma2 @ a
    m = (m + m.T) * 0.5  # symmetric up to round-off; make it exactly so for eigvalsh
    ev = np.linalg.eigvalsh(m)
    _check_psd(ev, "the second covariance")
    return float(np.sqrt(np.clip(ev, 0.0, None)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (float64, exact).

    Args:
        mu1, mu2: means [D].
        sigma1, sigma2: covariances [D, D] (symmetric positive semi-definite).
    Returns:
        The distance as a Python float (>= 0 up to round-off; clipped at 0).
    """
    mu1, mu2 = (np.asarray(_to_numpy(m), dtype=np.float64).reshape(-1) for m in (mu1, mu2))
    sigma1, sigma2 = (np.atleast_2d(np.asarray(_to_numpy(s), dtype=np.float64)) for s in (sigma1, sigma2))
    d = mu1.shape[0]
    if mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ExplorerError(
            f"statistics do not match: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}"
        )
    if not all(np.isfinite(x).all() for x in (mu1, mu2, sigma1, sigma2)):
        raise ExplorerError("statistics contain NaN or infinity (did the generator produce non-finite images?)")
    for name, sig in (("sigma1", sigma1), ("sigma2", sigma2)):
        scale = float(np.abs(sig).max(initial=0.0))
        if float(np.abs(sig - sig.T).max(initial=0.0)) > 1e-6 * scale:
            raise ExplorerError(f"{name} is not symmetric: not a covariance matrix")
        if float(np.diagonal(sig).min(initial=0.0)) < -PSD_RTOL * scale:
            raise ExplorerError(f"{name} has a negative variance on its diagonal: not a covariance matrix")
    # Symmetrise: covariances from np.cov are symmetric only up to round-off.
    sigma1 = (sigma1 + sigma1.T) * 0.5
    sigma2 = (sigma2 + sigma2.T) * 0.5
    diff = mu1 - mu2
    tr_covmean = trace_sqrt_product(sigma1, sigma2)
    fd = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)
    return max(fd, 0.0)


def _to_numpy(x):
    if hasattr(x, "detach"):  # torch tensor, without importing torch here
        return x.detach().cpu().double().numpy()
    return x
