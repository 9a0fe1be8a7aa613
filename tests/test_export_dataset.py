"""Synthetic data export (determinism, manifest, provenance, filtering) and the augmentation experiment."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image

import explorer
from explorer.errors import DataError, ExplorerError
from explorer.experiments.augment import (
    AugmentSettings,
    _balanced_order,
    markdown_table,
    paired_differences,
    run_augment,
    t_interval,
    write_results,
)
from explorer.export.dataset import candidate_seed, export_dataset, folder_names, synthetic_tensors
from explorer.images import SYNTHETIC_STATEMENT, read_png_metadata
from explorer.models.classifier import Classifier, ClassifierConfig
from explorer.models.dcgan import DCGAN, DCGANConfig


def tiny_dcgan(num_classes=3):
    torch.manual_seed(0)
    return DCGAN(DCGANConfig(resolution=32, channels=1, latent_dim=8, num_classes=num_classes, ngf=4, ndf=4)).eval()


@pytest.fixture
def ckpt(tmp_path):
    model = tiny_dcgan()
    model.card.update(name="tiny", class_names=["zero", "one/two", "three"])
    return explorer.save(model, tmp_path / "tiny.safetensors")


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seeds_give_byte_identical_files(tmp_path, ckpt):
    a = export_dataset(ckpt, 4, tmp_path / "a", truncation=0.8, seed=7, device="cpu")
    b = export_dataset(ckpt, 4, tmp_path / "b", truncation=0.8, seed=7, device="cpu", batch_size=3)
    ta, tb = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert ta == tb  # every PNG and the manifest, byte for byte (batch size does not matter)
    assert len([k for k in ta if k.endswith(".png")]) == 12
    c = export_dataset(ckpt, 4, tmp_path / "c", truncation=0.8, seed=8, device="cpu")
    assert {r["seed"] for r in c["images"]} != {r["seed"] for r in a["images"]}


def test_layout_manifest_and_provenance(tmp_path, ckpt):
    out = tmp_path / "synth"
    manifest = export_dataset(ckpt, 3, out, seed=100, device="cpu")
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == manifest
    assert manifest["model"]["hash"] == explorer.file_hash(ckpt)
    assert manifest["model"]["kind"] == "dcgan" and manifest["model"]["config"]["num_classes"] == 3
    assert manifest["version"] == explorer.__version__ and manifest["statement"] == SYNTHETIC_STATEMENT
    assert manifest["truncation"] == 1.0 and manifest["seed"] == 100 and manifest["per_class"] == 3
    assert [c["folder"] for c in manifest["classes"]] == ["zero", "one-two", "three"]
    assert manifest["num_images"] == len(manifest["images"]) == 9
    seeds = [r["seed"] for r in manifest["images"]]
    assert len(set(seeds)) == 9
    for rec in manifest["images"]:
        assert set(rec) >= {"path", "seed", "label", "sha256"}
        path = out / rec["path"]
        assert path.parent.name == manifest["classes"][rec["label"]]["folder"] and path.name == f"{rec['seed']}.png"
        assert rec["seed"] == candidate_seed(100, (rec["seed"] - 100) // 3, rec["label"], 3)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == rec["sha256"]
        meta = read_png_metadata(path)
        assert meta["seed"] == rec["seed"] and meta["label"] == rec["label"] and meta["synthetic"] is True
        assert meta["model_hash"] == manifest["model"]["hash"] and meta["version"] == explorer.__version__
        assert meta["statement"] == SYNTHETIC_STATEMENT and meta["latent_hash"]
        with Image.open(path) as im:
            assert im.format == "PNG" and im.size == (32, 32) and im.mode == "L"


def test_images_match_generate(tmp_path, ckpt):
    manifest = export_dataset(ckpt, 2, tmp_path / "o", truncation=0.5, device="cpu")
    model = explorer.load(ckpt, device="cpu")
    rec = manifest["images"][-1]
    z = explorer.latents_from_seeds(model, [rec["seed"]])
    x = model.generate(z, torch.tensor([rec["label"]]), truncation=0.5)
    expected = ((x[0, 0] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    with Image.open(tmp_path / "o" / rec["path"]) as im:
        got = torch.from_numpy(np.array(im))
    assert torch.equal(got, expected)


def test_larger_export_extends_smaller(tmp_path, ckpt):
    small = export_dataset(ckpt, 2, tmp_path / "s", device="cpu")
    large = export_dataset(ckpt, 5, tmp_path / "l", device="cpu")
    large_files = {r["path"]: r["sha256"] for r in large["images"]}
    assert all(large_files[r["path"]] == r["sha256"] for r in small["images"])


def test_unconditional_goes_to_all(tmp_path):
    manifest = export_dataset(tiny_dcgan(num_classes=0), 5, tmp_path / "u", device="cpu")
    assert [c["folder"] for c in manifest["classes"]] == ["all"]
    assert sorted(p.name for p in (tmp_path / "u" / "all").iterdir()) == sorted(f"{s}.png" for s in range(5))
    assert manifest["model"]["hash_of"] == "state_dict sha256"


def _sure_classifier(num_classes=3, always=0):
    """A classifier that always predicts class ``always`` with high confidence."""
    clf = Classifier(ClassifierConfig(channels=1, resolution=28, num_classes=num_classes, width=2)).eval()
    with torch.no_grad():
        clf.fc.weight.zero_()
        clf.fc.bias.zero_()
        clf.fc.bias[always] = 10.0
    return clf


def test_confidence_filter(tmp_path, ckpt):
    clf_path = explorer.save(_sure_classifier(), tmp_path / "clf.safetensors")
    # with a threshold every image passes for class 0 but none for classes 1 and 2: a bounded, clear error
    with pytest.raises(DataError, match=r"only 0 of 2 images .* in 6 draws"):
        export_dataset(ckpt, 2, tmp_path / "f", min_confidence=0.9, classifier=clf_path, max_draws_factor=3, device="cpu")
    assert not (tmp_path / "f" / "manifest.json").exists()
    # a threshold everything meets keeps the first seeds and records confidences
    manifest = export_dataset(ckpt, 2, tmp_path / "g", min_confidence=0.0, classifier=clf_path, device="cpu")
    assert all("confidence" in r and "predicted" in r for r in manifest["images"])
    assert manifest["filter"]["classifier"]["model_hash"] == explorer.file_hash(clf_path)
    assert manifest["filter"]["min_confidence"] == 0.0
    meta = read_png_metadata(tmp_path / "g" / manifest["images"][0]["path"])
    assert meta["classifier_confidence"] == manifest["images"][0]["confidence"]


def test_filter_keeps_passing_seeds_in_order(tmp_path):
    model = tiny_dcgan(num_classes=0)
    clf = _sure_classifier()
    x, labels, seeds = synthetic_tensors(model, 4, min_confidence=0.5, classifier=clf, batch_size=3)
    assert seeds == [0, 1, 2, 3] and x.shape == (4, 1, 32, 32)


def test_refusals(tmp_path, ckpt):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(ExplorerError, match="not empty"):
        export_dataset(ckpt, 1, tmp_path / "busy", device="cpu")
    with pytest.raises(ExplorerError, match="per_class"):
        export_dataset(ckpt, 0, tmp_path / "x", device="cpu")
    with pytest.raises(ExplorerError, match="classifier"):
        export_dataset(ckpt, 1, tmp_path / "y", min_confidence=0.5, device="cpu")  # no data set, no shipped classifier
    with pytest.raises(ExplorerError, match="generator"):
        export_dataset(_sure_classifier(), 1, tmp_path / "z", device="cpu")


def test_overwrite_replaces_only_own_files(tmp_path, ckpt):
    out = tmp_path / "o"
    export_dataset(ckpt, 3, out, device="cpu")
    (out / "notes.txt").write_text("keep me")
    export_dataset(ckpt, 1, out, device="cpu", overwrite=True)
    pngs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert len(pngs) == 3 and (out / "notes.txt").read_text() == "keep me"


def test_folder_names_are_safe_and_unique():
    assert folder_names(["T-shirt/top", "a", "a", "..", "x:y"]) == ["T-shirt-top", "a", "2-a", "3", "x-y"]


# ----- the augmentation experiment ---------------------------------------------------------
def test_t_interval():
    mean, lo, hi = t_interval([0.9, 0.92, 0.94])
    assert mean == pytest.approx(0.92)
    assert hi - mean == pytest.approx(4.302653 * 0.02 / 3**0.5, rel=1e-5)  # t(0.975, 2) = 4.3027
    assert t_interval([0.5]) == (0.5, 0.5, 0.5)


def test_accuracy_intervals_stay_within_0_and_1():
    from explorer.experiments.augment import summarize

    runs = [{"arm": "synthetic", "real": 0, "synthetic_per_class": 100, "accuracy": a} for a in (0.61, 0.86, 0.99)]
    (row,) = summarize(runs)
    assert row["ci95"][1] == 1.0 and 0.0 < row["ci95"][0] < row["mean"] < 1.0
    assert t_interval([0.61, 0.86, 0.99])[2] > 1.0  # the raw t interval does pass 100 %


def test_balanced_prefixes():
    labels = torch.arange(100) % 4
    order = _balanced_order(labels, seed=3)
    assert sorted(order.tolist()) == list(range(100))
    assert torch.bincount(labels[order[:20]]).tolist() == [5, 5, 5, 5]
    assert torch.equal(order, _balanced_order(labels, seed=3))


def test_augment_experiment_tiny_run(tmp_path):
    torch.set_num_threads(1)
    settings = AugmentSettings(real_sizes=(20, 30), synthetic_per_class=(2,), seeds=(0, 1), steps=2, width=2, eval_limit=50)
    calls = []
    results = run_augment(settings, generator=tiny_dcgan(num_classes=10), progress=lambda d, t, w: calls.append((d, t)))
    assert calls[-1] == (10, 10)  # 2 seeds × (2 budgets × 2 arms + synthetic only)
    runs = results["runs"]
    assert len(runs) == 10 and all(0.0 <= r["accuracy"] <= 1.0 for r in runs)
    assert {(r["arm"], r["real"], r["synthetic_per_class"]) for r in runs} == {
        ("real", 20, 0), ("real", 30, 0), ("real+synthetic", 20, 2), ("real+synthetic", 30, 2), ("synthetic", 0, 2)}
    assert len(results["summary"]) == 5 and all(s["n"] == 2 for s in results["summary"])
    assert len(results["paired"]) == 2
    assert results["eval"]["num_images"] == 50
    table = markdown_table(results)
    assert table.startswith("| real labelled |") and "synthetic only" in table
    written = write_results(results, tmp_path / "r.json", tmp_path / "r.png")
    assert json.loads(written["json"].read_text())["table_markdown"] == table
    with Image.open(written["plot"]) as im:
        assert im.format == "PNG" and im.size == (760, 460)
    # deterministic: same settings, same accuracies
    again = run_augment(settings, generator=tiny_dcgan(num_classes=10))
    assert [r["accuracy"] for r in again["runs"]] == [r["accuracy"] for r in runs]


def test_paired_differences():
    runs = [{"seed": s, "arm": arm, "real": 10, "synthetic_per_class": syn, "accuracy": acc}
            for s, (a, b) in enumerate([(0.5, 0.6), (0.7, 0.7), (0.6, 0.8)])
            for arm, syn, acc in (("real", 0, a), ("real+synthetic", 5, b))]
    (p,) = paired_differences(runs)
    assert p["differences"] == pytest.approx([0.1, 0.0, 0.2]) and p["mean"] == pytest.approx(0.1)


def test_augment_needs_conditional_generator():
    with pytest.raises(ExplorerError, match="class-conditional"):
        run_augment(AugmentSettings(seeds=(0,)), generator=tiny_dcgan(num_classes=0))


def test_filter_defaults_to_the_shipped_classifier_of_the_data_set(tmp_path, monkeypatch):
    shipped = tmp_path / "checkpoints"
    clf_path = explorer.save(_sure_classifier(), shipped / "classifier_digits.safetensors")
    monkeypatch.setattr("explorer.zoo.shipped_dir", lambda: shipped)
    model = tiny_dcgan()
    model.summary["dataset"] = "digits"
    manifest = export_dataset(model, 1, tmp_path / "o", min_confidence=0.0, device="cpu")
    assert manifest["filter"]["classifier"]["model_hash"] == explorer.file_hash(clf_path)
    explorer.save(_sure_classifier(num_classes=4), shipped / "classifier_digits.safetensors")
    with pytest.raises(ExplorerError, match="knows 4 classes, the generator 3"):
        export_dataset(model, 1, tmp_path / "p", min_confidence=0.0, device="cpu")
