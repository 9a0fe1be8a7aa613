"""Where the images raters see come from: the stimulus provider, attention-check images, PNG I/O,
and :func:`make_session_stimuli`, which draws every image and trial of a session from its seed.

A stimulus provider is any callable ``provider(kind, source, seeds) -> uint8 [N, H, W, C]``:

- ``kind == "fake"``: one image per latent seed from model ``source`` (a checkpoint path/id);
  the same seed must always give the same image.
- ``kind == "real"``: ``len(seeds)`` distinct images from real set ``source``, picked
  deterministically from ``seeds``.

Tests pass synthetic providers; :func:`default_stimulus_provider` uses real checkpoints and
the shipped data sets (imported lazily so this module stays cheap to import).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image

import explorer
from explorer.humaneval.config import HumanEvalError, SessionConfig
from explorer.images import tensor_to_uint8

StimulusProvider = Callable[[str, str, Sequence[int]], np.ndarray]


def default_stimulus_provider(device=None, batch_size: int = 64, loader: Callable | None = None) -> StimulusProvider:
    """Provider backed by ``explorer.load(...).generate`` and ``explorer.data.shipped_arrays``.

    Latents come from ``explorer.latents_from_seeds`` (documented, deterministic); class-
    conditional models get label ``seed % num_classes`` so a seed always means the same image.
    ``loader(source) -> model`` replaces ``explorer.load`` (e.g. the UI's catalog, whose sources
    are model ids and whose models are cached process-wide).
    """
    models: dict[str, object] = {}

    def provide(kind: str, source: str, seeds: Sequence[int]) -> np.ndarray:
        seeds = [int(s) for s in seeds]
        if kind == "real":
            # here, not at the top: explorer.data's __init__ pulls in torchvision, and the store (which
            # imports this module) must stay cheap to import, e.g. in the durability test's child process
            from explorer.data import shipped_arrays

            images = shipped_arrays(source)["images"]  # [N, H, W, C] uint8
            if len(seeds) > len(images):
                raise HumanEvalError(f"real set {source!r} has only {len(images)} images, {len(seeds)} requested")
            idx = np.random.default_rng(seeds).choice(len(images), size=len(seeds), replace=False)
            return np.ascontiguousarray(images[idx])
        if kind != "fake":
            raise ValueError(f"unknown stimulus kind {kind!r}")
        if source not in models:
            if loader is not None:
                model = loader(source)
            else:
                model = explorer.load(source)
                if device is not None:
                    model = model.to(device)
            models[source] = model.eval()
        model = models[source]
        dev = next(model.parameters()).device
        num_classes = int(getattr(getattr(model, "config", None), "num_classes", 0) or 0)
        out = []
        with torch.no_grad():
            for start in range(0, len(seeds), batch_size):
                chunk = seeds[start:start + batch_size]
                z = explorer.latents_from_seeds(model, chunk).to(dev)
                labels = torch.tensor([s % num_classes for s in chunk], device=dev) if num_classes else None
                x = model.generate(z, labels=labels)  # [N, C, H, W] in [-1, 1]
                out.append(to_uint8(x))
        return np.concatenate(out)

    return provide


def to_uint8(x) -> np.ndarray:
    """Float images in [-1, 1], torch [N, C, H, W], to uint8 numpy [N, H, W, C] (contiguous; the one
    conversion rule, :func:`explorer.images.tensor_to_uint8`)."""
    return np.ascontiguousarray(tensor_to_uint8(x))


def check_images(rng: np.random.Generator, num: int, height: int, width: int, channels: int) -> np.ndarray:
    """Obvious fakes for real-vs-fake attention checks: uint8 [num, H, W, C].

    Cycles through pure per-pixel noise, a coarse random-colour checkerboard, and random
    colour stripes — none can pass for a photo or a drawing from any of our data sets."""
    out = np.empty((num, height, width, channels), np.uint8)
    for i in range(num):
        style = i % 3
        if style == 0:
            img = rng.integers(0, 256, (height, width, channels))
        elif style == 1:
            cell = max(2, min(height, width) // 4)
            colours = rng.integers(0, 256, (2, channels))
            yy, xx = np.mgrid[:height, :width]
            img = colours[((yy // cell + xx // cell) % 2)]
        else:
            num_stripes = int(rng.integers(3, 7))
            colours = rng.integers(0, 256, (num_stripes, channels))
            img = np.repeat(colours[(np.arange(width) * num_stripes // width)][None], height, axis=0)
        out[i] = img
    return out


#: 5×7 glyphs of the word an instructed check shows ("answer Real to this one")
_GLYPHS = {
    "R": ("11110", "10001", "10001", "11110", "10100", "10010", "10001"),
    "E": ("11111", "10000", "10000", "11110", "10000", "10000", "11111"),
    "A": ("01110", "10001", "10001", "11111", "10001", "10001", "10001"),
    "L": ("10000", "10000", "10000", "10000", "10000", "10000", "11111"),
}


def word_image(word: str, height: int, width: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    """``word`` in dark block capitals on a light background, as large as fits: uint8 [H, W, C]."""
    glyphs = [np.array([[c == "1" for c in row] for row in _GLYPHS[ch]]) for ch in word]
    text = np.concatenate([np.pad(g, ((0, 0), (0, 1))) for g in glyphs], axis=1)[:, :-1]  # [7, 6n-1]
    scale = max(1, min((width - 2) // text.shape[1], (height - 2) // text.shape[0]))
    text = np.kron(text, np.ones((scale, scale), bool))[:height, :width]
    background = rng.integers(200, 256, channels)
    ink = rng.integers(0, 60, channels)
    img = np.empty((height, width, channels), np.uint8)
    img[:] = background
    top, left = (height - text.shape[0]) // 2, (width - text.shape[1]) // 2
    img[top:top + text.shape[0], left:left + text.shape[1]][text] = ink
    return img


def check_stimuli(rng: np.random.Generator, num: int, height: int, width: int, channels: int) -> tuple[np.ndarray, list[str]]:
    """Real-vs-fake attention checks whose right answers are both "fake" and "real", alternating:
    obvious fakes (:func:`check_images`, answer "fake") and instructed checks that show the word
    REAL (answer "real"). A rater who always gives one answer fails half of them.

    Returns (uint8 [num, H, W, C], truths)."""
    fakes = check_images(rng, (num + 1) // 2, height, width, channels)
    out = np.empty((num, height, width, channels), np.uint8)
    truths = []
    for i in range(num):
        if i % 2 == 0:
            out[i], truth = fakes[i // 2], "fake"
        else:
            out[i], truth = word_image("REAL", height, width, channels, rng), "real"
        truths.append(truth)
    return out, truths


def match_shape(images: np.ndarray, height: int, width: int, channels: int) -> np.ndarray:
    """Resize/convert uint8 [N, H, W, C] images so every stimulus in a session has one shape
    (a real-vs-fake judgement must not be decidable from size or colour mode)."""

    if images.ndim == 3:
        images = images[..., None]
    if images.shape[1:] == (height, width, channels):
        return images
    out = np.empty((len(images), height, width, channels), np.uint8)
    for i, img in enumerate(images):
        pil = Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img)
        pil = pil.convert("L" if channels == 1 else "RGB")
        if pil.size != (width, height):
            pil = pil.resize((width, height), Image.Resampling.LANCZOS)
        arr = np.asarray(pil)
        out[i] = arr[..., None] if channels == 1 else arr
    return out


def encode_png(image: np.ndarray) -> bytes:
    """uint8 [H, W, C] (C = 1 or 3) to PNG bytes without metadata (nothing that hints real/fake)."""

    img = image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes (written by :func:`encode_png`) to uint8 [H, W, C]."""

    with Image.open(io.BytesIO(data)) as im:
        arr = np.asarray(im.convert("L" if im.mode in ("L", "1", "I;16") else "RGB"))
    return arr[..., None] if arr.ndim == 2 else arr


