"""Image in/out (a package: ``decode``, ``tensors``, ``output``; import everything from here): safe decoding of untrusted uploads, tensor conversion, sizing, tiling, PNG provenance.

What this module owns:

* **Decoding** (:func:`decode_image` under a :class:`DecodePolicy`, :func:`load_image` = decode +
  :func:`convert_mode`; data sets use the same, see ``explorer.data.sources``). Uploads are untrusted. The file size is capped before
  reading, the pixel count is read from the header and capped *before* any pixel is decoded
  (PIL's ``DecompressionBombWarning`` is treated as an error too), truncated or corrupt files
  become an :class:`~explorer.errors.ImageInputError` with a readable message, EXIF orientation
  is applied, and every PIL mode (1, L, LA, P, P with transparency, RGBA, CMYK, I;16, I, F, ...)
  is converted to 8-bit RGB or L: alpha is composited on a background colour, 16-bit data is
  scaled (÷257), not clipped. Animated/multi-frame files use their first frame (noted in
  ``img.info["gan_explorer_note"]``) unless ``allow_animated=False``, which refuses them — the
  translate and upscale paths refuse them, because a silently dropped frame would be a surprise.
* **Tensors**: images are float tensors in [-1, 1], ``[N, C, H, W]``; :func:`pil_to_tensor`,
  :func:`tensor_to_uint8`, :func:`tensor_to_pil` convert exactly (uint8 → tensor → uint8 is lossless).
* **Sizing policy** (:func:`fit_to`): ``"center-crop"`` (scale to cover, crop the centre — the
  default for discriminators and data), ``"pad"`` (scale to fit, pad with the background colour),
  ``"resize"`` (stretch). Networks that need sizes divisible by ``m`` get :func:`pad_to_multiple`
  (reflection padding on the bottom/right) and :func:`crop_back`.
* **Tiling** (:func:`process_in_tiles`): run an image-to-image function on large inputs tile by
  tile with linearly blended overlaps, under a total pixel cap (the blending is
  :func:`explorer.models.tiling.blend_tiles`, which ``SRGAN.upscale_tiled`` shares).
* **Output**: :func:`make_grid`, and :func:`save_png` which writes lossless PNG with provenance
  text chunks (model, seed/latent hash, truncation, version, a "synthetic image" statement),
  read back by :func:`read_png_metadata`.
"""

from __future__ import annotations

from explorer.images.decode import (
    ANIMATED,
    CORRUPT,
    DECODE_FORMATS,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    TOO_LARGE,
    UNSUPPORTED,
    DecodePolicy,
    ImageSource,
    convert_mode,
    decode_image,
    load_image,
    probe_image,
)
from explorer.images.output import (
    PNG_METADATA_KEY,
    SYNTHETIC_STATEMENT,
    latent_hash,
    make_grid,
    provenance,
    read_png_metadata,
    save_png,
)
from explorer.images.tensors import (
    DEFAULT_MAX_TILE_PIXELS,
    FIT_POLICIES,
    crop_back,
    fit_to,
    pad_to_multiple,
    pil_to_tensor,
    process_in_tiles,
    tensor_to_pil,
    tensor_to_uint8,
)

__all__ = [
    "ANIMATED", "CORRUPT", "DECODE_FORMATS", "DEFAULT_MAX_BYTES", "DEFAULT_MAX_PIXELS", "DEFAULT_MAX_TILE_PIXELS",
    "FIT_POLICIES", "PNG_METADATA_KEY", "SYNTHETIC_STATEMENT", "TOO_LARGE", "UNSUPPORTED", "DecodePolicy", "ImageSource",
    "convert_mode", "crop_back", "decode_image", "fit_to", "latent_hash", "load_image", "make_grid", "pad_to_multiple",
    "pil_to_tensor", "probe_image", "process_in_tiles", "provenance", "read_png_metadata", "save_png", "tensor_to_pil",
    "tensor_to_uint8",
]
