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

The work is vectorised with torch, once per ``get_dataset`` call, not per item.
"""

from __future__ import annotations

import os
from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from explorer.errors import DataError

from . import shipped as _shipped
from . import sr_mix as _sr_mix
from .splits import HELDOUT_FRACTION, SPLITS, split_indices
from .augment import Augmenter, make_augment
from .sources import DEFAULT_LIMITS, ImageRejected, Limits, list_entries, load_image_bytes, probe_image, split_layout

SPLIT_SEED = 1234  # fixed so the held-out images of a folder never change between runs
DEFAULT_FOLDER_RESOLUTION = 64
MAX_RESOLUTION = 1024
MAX_TENSOR_BYTES = 4 * 1024 ** 3
LUMA = (0.299, 0.587, 0.114)
_CHUNK = 1024  # images per vectorised resize call: bounds peak memory
_MAX_PENDING_VALUES = 4_000_000  # decoded uint8 values waiting for one vectorised resize call


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


# ----------------------------------------------------------------------------- tensor ops

def convert_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """[N, C, H, W] float -> [N, channels, H, W]: grey->RGB repeats, RGB->grey is 601 luma."""
    c = x.shape[1]
    if c == channels:
        return x
    if c == 1 and channels == 3:
        return x.expand(-1, 3, -1, -1).contiguous()
    if c == 3 and channels == 1:
        w = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x * w).sum(dim=1, keepdim=True)
    raise DataError(f"cannot convert {c} channels to {channels}; use 1 (grey) or 3 (RGB)")


def resize_center_crop(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """[N, C, H, W] float -> [N, C, R, R]: shorter side to R (bilinear, antialiased), centre crop."""
    h, w = x.shape[-2:]
    if h == resolution and w == resolution:
        return x
    # The shorter side lands exactly on R; the longer one keeps the aspect ratio (never below R).
    if h <= w:
        nh, nw = resolution, max(resolution, round(w * resolution / h))
    else:
        nh, nw = max(resolution, round(h * resolution / w)), resolution
    x = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
    top, left = (nh - resolution) // 2, (nw - resolution) // 2
    return x[..., top:top + resolution, left:left + resolution]


def _uint8_to_model(batch: np.ndarray, channels: int, resolution: int, out: torch.Tensor) -> None:
    """uint8 [N, H, W, C] -> ``out`` float32 [N, channels, R, R] in [-1, 1], the documented policy.

    Channel conversion and resizing are both linear, so their order does not change the result;
    we resize the smaller channel count (grey before RGB expansion, luma before resizing).
    """
    x = torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float()  # [N, C, H, W] 0..255
    if x.shape[1] > channels:
        x = convert_channels(x, channels)
    x = resize_center_crop(x, resolution)
    x = x.div(127.5).sub_(1.0).clamp_(-1.0, 1.0)
    out.copy_(x.expand(-1, channels, -1, -1) if x.shape[1] < channels else x)


def prepare_image(img, channels: int, resolution: int | None = None, max_side: int | None = None) -> torch.Tensor:
    """One decoded image -> [1, channels, H, W] float32 in [-1, 1], by the training data policy above.

    The single preparation for models' inputs outside training (the Discriminator tab, the API's
    ``/score``, ``gan-explorer score``): a real image prepared here equals the same image as
    :func:`get_dataset` serves it, so a discriminator judges what it was trained on.

    Args:
        img: a PIL image in mode "RGB" or "L" (as :func:`explorer.images.load_image` returns,
            transparency already composited on white) or a uint8 array [H, W] / [H, W, C].
        channels: 1 or 3; RGB -> grey is 601 luma in float, as in training.
        resolution: square output side (shorter side resized, centre crop), or None to keep the size.
        max_side: with ``resolution=None``, shrink (same filter, aspect kept) so the longer side
            is at most this.
    """
    arr = np.array(img, dtype=np.uint8)  # a writable copy
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3):
        raise DataError(f"expected an image [H, W], [H, W, 1] or [H, W, 3], got shape {list(arr.shape)}")
    h, w = arr.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)[None].float()  # [1, C, H, W] 0..255
    if x.shape[1] > channels:
        x = convert_channels(x, channels)
    if resolution is not None:
        x = resize_center_crop(x, int(resolution))
    elif max_side and max(h, w) > max_side:
        s = max_side / max(h, w)
        x = F.interpolate(x, size=(max(1, round(h * s)), max(1, round(w * s))), mode="bilinear",
                          antialias=True, align_corners=False)
    x = x.div(127.5).sub_(1.0).clamp_(-1.0, 1.0)
    return x.expand(-1, channels, -1, -1).contiguous() if x.shape[1] < channels else x


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
        name = str(name_or_path)
        arrays = _shipped.shipped_arrays(name)
        idx = split_indices(len(arrays["labels"]), split)
        native_c, native_r = arrays["images"].shape[3], arrays["images"].shape[1]
        channels, resolution = channels or native_c, resolution or native_r
        _check_memory(len(idx), channels, resolution)
        raw = arrays["images"]
        images = torch.empty(len(idx), channels, resolution, resolution)
        for i in range(0, len(idx), _CHUNK):
            _uint8_to_model(raw[idx[i:i + _CHUNK]], channels, resolution, images[i:i + _CHUNK])
        labels = torch.as_tensor(arrays["labels"][idx], dtype=torch.int64)
        class_names, names = arrays["class_names"], [arrays["names"][i] for i in idx]
        source = {"source_kind": "shipped", "source": name,
                  "native_resolution": int(native_r), "native_channels": int(native_c),
                  "alpha": "composited on white (255, 255, 255) at build time"
                           if native_c == 3 else "none"}
        total = len(arrays["labels"])
    else:
        path = os.fspath(name_or_path)
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
        # Pass 1 reads headers only: sizes, channels and the pixel budgets, before any decoding.
        # Pass 2 decodes one image at a time and brings it to the target size at once, so peak
        # memory is one full-size image plus a bounded batch of same-size ones, whatever the source.
        headers, failures = [], []
        for entry, _ in labelled:
            try:
                headers.append(probe_image(entry.read(), limits))
            except ImageRejected as exc:
                failures.append(f"{entry.relpath} ({exc})")
        _raise_failures(failures, path)
        total_pixels = sum(w * h for w, h, _ in headers)
        if total_pixels > limits.max_total_pixels:
            raise DataError(f"{path}: its {len(headers)} images hold {total_pixels / 1e6:,.0f} megapixels, more than the "
                            f"{limits.max_total_pixels / 1e6:,.0f} megapixel limit for one data set; downscale them first")
        sizes = {(h, w) for w, h, _ in headers}
        native_c = 3 if any(c == 3 for _, _, c in headers) else 1
        channels = channels or native_c
        if resolution is None:
            h, w = next(iter(sizes)) if len(sizes) == 1 else (0, 1)  # mixed sizes -> default
            resolution = h if h == w and 4 <= h <= MAX_RESOLUTION else DEFAULT_FOLDER_RESOLUTION
        _check_memory(len(headers), channels, resolution)
        images = torch.empty(len(headers), channels, resolution, resolution)
        pending: dict[tuple, list[tuple[int, np.ndarray]]] = defaultdict(list)  # same (H, W, C) -> one call

        def flush(shape: tuple) -> None:
            batch = pending.pop(shape)
            block = torch.empty(len(batch), channels, resolution, resolution)
            _uint8_to_model(np.stack([a for _, a in batch]), channels, resolution, block)
            images[[i for i, _ in batch]] = block

        for i, (entry, _) in enumerate(labelled):
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
        labels = torch.tensor([lab for _, lab in labelled], dtype=torch.int64)
        names = [e.relpath for e, _ in labelled]
        source = {"source_kind": "zip" if os.path.isfile(path) else "folder",
                  "source": os.path.basename(os.path.abspath(path)),
                  "alpha": "composited on white (255, 255, 255)",
                  "exif_orientation": "applied"}

    background = _border_colour(images)
    if isinstance(augment, dict):
        spec = dict(augment)
        spec.setdefault("fill", [round(float(v), 4) for v in background])
        augment = make_augment(spec, seed)
    elif augment is not None and not isinstance(augment, Augmenter):
        raise DataError("augment must be None, a spec dict or an Augmenter from make_augment")
    preprocessing = dict(
        source,
        num_images_total=int(total), split=split, num_images=int(images.shape[0]),
        split_rule=f"stored order; last ceil({HELDOUT_FRACTION:.0%}) held out"
                   + ("" if source["source_kind"] == "shipped"
                      else f"; files sorted by path then permuted with seed {SPLIT_SEED}"),
        resolution=int(resolution), channels=int(channels),
        resize="shorter side to resolution, bilinear, antialias=True "
               "(torch.nn.functional.interpolate), centre crop",
        channel_conversion="grey->RGB repeats the channel; RGB->grey 0.299R+0.587G+0.114B",
        normalisation="x / 127.5 - 1 -> float32 in [-1, 1]",
        augment=None if augment is None else augment.spec,
        augment_seed=None if augment is None else int(seed),
    )
    return ImageDataset(images, labels, name=name, class_names=class_names,
                        preprocessing=preprocessing, names=names, background=background,
                        augment=augment)


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

