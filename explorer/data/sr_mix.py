"""Mixed-content data for general super-resolution: the ``sr-mix`` training set, its held-out kinds,
and the degradation mixture applied on the fly during training.

Content (high-resolution 64x64 RGB patches, built in memory from a fixed seed):

- **photos**: random crops, at random scales, of natural photographs that ship inside two PyPI
  packages — scikit-image's bundled sample images (CC0 / public domain, as their docstrings state)
  and scikit-learn's two sample photos (CC BY 2.0, by danielbuechele and vultilion on Flickr).
  :data:`HELDOUT_PHOTOS` never enter training; they are the held-out ``photos`` kind.
  ``sr-mix2`` adds the twelve nature photographs of the Debian package ``mate-backgrounds``
  (GPL-2+, authors in its copyright file; ``apt-get install mate-backgrounds``), shrinks every
  training photo to at most a 512-px shorter side first (the wallpapers are 1050-1920 px high) so
  detail per pixel is like the held-out photos', and gives photos a larger share of the mix
  (:data:`VARIANTS`). ``sr-mix3`` adds eighteen photographs of OpenCV's sample data as the Debian
  package ``opencv-doc`` ships them (Apache-2.0 AND BSD-3-Clause per its copyright file;
  ``apt-get install opencv-doc``): aerial views, buildings and streets, fruit, animals, a circuit board,
  a sports scene, indoor objects — the everyday subjects the skimage and mate photographs lack.
- **emoji** of both styles (Noto and Twemoji, shipped, train split) on white, on dark and on random
  colours, and on photo crops: the shipped files are composited on white, so a soft alpha is
  recovered from whiteness (white inside an emoji turns transparent too; for learning edges that is
  harmless).
- **digits** and **Fashion items** (train split), resized 28 → 64 (antialiased bicubic), some inverted.

Degradations (:func:`degrade_mixture`, after Real-ESRGAN's idea of a mixture, much milder): per image,
optional Gaussian blur, a downscale by one of antialiased bicubic / bilinear / area / box, optional
Gaussian noise, optional JPEG. A share of images gets the plain antialiased bicubic downscale, the
degradation every evaluation here uses (:func:`explorer.superres.degrade`).
"""

from __future__ import annotations

import functools
import importlib.util
import io
import os
import random

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from explorer.data.shipped import shipped_arrays
from explorer.data.splits import split_indices
from explorer.errors import DataError
from explorer.images import pil_to_tensor, tensor_to_pil
from explorer.superres import degrade

NAME = "sr-mix"
RESOLUTION = 64
#: natural photographs used for training: (package, file name inside its data folder)
TRAIN_PHOTOS = [
    ("skimage", "astronaut.png"), ("skimage", "motorcycle_left.png"),
    ("skimage", "motorcycle_right.png"), ("skimage", "hubble_deep_field.jpg"), ("skimage", "grass.png"),
    ("skimage", "gravel.png"), ("skimage", "brick.png"), ("skimage", "camera.png"), ("skimage", "moon.png"),
    ("skimage", "coins.png"), ("skimage", "ihc.png"), ("skimage", "retina.jpg"), ("skimage", "page.png"),
    ("skimage", "text.png"),
]
#: natural photographs held out: never seen in training, used by the ``photos`` kind
HELDOUT_PHOTOS = [("sklearn", "china.jpg"), ("sklearn", "flower.jpg"), ("skimage", "coffee.png"),
                  ("skimage", "chelsea.png"), ("skimage", "rocket.jpg")]
#: nature photographs of the Debian package mate-backgrounds (sr-mix2 only)
MATE_PHOTOS = [("mate-backgrounds", f"nature/{n}.jpg") for n in (
    "Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops", "Storm", "TwoWings",
    "Wood", "YellowFlower")]
#: everyday photographs of the Debian package opencv-doc (OpenCV's samples/data; sr-mix3 only)
OPENCV_PHOTOS = [("opencv-doc", n) for n in (
    "aero1.jpg", "aero3.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "basketball1.png", "board.jpg", "box_in_scene.png",
    "building.jpg", "butterfly.jpg", "chicky_512.png", "ela_original.jpg", "fruits.jpg", "graf1.png", "home.jpg",
    "leuvenA.jpg", "messi5.jpg", "orange.jpg")]
