"""Latent editing for the Explore tab: seed or custom latent → truncation → direction edits → image.

No gradio here; the tab module only parses widgets and calls these functions.

Order of operations (the same for every family, so sliders mean the same thing everywhere):

1. start from ``latents_from_seeds(model, [seed])`` or from a custom latent (an inverted upload
   or a loaded ``.npy``);
2. bring it to the space the model's edit directions live in — z for DCGAN, w for StyleGAN
   (``w = mapping(z)``) — and apply truncation ψ there (z' = ψ·z; w' = w̄ + ψ(w − w̄));
3. add ``Σ c_k · std_k · v_k`` for the slider values ``c_k`` (:func:`explorer.directions.apply_directions`
   with ``scale="std"``: a slider unit is one standard deviation of the latents along that
   direction);
4. render: ``generate`` (z) or ``generate_from_w`` (w).

Layer-aware edits (StyleGAN): a slider may carry a range of style layers (``LatentRequest.layers``);
then its edit lands on those layers of w+ only and the latent becomes ``ws [1, num_ws, w_dim]``
(:func:`explorer.edits.apply_deltas`). A saved edit from the library (``saved``) is added the same
way, at ``saved_amount`` standard deviations.

Latent files (``.npy``, plain float32, no pickle): a 1-D array ``[latent_dim]`` is a z; a 2-D
array ``[1, w_dim]`` is a StyleGAN w; a 3-D array ``[1, num_ws, w_dim]`` a StyleGAN w+ (one w per
layer, what layer-restricted edits make). The class label is not part of the file.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from explorer.batching import MicroBatcher
from explorer.directions import Directions, apply_directions, find_directions
from explorer.edits import apply_deltas, check_fits, edit_from_dict, num_styles
from explorer.errors import ExplorerError
from explorer.latent import interpolate, latents_from_seeds, truncate
from explorer.pipelines.invert import latent_npy_bytes

__all__ = [
    "MAX_LATENT_FILE_BYTES", "NUM_DIRECTIONS", "RENDERS", "LatentRequest", "custom_from_npy", "directions", "edited_latent",
    "image_for", "interpolation", "render", "sample_grid", "space_of", "starting_point", "to_ws", "torch_threads",
    # the one latent-file writer (explorer.pipelines.invert); the tabs call it from here
    "latent_npy_bytes",
]

#: how many direction sliders the Explore tab offers
NUM_DIRECTIONS = 8
#: largest .npy latent file accepted (bytes)
MAX_LATENT_FILE_BYTES = 1 << 20

_DIR_LOCK = threading.Lock()
#: per model (weakly: an evicted model takes its directions with it) and method
_DIRECTIONS: "weakref.WeakKeyDictionary[torch.nn.Module, dict[str, Directions]]" = weakref.WeakKeyDictionary()


def space_of(model) -> str:
    """The space edits happen in, as the family declares it: "w" for a style space (StyleGAN), else "z"."""
    return model.edit_space or "z"


def directions(model, method: str) -> Directions:
    """The model's first :data:`NUM_DIRECTIONS` edit directions by ``method`` ("pca" or "sefa"), memoised."""
    with _DIR_LOCK:
        hit = _DIRECTIONS.get(model, {}).get(method)
    if hit is not None:
        return hit
    dirs = find_directions(model, method=method, num_components=NUM_DIRECTIONS)
    with _DIR_LOCK:
        _DIRECTIONS.setdefault(model, {})[method] = dirs
    return dirs


@dataclass(frozen=True)
class LatentRequest:
    """Everything that decides the Explore image (plain values, straight from the widgets)."""

    seed: int
    label: int | None = None
    truncation: float = 1.0
    method: str = "pca"
    coefficients: tuple[float, ...] = ()
    custom: dict[str, Any] | None = None  # {"space": "z"|"w"|"w+", "vector": [floats], "origin": str}
    layers: tuple[tuple[int, int] | None, ...] = ()  # per slider: inclusive style range, None = all layers
    saved: dict[str, Any] | None = None  # a library edit (explorer.edits.Edit.to_dict())
    saved_amount: float = 0.0  # its amount, in standard deviations

    def __hash__(self) -> int:
        # the dict fields are not hashable; Gradio hashes state values to see whether they changed
        return hash(json.dumps(self.__dict__, sort_keys=True, default=str))


def _labels(model, label: int | None, n: int = 1) -> torch.Tensor | None:
    if not model.num_classes:
        return None
    label = 0 if label is None else int(label)
    if not 0 <= label < model.num_classes:
        raise ExplorerError(f"class must lie in 0..{model.num_classes - 1}")
    return torch.full((n,), label, dtype=torch.long)


