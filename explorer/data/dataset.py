"""``ImageDataset`` and ``get_dataset``: one in-memory, preprocessed tensor per data set.

Owns the preprocessing policy shared by every source (recorded as ``dataset.preprocessing`` so
training can store it in the checkpoint):

1. split: the stored order is fixed (shipped files are shuffled at build time; folders and zips are
   sorted by path, then permuted with ``SPLIT_SEED``); the last ``ceil(10 %)`` is ``"heldout"``,
   the rest ``"train"``; ``"all"`` is everything. The split never depends on ``seed``.
2. channels: grey -> RGB repeats the channel; RGB -> grey uses ITU-R 601 luma
   (0.299 R + 0.587 G + 0.114 B, as PIL's ``convert("L")``). Transparency was composited on white.
3. size: the shorter side is resized to ``resolution`` (bilinear, ``antialias=True`` in
   ``torch.nn.functional.interpolate``, so downscaling averages instead of aliasing), then the
   centre ``resolution x resolution`` square is cropped. Images already that size are untouched.
4. values: ``x / 127.5 - 1`` -> float32 in [-1, 1].

The work is vectorised with torch, once per ``get_dataset`` call, not per item. Steps 2-4 are
implemented in :mod:`explorer.data.preprocess`, which also prepares single images the same way.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from explorer.errors import DataError

from . import shipped as _shipped
from . import sr_mix as _sr_mix
from .augment import Augmenter, make_augment
from .preprocess import LUMA, convert_channels, prepare_image, resize_center_crop, uint8_to_model
from .sources import DEFAULT_LIMITS, ImageRejected, Limits, list_entries, load_image_bytes, probe_image, split_layout
from .splits import HELDOUT_FRACTION, SPLITS, split_indices

SPLIT_SEED = 1234  # fixed so the held-out images of a folder never change between runs
DEFAULT_FOLDER_RESOLUTION = 64
MAX_RESOLUTION = 1024
MAX_TENSOR_BYTES = 4 * 1024 ** 3
_CHUNK = 1024  # images per vectorised resize call: bounds peak memory
_MAX_PENDING_VALUES = 4_000_000  # decoded uint8 values waiting for one vectorised resize call
_uint8_to_model = uint8_to_model  # the name the security tests import from here

# Names other modules import from here; the tensor operations live in explorer.data.preprocess.
__all__ = [
    "DEFAULT_FOLDER_RESOLUTION", "LUMA", "MAX_RESOLUTION", "MAX_TENSOR_BYTES", "SPLIT_SEED", "ImageDataset",
    "convert_channels", "get_dataset", "prepare_image", "resize_center_crop", "split_indices",
]


class ImageDataset(Dataset):
    """A preprocessed image data set held in memory.

    Items are ``(image, label)``: float tensor [C, H, W] in [-1, 1] (augmented if an augmentation
    was given) and an int. For fast batching use :meth:`tensors` (clean images) and, if wanted,
    ``dataset.augment(batch)``.

    Attributes:
        name: shipped name or folder/zip name.
        class_names: list of class names; ``num_classes`` = its length (1 for a flat folder).
        resolution, channels: image size H = W and channel count C.
        preprocessing: dict describing exactly what was done (for checkpoints).
        names: per-image provenance (file path inside the source, or the shipped name).
        background: float tensor [C] in [-1, 1], the typical border colour (augmentation fill).
        augment: the :class:`~explorer.data.augment.Augmenter`, or None.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, name: str,
                 class_names: list[str], preprocessing: dict, names: list[str],
                 background: torch.Tensor, augment: Augmenter | None = None):
        if images.ndim != 4 or images.shape[0] != labels.shape[0]:
            raise ValueError(f"images {tuple(images.shape)} and labels {tuple(labels.shape)} disagree")
        self._images = images  # [N, C, H, W] float32 in [-1, 1]
        self._labels = labels  # [N] int64
        self.name = name
        self.class_names = list(class_names)
        self.num_classes = len(self.class_names)
        self.channels = int(images.shape[1])
        self.resolution = int(images.shape[2])
        self.preprocessing = preprocessing
        self.names = list(names)
        self.background = background
        self.augment = augment

    def __len__(self) -> int:
        return self._images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x = self._images[index]  # [C, H, W]
        if self.augment is not None:
            x = self.augment(x)
        return x, int(self._labels[index])

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(images float32 [N, C, H, W] in [-1, 1], labels int64 [N]), not augmented, shared memory."""
        return self._images, self._labels

    def __repr__(self) -> str:
        return (f"ImageDataset({self.name!r}, n={len(self)}, {self.channels}x{self.resolution}x"
                f"{self.resolution}, classes={self.num_classes}, split={self.preprocessing['split']!r})")


def _check_resolution(resolution) -> None:
    if not isinstance(resolution, (int, np.integer)) or isinstance(resolution, bool) \
            or not 4 <= resolution <= MAX_RESOLUTION:
        raise DataError(f"resolution must be an integer from 4 to {MAX_RESOLUTION}, not {resolution!r}")


def _raise_failures(failures: list[str], path: str) -> None:
    if failures:
        raise DataError(f"{len(failures)} file(s) in {path} cannot be used: "
                        + "; ".join(failures[:5]) + ("; ..." if len(failures) > 5 else "")
                        + f". Make a clean copy with `gan-explorer data clean {path} --out CLEAN`")


def _check_memory(n: int, channels: int, resolution: int) -> None:
    need = n * channels * resolution * resolution * 4
    if need > MAX_TENSOR_BYTES:
        raise DataError(f"{n} images at {channels}x{resolution}x{resolution} need {need / 1e9:.1f} GB "
                        "in memory; choose a lower resolution or a smaller data set")


def _border_colour(x: torch.Tensor) -> torch.Tensor:
    """Median colour of the one-pixel frame of every image: [N, C, H, W] -> [C]."""
    if x.shape[0] == 0:
        return torch.full((x.shape[1],), -1.0)
    x = x[:1024]  # a sample is plenty for a median colour
    frame = torch.cat([x[..., 0, :], x[..., -1, :], x[..., :, 0], x[..., :, -1]], dim=-1)  # [N, C, 4R]
    return frame.permute(1, 0, 2).reshape(x.shape[1], -1).median(dim=1).values


# ----------------------------------------------------------------------------- get_dataset

@dataclass
class _Loaded:
    """A source read into tensors, before augmentation and the preprocessing record."""

    name: str
    images: torch.Tensor  # [N, C, R, R] float32 in [-1, 1]
    labels: torch.Tensor  # [N] int64
    class_names: list[str]
    names: list[str]
    source: dict  # source_kind, source, ...: the first keys of ``preprocessing``
    total: int  # images in the source before the split
    resolution: int
    channels: int


def get_dataset(name_or_path: str | os.PathLike, resolution: int | None = None,
                channels: int | None = None, split: str = "train",
                augment: dict | Augmenter | None = None, seed: int = 0,
                limits: Limits = DEFAULT_LIMITS) -> ImageDataset:
    """Load a data set, preprocessed once into memory.

    Args:
        name_or_path: a shipped name (:func:`list_shipped`), a folder of images (class sub-folders
            become labels; a flat folder is one class) or a ``.zip`` of such a folder.
        resolution: output size H = W; default: native for shipped data and for folders whose
            images are all one square size, else 64.
        channels: 1 (grey) or 3 (RGB); default: native (folders: 3 if any image is colour).
        split: ``"train"``, ``"heldout"`` (the last 10 %, deterministic) or ``"all"``.
        augment: None, a spec dict for :func:`make_augment` (its ``fill`` defaults to the data
            set's border colour) or a ready :class:`Augmenter`; applied in ``__getitem__``.
        seed: seeds the augmentation only (the split is fixed).
        limits: caps for reading user files.

    Raises:
        DataError: unknown name, unreadable images, bad arguments.
    """
    if channels not in (None, 1, 3):
        raise DataError(f"channels must be 1 (grey) or 3 (RGB), not {channels!r}")
    if resolution is not None:
        _check_resolution(resolution)
    if split not in SPLITS:
        raise DataError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")

    if name_or_path in _sr_mix.VARIANTS:
        return _sr_mix_dataset(str(name_or_path), resolution, channels, split)
    if _shipped.is_shipped(name_or_path):
        loaded = _load_shipped(str(name_or_path), resolution, channels, split)
    else:
        loaded = _load_folder(os.fspath(name_or_path), resolution, channels, split, limits)
    background = _border_colour(loaded.images)
    if isinstance(augment, dict):
        spec = dict(augment)
        spec.setdefault("fill", [round(float(v), 4) for v in background])
        augment = make_augment(spec, seed)
    elif augment is not None and not isinstance(augment, Augmenter):
        raise DataError("augment must be None, a spec dict or an Augmenter from make_augment")
    return ImageDataset(loaded.images, loaded.labels, name=loaded.name, class_names=loaded.class_names,
                        preprocessing=_preprocessing(loaded, split, augment, seed), names=loaded.names,
                        background=background, augment=augment)


def _preprocessing(loaded: _Loaded, split: str, augment: Augmenter | None, seed: int) -> dict:
    """The record of what was done to the images (``ImageDataset.preprocessing``, stored in checkpoints)."""
    return dict(
        loaded.source,
        num_images_total=int(loaded.total), split=split, num_images=int(loaded.images.shape[0]),
        split_rule=f"stored order; last ceil({HELDOUT_FRACTION:.0%}) held out"
                   + ("" if loaded.source["source_kind"] == "shipped"
                      else f"; files sorted by path then permuted with seed {SPLIT_SEED}"),
        resolution=int(loaded.resolution), channels=int(loaded.channels),
        resize="shorter side to resolution, bilinear, antialias=True "
               "(torch.nn.functional.interpolate), centre crop",
        channel_conversion="grey->RGB repeats the channel; RGB->grey 0.299R+0.587G+0.114B",
        normalisation="x / 127.5 - 1 -> float32 in [-1, 1]",
        augment=None if augment is None else augment.spec,
        augment_seed=None if augment is None else int(seed),
    )


def _load_shipped(name: str, resolution: int | None, channels: int | None, split: str) -> _Loaded:
    """A shipped data set's split, converted in chunks of :data:`_CHUNK` images."""
    arrays = _shipped.shipped_arrays(name)
    idx = split_indices(len(arrays["labels"]), split)
    native_c, native_r = arrays["images"].shape[3], arrays["images"].shape[1]
    channels, resolution = channels or native_c, resolution or native_r
    _check_memory(len(idx), channels, resolution)
    raw = arrays["images"]
    images = torch.empty(len(idx), channels, resolution, resolution)
    for i in range(0, len(idx), _CHUNK):
        uint8_to_model(raw[idx[i:i + _CHUNK]], channels, resolution, images[i:i + _CHUNK])
    labels = torch.as_tensor(arrays["labels"][idx], dtype=torch.int64)
    source = {"source_kind": "shipped", "source": name,
              "native_resolution": int(native_r), "native_channels": int(native_c),
              "alpha": "composited on white (255, 255, 255) at build time"
                       if native_c == 3 else "none"}
    return _Loaded(name, images, labels, arrays["class_names"], [arrays["names"][i] for i in idx], source,
                   len(arrays["labels"]), resolution, channels)


def _load_folder(path: str, resolution: int | None, channels: int | None, split: str, limits: Limits) -> _Loaded:
    """A folder's or zip's split, in the fixed order of :data:`SPLIT_SEED`.

    Pass 1 reads headers only: sizes, channels and the pixel budgets, before any decoding.
    Pass 2 decodes one image at a time and brings it to the target size at once, so peak
    memory is one full-size image plus a bounded batch of same-size ones, whatever the source.
    """
    if not os.path.exists(path):
        raise DataError(f"{path!r} is not a shipped data set ({', '.join(_shipped.list_shipped())}) "
                        "nor an existing folder or .zip")
    name, entries = list_entries(path, limits)
    class_names, labelled = split_layout(name, entries)
    if len(labelled) > limits.max_images:
        raise DataError(f"{path} holds {len(labelled)} images, more than the limit {limits.max_images}")
    order = np.random.default_rng(SPLIT_SEED).permutation(len(labelled))
    labelled = [labelled[i] for i in order]
    total = len(labelled)
    labelled = [labelled[i] for i in split_indices(total, split)]
    if not labelled:
        raise DataError(f"split {split!r} of {path} is empty ({total} images in all)")
    headers = _probe_headers(path, [entry for entry, _ in labelled], limits)
    sizes = {(h, w) for w, h, _ in headers}
    channels = channels or (3 if any(c == 3 for _, _, c in headers) else 1)
    if resolution is None:
        h, w = next(iter(sizes)) if len(sizes) == 1 else (0, 1)  # mixed sizes -> default
        resolution = h if h == w and 4 <= h <= MAX_RESOLUTION else DEFAULT_FOLDER_RESOLUTION
    _check_memory(len(headers), channels, resolution)
    images = _decode_entries(path, [entry for entry, _ in labelled], channels, resolution, limits)
    labels = torch.tensor([lab for _, lab in labelled], dtype=torch.int64)
    source = {"source_kind": "zip" if os.path.isfile(path) else "folder",
              "source": os.path.basename(os.path.abspath(path)),
              "alpha": "composited on white (255, 255, 255)",
              "exif_orientation": "applied"}
    return _Loaded(name, images, labels, class_names, [e.relpath for e, _ in labelled], source, total,
                   resolution, channels)


def _probe_headers(path: str, entries: list, limits: Limits) -> list[tuple[int, int, int]]:
    """(width, height, channels) of every entry from its header, checked against the limits; no decoding."""
    headers, failures = [], []
    for entry in entries:
        try:
            headers.append(probe_image(entry.read(), limits))
        except ImageRejected as exc:
            failures.append(f"{entry.relpath} ({exc})")
    _raise_failures(failures, path)
    total_pixels = sum(w * h for w, h, _ in headers)
    if total_pixels > limits.max_total_pixels:
        raise DataError(f"{path}: its {len(headers)} images hold {total_pixels / 1e6:,.0f} megapixels, more than the "
                        f"{limits.max_total_pixels / 1e6:,.0f} megapixel limit for one data set; downscale them first")
    return headers


def _decode_entries(path: str, entries: list, channels: int, resolution: int, limits: Limits) -> torch.Tensor:
    """Decode every entry into float32 [N, channels, R, R], same-shape images in one vectorised call."""
    images = torch.empty(len(entries), channels, resolution, resolution)
    pending: dict[tuple, list[tuple[int, np.ndarray]]] = defaultdict(list)  # same (H, W, C) -> one call
    failures = []

    def flush(shape: tuple) -> None:
        batch = pending.pop(shape)
        block = torch.empty(len(batch), channels, resolution, resolution)
        uint8_to_model(np.stack([a for _, a in batch]), channels, resolution, block)
        images[[i for i, _ in batch]] = block

    for i, entry in enumerate(entries):
        try:
            a = load_image_bytes(entry.read(), limits)
        except ImageRejected as exc:
            failures.append(f"{entry.relpath} ({exc})")
            continue
        pending[a.shape].append((i, a))
        if len(pending[a.shape]) >= _CHUNK or len(pending[a.shape]) * a.size > _MAX_PENDING_VALUES:
            flush(a.shape)
    for shape in list(pending):
        flush(shape)
    _raise_failures(failures, path)
    return images


def _sr_mix_dataset(name: str, resolution: int | None, channels: int | None, split: str) -> ImageDataset:
    """A generated mixed-content super-resolution set (``explorer.data.sr_mix``): 64x64 RGB only."""
    if resolution not in (None, _sr_mix.RESOLUTION) or channels not in (None, 3):
        raise DataError(f"{name} is 64x64 RGB; resolution {resolution} / channels {channels} are not available")
    if split == "train":
        images = _sr_mix.training_images(variant=name)
    else:
        images = torch.cat([_sr_mix.heldout_images(kind) for kind in _sr_mix.KINDS])
        if split == "all":
            images = torch.cat([_sr_mix.training_images(variant=name), images])
    photo_files, mix, _ = _sr_mix.VARIANTS[name]
    preprocessing = {
        "source_kind": "generated", "source": name, "split": split, "num_images": int(images.shape[0]),
        "resolution": _sr_mix.RESOLUTION, "channels": 3,
        "content": "photo crops (" + ", ".join(sorted({p for p, _ in photo_files})) + " sample photos), Noto and "
                   "Twemoji on varied backgrounds, digits and Fashion items resized 28->64; see explorer/data/sr_mix.py",
        "mix": dict(mix),
        "train_photos": len(photo_files),
        "heldout_photos": [f for _, f in _sr_mix.HELDOUT_PHOTOS],
        "normalisation": "x / 127.5 - 1 -> float32 in [-1, 1]",
    }
    n = images.shape[0]
    return ImageDataset(images, torch.zeros(n, dtype=torch.int64), name=name, class_names=["mixed"],
                        preprocessing=preprocessing, names=[f"{name}/{i}" for i in range(n)],
                        background=_border_colour(images), augment=None)