KINDS = ("noto", "twemoji", "emoji-dark", "digits", "fashion", "photos")
_MIX = {"photos": 0.4, "emoji": 0.35, "digits": 0.125, "fashion": 0.125}
#: training-set variants by data name: (training photographs, share of each content kind, photos' largest
#: shorter side — the Debian wallpapers are 1050-1920 px high: shrunk to about the others' detail per pixel)
_MIX_PHOTO_HEAVY = {"photos": 0.6, "emoji": 0.24, "digits": 0.08, "fashion": 0.08}
VARIANTS = {
    NAME: (TRAIN_PHOTOS, _MIX, None),
    "sr-mix2": (TRAIN_PHOTOS + MATE_PHOTOS, _MIX_PHOTO_HEAVY, 512),
    "sr-mix3": (TRAIN_PHOTOS + MATE_PHOTOS + OPENCV_PHOTOS, _MIX_PHOTO_HEAVY, 512),
}
#: Debian packages' data folders (installed with apt-get)
_DEBIAN_DIRS = {"mate-backgrounds": "/usr/share/backgrounds/mate", "opencv-doc": "/usr/share/doc/opencv-doc/examples/data"}


def _package_dir(package: str) -> str:
    if package in _DEBIAN_DIRS:
        folder = _DEBIAN_DIRS[package]
        if not os.path.isdir(folder):
            raise DataError(f"some photographs of this sr-mix variant come from the Debian package {package}; "
                            f"install it (apt-get install {package}) or train on sr-mix")
        return folder
    sub = {"skimage": "data", "sklearn": os.path.join("datasets", "images")}[package]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pip = {"skimage": "scikit-image", "sklearn": "scikit-learn"}[package]
        raise DataError(f"the photographs of the sr-mix data come from the PyPI package {pip}; "
                        f"install it (pip install {pip}, or pip install -e '.[test]')")
    return os.path.join(list(spec.submodule_search_locations)[0], sub)


@functools.lru_cache(maxsize=None)
def load_photo(package: str, filename: str, max_short_side: int | None = None) -> np.ndarray:
    """One bundled photograph as uint8 [H, W, 3] (grey ones repeated to RGB), shrunk (Lanczos) to ``max_short_side``."""
    path = os.path.join(_package_dir(package), filename)
    with Image.open(path) as im:
        im = im.convert("RGB")
        if max_short_side is not None and min(im.size) > max_short_side:
            k = max_short_side / min(im.size)
            im = im.resize((round(im.width * k), round(im.height * k)), Image.Resampling.LANCZOS)
        return np.asarray(im, dtype=np.uint8).copy()