def starting_point(model, seeds: Sequence[int], label: int | None, truncation: float, custom: dict | None = None) -> torch.Tensor:
    """Truncated latents [N, D] in the model's edit space, before direction edits.

    With ``custom`` the (single) custom latent is used instead of ``seeds``.
    """
    space = space_of(model)
    if custom is not None:
        vec = torch.as_tensor(custom["vector"], dtype=torch.float32).reshape(1, -1)  # [1, D]
        if custom["space"] in ("w", "w+"):
            if space != "w":
                raise ExplorerError("this latent is a StyleGAN w; load it with a StyleGAN model")
            if custom["space"] == "w+":
                vec = vec.reshape(1, model.num_ws, -1)  # [1, num_ws, w_dim]
            return truncate(vec.to(model.device), truncation, model.w_avg)
        z = vec
    else:
        z = latents_from_seeds(model, seeds)  # [N, latent_dim]
    if z.shape[1] != model.latent_dim:
        raise ExplorerError(f"this latent has {z.shape[1]} numbers; the model needs {model.latent_dim}")
    labels = _labels(model, label, z.shape[0])
    if space == "w":
        return model.mapping(z, labels, truncation)  # [N, w_dim]
    return truncate(z.to(model.device), truncation)


def edited_latent(model, req: LatentRequest, seeds: Sequence[int] | None = None) -> torch.Tensor:
    """Latents after truncation and the edits (``seeds`` defaults to ``[req.seed]``): [N, D], or
    w+ [N, num_ws, w_dim] when an edit is restricted to some layers (or the custom latent is a w+)."""
    x = starting_point(model, [req.seed] if seeds is None else seeds, req.label, req.truncation, req.custom)
    coeffs = [float(c) for c in req.coefficients]
    layered = num_styles(model) > 0
    ranges = list(req.layers) if layered else []
    deltas = []
    if any(c != 0.0 for c in coeffs):
        dirs = directions(model, req.method)
        coeffs = coeffs[: dirs.num_components]
        if not any(ranges[k] if k < len(ranges) else None for k in range(len(coeffs))):
            x = apply_directions(x, dirs, coeffs, scale="std")  # whole-latent edits: one matrix product
        else:
            for k, c in enumerate(coeffs):
                if c:
                    delta = dirs.vectors[k] * (c * float(dirs.stds[k]))  # [D]
                    deltas.append((delta, ranges[k] if k < len(ranges) else None))
    if req.saved and req.saved_amount:
        edit = check_fits(model, edit_from_dict(req.saved, "saved edit"))
        deltas.append((edit.delta(req.saved_amount), edit.layers if layered else None))
    return apply_deltas(x, deltas, num_styles(model)) if deltas else x


_FAST_GENERATORS: "weakref.WeakKeyDictionary[torch.nn.Module, torch.nn.Module]" = weakref.WeakKeyDictionary()


def _fast_generator(model):
    """The family's fast inference generator (:meth:`GANModel.fast_generator`: a DCGAN's is
    BatchNorm-folded and channels-last, several times faster at batch 1 on a CPU) or None; built
    once per loaded model. Models from the catalog are shared and never modified, so it cannot go stale."""
    with _DIR_LOCK:
        if model in _FAST_GENERATORS:
            return _FAST_GENERATORS[model]
    fast = model.fast_generator()
    with _DIR_LOCK:
        _FAST_GENERATORS[model] = fast
    return fast


@functools.lru_cache(maxsize=1)
def _threads_are_per_thread() -> bool:
    # With the OpenMP backend torch.set_num_threads only changes the calling thread's pool size.
    return "ATen parallel backend: OpenMP" in torch.__config__.parallel_info()


@contextlib.contextmanager
def torch_threads(n: int):
    """Run torch ops of *this* thread on ``n`` threads. One image is too small to split: a second
    thread mostly adds synchronisation (and, on a busy machine, waiting for a free core)."""
    old = torch.get_num_threads()
    change = old != n and _threads_are_per_thread()
    if change:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if change:
            torch.set_num_threads(old)


