"""Latent-space tools: deterministic seeds → latents, interpolation, truncation, style mixing.

``latents_from_seeds`` is the one documented mapping from integer seeds to latents: for
each seed ``s`` it draws ``torch.randn(latent_dim)`` from a CPU ``torch.Generator`` seeded
with ``s`` (float32). Each latent depends only on its own seed — not on batch size, order,
device or the global RNG — so the same seed gives the same image everywhere.

Also here: :func:`lerp`, :func:`slerp` (row-wise, safe for parallel and opposite vectors),
:func:`interpolate` (frame sequences), :func:`truncate` (ψ toward a mean; its home is
:mod:`explorer.models.layers`), :func:`parse_seeds`, :func:`style_mix` (StyleGAN per-layer mixing).

Unsupervised edit directions (PCA/GANSpace, SeFa, :class:`Directions`, :func:`apply_directions`,
:func:`model_hash` and the directions cache) live in :mod:`explorer.directions`; their names stay
importable from here.
"""

from __future__ import annotations

import math
import re
from typing import Iterable, Sequence

import torch

from explorer.directions import (
    DIRECTIONS_VERSION,
    Directions,
    apply_directions,
    cache_dir,
    clear_directions_cache,
    find_directions,
    model_hash,
    pca_directions,
    sefa_directions,
)
from explorer.errors import ExplorerError
from explorer.models.layers import truncate

__all__ = [
    # defined here
    "interpolate", "latents_from_seeds", "lerp", "parse_seeds", "slerp", "style_mix",
    # re-exported: truncation's home is explorer.models.layers, directions' is explorer.directions
    "DIRECTIONS_VERSION", "Directions", "apply_directions", "cache_dir", "clear_directions_cache", "find_directions",
    "model_hash", "pca_directions", "sefa_directions", "truncate",
]


def latents_from_seeds(model_or_dim, seeds: Iterable[int]) -> torch.Tensor:
    """Return latents [N, latent_dim] (float32, CPU) for integer ``seeds``.

    ``model_or_dim`` is a model (its ``latent_dim`` is used) or an int.
    """
    latent_dim = model_or_dim if isinstance(model_or_dim, int) else model_or_dim.latent_dim
    if latent_dim <= 0:
        raise ExplorerError("this model takes no latent vector")
    rows = []
    for seed in seeds:
        seed = int(seed)
        if not 0 <= seed < 2**63:
            raise ExplorerError(f"seed must be a non-negative integer below 2**63, got {seed}")
        gen = torch.Generator(device="cpu").manual_seed(seed)
        rows.append(torch.randn(latent_dim, generator=gen))
    if not rows:
        raise ExplorerError("no seeds given")
    return torch.stack(rows)  # [N, latent_dim]


# ----------------------------------------------------------------------------------------
# seeds, interpolation, truncation
# ----------------------------------------------------------------------------------------
_SEED_TOKEN = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def parse_seeds(text: str | int | Sequence[int], max_count: int = 10_000) -> list[int]:
    """Parse ``"0-15,20,22"`` (inclusive ranges and single seeds, in order) into a list of ints.

    Also accepts an int or a sequence of ints. Raises :class:`ExplorerError` on bad syntax,
    reversed ranges, or more than ``max_count`` seeds.
    """
    if isinstance(text, int):
        seeds = [text]
    elif not isinstance(text, str):
        seeds = [int(s) for s in text]
    else:
        seeds = []
        for token in text.split(","):
            if not token.strip():
                continue
            m = _SEED_TOKEN.match(token)
            if m is None:
                raise ExplorerError(f"cannot read seeds {text!r}: {token.strip()!r} is not N or N-M (e.g. '0-15,20,22')")
            lo = int(m.group(1))
            hi = int(m.group(2)) if m.group(2) is not None else lo
            if hi < lo:
                raise ExplorerError(f"seed range {lo}-{hi} runs backwards")
            if len(seeds) + hi - lo + 1 > max_count:
                raise ExplorerError(f"too many seeds (limit {max_count})")
            seeds.extend(range(lo, hi + 1))
    if not seeds:
        raise ExplorerError("no seeds given")
    if len(seeds) > max_count:
        raise ExplorerError(f"too many seeds (limit {max_count})")
    for s in seeds:
        if not 0 <= s < 2**63:
            raise ExplorerError(f"seed must be a non-negative integer below 2**63, got {s}")
    return seeds


