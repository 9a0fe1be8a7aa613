"""Reading user image collections safely: folders and ``.zip`` archives.

Owns: listing the files of a source (folder or zip, with zip safety checks), the data-set
:class:`Limits`, and the ImageFolder layout rule (class sub-folders become labels, a flat folder
is one class). Decoding one file is :func:`explorer.images.decode_image` under a policy made
from the limits (file size, pixel count before decoding, decompression-bomb warnings as errors,
no animated images, checksums verified); conversion to uint8 arrays is
:func:`explorer.images.convert_mode` (the uploads' rule: alpha composited on a background,
16-bit data ÷257).

Nothing here modifies the source, extracts archives to disk or changes PIL's global settings.
"""

from __future__ import annotations

import os
import posixpath
import stat
import zipfile
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

from explorer.errors import DataError, ImageInputError
from explorer.images import CORRUPT, TOO_LARGE, DecodePolicy, convert_mode, decode_image
from explorer.images import probe_image as _probe

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F")

# Reasons an image file is rejected are explorer.images' (ImageInputError.reason: CORRUPT, UNSUPPORTED,
# ANIMATED, TOO_LARGE), shared with the cleaning report.


@dataclass(frozen=True)
class Limits:
    """Hard caps applied before and while decoding user files.

    Attributes:
        max_file_bytes: largest single image file accepted.
        max_pixels: largest width*height accepted, checked from the header before decoding.
        max_zip_members: most entries a zip may list.
        max_zip_total_bytes: most uncompressed bytes a zip may declare in total.
        max_images: most image files a source may hold (memory guard for data sets).
        max_total_pixels: most pixels all images of a data set may have together (read from the
            headers before any is decoded; images are decoded one at a time, so this bounds
            time, while ``max_pixels`` bounds memory).
    """

    max_file_bytes: int = 64 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_zip_members: int = 200_000
    max_zip_total_bytes: int = 8 * 1024 ** 3
    max_images: int = 200_000
    max_total_pixels: int = 512_000_000


DEFAULT_LIMITS = Limits()


#: the error of one unusable image file: :class:`explorer.errors.ImageInputError` (``reason``, ``detail``)
ImageRejected = ImageInputError


@dataclass(frozen=True)
class Entry:
    """One file of a source. ``relpath`` is POSIX-style, relative to the source root."""

    relpath: str
    size: int
    read: Callable[[], bytes]

    @property
    def is_image_name(self) -> bool:
        return self.relpath.lower().endswith(IMAGE_EXTENSIONS)


# ----------------------------------------------------------------------------- listing sources

def _hidden(relpath: str) -> bool:
    parts = relpath.split("/")
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _read_file(path: str, limit: int) -> Callable[[], bytes]:
    def read() -> bytes:
        with open(path, "rb") as f:
            data = f.read(limit + 1)  # never read more than the cap, whatever the file claims
        if len(data) > limit:
            raise ImageInputError(f"file larger than {limit} bytes", TOO_LARGE)
        return data
    return read


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            with zf.open(info) as f:
                data = f.read(limit + 1)  # header sizes can lie; cap what is decompressed
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
            raise ImageInputError(f"cannot read zip member ({exc})", CORRUPT) from None
        if len(data) > limit:
            raise ImageInputError(f"member larger than {limit} bytes", TOO_LARGE)
        return data
    return read


def _unsafe_member_name(name: str) -> bool:
    if name.startswith(("/", "\\")) or "\\" in name or "\x00" in name:
        return True
    if len(name) > 1 and name[1] == ":":  # a Windows drive letter
        return True
    return ".." in name.split("/")


def check_zip(zf: zipfile.ZipFile, limits: Limits = DEFAULT_LIMITS) -> list[zipfile.ZipInfo]:
    """Validate a zip's listing and return its regular-file members.

    Refuses (DataError) archives with absolute or ``..`` member names, symlink members, too many
    members or too many declared uncompressed bytes. Per-member sizes are capped again on read.
    """
    infos = zf.infolist()
    if len(infos) > limits.max_zip_members:
        raise DataError(f"zip lists {len(infos)} entries, more than the limit {limits.max_zip_members}")
    bad = [i.filename for i in infos if _unsafe_member_name(i.filename)]
    if bad:
        raise DataError(f"zip refused: unsafe member path(s) {bad[:5]} (absolute or containing '..')")
    links = [i.filename for i in infos if stat.S_ISLNK(i.external_attr >> 16)]
    if links:
        raise DataError(f"zip refused: symbolic-link member(s) {links[:5]}")
    total = sum(i.file_size for i in infos)
    if total > limits.max_zip_total_bytes:
        raise DataError(f"zip declares {total} uncompressed bytes, more than the limit "
                        f"{limits.max_zip_total_bytes}")
    return [i for i in infos if not i.is_dir()]


