"""Benchmark: exact eigen-based Fréchet distance vs a scipy.linalg.sqrtm reference at 2048-d.

Run ``python bench/bench_fid.py`` (options: ``--dim``, ``--samples``, ``--repeats``, ``--threads``).
Prints the machine, both timings (best of ``--repeats``), the speed-up and the relative
difference of the two results. The reference is the classic pytorch-fid formula
(``scipy.linalg.sqrtm(sigma1 @ sigma2)``, real part). Exits non-zero if the results differ
by more than 1e-6 relative or the speed-up is below 2x.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def reference_fd(mu1, sigma1, mu2, sigma2) -> float:
    """pytorch-fid style: general matrix square root of sigma1 @ sigma2 (complex Schur)."""
    import numpy as np
    import scipy.linalg

    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))
    covmean = covmean[0] if isinstance(covmean, tuple) else covmean
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def random_stats(rng, dim: int, num_samples: int):
    """Realistic statistics: covariances of correlated, non-Gaussian features (like ReLU-pooled activations)."""
    import numpy as np

    out = []
    for shift in (0.0, 0.3):
        mix = rng.standard_normal((dim, dim)) / np.sqrt(dim)
        x = np.maximum(rng.standard_normal((num_samples, dim)) @ mix + shift, 0.0)
        mu = x.mean(0)
        xc = x - mu
        out += [mu, xc.T @ xc / (num_samples - 1)]
    return out


def machine() -> str:
    import numpy as np
    import scipy

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = ""
    try:
        import threadpoolctl  # optional

        infos = threadpoolctl.threadpool_info()
        blas = ", ".join(f"{i['internal_api']} {i.get('version', '')} x{i['num_threads']}" for i in infos)
    except ImportError:
        pass
    return (
        f"{cpu}; {os.cpu_count()} logical CPUs; Python {platform.python_version()}; "
        f"numpy {np.__version__}; scipy {scipy.__version__}" + (f"; BLAS {blas}" if blas else "")
        + (f"; load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "")
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--samples", type=int, default=4096, help="samples behind each covariance")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (sets OMP/OPENBLAS/MKL_NUM_THREADS)")
    parser.add_argument(
        "--torch-fidelity", action="store_true", help="also time torch-fidelity's FID (general eigvals of S1 S2)"
    )
    args = parser.parse_args(argv)
    if args.threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)

    import numpy as np

    from explorer.metrics.frechet import frechet_distance

    rng = np.random.default_rng(0)
    mu1, s1, mu2, s2 = random_stats(rng, args.dim, args.samples)

    candidates = {"reference": reference_fd, "ours": frechet_distance}
    if args.torch_fidelity:
        from torch_fidelity.metric_fid import fid_statistics_to_metric

        def tf_fd(m1, c1, m2, c2):
            out = fid_statistics_to_metric({"mu": m1, "sigma": c1}, {"mu": m2, "sigma": c2}, verbose=False)
            return out["frechet_inception_distance"]

        candidates["torch-fidelity"] = tf_fd
    # Interleave the repeats so that load from other processes hits all candidates alike.
    times = {name: [] for name in candidates}
    values = {}
    for _ in range(args.repeats):
        for name, fn in candidates.items():
            t0 = time.perf_counter()
            values[name] = fn(mu1, s1, mu2, s2)
            times[name].append(time.perf_counter() - t0)
    t_ref, fd_ref = min(times["reference"]), values["reference"]
    t_ours, fd_ours = min(times["ours"]), values["ours"]
    if args.torch_fidelity:
        t_tf, fd_tf = min(times["torch-fidelity"]), values["torch-fidelity"]
    rel = abs(fd_ours - fd_ref) / abs(fd_ref)
    ratio = t_ref / t_ours
    print(f"machine:   {machine()}")
    print(f"dim={args.dim} samples={args.samples} repeats={args.repeats} (best time reported)")
    print(f"sqrtm reference: {t_ref * 1e3:9.1f} ms  FD={fd_ref:.10f}")
    print(f"eigen (ours):    {t_ours * 1e3:9.1f} ms  FD={fd_ours:.10f}")
    if args.torch_fidelity:
        print(f"torch-fidelity:  {t_tf * 1e3:9.1f} ms  FD={fd_tf:.10f}  (general eigvals; informative only)")
    print(f"speed-up: {ratio:.2f}x   relative difference: {rel:.2e}")
    ok = rel <= 1e-6 and ratio >= 2.0
    print("PASS" if ok else "FAIL (need rel <= 1e-6 and speed-up >= 2x)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
