"""One playground frame as a picture (numpy + PIL; no plotting library).

Layers, back to front: D's output as a heat-map over the plane (green where D says "real",
purple where it says "generated", white where it cannot tell), G's image of a latent grid (grey
lines: how G bends the plane), real points (green), generated points (purple), and on some
generated points an arrow along which G's loss pushes them. A legend strip under the plane
names each layer. Arrows are scaled per frame (the longest is :data:`ARROW_MAX` plane units),
so they show directions and relative strength, not absolute size.
"""

from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from explorer.errors import TrainingError
from explorer.playground.data import EXTENT
from explorer.playground.engine import Frame

#: side of the square plane in pixels, and the legend strip under it
SIZE, LEGEND = 480, 26
REAL_RGB, FAKE_RGB, ARROW_RGB, GRID_RGB = (22, 128, 60), (118, 42, 160), (214, 80, 20), (120, 120, 120)
#: heat-map tints at D = "generated", undecided, "real" (light, so the points stay readable)
MAP_FAKE, MAP_MID, MAP_REAL = np.array([196, 160, 230.0]), np.array([248, 248, 248.0]), np.array([150, 214, 166.0])
ARROW_MAX = 0.2
DOT = 2


def to_pixels(points: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Plane coordinates ``[..., 2]`` → pixel coordinates (x right, y down)."""
    px = (points[..., 0] + EXTENT) / (2 * EXTENT) * size
    py = (EXTENT - points[..., 1]) / (2 * EXTENT) * size
    # far-away points (a diverging G) are pinned just outside the canvas: PIL cannot draw at 1e30
    return np.clip(np.stack([px, py], axis=-1), -size, 2 * size)


def to_plane(x: float, y: float, size: int = SIZE) -> tuple[float, float]:
    """A click at pixel (x, y) of a rendered frame → plane coordinates; outside the plane raises."""
    if not (0 <= x <= size and 0 <= y <= size):
        raise TrainingError("click inside the plane (the square above the legend) to add a point")
    return (x / size * 2 * EXTENT - EXTENT, EXTENT - y / size * 2 * EXTENT)


def heat_map(realness: np.ndarray, size: int = SIZE) -> np.ndarray:
    """``[R, R]`` values in [0, 1] → ``[size, size, 3]`` uint8, smoothly interpolated."""
    t = np.clip(realness, 0, 1)[..., None] * 2 - 1  # [R, R, 1]: -1 generated .. +1 real
    rgb = np.where(t < 0, MAP_MID + (MAP_FAKE - MAP_MID) * -t, MAP_MID + (MAP_REAL - MAP_MID) * t)
    # colour the coarse grid, then let PIL interpolate the colours: 100× fewer pixels through numpy
    return np.asarray(Image.fromarray(rgb.round().astype(np.uint8)).resize((size, size), Image.BILINEAR))


@functools.lru_cache(maxsize=None)
def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the bitmap font
        return ImageFont.load_default()


def _dots(draw: ImageDraw.ImageDraw, pixels: np.ndarray, fill) -> None:
    for x, y in pixels:
        draw.ellipse((x - DOT, y - DOT, x + DOT, y + DOT), fill=fill)


def _arrows(draw: ImageDraw.ImageDraw, starts: np.ndarray, vectors: np.ndarray) -> None:
    norms = np.linalg.norm(vectors, axis=1)
    top = norms.max() if len(norms) else 0.0
    if not np.isfinite(top) or top <= 0:
        return
    ends = starts + vectors * (ARROW_MAX / top)
    p0, p1 = to_pixels(starts), to_pixels(ends)
    for (x0, y0), (x1, y1) in zip(p0, p1):
        dx, dy = x1 - x0, y1 - y0
        length = float(np.hypot(dx, dy))
        if length < 2:
            continue
        draw.line((x0, y0, x1, y1), fill=ARROW_RGB, width=1)
        ux, uy = dx / length, dy / length
        head = min(7.0, length / 2)
        for side in (1, -1):  # two barbs at ±~30°
            bx = x1 - head * (ux * 0.87 - side * uy * 0.5)
            by = y1 - head * (uy * 0.87 + side * ux * 0.5)
            draw.line((x1, y1, bx, by), fill=ARROW_RGB, width=1)


@functools.lru_cache(maxsize=1)
def _legend_strip() -> Image.Image:
    """The legend under the plane (the same in every frame, so drawn once)."""
    strip = Image.new("RGB", (SIZE, LEGEND), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    font = _font(12)
    x, y = 6, LEGEND // 2
    items = [(REAL_RGB, "real"), (FAKE_RGB, "generated"), (GRID_RGB, "G(latent grid)"), (ARROW_RGB, "G's push"),
             (tuple(int(c) for c in MAP_REAL), "D says real"), (tuple(int(c) for c in MAP_FAKE), "D says fake")]
    for colour, text in items:
        draw.rectangle((x, y - 5, x + 10, y + 5), fill=colour, outline=(90, 90, 90))
        draw.text((x + 14, y), text, fill=(30, 30, 30), font=font, anchor="lm")
        x += 20 + int(draw.textlength(text, font=font)) + 4
    return strip


def _step_label(draw: ImageDraw.ImageDraw, step: int) -> None:
    font = _font(11)
    label = f"step {step}"
    box = draw.textbbox((6, 6), label, font=font)
    draw.rectangle((box[0] - 3, box[1] - 2, box[2] + 3, box[3] + 2), fill=(255, 255, 255), outline=(150, 150, 150))
    draw.text((6, 6), label, fill=(30, 30, 30), font=font)


def render_frame(frame: Frame) -> np.ndarray:
    """The picture of ``frame`` as ``[SIZE + LEGEND, SIZE, 3]`` uint8 RGB."""
    canvas = Image.new("RGB", (SIZE, SIZE + LEGEND), (255, 255, 255))
    canvas.paste(Image.fromarray(heat_map(frame.realness)), (0, 0))
    draw = ImageDraw.Draw(canvas)
    for line in to_pixels(frame.grid):
        draw.line([tuple(p) for p in line.tolist()], fill=GRID_RGB, width=1)
    _dots(draw, to_pixels(frame.real), REAL_RGB)
    # arrows under the generated points: when G collapses, dozens of parallel arrows would hide them
    _arrows(draw, frame.fake[: len(frame.arrows)], frame.arrows)
    _dots(draw, to_pixels(frame.fake), FAKE_RGB)
    draw.rectangle((0, 0, SIZE - 1, SIZE - 1), outline=(150, 150, 150))
    _step_label(draw, frame.step)
    canvas.paste(_legend_strip(), (0, SIZE))
    return np.asarray(canvas)


def frame_png(picture: np.ndarray) -> bytes:
    """A rendered frame as PNG bytes (lossless). zlib level 1: a third of the default level's time
    for a file about 1.4× larger, the better trade for a picture sent ten times a second."""
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def blank_frame(points=None) -> Frame:
    """A frame before any model exists: only the real points (e.g. a drawn set being clicked in)."""
    real = np.zeros((0, 2), np.float32) if points is None or len(points) == 0 else np.asarray(points, np.float32).reshape(-1, 2)
    return Frame(real=real, fake=np.zeros((0, 2), np.float32), realness=np.full((2, 2), 0.5, np.float32),
                 grid=np.zeros((0, 2, 2), np.float32), arrows=np.zeros((0, 2), np.float32), step=0)