@torch.no_grad()
def _forward(model, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    if space_of(model) == "w":
        return model.generate_from_w(x)
    fast = None if model.training else _fast_generator(model)
    if fast is not None:
        return fast(x.to(model.device, torch.float32), None if labels is None else labels.to(model.device))
    return model.generate(x, labels)


def _forward_batch(model, payloads: Sequence[tuple[torch.Tensor, torch.Tensor | None]]) -> list[torch.Tensor]:
    """One forward pass for requests that arrived together (see :mod:`explorer.batching`); the
    key is the model object, so everything that must match (weights, noise, precision) does."""
    xs = [p[0] for p in payloads]
    x = xs[0] if len(xs) == 1 else torch.cat([t.to(xs[0].device) for t in xs])  # [sum N, D]
    labels = None if payloads[0][1] is None else torch.cat([p[1] for p in payloads])  # [sum N]
    with torch_threads(1):
        out = _forward(model, x, labels)  # [sum N, C, H, W]
    return list(out.split([t.shape[0] for t in xs]))


#: renders of one model from every session (previews, full renders, the API) share forward passes
RENDERS = MicroBatcher(_forward_batch)


def render(model, x: torch.Tensor, label: int | None = None) -> torch.Tensor:
    """Latents [N, D] in the model's edit space → images [N, C, H, W] in [-1, 1].

    Batched with other threads' renders of the same model that arrive at the same time; the
    result is the same as rendering alone (generators treat rows independently)."""
    labels = None if space_of(model) == "w" else _labels(model, label, x.shape[0])
    if space_of(model) == "w" and x.ndim == 2:  # one shape for all w renders, so w and w+ requests batch together
        x = x.unsqueeze(1).expand(-1, model.num_ws, -1)  # [N, num_ws, w_dim]
    if model.training:  # a model being trained is nobody else's: do not share its passes
        return _forward(model, x, labels)
    return RENDERS.submit(model, (x.detach(), labels), rows=x.shape[0])


def image_for(model, req: LatentRequest) -> torch.Tensor:
    """The Explore image [1, C, H, W] for a request (one thread: see :func:`torch_threads`)."""
    with torch_threads(1):
        return render(model, edited_latent(model, req), req.label)


def sample_grid(model, req: LatentRequest, num: int = 16) -> torch.Tensor:
    """``num`` images [num, C, H, W] for seeds ``req.seed … req.seed + num − 1`` with the same edits."""
    plain = LatentRequest(**{**req.__dict__, "custom": None})
    seeds = list(range(int(req.seed), int(req.seed) + num))
    return render(model, edited_latent(model, plain, seeds), req.label)


def to_ws(model, w: torch.Tensor) -> torch.Tensor:
    """w [N, w_dim] or w+ [N, num_ws, w_dim] → w+ [N, num_ws, w_dim]."""
    return w if w.ndim == 3 else w.unsqueeze(1).expand(-1, model.num_ws, -1)


def interpolation(model, req: LatentRequest, seed_b: int, num_frames: int, method: str) -> torch.Tensor:
    """Frames [num_frames, C, H, W] from the current (edited) latent to ``seed_b``'s (same edits)."""
    if not 2 <= int(num_frames) <= 64:
        raise ExplorerError("number of frames must lie in 2..64")
    a = edited_latent(model, req)
    b = edited_latent(model, LatentRequest(**{**req.__dict__, "seed": int(seed_b), "custom": None}))
    if a.ndim == 3 or b.ndim == 3:  # w+: interpolate the stacked per-layer styles, render as w+
        a, b = to_ws(model, a), to_ws(model, b)
        frames = interpolate(a[0].reshape(-1), b[0].reshape(-1), int(num_frames), method)  # [F, num_ws·w_dim]
        return render(model, frames.reshape(int(num_frames), *a.shape[1:]), req.label)
    frames = interpolate(a[0], b[0], int(num_frames), method)  # [F, D]
    return render(model, frames, req.label)


# ----------------------------------------------------------------------------------------
# latent files
# ----------------------------------------------------------------------------------------


def custom_from_npy(model, data: bytes, origin: str) -> dict[str, Any]:
    """Parse a latent ``.npy`` for ``model``; returns the session's custom-latent record."""
    if len(data) > MAX_LATENT_FILE_BYTES:
        raise ExplorerError(f"{origin} is too large for a latent file ({len(data)} bytes)")
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ExplorerError(f"{origin} is not a NumPy .npy latent ({str(exc)[:120]})") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu":
        raise ExplorerError(f"{origin} must hold numbers (got dtype {getattr(arr, 'dtype', type(arr))})")
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise ExplorerError(f"{origin} contains NaN or infinite values")
    if arr.ndim == 1:
        space, need = "z", model.latent_dim
    elif arr.ndim == 2 and arr.shape[0] == 1:
        if space_of(model) == "w":
            space, need = "w", int(model.config.w_dim)
        else:
            space, need = "z", model.latent_dim  # DCGAN has no w: a [1, D] row is a z
    elif arr.ndim == 3 and arr.shape[0] == 1 and space_of(model) == "w":
        if arr.shape[1] != model.num_ws:
            raise ExplorerError(f"{origin} holds {arr.shape[1]} per-layer styles; this model has {model.num_ws}")
        space, need = "w+", model.num_ws * int(model.config.w_dim)
    else:
        raise ExplorerError(f"{origin} has shape {list(arr.shape)}; expected [latent_dim] (a z), [1, w_dim] (a StyleGAN w) or [1, num_ws, w_dim] (a w+)")
    if arr.size != need:
        raise ExplorerError(f"{origin} holds {arr.size} numbers; this model's {space} has {need}")
    return {"space": space, "vector": arr.reshape(-1).tolist(), "origin": origin}