def _as_t(t: float | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Interpolation weight as a column [N, 1] (or scalar) broadcastable against [N, D]."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    if t.ndim == 1 and like.ndim == 2:
        t = t[:, None]
    return t


def lerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Linear interpolation ``a + t·(b − a)``; ``t`` scalar or per row [N]. Exact at t = 0 and 1."""
    t = _as_t(t, a)
    out = a + t * (b - a)
    return torch.where(t == 1, b.expand_as(out), out)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Spherical interpolation between rows of ``a`` and ``b`` ([D] or [N, D]); ``t`` scalar or [N].

    Directions move along the great circle at constant angular speed; norms are interpolated
    linearly, so between unit vectors the result stays on the unit sphere and between Gaussian
    latents it keeps a typical norm (lerp's midpoint is too short, which shows as washed-out
    images). Exactly ``a`` at t = 0 and ``b`` at t = 1. Parallel rows fall back to lerp; for
    exactly opposite rows the great circle is not unique and one through a deterministic
    perpendicular direction is used.
    """
    if a.shape != b.shape:
        raise ExplorerError(f"slerp needs latents of one shape, got {list(a.shape)} and {list(b.shape)}")
    squeeze = a.ndim == 1
    a2, b2 = (a[None], b[None]) if squeeze else (a, b)
    work = torch.float64 if a2.dtype == torch.float64 else torch.float32
    A, B = a2.to(work), b2.to(work)
    t_ = _as_t(t, A)
    na, nb = A.norm(dim=1, keepdim=True), B.norm(dim=1, keepdim=True)
    ua, ub = A / na.clamp_min(eps), B / nb.clamp_min(eps)
    cos = (ua * ub).sum(dim=1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)  # [N, 1]
    # opposite rows: replace ub by a unit vector perpendicular to ua, and rotate by π in two halves
    opposite = cos < -1.0 + 1e-6
    if bool(opposite.any()):
        basis = torch.zeros_like(ua)
        basis.scatter_(1, ua.abs().argmin(dim=1, keepdim=True), 1.0)  # least aligned axis
        perp = basis - (basis * ua).sum(dim=1, keepdim=True) * ua
        perp = perp / perp.norm(dim=1, keepdim=True).clamp_min(eps)
        theta = t_ * math.pi
        ub_dir_opp = torch.cos(theta) * ua + torch.sin(theta) * perp
    so = torch.sin(omega)
    parallel = so < 1e-6
    safe = torch.where(parallel, torch.ones_like(so), so)
    u = (torch.sin((1 - t_) * omega) * ua + torch.sin(t_ * omega) * ub) / safe
    u = torch.where(parallel, ua + t_ * (ub - ua), u)
    if bool(opposite.any()):
        u = torch.where(opposite, ub_dir_opp, u)
    out = (u * (na + t_ * (nb - na))).to(a.dtype)
    # endpoints exact (no rounding from the trigonometry)
    out = torch.where(t_ == 0, a2, out)
    out = torch.where(t_ == 1, b2, out)
    return out[0] if squeeze else out


def interpolate(z0: torch.Tensor, z1: torch.Tensor, num_frames: int, method: str = "slerp") -> torch.Tensor:
    """Frames [num_frames, D] from ``z0`` to ``z1`` (both included) by "slerp" or "lerp".

    ``z0``/``z1`` are [D] or [1, D] (z or w vectors).
    """
    if num_frames < 1:
        raise ExplorerError("num_frames must be at least 1")
    if method not in ("slerp", "lerp"):
        raise ExplorerError(f"interpolation method must be 'slerp' or 'lerp', got {method!r}")
    z0, z1 = z0.reshape(-1), z1.reshape(-1)
    if z0.shape != z1.shape:
        raise ExplorerError(f"cannot interpolate between latents of size {z0.numel()} and {z1.numel()}")
    t = torch.linspace(0.0, 1.0, num_frames) if num_frames > 1 else torch.zeros(1)
    a, b = z0.expand(num_frames, -1), z1.expand(num_frames, -1)
    return (slerp if method == "slerp" else lerp)(a, b, t.to(z0.dtype))  # [num_frames, D]


def style_mix(model, z1: torch.Tensor, z2: torch.Tensor, crossover_layer: int, truncation: float = 1.0,
              labels: torch.Tensor | None = None, labels2: torch.Tensor | None = None) -> torch.Tensor:
    """Style mixing (StyleGAN): style layers below ``crossover_layer`` come from z1, the rest from z2.

    Low layers set coarse structure (pose, shape), high layers fine detail and colour. Returns
    images [N, C, R, R] in [-1, 1]; ``crossover_layer`` runs from 0 (all z2) to ``model.num_ws``
    (all z1). Other families have no per-layer styles and raise :class:`ExplorerError`.
    """
    if not hasattr(model, "mix_styles"):
        raise ExplorerError(f"style mixing needs a StyleGAN model; a {model.kind} model has no per-layer styles")
    return model.mix_styles(z1, z2, crossover_layer, truncation=truncation, labels=labels, labels2=labels2)
