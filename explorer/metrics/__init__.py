"""Sample-quality metrics: Fréchet distance, KID, Inception Score, precision/recall, density/coverage, 1-NN.

Public API::

    from explorer.metrics import evaluate, record_metrics, nearest_neighbours
    res = evaluate(model, real="digits", metrics=("fd", "kid", "is", "pr", "1nn"), extractor="imagenet-trunk")
    res = add_one_nn_reference(res, "digits", "imagenet-trunk", channels=model.image_channels)
    rows = one_nn_rows(res)   # 1-NN: model vs real, real vs real (, other style vs real), same extractor
    card = record_metrics(model.card, res)          # caller saves it
    idx, dist = nearest_neighbours(samples, "digits", k=3)
    one_nn_accuracy(fake_features, real_features)  # leave-one-out 1-NN two-sample test on features

Modules: ``frechet`` (exact float64 FD), ``scores`` (KID/IS/PR via torch-fidelity, density/coverage,
1-NN two-sample accuracy), ``extractors`` (registry + interface), ``imagenet_trunk`` / ``inception`` /
``domain`` (the three built-in extractors), ``cache`` (real-set features on disk), ``evaluate`` (the
pipeline), ``reference`` (real-vs-real reference rows for the 1-NN test), ``cli``.
Every result names its feature extractor and says whether it is comparable with published numbers.
Importing this package loads no weights.
"""

from explorer.metrics.cli import add_metrics_command as _add
from explorer.metrics.evaluate import evaluate, nearest_neighbours, record_metrics
from explorer.metrics.extractors import (
    FeatureExtractor,
    available_extractors,
    extract,
    get_extractor,
    register_extractor,
)
from explorer.metrics.frechet import feature_statistics, frechet_distance
from explorer.metrics.reference import add_one_nn_reference, attach_reference, one_nn_reference, one_nn_rows
from explorer.metrics.scores import density_coverage, inception_score, kid, one_nn_accuracy, precision_recall


def add_metrics_command(subparsers):
    """Register ``gan-explorer metrics`` on the main CLI's sub-parsers (see :mod:`explorer.metrics.cli`)."""

    return _add(subparsers)


__all__ = [
    "FeatureExtractor",
    "add_metrics_command",
    "add_one_nn_reference",
    "attach_reference",
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
    "one_nn_accuracy",
    "one_nn_reference",
    "one_nn_rows",
    "precision_recall",
    "record_metrics",
    "register_extractor",
]
