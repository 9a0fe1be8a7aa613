"""The 2-D distributions of the playground: ring of Gaussians, two moons, spiral, and a drawn set.

Every sampler maps ``(n, generator)`` to points ``[n, 2]`` inside the visible plane
(|x|, |y| ≤ :data:`EXTENT`), drawn only from the ``torch.Generator`` it is given, so a seed fixes
every sample. A *drawn* set is a list of user points (clicked on the plot or read from a CSV);
its distribution is a mixture of small Gaussians centred on them (a kernel density), so a handful
of clicks already defines a smooth target. User points are checked (count, size, finite, inside
the plane) before anything is built; CSV text is parsed here with no eval and no pickle.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from explorer.errors import TrainingError

#: the plane shown by the renderer and accepted for clicked points: [-EXTENT, EXTENT]²
EXTENT = 1.5
#: ring of Gaussians: number of modes, radius, standard deviation of each mode
RING_MODES, RING_RADIUS, RING_STD = 8, 1.0, 0.05
#: bounds of a drawn set (checked before parsing or building anything)
MIN_DRAWN_POINTS, MAX_DRAWN_POINTS = 3, 2000
MAX_CSV_BYTES = 256 * 1024
#: spread of the Gaussian around each drawn point
DRAWN_STD = 0.04
DISTRIBUTIONS = ("ring", "moons", "spiral", "drawn")


def ring_centres() -> torch.Tensor:
    """Centres of the ring's modes, ``[RING_MODES, 2]``, the first on the positive x axis."""
    angles = torch.arange(RING_MODES, dtype=torch.float32) * (2 * math.pi / RING_MODES)
    return RING_RADIUS * torch.stack([angles.cos(), angles.sin()], dim=1)


def _ring(n: int, gen: torch.Generator) -> torch.Tensor:
    mode = torch.randint(0, RING_MODES, (n,), generator=gen)
    return ring_centres()[mode] + RING_STD * torch.randn(n, 2, generator=gen)


def _moons(n: int, gen: torch.Generator) -> torch.Tensor:
    # two interleaved half circles of radius 1 (the classic "two moons"), centred and shrunk to the plane
    t = math.pi * torch.rand(n, generator=gen)
    upper = torch.rand(n, generator=gen) < 0.5
    x = torch.where(upper, t.cos(), 1.0 - t.cos())
    y = torch.where(upper, t.sin(), 0.5 - t.sin())
    pts = torch.stack([x - 0.5, y - 0.25], dim=1) * 0.6  # [n, 2]
    return pts + 0.04 * torch.randn(n, 2, generator=gen)


def _spiral(n: int, gen: torch.Generator) -> torch.Tensor:
    # two arms, 1.5 turns each; sqrt spacing puts as many points per unit length near the centre as outside
    t = torch.rand(n, generator=gen).sqrt()
    arm = (torch.rand(n, generator=gen) < 0.5).float()
    theta = 3 * math.pi * t + math.pi * arm
    r = 0.1 + 0.95 * t
    pts = torch.stack([r * theta.cos(), r * theta.sin()], dim=1)
    return pts + 0.03 * torch.randn(n, 2, generator=gen)


def sample_real(distribution: str, n: int, gen: torch.Generator, points: torch.Tensor | None = None) -> torch.Tensor:
    """``n`` samples ``[n, 2]`` of ``distribution``; ``"drawn"`` needs ``points`` ``[P, 2]``."""
    if distribution == "ring":
        return _ring(n, gen)
    if distribution == "moons":
        return _moons(n, gen)
    if distribution == "spiral":
        return _spiral(n, gen)
    if distribution == "drawn":
        if points is None or len(points) < MIN_DRAWN_POINTS:
            raise TrainingError(f"draw at least {MIN_DRAWN_POINTS} points first (click on the plot or upload a CSV)")
        pick = torch.randint(0, len(points), (n,), generator=gen)
        return points[pick] + DRAWN_STD * torch.randn(n, 2, generator=gen)
    raise TrainingError(f"unknown distribution {distribution!r}; choose one of {', '.join(DISTRIBUTIONS)}")


def check_points(points, *, rescale: bool = False) -> np.ndarray:
    """A drawn set as float32 ``[P, 2]``, checked: MIN..MAX points, finite, inside the plane.

    ``rescale=True`` (CSV files, whose units are arbitrary) centres the points and scales them so
    the farthest lies at 1 from the centre of the plane; clicked points are already plane units.
    Raises :class:`TrainingError` with what is wrong.
    """
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise TrainingError(f"a drawn set is a list of (x, y) points; got an array of shape {list(arr.shape)}")
    if len(arr) > MAX_DRAWN_POINTS:
        raise TrainingError(f"a drawn set holds at most {MAX_DRAWN_POINTS} points; got {len(arr)}")
    if len(arr) < MIN_DRAWN_POINTS:
        raise TrainingError(f"a drawn set needs at least {MIN_DRAWN_POINTS} points; got {len(arr)}")
    if not np.isfinite(arr).all():
        raise TrainingError("a drawn set must not contain NaN or infinite coordinates")
    if rescale:
        centre = (arr.max(0) + arr.min(0)) / 2
        span = np.abs(arr - centre).max()
        arr = (arr - centre) / span if span > 0 else arr - centre
    elif np.abs(arr).max() > EXTENT:
        raise TrainingError(f"drawn points must lie inside the plane (|x|, |y| ≤ {EXTENT})")
    return arr.astype(np.float32)


def parse_points_csv(data: bytes) -> np.ndarray:
    """Points from CSV text: one ``x,y`` per line (comma, semicolon, tab or space separated; an
    optional header line and ``#`` comments are skipped); rescaled into the plane.

    The size is checked before decoding: at most :data:`MAX_CSV_BYTES` bytes and
    :data:`MAX_DRAWN_POINTS` points. Raises :class:`TrainingError` naming the bad line.
    """
    if len(data) > MAX_CSV_BYTES:
        raise TrainingError(f"the CSV file is {len(data) // 1024} KB; the playground takes at most {MAX_CSV_BYTES // 1024} KB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TrainingError("the CSV file is not UTF-8 text") from None
    rows: list[tuple[float, float]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = [f for f in line.replace(";", ",").replace("\t", ",").replace(" ", ",").split(",") if f]
        try:
            values = [float(f) for f in fields]
        except ValueError:
            if not rows and number == 1:
                continue  # a header such as "x,y"
            raise TrainingError(f"CSV line {number}: expected two numbers x,y, got {line[:60]!r}") from None
        if len(values) != 2:
            raise TrainingError(f"CSV line {number}: expected two numbers x,y, got {len(values)}")
        rows.append((values[0], values[1]))
        if len(rows) > MAX_DRAWN_POINTS:
            raise TrainingError(f"a drawn set holds at most {MAX_DRAWN_POINTS} points; the CSV has more")
    if not rows:
        raise TrainingError("the CSV file holds no points (one x,y pair per line)")
    return check_points(rows, rescale=True)
