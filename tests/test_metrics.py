"""Tests for explorer.metrics: FD against an independent reference, KID/IS/PR/DC sanity, extractors.

Fast tier: small dimensions, a cheap test-only extractor for the pipeline tests, and only a few
images through the real networks (the ImageNet trunk takes ~0.5 s per image on one CPU core).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch

from explorer.errors import ExplorerError
from explorer.metrics import (
    FeatureExtractor,
    available_extractors,
    density_coverage,
    evaluate,
    extract,
    feature_statistics,
    frechet_distance,
    get_extractor,
    inception_score,
    kid,
    nearest_neighbours,
    precision_recall,
    record_metrics,
    register_extractor,
)

REPO = Path(__file__).resolve().parents[1]
TARBALL = Path(os.environ.get("NSFWJS_TARBALL", REPO / ".cache" / "nsfwjs-4.4.0.tgz"))

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


# ----- helpers -------------------------------------------------------------------------------
def reference_fd(mu1, s1, mu2, s2) -> float:
    """Independent reference: general matrix square root (complex Schur) as in pytorch-fid."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = covmean[0] if isinstance(covmean, tuple) else covmean
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))


def random_spd(rng, d, n=None):
    n = n or 3 * d
    x = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) / np.sqrt(d)
    return np.cov(x, rowvar=False)


class ToyExtractor(FeatureExtractor):
    """Cheap deterministic extractor for pipeline tests: 4x4 average-pooled pixels + a fixed projection."""

    name = "test-toy"
    label = "toy test extractor"
    feature_dim = 16
    num_logits = 5
    logits_label = "5 toy logits"
    input_size = 8

    def __init__(self):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.register_buffer("proj", torch.randn(3 * 4 * 4, 16, generator=gen))
        self.register_buffer("head", torch.randn(16, 5, generator=gen))

    def _forward(self, x):
        f = torch.nn.functional.avg_pool2d(x, 2).flatten(1) @ self.proj  # [N, 16]
        return f, f @ self.head


if "test-toy" not in available_extractors():
    register_extractor("test-toy")(lambda device=None, **_: ToyExtractor())


class TinyGenerator(torch.nn.Module):
    """Stands in for a GANModel: generate(z) -> [N, 1, 16, 16] in [-1, 1]."""

    kind = "tiny"
    can_generate = True
    latent_dim = 8
    num_classes = 0
    resolution = 16
    image_channels = 1

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(8, 16 * 16)
        torch.nn.init.normal_(self.lin.weight, generator=torch.Generator().manual_seed(1))

    @property
    def device(self):
        return self.lin.weight.device

    def generate(self, z, labels=None, truncation=1.0):
        return torch.tanh(self.lin(z)).reshape(-1, 1, 16, 16)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "metrics"


# ----- Fréchet distance ----------------------------------------------------------------------
@pytest.mark.parametrize("d,seed", [(8, 0), (64, 1), (256, 2)])
def test_fd_matches_sqrtm_reference(d, seed):
    rng = np.random.default_rng(seed)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    s1, s2 = random_spd(rng, d), random_spd(rng, d)
    ours, ref = frechet_distance(mu1, s1, mu2, s2), reference_fd(mu1, s1, mu2, s2)
    assert abs(ours - ref) <= 1e-6 * abs(ref)


def test_fd_closed_form_diagonal():
    # For commuting (diagonal) covariances tr sqrt(S1 S2) = sum sqrt(a_i b_i).
    rng = np.random.default_rng(3)
    a, b = rng.uniform(0.1, 3, 50), rng.uniform(0.1, 3, 50)
    mu1, mu2 = rng.standard_normal(50), rng.standard_normal(50)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)


def test_fd_identical_stats_is_zero():
    rng = np.random.default_rng(4)
    for d, n in ((128, 1000), (256, 100)):  # the second covariance is singular (n < d)
        feats = rng.standard_normal((n, d))
        mu, sigma = feature_statistics(feats)
        assert abs(frechet_distance(mu, sigma, mu, sigma)) <= 1e-8


