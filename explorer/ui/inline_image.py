"""An image output that travels inside the event's response: :func:`InlineImage`.

``gr.Image`` writes every returned array to a PNG file in Gradio's cache and answers with its
URL; the browser then fetches that file — a second HTTP round trip per frame, and one file on
disk per distinct frame a slider ever showed. For the small images a generator draws (a few KB as
PNG) that round trip is most of the time from slider to painted frame, and with many people
dragging at once it doubles the requests the server must answer.

``InlineImage(...)`` makes a ``gr.Image`` (same component, same props) whose arrays leave as a
lossless PNG ``data:`` URL in the response itself: one round trip, no file written. Images whose
PNG is larger than :data:`MAX_INLINE_BYTES` (not previews) take the ordinary file route. Why PNG
and not WebP/JPEG: at preview sizes every format encodes in well under a millisecond and PNG is
as small as lossy WebP/JPEG for these pixel-art frames; ``bench/bench_ui_latency.py --formats``
measures encode and paint time of each.
"""

from __future__ import annotations

import base64
import io
import types

import gradio as gr
import numpy as np
from gradio.data_classes import ImageData
from PIL import Image

#: largest PNG sent inline (bytes); bigger images are written to Gradio's cache as usual
MAX_INLINE_BYTES = 256 * 1024


def png_data_url(arr: np.ndarray, compress_level: int = 1) -> tuple[str, int]:
    """A uint8 image [H, W] or [H, W, 3|4] as a PNG ``data:`` URL; returns ``(url, png_bytes)``.

    ``compress_level=1``: zlib's fastest level; for small frames the size barely differs from
    level 6 and encoding is several times faster (lossless either way).
    """
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="PNG", compress_level=compress_level)
    data = buf.getvalue()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii"), len(data)


def _inline_postprocess(self: gr.Image, value):
    if isinstance(value, np.ndarray) and value.dtype == np.uint8 and value.ndim in (2, 3):
        url, size = png_data_url(value)
        if size <= MAX_INLINE_BYTES:
            return ImageData(url=url, orig_name="image.png", mime_type="image/png")
    return gr.Image.postprocess(self, value)


def InlineImage(**kwargs) -> gr.Image:  # noqa: N802 - used like the component it makes
    """A ``gr.Image(**kwargs)`` whose numpy outputs are sent as inline PNG data URLs.

    (An instance override rather than a subclass: Gradio writes a ``.pyi`` stub next to the
    source of every component subclass it sees defined.)
    """
    image = gr.Image(**kwargs)
    image.postprocess = types.MethodType(_inline_postprocess, image)
    return image
