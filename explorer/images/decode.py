"""Decoding untrusted images under one policy (:class:`DecodePolicy`) and converting any PIL mode to 8-bit RGB or L.

Part of :mod:`explorer.images` (import from there).
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from explorer.errors import ImageInputError

#: default cap on decoded pixels (width × height) of one upload: 40 megapixels
DEFAULT_MAX_PIXELS = 40_000_000
#: default cap on the encoded file size of one upload: 50 MB
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
#: the image formats any decoder in GAN Explorer opens (PIL plugin names): every other plugin stays
#: out of reach of an uploaded file — EPS/PostScript would hand it to Ghostscript, and exotic
#: plugins are where decoder bugs live. JPEG also yields MPO (a camera JPEG with a preview frame).
DECODE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF")
#: what the decoders accept
ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO, Image.Image]


# ----------------------------------------------------------------------------------------
# decoding
# ----------------------------------------------------------------------------------------
#: why an image was refused (:attr:`ImageInputError.reason`; a data-set cleaning report counts them)
CORRUPT, UNSUPPORTED, ANIMATED, TOO_LARGE = "corrupt", "unsupported_format", "animated", "too_large"


@dataclass(frozen=True)
class DecodePolicy:
    """How an untrusted image file is decoded: the one policy every decoder here follows.

    ``max_bytes``: largest encoded file (checked before reading it all); ``max_pixels``: largest
    width × height, read from the header before any pixel is decoded (``None``: only Pillow's own
    bomb limit, which is an error here, not a warning); ``allow_animated``: use the first frame of
    a multi-frame file (noted in ``img.info["gan_explorer_note"]``) or refuse it (a camera JPEG's
    MPO preview frame never counts); ``verify``: also run Pillow's ``verify()`` (checksums, which a
    plain decode of some truncated PNGs does not check), as data sets do.
    """

    max_bytes: int | None = DEFAULT_MAX_BYTES
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    allow_animated: bool = True
    verify: bool = False


def decode_image(source: ImageSource, policy: DecodePolicy = DecodePolicy(), name: str | None = None) -> Image.Image:
    """Decode an untrusted image under ``policy``: a fully loaded PIL image in its own mode (first
    frame, EXIF orientation applied). :func:`convert_mode` then makes it 8-bit RGB or L.

    Raises:
        ImageInputError: with ``reason`` "too_large" (bytes, pixels, bomb), "animated" or "corrupt"
            (unreadable, not a whitelisted format, truncated, bad checksum). Messages start with
            ``name`` (default: the file's name, or "the uploaded image").
    """
    name = name or _source_name(source)
    if isinstance(source, Image.Image):
        img = source
        if img.format is not None and img.format not in DECODE_FORMATS and img.format != "MPO":
            raise ImageInputError(f"{name} is a {img.format} image; accepted formats are {', '.join(DECODE_FORMATS)}",
                                  UNSUPPORTED)
        _check_pixels(img.size, policy.max_pixels, name)
    else:
        data = _read_bytes(source, policy.max_bytes, name)
        img = _open_checked(data, policy.max_pixels, name)
        if policy.verify:
            try:
                img.verify()
            except Exception as exc:  # noqa: BLE001 - Pillow reports a bad file with many exception types
                raise ImageInputError(f"{name} is corrupt or truncated ({_short(exc)})", CORRUPT) from None
            img = _open_checked(data, policy.max_pixels, name)  # verify() consumes the file
    note = None
    try:
        num_frames = int(getattr(img, "n_frames", 1) or 1)
    except (OSError, EOFError, ValueError, SyntaxError) as exc:
        raise ImageInputError(f"{name} is corrupt: its frames cannot be counted ({_short(exc)})", CORRUPT) from None
    if num_frames > 1 and img.format != "MPO":
        if not policy.allow_animated:
            raise ImageInputError(f"{name} is an animated or multi-frame image ({num_frames} frames); "
                                  "this operation needs a single still image", ANIMATED)
        note = f"{name} has {num_frames} frames; used the first"
    if num_frames > 1:
        try:
            img.seek(0)
        except EOFError:
            raise ImageInputError(f"{name}: cannot read the first frame", CORRUPT) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _bomb(name) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError, MemoryError) as exc:
        raise ImageInputError(f"{name} is corrupt or truncated and cannot be decoded ({_short(exc)})", CORRUPT) from None
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - malformed EXIF must not make an otherwise good image unusable
        note = (note + "; " if note else "") + "ignored malformed EXIF orientation"
    _check_pixels(img.size, policy.max_pixels, name)  # exif rotation keeps the count; a PIL input may be large
    if note:
        img.info["gan_explorer_note"] = note
    return img


def probe_image(data: bytes, policy: DecodePolicy = DecodePolicy(), name: str = "the image") -> tuple[int, int, str]:
    """Width, height and PIL mode of encoded image bytes, from the header only (nothing decoded);
    the policy's byte and pixel caps apply. Raises :class:`ImageInputError` as :func:`decode_image`."""
    img = _open_checked(_read_bytes(data, policy.max_bytes, name), policy.max_pixels, name)
    with img:
        return img.width, img.height, img.mode


def load_image(
    source: ImageSource,
    mode: str = "RGB",
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    allow_animated: bool = True,
    background: tuple[int, int, int] = (255, 255, 255),
) -> Image.Image:
    """Decode an untrusted image safely and return an 8-bit ``mode`` ("RGB" or "L") PIL image.

    Args:
        source: a path, the encoded bytes, a binary file object, or an already open PIL image.
        mode: "RGB" or "L" (1-channel models).
        max_pixels, max_bytes, allow_animated: the :class:`DecodePolicy` (``None`` disables a cap;
            Pillow's own bomb check still applies).
        background: colour that transparent pixels are composited on.

    Raises:
        ImageInputError: unreadable, corrupt, truncated, too large, or refused animation.
    """
    if mode not in ("RGB", "L"):
        raise ValueError(f"mode must be 'RGB' or 'L', got {mode!r}")
    img = decode_image(source, DecodePolicy(max_bytes=max_bytes, max_pixels=max_pixels, allow_animated=allow_animated))
    note = img.info.get("gan_explorer_note")
    out = convert_mode(img, mode, background)
    if note:
        out.info["gan_explorer_note"] = note
    return out


def _bomb(name: str) -> ImageInputError:
    # Pillow's own text ("... could be decompression bomb DOS attack") accuses the user; say what is wrong
    return ImageInputError(f"{name} is too large to decode safely (more than Pillow's decompression-bomb limit of "
                           f"{Image.MAX_IMAGE_PIXELS:,} pixels); downscale it first", TOO_LARGE)


def _source_name(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name or str(source)
    if isinstance(source, Image.Image):
        return "the image"
    return getattr(source, "name", None) and Path(str(source.name)).name or "the uploaded image"


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def _read_bytes(source: Any, max_bytes: int | None, name: str) -> bytes:
    limit = f" (limit {max_bytes / 1e6:.1f} MB)" if max_bytes is not None else ""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            size = path.stat().st_size
            if path.is_dir():
                raise ImageInputError(f"{path} is a directory, not an image file", UNSUPPORTED)
            if max_bytes is not None and size > max_bytes:
                raise ImageInputError(f"{name} is {size / 1e6:.1f} MB, too large{limit}", TOO_LARGE)
            data = path.read_bytes()
        except FileNotFoundError:
            raise ImageInputError(f"no such image file: {path}") from None
        except OSError as exc:
            raise ImageInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    elif hasattr(source, "read"):
        data = source.read(max_bytes + 1) if max_bytes is not None else source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise ImageInputError("image file objects must be opened in binary mode")
        data = bytes(data)
    else:
        raise ImageInputError(f"cannot read an image from a {type(source).__name__}")
    if max_bytes is not None and len(data) > max_bytes:
        raise ImageInputError(f"{name} is larger than allowed{limit}", TOO_LARGE)
    if not data:
        raise ImageInputError(f"{name} is empty")
    return data


def _open_checked(data: bytes, max_pixels: int | None, name: str) -> Image.Image:
    """Open (header only), then check the pixel count before anything is decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=DECODE_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _bomb(name) from None
    except UnidentifiedImageError:
        raise ImageInputError(f"{name} is not an image format that can be read ({', '.join(DECODE_FORMATS)})", CORRUPT) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError) as exc:
        raise ImageInputError(f"{name} is corrupt and cannot be opened ({_short(exc)})", CORRUPT) from None
    _check_pixels(img.size, max_pixels, name)
    return img


def _check_pixels(size: tuple[int, int], max_pixels: int | None, name: str) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise ImageInputError(f"{name} has an empty size {w}×{h}", CORRUPT)
    if max_pixels is not None and w * h > max_pixels:
        raise ImageInputError(
            f"{name} is {w}×{h} = {w * h / 1e6:.1f} megapixels, more than the {max_pixels / 1e6:.1f} megapixel limit; "
            "downscale it first", TOO_LARGE
        )


def convert_mode(img: Image.Image, mode: str = "RGB", background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Convert any PIL mode to 8-bit ``"RGB"`` or ``"L"``.

    Transparency (alpha channels, palette transparency, LA/PA/RGBa) is composited over
    ``background``; 16-bit integer data is scaled by 1/257 (65535 → 255), 32-bit integer
    data likewise when it lies in 0..65535 and min–max scaled otherwise; float ("F") data
    in [0, 1] is scaled by 255, other float ranges min–max; CMYK uses the embedded ICC
    profile when there is one and PIL's conversion otherwise.
    """
    src = img.mode
    if src in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        img = _high_depth_to_l(img)
    elif src == "1":
        img = img.convert("L")
    elif src == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif src == "PA":
        img = img.convert("RGBA")
    elif src in ("RGBa", "La"):  # premultiplied alpha
        img = img.convert("RGBA" if src == "RGBa" else "LA")
    elif src == "CMYK":
        img = _cmyk_to_rgb(img)
    elif src == "L" and "transparency" in img.info:
        img = img.convert("LA")
    elif src == "RGB" and "transparency" in img.info:
        img = img.convert("RGBA")
    elif src not in ("L", "LA", "RGB", "RGBA"):
        try:
            img = img.convert("RGB")
        except (ValueError, OSError) as exc:
            raise ImageInputError(f"cannot convert an image in mode {src!r} to RGB ({_short(exc)})") from None
    if img.mode in ("RGBA", "LA"):
        bg = Image.new("RGB", img.size, tuple(int(c) for c in background))
        rgba = img.convert("RGBA")
        bg.paste(rgba, mask=rgba.getchannel("A"))  # alpha-composite on an opaque background
        img = bg
    return img.convert(mode) if img.mode != mode else img


def _high_depth_to_l(img: Image.Image) -> Image.Image:
    arr = np.asarray(img)
    if img.mode == "F":
        arr = arr.astype(np.float64)
        finite = np.isfinite(arr)
        if not finite.any():
            arr = np.zeros_like(arr)
        else:
            lo, hi = float(arr[finite].min()), float(arr[finite].max())
            arr = np.where(finite, arr, lo)
            if lo >= 0.0 and hi <= 1.0:
                arr = arr * 255.0
            else:
                arr = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
    else:
        arr = arr.astype(np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        if lo >= 0 and hi <= 65535:
            arr = arr / 257.0  # 16-bit full scale → 8-bit full scale
        else:
            arr = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")


def _cmyk_to_rgb(img: Image.Image) -> Image.Image:
    icc = img.info.get("icc_profile")
    if icc:
        try:
            # inside the try: ImageCms needs Pillow's optional littlecms build (only CMYK with a profile uses it)
            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            return ImageCms.profileToProfile(img, src, dst, outputMode="RGB")
        except Exception:  # missing littlecms or a broken profile: fall back to the plain formula
            pass
    return img.convert("RGB")

