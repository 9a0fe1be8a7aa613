"""Sample-quality metrics: Fréchet distance, KID, Inception Score, precision/recall, density/coverage.

Public API::

    from explorer.metrics import evaluate, record_metrics, nearest_neighbours
    res = evaluate(model, real="digits", metrics=("fid", "kid", "is", "pr"), extractor="imagenet-trunk")
    card = record_metrics(model.card, res)          # caller saves it
    idx, dist = nearest_neighbours(samples, "digits", k=3)

Modules: ``frechet`` (exact float64 FD), ``scores`` (KID/IS/PR via torch-fidelity, density/coverage),
``extractors`` (registry + interface), ``imagenet_trunk`` / ``inception`` / ``domain`` (the three
built-in extractors), ``cache`` (real-set features on disk), ``evaluate`` (the pipeline), ``cli``.
Every result names its feature extractor and says whether it is comparable with published numbers.
Importing this package loads no weights.
"""

from explorer.metrics.evaluate import evaluate, nearest_neighbours, record_metrics
from explorer.metrics.extractors import (
    FeatureExtractor,
    available_extractors,
    extract,
    get_extractor,
    register_extractor,
)
from explorer.metrics.frechet import feature_statistics, frechet_distance
from explorer.metrics.scores import density_coverage, inception_score, kid, precision_recall


def add_metrics_command(subparsers):
    """Register ``gan-explorer metrics`` on the main CLI's sub-parsers (see :mod:`explorer.metrics.cli`)."""
    from explorer.metrics.cli import add_metrics_command as _add

    return _add(subparsers)


__all__ = [
    "FeatureExtractor",
    "add_metrics_command",
    "available_extractors",
    "density_coverage",
    "evaluate",
    "extract",
    "feature_statistics",
    "frechet_distance",
    "get_extractor",
    "inception_score",
    "kid",
    "nearest_neighbours",
    "precision_recall",
    "record_metrics",
    "register_extractor",
]