def test_fd_refuses_matrices_that_are_not_covariances():
    mu, eye = np.zeros(4), np.eye(4)
    for bad in (-eye, np.diag([1.0, 1.0, 1.0, -1.0]), np.array([[1.0, 2.0], [2.0, 1.0]])):
        d = bad.shape[0]
        with pytest.raises(ExplorerError, match="not a covariance|negative variance"):
            frechet_distance(mu[:d], bad, mu[:d], np.eye(d))
        with pytest.raises(ExplorerError, match="not a covariance|negative variance"):
            frechet_distance(mu[:d], np.eye(d), mu[:d], bad)
    with pytest.raises(ExplorerError, match="not symmetric"):
        frechet_distance(mu, eye + np.triu(np.ones((4, 4)), 1), mu, eye)


def test_fd_accepts_tensors_and_rejects_bad_input():
    mu, sigma = feature_statistics(torch.randn(20, 4))
    assert frechet_distance(torch.from_numpy(mu), torch.from_numpy(sigma), mu, sigma) <= 1e-10
    with pytest.raises(ExplorerError):
        frechet_distance(mu, sigma, mu[:3], sigma[:3, :3])
    with pytest.raises(ExplorerError):
        frechet_distance(mu * np.nan, sigma, mu, sigma)


# ----- KID ---------------------------------------------------------------------------------
def unbiased_mmd2_poly(x, y):
    d = x.shape[1]
    kxx, kyy, kxy = ((a @ b.T / d + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
    m, n = len(x), len(y)
    return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
            - 2 * kxy.mean())


def test_kid_matches_direct_formula_on_full_sets():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((60, 10)), rng.standard_normal((60, 10)) + 0.3
    out = kid(x, y, num_subsets=1, subset_size=60, seed=0)
    assert out["kid_mean"] == pytest.approx(unbiased_mmd2_poly(x, y), rel=1e-9)
    assert out["kid_std"] is None  # one subset = the full sets: no spread to report


def test_kid_near_zero_for_same_distribution_and_positive_when_shifted():
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((400, 32)), rng.standard_normal((400, 32))
    same = kid(a, b, num_subsets=20, subset_size=200, seed=0)
    shifted = kid(a, b + 0.5, num_subsets=20, subset_size=200, seed=0)
    assert abs(same["kid_mean"]) < 3 * same["kid_std"] + 1e-3
    assert shifted["kid_mean"] > 10 * (abs(same["kid_mean"]) + same["kid_std"])


def test_kid_on_sets_no_larger_than_a_subset_uses_the_full_sets_and_reports_no_std():
    # issue 13: subsets capped at the set size were all the same images, so "± std" was ~1e-16
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((30, 4)), rng.standard_normal((50, 4))
    out = kid(x, y, num_subsets=3, subset_size=1000)
    assert out["kid_std"] is None and out["kid_subsets"] == 1 and out["kid_subset_size"] is None
    assert out["kid_mean"] == pytest.approx(unbiased_mmd2_poly(x, y), rel=1e-9)
    big = kid(rng.standard_normal((300, 4)), rng.standard_normal((300, 4)) + 0.2, num_subsets=20, subset_size=100)
    assert big["kid_subset_size"] == 100 and big["kid_std"] > 1e-6  # real subsets: a real spread


@pytest.mark.parametrize("kwargs", [{"subset_size": 1}, {"num_subsets": 0}, {"num_subsets": 2.5}])
def test_kid_refuses_degenerate_settings(kwargs):
    rng = np.random.default_rng(8)
    with pytest.raises(ExplorerError, match="must be an integer"):
        kid(rng.standard_normal((30, 4)), rng.standard_normal((30, 4)), **kwargs)


def test_k_of_zero_is_refused():
    rng = np.random.default_rng(9)
    x, y = rng.standard_normal((30, 4)), rng.standard_normal((30, 4))
    for fn in (density_coverage, precision_recall):
        with pytest.raises(ExplorerError, match="k must be an integer >= 1"):
            fn(x, y, k=0)


# ----- Inception Score ---------------------------------------------------------------------------
def test_is_uniform_predictions_give_one():
    out = inception_score(logits=torch.zeros(100, 10), splits=5)
    assert out["is_mean"] == pytest.approx(1.0, abs=1e-12) and out["is_std"] == pytest.approx(0.0, abs=1e-12)


def test_is_confident_balanced_predictions_give_num_classes():
    probs = torch.eye(10).repeat(20, 1)  # 200 one-hot predictions, 20 per class
    assert inception_score(probs=probs, splits=1)["is_mean"] == pytest.approx(10.0, rel=1e-9)
    logits = 50.0 * torch.eye(10).repeat(20, 1)
    assert inception_score(logits=logits, splits=1)["is_mean"] == pytest.approx(10.0, rel=1e-6)


def test_is_single_class_collapse_gives_one_and_bad_input_raises():
    probs = torch.zeros(50, 4)
    probs[:, 2] = 1
    assert inception_score(probs=probs, splits=2)["is_mean"] == pytest.approx(1.0, abs=1e-9)
    with pytest.raises(ExplorerError):
        inception_score(probs=torch.full((10, 4), 0.5))
    with pytest.raises(ExplorerError):
        inception_score()


# ----- precision / recall, density / coverage ----------------------------------------------------
def test_precision_recall_identical_and_disjoint_sets():
    rng = np.random.default_rng(8)
    real = rng.standard_normal((200, 8))
    same = precision_recall(real.copy(), real, k=3)
    assert same["precision"] == pytest.approx(1.0) and same["recall"] == pytest.approx(1.0)
    far = precision_recall(real + 100.0, real, k=3)
    assert far["precision"] == 0.0 and far["recall"] == 0.0


def test_precision_recall_detects_mode_dropping():
    rng = np.random.default_rng(9)
    real = np.concatenate([rng.standard_normal((150, 4)), rng.standard_normal((150, 4)) + 20])
    fake = rng.standard_normal((300, 4))  # covers only the first mode
    out = precision_recall(fake, real, k=3)
    assert out["precision"] > 0.9 and 0.3 < out["recall"] < 0.7


def test_density_coverage_sanity():
    rng = np.random.default_rng(10)
    real = rng.standard_normal((300, 8))
    same = density_coverage(real.copy(), real, k=5)
    # "inside" is strict (< radius, as the authors' code): each real point lies in its own ball and in
    # k - 1 others on average (its k-th neighbour sits exactly on the radius): density = 1
    assert same["coverage"] == pytest.approx(1.0) and same["density"] == pytest.approx(1.0, rel=1e-9)
    iid = density_coverage(rng.standard_normal((300, 8)), real, k=5)
    assert 0.6 < iid["density"] < 1.5 and iid["coverage"] > 0.8
    far = density_coverage(real + 100.0, real, k=5)
    assert far["density"] == 0.0 and far["coverage"] == 0.0


# ----- extractor registry ----------------------------------------------------------------------
def test_registry_refuses_duplicates_and_unknown_names():
    with pytest.raises(ValueError):
        register_extractor("imagenet-trunk")(lambda **_: None)
    with pytest.raises(ExplorerError, match="unknown feature extractor"):
        get_extractor("no-such-extractor")
    assert {"imagenet-trunk", "inception-v3", "domain-classifier"} <= set(available_extractors())


def test_batch_size_independence_toy_extractor():
    x = torch.rand(7, 3, 20, 20) * 2 - 1
    a = extract("test-toy", x, batch_size=7)
    b = extract("test-toy", x, batch_size=2)
    np.testing.assert_allclose(a["features"], b["features"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(a["logits"], b["logits"], rtol=0, atol=1e-5)


# ----- ImageNet trunk --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trunk():
    return get_extractor("imagenet-trunk", device="cpu")


def test_imagenet_trunk_shape_determinism_and_batch_independence(trunk):
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=gen) * 2 - 1
    f1, logits = trunk(x)
    assert f1.shape == (2, 768) and logits is None and torch.isfinite(f1).all()
    f2, _ = trunk(x)
    assert torch.equal(f1, f2)
    per_image = extract(trunk, x, batch_size=1)["features"]
    np.testing.assert_allclose(per_image, f1.double().numpy(), rtol=1e-5, atol=1e-5)
    grey, _ = trunk(x[:1, :1])  # 1-channel input is repeated to RGB
    rgb, _ = trunk(x[:1, :1].expand(-1, 3, -1, -1))
    assert torch.allclose(grey, rgb)
    info = trunk.info()
    assert info["extractor"] == "imagenet-trunk" and info["comparable_with_published"] is False
    assert "non-standard" in info["extractor_label"]


def test_imagenet_trunk_weights_file_provenance_and_size():
    from explorer.metrics.imagenet_trunk import default_weights_path, read_metadata

    path = default_weights_path()
    assert path.stat().st_size <= 20 * 1024 * 1024
    meta = read_metadata(path)
    assert meta["source"]["package"] == "nsfwjs" and meta["source"]["version"] == "4.4.0"
    assert "MIT" in meta["licence"]["nsfwjs"] and "Apache-2.0" in meta["licence"]["weights"]
    assert meta["comparable_with_published_fid"] is False


def _numpy_conv_nhwc(x, k, stride, padding):
    kh, kw = k.shape[:2]
    if padding == "same":
        x = np.pad(x, ((0, 0), ((kh - 1) // 2,) * 2, ((kw - 1) // 2,) * 2, (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
    return np.einsum("nhwcij,ijco->nhwo", win, k)


@pytest.mark.parametrize("name,stride,padding", [("conv2d_1", 2, "valid"), ("conv2d_43", 1, "same"), ("conv2d_44", 1, "same")])
def test_imagenet_trunk_conv_matches_numpy_keras_layout(trunk, name, stride, padding):
    """Raw stored HWIO kernels through a channels-last numpy conv == our OIHW torch layer (catches transposes/padding)."""
    from safetensors import safe_open

    from explorer.metrics.imagenet_trunk import default_weights_path, dequantise

    with safe_open(str(default_weights_path()), framework="pt") as fh:
        kernel = dequantise(fh.get_tensor(f"{name}/kernel"), fh.get_tensor(f"{name}/kernel:quant")).numpy()
    layer = trunk.net.conv_layers()[name]
    assert (layer.stride, layer.padding_mode) == (stride, padding)
    x = np.random.default_rng(0).standard_normal((1, 11, 13, kernel.shape[2]))  # NHWC, non-square
    ref = _numpy_conv_nhwc(x, kernel, stride, padding)
    with torch.no_grad():
        got = layer.conv(torch.from_numpy(x).permute(0, 3, 1, 2).float()).permute(0, 2, 3, 1).double().numpy()
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()


def _load_converter():
    spec = importlib.util.spec_from_file_location("convert_nsfwjs_inception", REPO / "scripts" / "convert_nsfwjs_inception.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_js_literal_parser():
    conv = _load_converter()
    value, end = conv.parse_js_literal('{a:!0,b:!1,"c":[.5,-1e-3,null,"x\\"y"],d:{}}rest')
    assert value == {"a": True, "b": False, "c": [0.5, -0.001, None, 'x"y'], "d": {}}
    assert end == len('{a:!0,b:!1,"c":[.5,-1e-3,null,"x\\"y"],d:{}}')


@pytest.mark.skipif(not TARBALL.is_file(), reason="nsfwjs-4.4.0.tgz not available (set NSFWJS_TARBALL)")
def test_conversion_against_source_package(trunk):
    """Decode the npm package again: topology check, exact stored values, numpy spot check, and a planted layout bug is caught."""
    from safetensors import safe_open

    from explorer.metrics.imagenet_trunk import default_weights_path

    conv = _load_converter()
    model_json, weights = conv.decode_weights(conv.read_package_files(TARBALL))
    assert len(conv.check_topology(model_json, trunk.net)) == 165
    with safe_open(str(default_weights_path()), framework="pt") as fh:
        stored = fh.get_tensor("conv2d_43/kernel").numpy()
        quant = fh.get_tensor("conv2d_43/kernel:quant").numpy()
    np.testing.assert_array_equal(stored, weights["conv2d_43/kernel"]["q"])
    assert tuple(quant) == (weights["conv2d_43/kernel"]["scale"], weights["conv2d_43/kernel"]["min"])
    evidence = conv.input_range_evidence(weights)  # BN statistics were estimated with [0, 1] inputs
    assert evidence["[0,1]"] > 0.99 > abs(evidence["[-1,1]"]) + 0.5
    errors = conv.spot_check(weights, trunk.net)
    assert max(errors.values()) < 1e-5
    # the whole trunk equals the Keras graph the TF.js reader builds from the package's own topology
    assert conv.graph_check(model_json, weights, trunk.net) < 1e-5
    broken = type(trunk.net)()
    broken.load_state_dict(trunk.net.state_dict())
    with torch.no_grad():
        broken.conv2d_1.weight.copy_(broken.conv2d_1.weight.transpose(2, 3).clone())  # swap kernel H and W
    with pytest.raises(AssertionError, match="spot check"):
        conv.spot_check(weights, broken)
    assert conv.graph_check(model_json, weights, broken) > 1e-2


# ----- inception-v3 (user-supplied weights) --------------------------------------------------------
def test_inception_missing_file_gives_clear_message(tmp_path, monkeypatch):
    monkeypatch.delenv("GAN_EXPLORER_INCEPTION_WEIGHTS", raising=False)
    with pytest.raises(ExplorerError, match="GAN_EXPLORER_INCEPTION_WEIGHTS"):
        get_extractor("inception-v3", device="cpu")
    with pytest.raises(ExplorerError, match="not found.*inception_v3"):
        get_extractor("inception-v3", device="cpu", weights=str(tmp_path / "nope.pth"))
    bad = tmp_path / "bad.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, bad)
    with pytest.raises(ExplorerError, match="not an Inception-v3 state_dict"):
        get_extractor("inception-v3", device="cpu", weights=str(bad))


def test_inception_loads_random_torchvision_state_dict(tmp_path, monkeypatch):
    """Loading path and shapes only (random weights): torchvision layout, via the env variable."""
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    path = tmp_path / "inception_v3_random.pth"
    torch.save(net.state_dict(), path)
    monkeypatch.setenv("GAN_EXPLORER_INCEPTION_WEIGHTS", str(path))
    ext = get_extractor("inception-v3", device="cpu")
    feats, logits = ext(torch.rand(2, 1, 28, 28) * 2 - 1)
    assert feats.shape == (2, 2048) and logits.shape == (2, 1000)
    assert ext.layout == "torchvision" and ext.comparable_with_published is False
    assert ext.info()["extractor"] == "inception-v3"


def test_inception_recognises_pytorch_fid_layout(tmp_path):
    from explorer.metrics.inception import build_fid_inception

    torch.manual_seed(0)
    path = tmp_path / "pt_inception_random.pth"
    torch.save(build_fid_inception().state_dict(), path)
    ext = get_extractor("inception-v3", device="cpu", weights=str(path))
    feats, logits = ext(torch.rand(1, 3, 40, 40) * 2 - 1)
    assert feats.shape == (1, 2048) and logits.shape == (1, 1008)
    assert ext.layout == "pytorch-fid" and ext.comparable_with_published is True
    # IS logits without the fc bias, as torch-fidelity's "logits_unbiased" (issue 13)
    torch.testing.assert_close(logits, feats @ ext.net.fc.weight.T, rtol=1e-5, atol=1e-5)
    assert ext.fd_name() == "FID" and ext.info()["fd_name"] == "FID"


# ----- domain classifier --------------------------------------------------------------------------
def test_domain_classifier_missing_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_EXPLORER_CHECKPOINTS", str(tmp_path))
    with pytest.raises(ExplorerError, match="no domain classifier checkpoint"):
        get_extractor("domain-classifier", device="cpu", dataset="digits-missing-test")


def test_domain_classifier_extractor_and_is(tmp_path, monkeypatch):
    import explorer
    from explorer.models.classifier import Classifier, ClassifierConfig

    torch.manual_seed(0)
    explorer.save(Classifier(ClassifierConfig(width=4)), tmp_path / "classifier_toydigits.safetensors")
    monkeypatch.setenv("GAN_EXPLORER_CHECKPOINTS", str(tmp_path))
    ext = get_extractor("domain-classifier", device="cpu", dataset="toydigits")
    feats, logits = ext(torch.rand(5, 3, 40, 40) * 2 - 1)
    assert feats.shape == (5, 16) and logits.shape == (5, 10)
    assert "not comparable" in ext.label
    images = torch.rand(30, 1, 28, 28) * 2 - 1
    res = evaluate(images, real=torch.rand(30, 1, 28, 28) * 2 - 1, metrics=("fid", "is"), extractor=ext)
    assert res["extractor"] == "domain-classifier" and "is_mean" in res and "domain classifier" in res["is_logits"]


# ----- evaluate / record / nearest neighbours / CLI ------------------------------------------------
def test_evaluate_images_all_metrics_named_extractor():
    gen = torch.Generator().manual_seed(0)
    real = torch.rand(60, 3, 16, 16, generator=gen) * 2 - 1
    fake = torch.rand(60, 3, 16, 16, generator=gen) * 2 - 1
    res = evaluate(fake, real=real, metrics=("fid", "kid", "is", "pr", "dc"), extractor="test-toy", batch_size=16)
    for key in ("fd", "kid_mean", "is_mean", "is_std", "precision", "recall", "density", "coverage"):
        assert key in res and np.isfinite(res[key])
    # a Fréchet distance outside Inception-v3 pool3 is not called FID (issue 13); "fid" is accepted as a request
    assert res["fd_name"] == "FD (test-toy)" and "fid" not in res
    assert res["kid_std"] is None and any("without ± std" in n for n in res["notes"])  # 60 samples < subset size
    assert res["extractor"] == "test-toy" and res["comparable_with_published"] is False
    assert res["num_fake"] == 60 and res["num_real"] == 60
    json.dumps(res)  # JSON-serialisable, so it can go into a model card
    same = evaluate(real, real=real, metrics=("fd",), extractor="test-toy")
    assert same["fd"] <= 1e-8


def test_evaluate_takes_a_declared_value_range_or_refuses():
    gen = torch.Generator().manual_seed(1)
    unit = torch.rand(40, 3, 16, 16, generator=gen)  # [0, 1]
    with pytest.raises(ExplorerError, match="look like \\[0, 1\\]"):
        evaluate(unit, real=unit * 2 - 1, metrics=("fd",), extractor="test-toy")
    res = evaluate(unit, real=unit, metrics=("fd",), extractor="test-toy", value_range=(0, 1))
    assert res["fd"] <= 1e-8  # a set and itself, once its range is declared (read as [-1, 1]: FD far from 0)
    with pytest.raises(ExplorerError, match="outside the declared range"):
        evaluate(unit * 3, real=unit, metrics=("fd",), extractor="test-toy", value_range=(0, 1))


def test_evaluate_generator_with_cached_real_stats(cache_dir):
    model = TinyGenerator()
    progress = []
    res1 = evaluate(model, real="digits", metrics=("fid", "kid", "pr"), extractor="test-toy", num_samples=40,
                    batch_size=16, progress=lambda *a: progress.append(a))
    assert res1["latent_seeds"] == "0..39" and res1["real"] == "digits" and res1["resolution"] == 16
    assert any(stage == "samples" for stage, *_ in progress)
    assert len(list(cache_dir.glob("*.npz"))) == 1
    res2 = evaluate(model, real="digits", metrics=("fid", "kid", "pr"), extractor="test-toy", num_samples=40, batch_size=7)
    for key in ("fd", "kid_mean", "precision", "recall"):
        assert res2[key] == pytest.approx(res1[key], rel=1e-6)  # batch size and cache change nothing
    with np.load(next(cache_dir.glob("*.npz")), allow_pickle=False) as data:
        assert data["features"].shape == (40, 16)


def test_evaluate_is_skipped_without_logits_and_rejects_unknown_metric():
    class NoLogits(ToyExtractor):
        name = "test-nologits"

        def _forward(self, x):
            return super()._forward(x)[0], None

    x = torch.rand(10, 3, 8, 8) * 2 - 1
    res = evaluate(x, real=x, metrics=("is", "fid"), extractor=NoLogits())
    assert "is_mean" not in res and any("IS skipped" in n for n in res["notes"])
    with pytest.raises(ExplorerError, match="unknown metrics"):
        evaluate(x, real=x, metrics=("fid", "bogus"), extractor=NoLogits())


def test_record_metrics_appends_and_replaces():
    card = {"intended_use": "demo"}
    res = {"extractor": "x", "extractor_id": "x@1", "real": "digits", "real_split": "train", "num_fake": 10,
           "num_real": 10, "seed": 0, "resolution": 28, "fid": 3.0, "notes": ["n"], "array": [1, 2]}
    c1 = record_metrics(card, res)
    assert card == {"intended_use": "demo"} and len(c1["metrics"]) == 1 and "array" not in c1["metrics"][0]
    c2 = record_metrics(c1, {**res, "fid": 2.0})
    assert len(c2["metrics"]) == 1 and c2["metrics"][0]["fid"] == 2.0
    c3 = record_metrics(c2, {**res, "seed": 1})
    assert len(c3["metrics"]) == 2


def test_nearest_neighbours_finds_copied_training_images():
    gen = torch.Generator().manual_seed(0)
    train = torch.rand(50, 1, 12, 12, generator=gen) * 2 - 1
    samples = train[[3, 17, 42]].clone()
    for extractor in ("pixels", "test-toy"):
        idx, dist = nearest_neighbours(samples, train, k=2, extractor=extractor)
        assert idx.shape == (3, 2) and dist.shape == (3, 2)
        assert idx[:, 0].tolist() == [3, 17, 42] and torch.all(dist[:, 0] < 1e-3)
        assert torch.all(dist[:, 1] >= dist[:, 0])


def test_cli_parser_and_table():
    from explorer.metrics import add_metrics_command
    from explorer.metrics.cli import format_table

    parser = argparse.ArgumentParser()
    add_metrics_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["metrics", "g.safetensors", "--real", "digits", "--extractor", "imagenet-trunk", "--num", "2000"])
    assert (args.checkpoint, args.real, args.extractor, args.num) == ("g.safetensors", "digits", "imagenet-trunk", 2000)
    assert callable(args.func)
    x = torch.rand(20, 3, 8, 8) * 2 - 1
    table = format_table(evaluate(x, real=x.flip(0), metrics=("fid", "kid", "is", "pr"), extractor="test-toy"))
    assert "test-toy" in table and "NOT comparable" in table and "KID" in table


def test_cli_end_to_end_on_a_tiny_dcgan(tmp_path, cache_dir, capsys):
    import explorer
    from explorer.metrics.cli import run_metrics_command
    from explorer.models.dcgan import DCGAN, DCGANConfig

    torch.manual_seed(0)
    ckpt = tmp_path / "dcgan_tiny.safetensors"
    explorer.save(DCGAN(DCGANConfig(resolution=32, channels=1, latent_dim=8, ngf=8, ndf=8)), ckpt)
    parser = argparse.ArgumentParser()
    from explorer.metrics import add_metrics_command

    add_metrics_command(parser.add_subparsers(dest="command"))
    out_json = tmp_path / "res.json"
    args = parser.parse_args(["metrics", str(ckpt), "--real", "digits", "--extractor", "test-toy", "--num", "24",
                              "--metrics", "fid,kid,is,pr,dc", "--json", str(out_json), "--record", "--device", "cpu"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "extractor: test-toy" in printed and "FD" in printed and "precision" in printed
    assert json.loads(out_json.read_text())["num_fake"] == 24
    card = explorer.read_metadata(ckpt)["card"]
    assert card["metrics"][0]["extractor"] == "test-toy" and card["metrics"][0]["real"] == "digits"
    bad = parser.parse_args(["metrics", str(ckpt), "--extractor", "inception-v3", "--num", "4",
                             "--inception-weights", str(tmp_path / "missing.pth")])
    assert run_metrics_command(bad) == 2
    assert "Inception-v3 weights file not found" in capsys.readouterr().err