# -- the images of one session ---------------------------------------------------------------------
class _SessionStimuli:
    """The stimuli and items of one session as they are drawn: stimuli = [(kind, source, seed, png)],
    items reference stimuli by list index."""

    def __init__(self) -> None:
        self.stimuli: list[tuple] = []
        self.items: list[dict] = []

    def add(self, kind, source, sseed, image) -> int:
        self.stimuli.append((kind, source, sseed, encode_png(image)))
        return len(self.stimuli) - 1

    def item(self, a, b=None, *, truth, is_check=False, model_a=None, model_b=None, track=None, seed_=None) -> None:
        self.items.append(dict(a=a, b=b, truth=truth, is_check=is_check, model_a=model_a, model_b=model_b,
                               track=track, seed=seed_))


def make_session_stimuli(config: SessionConfig, seed: int,
                         provider: StimulusProvider) -> tuple[list[tuple], list[dict]]:
    """Generate/select every image of a session deterministically from ``seed``.

    Returns (stimuli, items): stimuli = [(kind, source, seed, png)], items reference stimuli by
    list index. Every model is sampled on the same latent seeds (a matched comparison)."""
    rng = np.random.default_rng([seed, 0])
    if config.task == "real_vs_fake":
        num_per_model = config.num_trials // (2 * len(config.models))
        latent_seeds = [int(s) for s in rng.choice(2**31, num_per_model, replace=False)]
        check_seeds: list[int] = []
    else:
        num_seeds = config.num_trials // config.num_pairs
        all_seeds = rng.choice(2**31, num_seeds + config.num_checks, replace=False)
        latent_seeds = [int(s) for s in all_seeds[:num_seeds]]
        check_seeds = [int(s) for s in all_seeds[num_seeds:]]
    fakes = [_as_uint8(provider("fake", src, latent_seeds + check_seeds), len(latent_seeds) + len(check_seeds),
                       f"model {name}") for src, name in zip(config.models, config.names)]
    # One display shape for the whole session: the largest model resolution, RGB if any is.
    shape = (max(f.shape[1] for f in fakes), max(f.shape[2] for f in fakes),
             3 if any(f.shape[3] == 3 for f in fakes) else 1)
    fakes = [match_shape(f, *shape) for f in fakes]
    out = _SessionStimuli()
    if config.task == "real_vs_fake":
        _real_vs_fake_items(out, config, rng, latent_seeds, fakes, shape, provider)
    else:
        _pairwise_items(out, config, latent_seeds, check_seeds, fakes)
    return out.stimuli, out.items


