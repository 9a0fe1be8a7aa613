"""Tests for explorer.data: shipped arrays, datasets and splits, folder/zip sources, cleaning,
augmentation and DiffAugment. All fast (seconds), CPU only."""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.data import (Limits, clean_folder, clean_report_text, diff_augment, get_dataset,
                           list_shipped, make_augment, shipped_arrays, shipped_info)
from explorer.data.cli import add_data_commands
from explorer.data.dataset import resize_center_crop
from explorer.errors import DataError

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- helpers

def _pattern(seed: int, size=(80, 80), mode="RGB") -> Image.Image:
    """A distinct, textured, smooth image (random 8x8 colours upscaled) in the 30..200 range."""
    rng = np.random.default_rng(seed)
    small = rng.integers(30, 200, size=(8, 8, 3), dtype=np.uint8)
    im = Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)
    return im.convert(mode)


def _png_bytes(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", **kw)
    return buf.getvalue()


def _tree_digest(root) -> dict:
    out = {}
    for dirpath, _, files in os.walk(root):
        for fn in files:
            p = os.path.join(dirpath, fn)
            out[os.path.relpath(p, root)] = (hashlib.sha256(open(p, "rb").read()).hexdigest(),
                                             os.stat(p).st_mtime_ns)
    return out


def _make_class_folder(root, with_wrapper=False):
    base = root / "wrapper" if with_wrapper else root
    for c, cls in enumerate(["cat", "dog"]):
        (base / cls).mkdir(parents=True)
        for i in range(5):
            size = (70 + 10 * i, 60) if i % 2 else (64, 64)
            mode = "RGBA" if i == 3 else "RGB"
            _pattern(10 * c + i, size, mode).save(base / cls / f"{i}.png")
    return base


# ----------------------------------------------------------------------------- shipped data

@pytest.mark.parametrize("name,shape,num_classes", [
    ("digits", (28, 28, 1), 10), ("fashion", (28, 28, 1), 10),
    ("emoji-google", (64, 64, 3), 10), ("emoji-twitter", (64, 64, 3), 10)])
def test_shipped_arrays_shapes_dtypes_labels(name, shape, num_classes):
    a = shipped_arrays(name)
    images, labels = a["images"], a["labels"]
    assert images.dtype == np.uint8 and images.shape[1:] == shape
    assert labels.dtype == np.int64 and labels.shape == (images.shape[0],)
    assert len(a["class_names"]) == num_classes and len(a["names"]) == images.shape[0]
    counts = np.bincount(labels, minlength=num_classes)
    assert counts.min() > 0 and counts.size == num_classes
    assert not images.flags.writeable  # the shared cache cannot be edited by accident
    assert images.min() == 0 and images.max() == 255
    info = shipped_info(name)
    assert info["count"] == images.shape[0] and info["license"]


def test_shipped_counts_and_backgrounds():
    digits, fashion = shipped_arrays("digits"), shipped_arrays("fashion")
    assert len(digits["labels"]) == 10000 and len(fashion["labels"]) == 10000
    assert np.bincount(fashion["labels"]).tolist() == [1000] * 10
    assert fashion["class_names"][9] == "Ankle boot"
    # MNIST convention: black background, bright strokes.
    assert digits["images"][:, 0, :, 0].mean() < 5 and digits["images"].mean() < 60
    emoji = shipped_arrays("emoji-google")
    assert emoji["background"] == [255, 255, 255]
    assert (emoji["images"][:, 0, 0] == 255).all(axis=-1).mean() > 0.9  # corners are background
    # Classes are shuffled: the held-out tail holds every digit.
    assert set(digits["labels"][-1000:].tolist()) == set(range(10))


def test_emoji_pairs_aligned():
    g, t = shipped_arrays("emoji-google"), shipped_arrays("emoji-twitter")
    assert len(g["names"]) == len(t["names"]) > 1000
    assert g["names"] == t["names"]
    assert (g["labels"] == t["labels"]).all()
    assert len(set(g["names"])) == len(g["names"])
    # Same emoji, different artwork: no pair is pixel-identical, and neither style repeats itself.
    assert not (g["images"] == t["images"]).all(axis=(1, 2, 3)).any()
    for images in (g["images"], t["images"]):
        assert len({im.tobytes() for im in images}) == len(images)
    assert list_shipped() == ["digits", "fashion", "emoji-google", "emoji-twitter"]


def test_unknown_name_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="not a shipped data set"):
        get_dataset("no-such-set")
    with pytest.raises(DataError):
        shipped_arrays("nope")
    with pytest.raises(DataError, match="split"):
        get_dataset("digits", split="test")
    with pytest.raises(DataError, match="channels"):
        get_dataset("digits", channels=2)
    with pytest.raises(DataError, match="resolution"):
        get_dataset("digits", resolution=2)


