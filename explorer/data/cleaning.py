"""Cleaning a user image collection, with a report of every file dropped and why.

Owns :func:`clean_folder` (folder or ``.zip`` in, optional clean copy out, source never modified),
the :class:`CleaningReport` and its text form. Checks, in this order, first match wins:

``unsupported_format``  not an image file name (.png .jpg .jpeg .bmp .gif .webp .tif .tiff)
``too_large``           file or pixel count over the caps, or a decompression bomb
``corrupt``             undecodable, truncated, bad checksum (e.g. a text file named .png)
``animated``            more than one frame (animated GIF/PNG/WebP, multi-page TIFF)
``too_small``           shorter side below ``min_size_fraction * target_size``
``blank``               (near-)constant image: grey standard deviation below ``blank_std``
``exact_duplicate``     same pixels as an earlier kept file (SHA-256 of the decoded RGB pixels)
``near_duplicate``      perceptually the same as an earlier kept file: 64-bit difference hash
                        within ``near_duplicate_bits`` *and* 16x16 thumbnail correlation at
                        least ``near_duplicate_corr`` (the second test stops look-alike but
                        different simple images, e.g. two handwritten ones, being merged)

Files are visited in sorted path order, so of a duplicate group the first path is kept.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field

import numpy as np
from PIL import Image

from explorer.errors import DataError
from explorer.images import ANIMATED, CORRUPT, TOO_LARGE, UNSUPPORTED

from .sources import (
    DEFAULT_LIMITS,
    IMAGE_EXTENSIONS,
    ImageRejected,
    Limits,
    image_to_array,
    list_entries,
    open_image,
    posix_join_safe,
)

TOO_SMALL = "too_small"
BLANK = "blank"
EXACT_DUPLICATE = "exact_duplicate"
NEAR_DUPLICATE = "near_duplicate"
REASONS = (UNSUPPORTED, TOO_LARGE, CORRUPT, ANIMATED, TOO_SMALL, BLANK, EXACT_DUPLICATE, NEAR_DUPLICATE)


@dataclass
class Dropped:
    """One dropped file: its path in the source, the reason code, a human detail."""

    path: str
    reason: str
    detail: str
    duplicate_of: str | None = None


@dataclass
class CleaningReport:
    """What :func:`clean_folder` kept and dropped (paths are relative to the source)."""

    source: str
    destination: str | None
    settings: dict
    kept: list[str] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)

    @property
    def num_kept(self) -> int:
        return len(self.kept)

    @property
    def num_dropped(self) -> int:
        return len(self.dropped)

    def counts(self) -> dict[str, int]:
        """Dropped files per reason (every reason present, zero included), plus ``kept``."""
        out = {r: 0 for r in REASONS}
        for d in self.dropped:
            out[d.reason] += 1
        out["kept"] = self.num_kept
        return out

    def by_reason(self, reason: str) -> list[Dropped]:
        return [d for d in self.dropped if d.reason == reason]

    def to_dict(self) -> dict:
        return {"source": self.source, "destination": self.destination, "settings": self.settings,
                "counts": self.counts(), "kept": self.kept, "dropped": [asdict(d) for d in self.dropped]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)


def clean_report_text(report: CleaningReport, max_files_per_reason: int = 20) -> str:
    """A readable multi-line summary: counts per reason and the dropped file names."""
    lines = [f"Cleaning report for {report.source}",
             f"  kept {report.num_kept}, dropped {report.num_dropped}"
             + (f"; clean copy in {report.destination}" if report.destination else "; nothing written")]
    for reason in REASONS:
        items = report.by_reason(reason)
        if not items:
            continue
        lines.append(f"  {reason}: {len(items)}")
        for d in items[:max_files_per_reason]:
            extra = f" (same as {d.duplicate_of})" if d.duplicate_of else ""
            lines.append(f"    {d.path}: {d.detail}{extra}")
        if len(items) > max_files_per_reason:
            lines.append(f"    ... and {len(items) - max_files_per_reason} more")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- image fingerprints

def _grey(arr: np.ndarray) -> Image.Image:
    im = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)
    return im.convert("L")


def difference_hash(arr: np.ndarray) -> int:
    """64-bit dHash: grey 9x8 thumbnail, one bit per horizontally adjacent pair (left > right).

    Unchanged by uniform brightness/contrast changes and small re-encodings; the standard
    perceptual fingerprint of Krawetz (2013), written here to avoid a dependency.
    """
    small = np.asarray(_grey(arr).resize((9, 8), Image.Resampling.LANCZOS), dtype=np.int16)
    bits = (small[:, :-1] > small[:, 1:]).flatten()  # 64 bools
    return int(np.packbits(bits).view(">u8")[0])


def _thumbnail(arr: np.ndarray) -> np.ndarray:
    """Zero-mean, unit-norm 16x16 RGB thumbnail, float64 [768], for correlation.

    One mean and one norm over all three channels, so a uniform brightness or contrast change
    keeps the correlation near 1 while a change of colour (an orange vs a pink heart) lowers it.
    """
    im = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).convert("RGB")
    t = np.asarray(im.resize((16, 16), Image.Resampling.BOX), dtype=np.float64).ravel()
    t -= t.mean()
    norm = np.linalg.norm(t)
    return t / norm if norm > 0 else t


def _popcount(v: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # numpy >= 2
        return np.bitwise_count(v)
    return np.unpackbits(v.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)


# ----------------------------------------------------------------------------- clean_folder

def _check_destination(src: str, dst: str) -> str:
    src_abs, dst_abs = os.path.realpath(src), os.path.realpath(dst)
    if src_abs == dst_abs or dst_abs.startswith(src_abs + os.sep) or src_abs.startswith(dst_abs + os.sep):
        raise DataError(f"the clean copy {dst} must not be inside the source {src} (nor contain it)")
    if os.path.exists(dst_abs) and (not os.path.isdir(dst_abs) or os.listdir(dst_abs)):
        raise DataError(f"{dst} exists and is not an empty folder; choose a new destination")
    return dst_abs


def clean_folder(src: str | os.PathLike, dst: str | os.PathLike | None = None, target_size: int = 64,
                 *, min_size_fraction: float = 0.5, blank_std: float = 2.0,
                 near_duplicates: bool = True, near_duplicate_bits: int = 10,
                 near_duplicate_corr: float = 0.99, limits: Limits = DEFAULT_LIMITS) -> CleaningReport:
    """Check every file of a folder or ``.zip`` of images; optionally copy the good ones.

    Args:
        src: folder or ``.zip``; never modified.
        dst: if given, a new (or empty) folder that receives the kept files, byte for byte, at the
            same relative paths (so class sub-folders survive). Must not be inside ``src``.
        target_size: the training resolution the images are meant for.
        min_size_fraction: drop images whose shorter side is below this fraction of target_size.
        blank_std: drop images whose grey standard deviation (0..255 scale) is below this.
        near_duplicates: run the perceptual near-duplicate check.
        near_duplicate_bits: largest dHash Hamming distance (of 64) for a near-duplicate candidate.
        near_duplicate_corr: smallest thumbnail correlation that confirms a candidate.
        limits: file size / pixel / zip caps.

    Returns:
        :class:`CleaningReport`.

    Raises:
        DataError: missing source, unsafe zip, or a bad destination.
    """
    src = os.fspath(src)
    dst_abs = _check_destination(src, os.fspath(dst)) if dst is not None else None
    _, entries = list_entries(src, limits)  # DataError for missing source or unsafe zip
    settings = {"target_size": int(target_size), "min_size_fraction": min_size_fraction,
                "min_side": int(np.ceil(min_size_fraction * target_size)), "blank_std": blank_std,
                "near_duplicates": near_duplicates, "near_duplicate_bits": near_duplicate_bits,
                "near_duplicate_corr": near_duplicate_corr, "max_pixels": limits.max_pixels,
                "max_file_bytes": limits.max_file_bytes}
    report = CleaningReport(source=src, destination=dst_abs, settings=settings)
    exact: dict[str, str] = {}
    near = _NearDuplicates(near_duplicate_bits, near_duplicate_corr) if near_duplicates else None
    if dst_abs is not None:
        os.makedirs(dst_abs, exist_ok=True)
    for entry in entries:
        checked = _read_and_check(entry, limits, target_size, min_size_fraction, settings["min_side"], blank_std)
        if isinstance(checked, Dropped):
            report.dropped.append(checked)
            continue
        path, (data, arr) = entry.relpath, checked
        digest = hashlib.sha256(repr(arr.shape).encode() + arr.tobytes()).hexdigest()
        if digest in exact:
            report.dropped.append(Dropped(path, EXACT_DUPLICATE, "identical pixels", duplicate_of=exact[digest]))
            continue
        duplicate = near.check_and_add(path, arr) if near is not None else None
        if duplicate is not None:
            report.dropped.append(duplicate)
            continue
        exact[digest] = path
        report.kept.append(path)
        if dst_abs is not None:
            out = posix_join_safe(dst_abs, path)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with open(out, "xb") as f:  # "x": never overwrite
                f.write(data)
    return report


def _read_and_check(entry, limits: Limits, target_size: int, min_size_fraction: float, min_side: int,
                    blank_std: float) -> Dropped | tuple[bytes, np.ndarray]:
    """The checks of one file up to the duplicate tests (name, caps, decoding, frames, size, blankness):
    the reason it is dropped, or its bytes and decoded pixels uint8 [H, W, C]."""
    path = entry.relpath
    if not path.lower().endswith(IMAGE_EXTENSIONS):
        return Dropped(path, UNSUPPORTED, f"not an image file name ({', '.join(IMAGE_EXTENSIONS)})")
    try:
        data = entry.read()
        im = open_image(data, limits)
        w, h = im.size
        arr = image_to_array(im)
    except ImageRejected as exc:
        return Dropped(path, exc.reason, exc.detail)
    if min(w, h) < min_side:
        return Dropped(path, TOO_SMALL, f"{w}x{h}, shorter side below {min_side} "
                                        f"({min_size_fraction:g} x target {target_size})")
    std = float(np.asarray(_grey(arr), dtype=np.float64).std())
    if std < blank_std:
        return Dropped(path, BLANK, f"nearly constant (grey std {std:.2f} < {blank_std:g})")
    return data, arr


class _NearDuplicates:
    """dHashes and thumbnails of the kept images, to spot a new image that is perceptually one of them."""

    def __init__(self, max_bits: int, min_corr: float):
        self.max_bits, self.min_corr = max_bits, min_corr
        self.hashes = np.zeros(1024, dtype=np.uint64)  # dHashes of kept images, grown by doubling
        self.thumbs: list[np.ndarray] = []
        self.owners: list[str] = []

    def check_and_add(self, path: str, arr: np.ndarray) -> Dropped | None:
        """A :class:`Dropped` naming the earlier image ``arr`` nearly duplicates; else remember it, None."""
        dh = difference_hash(arr)
        thumb = _thumbnail(arr)
        if self.owners:
            dist = _popcount(self.hashes[:len(self.owners)] ^ np.uint64(dh))
            candidates = np.flatnonzero(dist <= self.max_bits)
            if len(candidates):
                corr = np.stack([self.thumbs[i] for i in candidates]) @ thumb
                best = int(np.argmax(corr))
                if corr[best] >= self.min_corr:
                    i = int(candidates[best])
                    return Dropped(path, NEAR_DUPLICATE, f"dHash distance {int(dist[i])}/64, "
                                                         f"thumbnail correlation {corr[best]:.3f}",
                                   duplicate_of=self.owners[i])
        if len(self.owners) == len(self.hashes):
            self.hashes = np.concatenate([self.hashes, np.zeros_like(self.hashes)])
        self.hashes[len(self.owners)] = dh
        self.thumbs.append(thumb)
        self.owners.append(path)
        return None