def _real_vs_fake_items(out: _SessionStimuli, config: SessionConfig, rng: np.random.Generator,
                        latent_seeds: list[int], fakes: list[np.ndarray], shape: tuple[int, int, int],
                        provider: StimulusProvider) -> None:
    """Each model's fakes (one staircase track per model), as many reals spread over the tracks, then the checks."""
    names, k = config.names, len(config.models)
    for m, name in enumerate(names):
        for s, img in zip(latent_seeds, fakes[m]):
            out.item(out.add("fake", name, s, img), truth="fake", model_a=name, track=m, seed_=s)
    num_real = len(latent_seeds) * k
    real_seeds = [int(s) for s in rng.choice(2**31, num_real, replace=False)]
    reals = _as_uint8(provider("real", config.real_set, real_seeds), num_real, f"real set {config.real_set}")
    reals = match_shape(reals, *shape)
    for j, (s, img) in enumerate(zip(real_seeds, reals)):
        out.item(out.add("real", config.real_set, s, img), truth="real", track=j % k, seed_=s)
    check_imgs, check_truths = check_stimuli(rng, config.num_checks, *shape)
    for img, truth in zip(check_imgs, check_truths):
        out.item(out.add("check", None, None, img), truth=truth, is_check=True)


def _pairwise_items(out: _SessionStimuli, config: SessionConfig, latent_seeds: list[int], check_seeds: list[int],
                    fakes: list[np.ndarray]) -> None:
    """Every pair of models on every latent seed, then identical-pair checks (right answer: "tie")."""
    names, k = config.names, len(config.models)
    stim = {(m, s): out.add("fake", names[m], s, fakes[m][j]) for m in range(k) for j, s in enumerate(latent_seeds)}
    for s in latent_seeds:
        for i in range(k):
            for j in range(i + 1, k):
                out.item(stim[i, s], stim[j, s], truth="", model_a=names[i], model_b=names[j], seed_=s)
    for c, s in enumerate(check_seeds):
        m = c % k
        sid = out.add("fake", names[m], s, fakes[m][len(latent_seeds) + c])
        out.item(sid, sid, truth="tie", is_check=True, model_a=names[m], model_b=names[m], seed_=s)


def _as_uint8(images, expected: int, what: str) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[0] != expected or arr.shape[3] not in (1, 3):
        raise HumanEvalError(f"{what}: expected {expected} images [N, H, W, 1|3], got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise HumanEvalError(f"{what}: expected uint8 images, got {arr.dtype}")
    return arr