# ----------------------------------------------------------------------------- datasets

def test_dataset_ranges_and_native_shape():
    ds = get_dataset("digits")
    x, y = ds.tensors()
    assert x.dtype == torch.float32 and x.shape == (9000, 1, 28, 28)
    assert x.min() == -1.0 and x.max() == 1.0
    assert ds.num_classes == 10 and ds.resolution == 28 and ds.channels == 1 and ds.name == "digits"
    img, label = ds[0]
    assert img.shape == (1, 28, 28) and isinstance(label, int) and label == int(y[0])
    # Exact value mapping: uint8 v -> v / 127.5 - 1.
    raw = shipped_arrays("digits")["images"][0, :, :, 0]
    assert torch.allclose(x[0, 0], torch.from_numpy(raw.copy()).float() / 127.5 - 1)
    assert ds.preprocessing["normalisation"].startswith("x / 127.5 - 1")


def test_resolution_and_channel_conversion():
    ds = get_dataset("digits", resolution=32, channels=3, split="heldout")
    x, _ = ds.tensors()
    assert x.shape == (1000, 3, 32, 32) and ds.channels == 3 and ds.resolution == 32
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])  # grey -> RGB repeats
    assert x.min() >= -1 and x.max() <= 1
    assert ds.preprocessing["resolution"] == 32 and ds.preprocessing["channels"] == 3
    e = get_dataset("emoji-twitter", resolution=16, channels=1, split="heldout")
    xe, _ = e.tensors()
    assert xe.shape[1:] == (1, 16, 16) and xe.min() >= -1 and xe.max() <= 1
    assert e.background.shape == (1,) and e.background.item() > 0.9  # white background survives


def test_resize_center_crop_policy():
    x = torch.zeros(1, 1, 40, 80)
    x[..., :, 20:60] = 1.0  # centre square bright, sides dark
    y = resize_center_crop(x, 20)
    assert y.shape == (1, 1, 20, 20)
    # Shorter side 40 -> 20, centre crop keeps the bright square (the antialias filter blends a
    # little of the dark sides into the outermost columns only).
    assert torch.allclose(y[..., 1:-1], torch.ones(1, 1, 20, 18)) and y.min() > 0.8
    tall = resize_center_crop(torch.rand(2, 3, 90, 30), 10)
    assert tall.shape == (2, 3, 10, 10)


def test_splits_disjoint_deterministic_and_complete():
    train, held, full = (get_dataset("fashion", split=s) for s in ("train", "heldout", "all"))
    assert len(train) == 9000 and len(held) == 1000 and len(full) == 10000
    assert not set(train.names) & set(held.names)
    assert set(train.names) | set(held.names) == set(full.names)
    again = get_dataset("fashion", split="heldout", seed=123)  # seed never moves the split
    assert torch.equal(again.tensors()[0], held.tensors()[0]) and again.names == held.names
    assert torch.equal(full.tensors()[0][9000:], held.tensors()[0])


# ----------------------------------------------------------------------------- folder and zip sources