def _to_model(x: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, C] → float [N, 3, H, W] in [-1, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
    return t.expand(-1, 3, -1, -1).contiguous() if t.shape[1] == 1 else t


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(x, size=(size, size), mode="bicubic", antialias=True, align_corners=False).clamp(-1, 1)


def _pyramid(img: np.ndarray, min_scale: float, levels: int = 12) -> list[torch.Tensor]:
    """One photo at ``levels`` geometric scales from ``min_scale`` (or the 64-px floor) to 1: [1, 3, h, w] each."""
    t = _to_model(img[None])
    h, w = img.shape[:2]
    lo = np.log(max(min_scale, RESOLUTION / min(h, w)))
    out = []
    for s in np.exp(np.linspace(lo, 0.0, levels)):
        size = (max(RESOLUTION, round(h * s)), max(RESOLUTION, round(w * s)))
        out.append(t if size == (h, w) else
                   F.interpolate(t, size=size, mode="bicubic", antialias=True, align_corners=False).clamp(-1, 1))
    return out


def _photo_crops(photos: list[np.ndarray], num: int, rng: np.random.Generator, min_scale: float) -> torch.Tensor:
    """``num`` random 64x64 crops, each from a random photo at a random one of 12 scales in [min_scale, 1]."""
    pyramids = [_pyramid(p, min_scale) for p in photos]  # each photo resized 12 times, not once per crop
    out = torch.empty(num, 3, RESOLUTION, RESOLUTION)
    for i in range(num):
        levels = pyramids[rng.integers(len(pyramids))]
        t = levels[rng.integers(len(levels))]
        nh, nw = t.shape[-2:]
        y, x0 = rng.integers(nh - RESOLUTION + 1), rng.integers(nw - RESOLUTION + 1)
        crop = t[0, :, y : y + RESOLUTION, x0 : x0 + RESOLUTION]
        out[i] = crop.flip(-1) if rng.random() < 0.5 else crop
    return out


def _emoji_alpha(x: torch.Tensor) -> torch.Tensor:
    """Soft alpha [N, 1, H, W] of emoji composited on white: 0 where a pixel is white, 1 where it is clearly not."""
    whiteness = x.min(dim=1, keepdim=True).values  # [N, 1, H, W] in [-1, 1]; 1 = white
    return ((1.0 - whiteness) / 0.12).clamp(0, 1)


def _backgrounds(num: int, rng: np.random.Generator, photos: list[np.ndarray]) -> torch.Tensor:
    """White, dark, random-colour and photo backgrounds, a quarter each (in random order)."""
    out = torch.empty(num, 3, RESOLUTION, RESOLUTION)
    kinds = rng.integers(4, size=num)
    crops = _photo_crops(photos, int((kinds == 3).sum()), rng, 0.2)
    j = 0
    for i, k in enumerate(kinds):
        if k == 0:
            out[i] = 1.0
        elif k == 1:
            out[i] = torch.from_numpy(rng.uniform(-1.0, -0.6, size=(3, 1, 1))).float()
        elif k == 2:
            out[i] = torch.from_numpy(rng.uniform(-1.0, 1.0, size=(3, 1, 1))).float()
        else:
            out[i] = crops[j]
            j += 1
    return out


def _emoji(name: str, split: str) -> torch.Tensor:
    arrays = shipped_arrays(name)
    idx = split_indices(len(arrays["labels"]), split)
    return _to_model(arrays["images"][idx])  # [N, 3, 64, 64]


def _grey(name: str, split: str, limit: int | None = None, pick: np.ndarray | None = None) -> torch.Tensor:
    """A shipped grey set's ``split`` (its first ``limit``, or the positions ``pick`` in it) resized to 64 px."""
    arrays = shipped_arrays(name)
    idx = split_indices(len(arrays["labels"]), split)[:limit]
    if pick is not None:
        idx = idx[pick]  # resize only the images used, not the whole split
    return _resize(_to_model(arrays["images"][idx]), RESOLUTION)


def training_images(num: int = 24000, seed: int = 0, variant: str = NAME) -> torch.Tensor:
    """A training set of :data:`VARIANTS`: float [num, 3, 64, 64] in [-1, 1], mixed as its shares say; deterministic in ``seed``."""
    if not 16 <= num <= 200_000:
        raise DataError(f"sr-mix size must be from 16 to 200,000 images, not {num}")
    if variant not in VARIANTS:
        raise DataError(f"unknown sr-mix variant {variant!r}; choose from {', '.join(VARIANTS)}")
    photo_files, mix, max_side = VARIANTS[variant]
    rng = np.random.default_rng(seed)
    photos = [load_photo(*p, max_side) for p in photo_files]
    counts = {k: int(round(num * f)) for k, f in mix.items()}
    counts["photos"] += num - sum(counts.values())
    parts = [_photo_crops(photos, counts["photos"], rng, 0.15)]
    emoji = torch.cat([_emoji("emoji-google", "train"), _emoji("emoji-twitter", "train")])
    pick = torch.from_numpy(rng.integers(len(emoji), size=counts["emoji"]))
    fg = emoji[pick]
    fg = torch.where(torch.from_numpy(rng.random(len(fg)) < 0.5)[:, None, None, None], fg.flip(-1), fg)
    alpha = _emoji_alpha(fg)
    parts.append(alpha * fg + (1 - alpha) * _backgrounds(len(fg), rng, photos))
    for name in ("digits", "fashion"):
        size = len(split_indices(len(shipped_arrays(name)["labels"]), "train"))
        g = _grey(name, "train", pick=rng.integers(size, size=counts[name]))
        invert = torch.from_numpy(rng.random(len(g)) < 0.5)[:, None, None, None]
        parts.append(torch.where(invert, -g, g))
    images = torch.cat(parts)
    return images[torch.from_numpy(rng.permutation(len(images)))]


def heldout_images(kind: str, num: int = 200, seed: int = 1) -> torch.Tensor:
    """Held-out HR images of one kind (:data:`KINDS`): float [n ≤ num, 3, 64, 64] in [-1, 1], deterministic.

    ``noto``/``twemoji``: the shipped held-out split on white; ``emoji-dark``: Noto held-out on dark
    colours; ``digits``/``fashion``: held-out split resized 28 → 64; ``photos``: crops of
    :data:`HELDOUT_PHOTOS` at full and half scale.
    """
    rng = np.random.default_rng(seed)
    if kind in ("noto", "twemoji"):
        return _emoji("emoji-google" if kind == "noto" else "emoji-twitter", "heldout")[:num]
    if kind == "emoji-dark":
        fg = _emoji("emoji-google", "heldout")[:num]
        alpha = _emoji_alpha(fg)
        bg = torch.from_numpy(rng.uniform(-1.0, -0.6, size=(len(fg), 3, 1, 1))).float()
        return alpha * fg + (1 - alpha) * bg
    if kind in ("digits", "fashion"):
        return _grey(kind, "heldout", num)
    if kind == "photos":
        return _photo_crops([load_photo(*p) for p in HELDOUT_PHOTOS], num, rng, 0.5)
    raise DataError(f"unknown held-out kind {kind!r}; choose from {', '.join(KINDS)}")


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = max(1, int(round(2.5 * sigma)))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=x.dtype) / sigma) ** 2)
    k = (k / k.sum()).to(x.device)
    c = x.shape[1]
    x = F.pad(x, (r, r, r, r), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG round trip of one image [C, h, w] in [-1, 1] (through PIL, in memory)."""
    buf = io.BytesIO()
    tensor_to_pil(x).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as im:
        return pil_to_tensor(im)[0].to(x.device)


def degrade_mixture(hr: torch.Tensor, scale: int, generator: random.Random, clean_share: float = 0.4) -> torch.Tensor:
    """Low-resolution inputs for training: [N, C, H, W] → [N, C, H/scale, W/scale], one random chain per image.

    With probability ``clean_share`` the plain antialiased bicubic downscale; otherwise: blur
    (p 0.4, σ 0.3–1.2 HR px), downscale by bicubic / bilinear (antialiased) / area / box, Gaussian noise
    (p 0.4, σ 1–6 of 255), JPEG (p 0.3, quality 60–95).
    """
    out = []
    for img in hr.detach():
        x = img[None]
        if generator.random() < clean_share:
            out.append(degrade(x, scale)[0])
            continue
        if generator.random() < 0.4:
            x = _blur(x, generator.uniform(0.3, 1.2))
        mode = generator.choice(("bicubic", "bilinear", "area", "box"))
        if mode in ("bicubic", "bilinear"):
            x = F.interpolate(x, scale_factor=1 / scale, mode=mode, antialias=True, align_corners=False)
        else:  # "area": the exact box average; "box": nearest ÷2 then a 2x2 average (cruder, aliases a little)
            x = F.avg_pool2d(x, scale) if mode == "area" else F.avg_pool2d(x[..., ::scale // 2, ::scale // 2], 2)
        if generator.random() < 0.4:
            x = x + torch.randn(x.shape, generator=torch.Generator().manual_seed(generator.getrandbits(31))).to(x) \
                * (generator.uniform(1.0, 6.0) / 127.5)
        x = x.clamp(-1, 1)
        if generator.random() < 0.3:
            x = _jpeg(x[0], generator.randint(60, 95))[None]
        out.append(x[0])
    return torch.stack(out)
