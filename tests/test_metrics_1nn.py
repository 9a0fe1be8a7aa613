"""Tests for the leave-one-out 1-NN two-sample test and its reference rows.

Agreement with a brute-force reference written here from the definition (Lopez-Paz & Oquab, 2017),
sanity on known cases (same distribution, disjoint sets, copies), block-size independence, errors,
and the evaluate / reference / CLI pipeline on the cheap test-only extractor of test_metrics.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch
from test_metrics import TinyGenerator, ToyExtractor, cache_dir  # noqa: F401  (cache_dir is a fixture)

from explorer.errors import ExplorerError
from explorer.metrics import (
    add_one_nn_reference,
    attach_reference,
    evaluate,
    one_nn_accuracy,
    one_nn_reference,
    one_nn_rows,
    record_metrics,
)

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


# ----- the statistic ---------------------------------------------------------------------------------
def brute_force_one_nn(fake: np.ndarray, real: np.ndarray) -> tuple[float, float, float]:
    """Straight from the definition: label real 1 / fake 0, classify each point by its nearest other
    point (full Euclidean distance matrix). A tie between neighbours counts the share of the tied
    neighbours that carry the point's label (the expected value of a random tie-break)."""
    z = np.concatenate([real, fake]).astype(np.float64)
    labels = np.array([1] * len(real) + [0] * len(fake))
    d = np.sqrt(((z[:, None, :] - z[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    correct = np.empty(len(z))
    for i in range(len(z)):
        tied = d[i] == d[i].min()
        correct[i] = np.mean(labels[tied] == labels[i])
    return correct.mean(), correct[labels == 1].mean(), correct[labels == 0].mean()


def _check_against_brute_force(fake, real, **kwargs):
    res = one_nn_accuracy(fake, real, **kwargs)
    acc, acc_real, acc_fake = brute_force_one_nn(np.asarray(fake), np.asarray(real))
    assert res["one_nn_accuracy"] == pytest.approx(acc, abs=1e-12)
    assert res["one_nn_real_accuracy"] == pytest.approx(acc_real, abs=1e-12)
    assert res["one_nn_fake_accuracy"] == pytest.approx(acc_fake, abs=1e-12)
    assert (res["num_fake"], res["num_real"]) == (len(fake), len(real))
    return res


@pytest.mark.parametrize("num_fake,num_real,dim,seed", [(40, 40, 5, 0), (17, 53, 3, 1), (60, 9, 12, 2), (2, 2, 1, 3)])
def test_matches_brute_force_on_random_features(num_fake, num_real, dim, seed):
    rng = np.random.default_rng(seed)
    fake = rng.standard_normal((num_fake, dim)) + 0.3
    real = rng.standard_normal((num_real, dim))
    _check_against_brute_force(fake, real)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_with_ties_and_duplicates(seed):
    """Small integer features: many exact ties between neighbours of both labels, and duplicates."""
    rng = np.random.default_rng(seed)
    fake = rng.integers(0, 3, (37, 3)).astype(np.float64)
    real = np.concatenate([rng.integers(0, 3, (20, 3)), fake[:5]]).astype(np.float64)  # 5 exact copies
    res = _check_against_brute_force(fake, real)
    # the rule really matters here: ties are common, so a first-index tie-break would give another number
    z = np.concatenate([real, fake])
    d = ((z[:, None] - z[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert ((d == d.min(1, keepdims=True)).sum(1) > 1).mean() > 0.5
    assert 0 < res["one_nn_accuracy"] < 1


def test_ties_are_resolved_exactly_despite_large_offsets():
    """A real point equidistant from a real and a fake neighbour scores 1/2. A large common offset
    makes the fast |a|^2 + |b|^2 - 2ab form inexact; the direct recomputation keeps the tie."""
    for offset in (0.0, 1e6):
        real = np.array([[0.0, 0.0], [1.0, 0.0]]) + offset
        fake = np.array([[-1.0, 0.0], [9.0, 9.0], [9.0, 10.0]]) + offset
        res = _check_against_brute_force(fake, real)
        assert res["one_nn_real_accuracy"] == pytest.approx((0.5 + 1) / 2)  # (0,0): tie -> 1/2; (1,0) -> 1
        assert res["one_nn_fake_accuracy"] == pytest.approx(2 / 3)  # (-1,0) -> real; the far pair -> each other


def test_same_distribution_about_half_separated_one_copies_near_zero():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(800, 8, generator=gen), torch.randn(800, 8, generator=gen)
    same = one_nn_accuracy(a, b)
    assert abs(same["one_nn_accuracy"] - 0.5) < 0.04  # fixed seed; the std at this size is ~0.013
    assert same["one_nn_chance"] == pytest.approx(799 / 1599)
    apart = one_nn_accuracy(a + 20.0, b)
    assert apart["one_nn_accuracy"] == apart["one_nn_real_accuracy"] == apart["one_nn_fake_accuracy"] == 1.0
    copies = one_nn_accuracy(b + 1e-3 * torch.randn(800, 8, generator=gen), b)
    assert copies["one_nn_accuracy"] < 0.05
    half_copies = one_nn_accuracy(torch.cat([b[:400] + 1e-3, a[:400]]), b)  # half memorised
    assert half_copies["one_nn_accuracy"] < 0.4


def test_chance_level_for_unequal_sizes_matches_the_average_over_draws():
    """Same distribution, 10 vs 40 points: 0.5 is not the chance level, one_nn_chance is."""
    rng = np.random.default_rng(0)
    accs = [one_nn_accuracy(rng.standard_normal((10, 2)), rng.standard_normal((40, 2)))["one_nn_accuracy"]
            for _ in range(300)]
    chance = one_nn_accuracy(np.zeros((10, 1)) + np.arange(10)[:, None], np.arange(40.0)[:, None])["one_nn_chance"]
    assert chance == pytest.approx((40 * 39 + 10 * 9) / (50 * 49))
    assert abs(np.mean(accs) - chance) < 0.02 and chance > 0.65


def test_symmetric_and_order_independent():
    rng = np.random.default_rng(4)
    fake, real = rng.integers(0, 3, (30, 2)).astype(float), rng.integers(0, 3, (25, 2)).astype(float)
    res = one_nn_accuracy(fake, real)
    swapped = one_nn_accuracy(real, fake)
    assert swapped["one_nn_accuracy"] == pytest.approx(res["one_nn_accuracy"])
    assert swapped["one_nn_real_accuracy"] == pytest.approx(res["one_nn_fake_accuracy"])
    shuffled = one_nn_accuracy(fake[rng.permutation(30)], real[rng.permutation(25)])
    assert shuffled == pytest.approx(res)


def test_chunked_equals_unchunked():
    rng = np.random.default_rng(5)
    fake = np.concatenate([rng.standard_normal((70, 6)), rng.integers(0, 2, (30, 6))])
    real = np.concatenate([rng.standard_normal((45, 6)) + 0.2, rng.integers(0, 2, (20, 6)), fake[:3]])
    whole = one_nn_accuracy(fake, real, batch_size=10_000)
    for batch_size in (1, 7, 64, None):
        assert one_nn_accuracy(fake, real, batch_size=batch_size) == whole
    torch_in = one_nn_accuracy(torch.from_numpy(fake).float(), torch.from_numpy(real).float(), batch_size=13)
    assert torch_in == pytest.approx(one_nn_accuracy(fake.astype(np.float32), real.astype(np.float32)))


def test_error_messages():
    ok = np.zeros((5, 3))
    with pytest.raises(ExplorerError, match=r"fake features must have shape \[N >= 2, D\]"):
        one_nn_accuracy(np.zeros((1, 3)), ok)
    with pytest.raises(ExplorerError, match=r"real features must have shape \[N >= 2, D\]"):
        one_nn_accuracy(ok, np.zeros((1, 3)))
    with pytest.raises(ExplorerError, match="must have shape"):
        one_nn_accuracy(np.zeros(5), ok)
    with pytest.raises(ExplorerError, match="differ in size: 4 vs 3"):
        one_nn_accuracy(np.zeros((5, 4)), ok)
    bad = ok.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ExplorerError, match="real features contain NaN"):
        one_nn_accuracy(ok, bad)
    bad[2, 1] = np.inf
    with pytest.raises(ExplorerError, match="fake features contain NaN or infinity"):
        one_nn_accuracy(bad, ok)
    with pytest.raises(ExplorerError, match="batch_size must be >= 1"):
        one_nn_accuracy(ok, ok, batch_size=0)


# ----- evaluate, reference rows, card, CLI ------------------------------------------------------------
def test_evaluate_1nn_on_tensors_and_unequal_counts():
    gen = torch.Generator().manual_seed(0)
    real = torch.rand(40, 3, 16, 16, generator=gen) * 2 - 1
    res = evaluate(real.flip(0), real=real, metrics=("1nn",), extractor="test-toy")
    assert res["one_nn_accuracy"] == 0.0 and res["extractor"] == "test-toy"  # the same images: all copies
    noise = torch.rand(40, 3, 16, 16, generator=gen) * 2 - 1
    res = evaluate(noise * 0.1 + 0.8, real=real, metrics=("1nn", "fd"), extractor="test-toy",  # bright images
                   value_range=(-1, 1))  # declared: a set without negative values is ambiguous otherwise
    assert res["one_nn_accuracy"] == 1.0 and "fd" in res and not res["notes"]
    json.dumps(res)
    res = evaluate(noise[:10], real=real, metrics=("1nn",), extractor="test-toy", num_real=40)
    assert (res["num_fake"], res["num_real"]) == (10, 40)
    assert any("unequal counts" in n and f"{res['one_nn_chance']:.3f}" in n for n in res["notes"])


def test_generator_with_reference_rows_and_card(cache_dir):  # noqa: F811
    model = TinyGenerator()
    res = evaluate(model, real="digits", metrics=("fd", "1nn"), extractor="test-toy", num_samples=60, batch_size=32)
    ref = one_nn_reference("digits", extractor="test-toy", num_samples=60, num_real=res["num_real"],
                           resolution=16, channels=1, batch_size=32)
    assert [r["key"] for r in ref["rows"]] == ["real_vs_real"]  # digits has no other style
    row = ref["rows"][0]
    assert (row["num_fake"], row["num_real"]) == (60, 60) and "60 held-out" in row["compared"]
    assert 0.3 < row["one_nn_accuracy"] < 0.7 and res["one_nn_accuracy"] > 0.9
    full = attach_reference(res, ref)
    assert add_one_nn_reference(res, "digits", "test-toy", channels=1) == full
    assert full["one_nn_real_vs_real"] == row["one_nn_accuracy"] and "one_nn_other_style" not in full
    rows = one_nn_rows(full)
    assert [r["row"] for r in rows] == ["model vs real", "real vs real"]
    card = record_metrics({}, full)["metrics"][0]
    for key in ("one_nn_accuracy", "one_nn_real_accuracy", "one_nn_fake_accuracy", "one_nn_real_vs_real", "fd"):
        assert isinstance(card[key], float)
    # the compared real set and the reference sets are cached: a second call reads them back
    cached = len(list(cache_dir.glob("*.npz")))
    assert cached == 2
    again = one_nn_reference("digits", extractor="test-toy", num_samples=60, resolution=16, channels=1)
    assert again["rows"] == ref["rows"] and len(list(cache_dir.glob("*.npz"))) == cached
    other = one_nn_reference("digits", extractor=ToyExtractor(), num_samples=60, num_real=30, resolution=16, channels=1)
    with pytest.raises(ExplorerError, match="real"):
        attach_reference(res, {**other, "real": "fashion"})
    with pytest.raises(ExplorerError, match="no 1-NN accuracy"):
        attach_reference({k: v for k, v in res.items() if not k.startswith("one_nn")}, ref)


class _Spy(ToyExtractor):
    """Records every batch it sees (one batch per stage with a large batch size)."""

    name = "test-spy"

    def __init__(self):
        super().__init__()
        self.seen = []

    def prepare(self, x):
        self.seen.append(x.detach().cpu().clone())  # as given, before resizing
        return super().prepare(x)


def _index_by_content(images: torch.Tensor) -> dict:
    return {x.numpy().tobytes(): i for i, x in enumerate(images)}


def test_emoji_reference_uses_other_style_of_images_outside_the_compared_set():
    from explorer.data import get_dataset

    spy = _Spy()
    ref = one_nn_reference("emoji-google", extractor=spy, num_samples=250, resolution=16, channels=3,
                           batch_size=1000, use_cache=False)
    assert [r["key"] for r in ref["rows"]] == ["real_vs_real", "other_style"]
    assert all((r["num_fake"], r["num_real"]) == (250, 250) for r in ref["rows"])
    assert "188 held-out + 62 other" in ref["rows"][0]["compared"]
    compared, pool, pair = spy.seen
    google = _index_by_content(get_dataset("emoji-google", resolution=16, channels=3, split="all").tensors()[0])
    twitter = _index_by_content(get_dataset("emoji-twitter", resolution=16, channels=3, split="all").tensors()[0])
    compared_idx = {google[x.numpy().tobytes()] for x in compared}
    pool_idx = [google[x.numpy().tobytes()] for x in pool]
    assert len(compared_idx) == 250 and len(set(pool_idx)) == 250 and not compared_idx & set(pool_idx)
    assert sum(i >= 1876 - 188 for i in pool_idx) == 188  # every held-out emoji is in the reference
    assert [twitter[x.numpy().tobytes()] for x in pair] == pool_idx  # same emoji, Twemoji style
    assert ref["rows"][1]["one_nn_accuracy"] > ref["rows"][0]["one_nn_accuracy"]


def test_reference_from_tensors_uses_halves():
    gen = torch.Generator().manual_seed(0)
    real = torch.rand(41, 3, 8, 8, generator=gen) * 2 - 1
    ref = one_nn_reference(real, extractor="test-toy")
    assert ref["real"] == "tensor" and ref["real_split"] is None
    assert [(r["num_fake"], r["num_real"]) for r in ref["rows"]] == [(20, 20)] and "halves" in ref["notes"][0]
    with pytest.raises(ExplorerError, match="at least 4 real images"):
        one_nn_reference(real[:3], extractor="test-toy")


def test_cli_prints_reference_rows(tmp_path, cache_dir, capsys):  # noqa: F811
    import explorer
    from explorer.metrics import add_metrics_command
    from explorer.models.dcgan import DCGAN, DCGANConfig

    torch.manual_seed(0)
    ckpt = tmp_path / "dcgan_tiny.safetensors"
    explorer.save(DCGAN(DCGANConfig(resolution=32, channels=1, latent_dim=8, ngf=8, ndf=8)), ckpt)
    parser = argparse.ArgumentParser()
    add_metrics_command(parser.add_subparsers(dest="command"))
    out_json = tmp_path / "res.json"
    args = parser.parse_args(["metrics", str(ckpt), "--real", "digits", "--extractor", "test-toy", "--num", "24",
                              "--metrics", "1nn", "--json", str(out_json), "--record", "--device", "cpu"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "extractor: test-toy" in printed and "1-NN two-sample test, test-toy features" in printed
    assert "model vs real" in printed and "real vs real" in printed and "24 vs 24" in printed
    saved = json.loads(out_json.read_text())
    assert saved["one_nn_reference"][0]["key"] == "real_vs_real" and 0 <= saved["one_nn_accuracy"] <= 1
    card = explorer.read_metadata(ckpt)["card"]["metrics"][0]
    assert card["one_nn_real_vs_real"] == saved["one_nn_real_vs_real"]
    args = parser.parse_args(["metrics", str(ckpt), "--extractor", "test-toy", "--num", "24", "--metrics", "1nn",
                              "--no-reference", "--device", "cpu"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "model vs real" in printed and "real vs real" not in printed


def test_evaluate_tab_table_shows_reference_rows_with_the_extractor():
    pytest.importorskip("gradio")
    from explorer.ui.tab_evaluate import METRIC_CHOICES, _one_nn_table

    assert ("1-NN accuracy", "1nn") in METRIC_CHOICES
    gen = torch.Generator().manual_seed(0)
    real = torch.rand(40, 1, 16, 16, generator=gen) * 2 - 1
    res = evaluate(real[:20] * 0.5, real=real[20:], metrics=("1nn",), extractor="test-toy")
    res = attach_reference(res, one_nn_reference(real[20:], extractor="test-toy"))
    table = _one_nn_table(res)
    assert table.visible and "test-toy" in table.label
    rows = table.value["data"]
    assert [r[0] for r in rows] == ["model vs real", "real vs real"] and rows[0][5] == "20 vs 20"
    assert float(rows[0][1]) == pytest.approx(res["one_nn_accuracy"], abs=1e-3)
    assert not _one_nn_table({"fid": 1.0}).visible