def test_imagefolder_source(tmp_path):
    root = _make_class_folder(tmp_path / "pets")
    ds = get_dataset(root, split="all")
    assert ds.class_names == ["cat", "dog"] and ds.num_classes == 2 and ds.name == "pets"
    assert len(ds) == 10 and ds.channels == 3 and ds.resolution == 64  # mixed sizes -> 64
    x, y = ds.tensors()
    assert x.shape == (10, 3, 64, 64) and x.min() >= -1 and x.max() <= 1
    assert sorted(y.tolist()) == [0] * 5 + [1] * 5
    for name, label in zip(ds.names, y.tolist()):
        assert name.startswith(ds.class_names[label] + "/")
    train, held = get_dataset(root, resolution=16, channels=1), get_dataset(root, split="heldout")
    assert len(train) == 9 and len(held) == 1 and not set(train.names) & set(held.names)
    assert train.tensors()[0].shape == (9, 1, 16, 16)
    assert train.preprocessing["source_kind"] == "folder"


def test_flat_folder_is_one_class_and_native_size(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(4):
        _pattern(i, (24, 24), "L").save(flat / f"{i}.png")
    (flat / "notes.txt").write_text("ignored by datasets")
    ds = get_dataset(flat, split="all")
    assert ds.class_names == ["flat"] and ds.num_classes == 1
    assert ds.resolution == 24 and ds.channels == 1 and len(ds) == 4


def test_zip_source_and_wrapper_folder(tmp_path):
    root = _make_class_folder(tmp_path / "src", with_wrapper=True)
    zpath = tmp_path / "pets.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for dirpath, _, files in os.walk(tmp_path / "src"):
            for fn in files:
                p = os.path.join(dirpath, fn)
                zf.write(p, os.path.relpath(p, tmp_path / "src"))
        zf.writestr("__MACOSX/wrapper/cat/._0.png", b"junk")
    ds = get_dataset(zpath, split="all")
    assert ds.class_names == ["cat", "dog"] and len(ds) == 10
    assert ds.preprocessing["source_kind"] == "zip"
    folder = get_dataset(root, split="all")
    assert torch.equal(folder.tensors()[0], ds.tensors()[0])


def test_zip_path_traversal_and_caps_refused(tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("ok/a.png", _png_bytes(_pattern(1)))
        zf.writestr("../../escape.png", _png_bytes(_pattern(2)))
    with pytest.raises(DataError, match="unsafe"):
        get_dataset(evil)
    with pytest.raises(DataError, match="unsafe"):
        clean_folder(evil)
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as zf:
        for i in range(5):
            zf.writestr(f"{i}.png", _png_bytes(_pattern(i)))
    with pytest.raises(DataError, match="limit"):
        get_dataset(many, limits=Limits(max_zip_members=3))
    with pytest.raises(DataError, match="limit"):
        get_dataset(many, limits=Limits(max_zip_total_bytes=100))


def test_folder_with_bad_file_names_it(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    _pattern(0).save(folder / "good.png")
    _pattern(1).save(folder / "good2.png")
    (folder / "bad.png").write_text("this is not a png")
    with pytest.raises(DataError, match=r"bad\.png.*data clean"):
        get_dataset(folder, split="all")


# ----------------------------------------------------------------------------- cleaning

@pytest.fixture()
def dirty_folder(tmp_path):
    src = tmp_path / "dirty"
    (src / "a").mkdir(parents=True)
    (src / "b").mkdir()
    for i in range(4):
        _pattern(100 + i).save(src / "a" / f"good{i}.png")
    _pattern(200).save(src / "b" / "good.jpg", quality=95)
    base = _pattern(300)
    base.save(src / "b" / "base.png")
    (src / "b" / "zz_exact_copy.png").write_bytes((src / "b" / "base.png").read_bytes())
    bright = Image.fromarray(np.clip(np.asarray(base, dtype=np.int16) + 12, 0, 255).astype(np.uint8))
    bright.save(src / "b" / "zz_brighter.png")
    full = _png_bytes(_pattern(400))
    (src / "a" / "truncated.png").write_bytes(full[: len(full) // 2])
    (src / "a" / "text.png").write_text("hello, I am not an image")
    frames = [_pattern(500 + k).convert("P") for k in range(3)]
    frames[0].save(src / "a" / "animated.gif", save_all=True, append_images=frames[1:], duration=50)
    _pattern(600, (12, 12)).save(src / "a" / "tiny.png")
    Image.new("RGB", (80, 80), (120, 130, 140)).save(src / "a" / "blank.png")
    (src / "b" / "README.txt").write_text("notes")
    return src


def test_cleaning_report_counts_each_planted_file(dirty_folder, tmp_path):
    before = _tree_digest(dirty_folder)
    dst = tmp_path / "clean"
    report = clean_folder(dirty_folder, dst, target_size=64)
    reasons = {d.path: d.reason for d in report.dropped}
    assert reasons == {
        "a/truncated.png": "corrupt", "a/text.png": "corrupt", "a/animated.gif": "animated",
        "a/tiny.png": "too_small", "a/blank.png": "blank", "b/zz_exact_copy.png": "exact_duplicate",
        "b/zz_brighter.png": "near_duplicate", "b/README.txt": "unsupported_format"}
    assert sorted(report.kept) == ["a/good0.png", "a/good1.png", "a/good2.png", "a/good3.png",
                                   "b/base.png", "b/good.jpg"]
    counts = report.counts()
    assert counts["corrupt"] == 2 and counts["kept"] == 6 and counts["near_duplicate"] == 1
    dup = {d.path: d.duplicate_of for d in report.dropped}
    assert dup["b/zz_exact_copy.png"] == "b/base.png" and dup["b/zz_brighter.png"] == "b/base.png"
    # Source untouched (content and timestamps); the copy holds exactly the kept files.
    assert _tree_digest(dirty_folder) == before
    copied = sorted(os.path.relpath(os.path.join(d, f), dst).replace(os.sep, "/")
                    for d, _, fs in os.walk(dst) for f in fs)
    assert copied == sorted(report.kept)
    text = clean_report_text(report)
    assert "near_duplicate: 1" in text and "a/text.png" in text and "kept 6" in text
    assert '"near_duplicate": 1' in report.to_json()
    # The clean copy loads as a two-class data set.
    assert get_dataset(dst, split="all").class_names == ["a", "b"]


def test_cleaning_refuses_bad_destination_and_reads_zip(dirty_folder, tmp_path):
    with pytest.raises(DataError, match="inside"):
        clean_folder(dirty_folder, dirty_folder / "out")
    zpath = tmp_path / "dirty.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for dirpath, _, files in os.walk(dirty_folder):
            for fn in files:
                p = os.path.join(dirpath, fn)
                zf.write(p, os.path.relpath(p, dirty_folder))
    report = clean_folder(zpath)
    assert report.num_kept == 6 and report.num_dropped == 8 and report.destination is None


def test_pixel_cap_and_decompression_bomb_warning(tmp_path, monkeypatch):
    folder = tmp_path / "big"
    folder.mkdir()
    Image.new("L", (1500, 1500), 0).save(folder / "huge.png")  # tiny file, 2.25 Mpx
    report = clean_folder(folder, limits=Limits(max_pixels=1_000_000))
    assert report.dropped[0].reason == "too_large"
    # PIL's own bomb warning (between MAX_IMAGE_PIXELS and twice it) is an error too.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2_000_000)
    report = clean_folder(folder)
    assert report.dropped[0].reason == "too_large" and "bomb" in report.dropped[0].detail
    report = clean_folder(folder, limits=Limits(max_file_bytes=100))
    assert report.dropped[0].reason == "too_large"


def test_near_duplicate_check_spares_distinct_real_digits(tmp_path):
    folder = tmp_path / "digits"
    folder.mkdir()
    a = shipped_arrays("digits")
    for i in range(300):
        Image.fromarray(a["images"][i, :, :, 0]).save(folder / f"{i:03d}.png")
    report = clean_folder(folder, target_size=28)
    assert report.counts()["near_duplicate"] <= 3 and report.num_kept >= 297


# ----------------------------------------------------------------------------- augmentation

def test_augment_deterministic_under_seed_and_varies_across_seeds():
    x = get_dataset("digits", split="heldout").tensors()[0][:8]
    spec = {"rotate": 15, "translate": 0.1, "scale": 0.1, "hflip": True}
    state = torch.get_rng_state()
    a1, a2, b = make_augment(spec, seed=1)(x), make_augment(spec, seed=1)(x), make_augment(spec, seed=2)(x)
    assert torch.equal(state, torch.get_rng_state())  # global RNG untouched
    assert a1.shape == x.shape and torch.equal(a1, a2) and not torch.equal(a1, b)
    assert not torch.equal(a1, x)
    assert not torch.equal(a1[0], make_augment(spec, seed=1)(x[1:2])[0])  # per-image draws
    assert make_augment({}, 0)(x) is x
    with pytest.raises(DataError, match="unknown augment"):
        make_augment({"rotat": 3}, 0)
    with pytest.raises(DataError):
        make_augment({"scale": [2, 1]}, 0)


def test_dataset_with_augment_spec():
    ds = get_dataset("emoji-google", split="heldout", augment={"rotate": 30}, seed=5)
    assert ds.augment.spec["fill"] == [1.0, 1.0, 1.0]  # white border colour of the emoji
    clean = ds.tensors()[0][0]
    item, _ = ds[0]
    assert item.shape == clean.shape and not torch.equal(item, clean)
    assert item.min() >= -1 and item.max() <= 1
    assert ds.preprocessing["augment"]["rotate"] == 30 and ds.preprocessing["augment_seed"] == 5
    again = get_dataset("emoji-google", split="heldout", augment={"rotate": 30}, seed=5)
    assert torch.equal(again[0][0], item)


def test_diff_augment_gradient_shape_and_reproducibility():
    x = torch.rand(6, 3, 32, 32, requires_grad=True)
    y = diff_augment(x * 2 - 1, generator=torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.dtype == x.dtype
    y.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    z = (x * 2 - 1).detach()
    same = [diff_augment(z, generator=torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(*same)
    assert not torch.equal(same[0], diff_augment(z, generator=torch.Generator().manual_seed(8)))
    assert diff_augment(z, policy="") is z
    with pytest.raises(DataError):
        diff_augment(z, policy="colour")


def test_diff_augment_ops_do_what_the_paper_says():
    g = torch.Generator().manual_seed(0)
    x = torch.ones(64, 1, 16, 16)
    cut = diff_augment(x, "cutout", generator=g)
    zero_frac = (cut == 0).float().mean().item()
    assert 0.1 < zero_frac <= 0.25  # one 8x8 square (1/4 of the area), clipped at borders
    moved = diff_augment(x, "translation", generator=g)
    assert set(moved.unique().tolist()) <= {0.0, 1.0}
    assert ((moved == 0).float().mean(dim=(1, 2, 3)) <= 1 - (14 / 16) ** 2 + 1e-6).all()  # <= 2 px shift
    col = diff_augment(torch.rand(64, 3, 8, 8) * 2 - 1, "color", generator=g)
    assert col.shape == (64, 3, 8, 8) and torch.isfinite(col).all()


# ----------------------------------------------------------------------------- CLI

def test_cli_data_list_and_clean(dirty_folder, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="gan-explorer")
    add_data_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["data", "list"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "digits" in out and "emoji-twitter" in out and "CC BY 4.0" in out
    report_path = tmp_path / "report.json"
    args = parser.parse_args(["data", "clean", str(dirty_folder), "--out", str(tmp_path / "c"),
                              "--size", "64", "--report", str(report_path)])
    assert args.func(args) == 0
    assert "animated: 1" in capsys.readouterr().out and report_path.exists()
    args = parser.parse_args(["data", "clean", str(tmp_path / "missing")])
    assert args.func(args) == 2


def test_sr_mix2_adds_debian_photos_shrunk_and_a_larger_photo_share(tmp_path, monkeypatch):
    pytest.importorskip("skimage", reason="the sr-mix photographs ship in scikit-image (test extra)")
    from explorer.data import sr_mix

    # stand-ins for mate-backgrounds' nature photos (the real package is needed only to retrain)
    folder = tmp_path / "mate"
    (folder / "nature").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for _, rel in sr_mix.MATE_PHOTOS:
        Image.fromarray(rng.integers(0, 256, (600, 700, 3), dtype=np.uint8)).save(folder / rel, quality=90)
    monkeypatch.setitem(sr_mix._DEBIAN_DIRS, "mate-backgrounds", str(folder))
    sr_mix.load_photo.cache_clear()
    try:
        photo = sr_mix.load_photo(*sr_mix.MATE_PHOTOS[0], 512)
        assert photo.shape == (512, 597, 3) and photo.dtype == np.uint8  # shorter side 600 → 512
        assert sr_mix.load_photo(*sr_mix.MATE_PHOTOS[0]).shape == (600, 700, 3)
        full = sr_mix.training_images
        monkeypatch.setattr(sr_mix, "training_images", lambda variant: full(64, variant=variant))  # not 24,000
        ds = get_dataset("sr-mix2")
        monkeypatch.setattr(sr_mix, "training_images", full)
        assert ds.name == "sr-mix2" and len(ds) == 64 and (ds.channels, ds.resolution) == (3, 64)
        assert ds.preprocessing["train_photos"] == len(sr_mix.TRAIN_PHOTOS) + 12
        assert ds.preprocessing["mix"]["photos"] == 0.6
        # same seed, same content: deterministic; the held-out kinds are shared with sr-mix
        assert torch.equal(sr_mix.training_images(64, variant="sr-mix2"), sr_mix.training_images(64, variant="sr-mix2"))
        monkeypatch.setitem(sr_mix._DEBIAN_DIRS, "mate-backgrounds", str(tmp_path / "absent"))
        sr_mix.load_photo.cache_clear()
        with pytest.raises(DataError, match="apt-get install mate-backgrounds"):
            sr_mix.training_images(64, variant="sr-mix2")
        with pytest.raises(DataError, match="unknown sr-mix variant"):
            sr_mix.training_images(64, variant="sr-mix9")
    finally:
        sr_mix.load_photo.cache_clear()


def test_sr_mix3_adds_opencv_photos_and_keeps_the_heldout_ones_out(tmp_path, monkeypatch):
    pytest.importorskip("skimage", reason="the sr-mix photographs ship in scikit-image (test extra)")
    from explorer.data import sr_mix

    # stand-ins for the Debian packages' photographs (the real ones are needed only to retrain)
    rng = np.random.default_rng(1)
    for package, files in (("mate-backgrounds", sr_mix.MATE_PHOTOS), ("opencv-doc", sr_mix.OPENCV_PHOTOS)):
        folder = tmp_path / package
        for _, rel in files:
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(folder / rel)
        monkeypatch.setitem(sr_mix._DEBIAN_DIRS, package, str(folder))
    sr_mix.load_photo.cache_clear()
    try:
        full = sr_mix.training_images
        monkeypatch.setattr(sr_mix, "training_images", lambda variant: full(64, variant=variant))
        ds = get_dataset("sr-mix3")
        monkeypatch.setattr(sr_mix, "training_images", full)
        assert ds.name == "sr-mix3" and len(ds) == 64
        assert ds.preprocessing["train_photos"] == len(sr_mix.TRAIN_PHOTOS) + 12 + 18
        assert "opencv-doc" in ds.preprocessing["content"]
        # no variant trains on a held-out photograph (the photos kind would then measure memory)
        heldout = {name for _, name in sr_mix.HELDOUT_PHOTOS}
        for photos, _, _ in sr_mix.VARIANTS.values():
            assert heldout.isdisjoint(name.rsplit("/", 1)[-1] for _, name in photos)
        monkeypatch.setitem(sr_mix._DEBIAN_DIRS, "opencv-doc", str(tmp_path / "absent"))
        sr_mix.load_photo.cache_clear()
        with pytest.raises(DataError, match="apt-get install opencv-doc"):
            sr_mix.training_images(64, variant="sr-mix3")
    finally:
        sr_mix.load_photo.cache_clear()