def list_entries(src: str | os.PathLike, limits: Limits = DEFAULT_LIMITS) -> tuple[str, list[Entry]]:
    """List the files of a folder or ``.zip`` (hidden files and ``__MACOSX`` skipped), sorted.

    Returns:
        (source name, entries): the folder name or zip stem, and the entries sorted by relpath.

    Raises:
        DataError: the source does not exist, is not a folder / zip, or the zip is unsafe.
    """
    src = os.fspath(src)
    if os.path.isdir(src):
        root = os.path.abspath(src)
        entries = []
        for dirpath, dirnames, filenames in os.walk(root):  # does not follow directory symlinks
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__MACOSX")
            for fn in filenames:
                full = os.path.join(dirpath, fn)
                rel = os.path.relpath(full, root).replace(os.sep, "/")
                if _hidden(rel) or not os.path.isfile(full):
                    continue
                entries.append(Entry(rel, os.path.getsize(full), _read_file(full, limits.max_file_bytes)))
        name = os.path.basename(root.rstrip("/")) or "images"
    elif os.path.isfile(src) and zipfile.is_zipfile(src):
        try:
            zf = zipfile.ZipFile(src)
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataError(f"cannot open zip {src}: {exc}") from None
        members = check_zip(zf, limits)
        entries = [Entry(i.filename, i.file_size, _read_member(zf, i, limits.max_file_bytes))
                   for i in members if not _hidden(i.filename)]
        name = os.path.splitext(os.path.basename(src))[0]
    elif os.path.exists(src):
        raise DataError(f"{src} is neither a folder nor a .zip archive of images")
    else:
        raise DataError(f"{src} does not exist")
    entries.sort(key=lambda e: e.relpath)
    return name, entries


# ----------------------------------------------------------------------------- decoding

def _policy(limits: Limits) -> DecodePolicy:
    return DecodePolicy(max_bytes=limits.max_file_bytes, max_pixels=limits.max_pixels, allow_animated=False, verify=True)


def open_image(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Image.Image:
    """Decode one data-set image file under ``limits``: a fully loaded PIL image (EXIF orientation applied).

    Raises:
        ImageInputError: with ``reason`` ``too_large`` (file or pixel cap, decompression bomb),
            ``corrupt`` (not decodable, truncated, bad checksum), ``animated`` (several frames).
    """
    return decode_image(data, _policy(limits), name="the file")


def probe_image(data: bytes, limits: Limits = DEFAULT_LIMITS) -> tuple[int, int, int]:
    """Width, height and channel count (1 for grey modes, else 3, as :func:`image_to_array` will
    return) of image bytes, read from the header only: nothing is decoded.

    Raises:
        ImageInputError: ``too_large`` (file or pixel cap) or ``corrupt`` (not a whitelisted format).
    """
    w, h, mode = _probe(data, _policy(limits), name="the file")
    return w, h, 1 if mode in GREY_MODES else 3


def image_to_array(im: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """A decoded PIL image -> uint8 [H, W, C], C = 1 for grey modes, 3 otherwise (the upload rule:
    :func:`explorer.images.convert_mode`)."""
    grey = im.mode in GREY_MODES
    arr = np.asarray(convert_mode(im, "L" if grey else "RGB", background), dtype=np.uint8)
    return arr[..., None] if grey else arr


def load_image_bytes(data: bytes, limits: Limits = DEFAULT_LIMITS,
                     background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """Decode (with limits) and convert: bytes -> uint8 [H, W, C]."""
    return image_to_array(open_image(data, limits), background)


# ----------------------------------------------------------------------------- layout

def split_layout(name: str, entries: list[Entry]) -> tuple[list[str], list[tuple[Entry, int]]]:
    """Apply the ImageFolder rule to image entries.

    A single wrapping folder (``data/cat/1.png`` ...) is unwrapped first. Then, if images sit in
    sub-folders, each first-level folder is a class (sorted names -> labels 0..K-1); a flat folder
    is one class named after the source.

    Returns:
        (class_names, [(entry, label), ...]) for the image entries only.

    Raises:
        DataError: no images, or images both at the top level and in class folders.
    """
    images = [e for e in entries if e.is_image_name]
    if not images:
        raise DataError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) found in {name}")
    paths = [e.relpath for e in images]
    prefix = ""
    while all("/" in p[len(prefix):] for p in paths):
        first = {p[len(prefix):].split("/", 1)[0] for p in paths}
        if len(first) != 1:
            break
        name = first.pop()
        prefix += name + "/"
    rels = [p[len(prefix):] for p in paths]
    top = [r for r in rels if "/" not in r]
    if len(top) == len(rels):
        return [name], [(e, 0) for e in images]
    if top:
        raise DataError(f"{name}: {len(top)} image(s) at the top level (e.g. {top[0]}) next to class "
                        "folders; move them into a class folder or remove them")
    classes = sorted({r.split("/", 1)[0] for r in rels})
    index = {c: i for i, c in enumerate(classes)}
    return classes, [(e, index[r.split("/", 1)[0]]) for e, r in zip(images, rels)]


def posix_join_safe(root: str, relpath: str) -> str:
    """Join a validated relative POSIX path under ``root``; refuses anything that escapes it."""
    norm = posixpath.normpath(relpath)
    if _unsafe_member_name(relpath) or norm.startswith("../") or norm == "..":
        raise DataError(f"unsafe relative path {relpath!r}")
    out = os.path.abspath(os.path.join(root, *norm.split("/")))
    if os.path.commonpath([out, os.path.abspath(root)]) != os.path.abspath(root):
        raise DataError(f"path {relpath!r} escapes {root}")
    return out
