"""Augmentation: random geometric transforms of real images, and DiffAugment.

Owns two different tools:

- :func:`make_augment` builds an :class:`Augmenter` for *real* training images (rotate, translate,
  scale, flips) from torchvision.transforms.v2. Each image gets its own random parameters, drawn
  from the augmenter's private generator, so results depend only on the seed and call order (the
  global torch RNG is neither used nor disturbed).
- :func:`diff_augment` is DiffAugment (Zhao et al., "Differentiable Augmentation for Data-Efficient
  GAN Training", NeurIPS 2020): colour jitter, translation and cutout written with differentiable
  tensor ops, applied with the same policy to real *and* generated batches before the
  discriminator, so gradients flow back to the generator through the augmentation.
"""

from __future__ import annotations

import numbers

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from explorer.errors import DataError

AUGMENT_KEYS = ("rotate", "translate", "scale", "hflip", "vflip", "fill")
DIFF_AUGMENT_OPS = ("color", "translation", "cutout")


def _number(spec: dict, key: str, lo: float, hi: float) -> float:
    v = spec[key]
    if isinstance(v, bool):
        v = 0.5 if v and key in ("hflip", "vflip") else float(v)
    if not isinstance(v, numbers.Real) or not lo <= v <= hi:
        raise DataError(f"augment {key!r} must be a number from {lo} to {hi}, not {spec[key]!r}")
    return float(v)


class Augmenter:
    """Random per-image geometric augmentation, reproducible from a seed.

    Call on one image [C, H, W] or a batch [N, C, H, W] (float, values in [-1, 1]); returns the
    same shape. ``spec`` is the normalised, JSON-friendly description (store it with a model).
    """

    def __init__(self, spec: dict, seed: int = 0):
        unknown = sorted(set(spec) - set(AUGMENT_KEYS))
        if unknown:
            raise DataError(f"unknown augment option(s) {unknown}; known: {', '.join(AUGMENT_KEYS)}")
        norm: dict = {}
        if "rotate" in spec:
            norm["rotate"] = _number(spec, "rotate", 0.0, 180.0)
        if "translate" in spec:
            t = spec["translate"]
            t = [t, t] if isinstance(t, numbers.Real) else list(t)
            if len(t) != 2 or not all(isinstance(v, numbers.Real) and 0 <= v <= 1 for v in t):
                raise DataError(f"augment 'translate' must be a fraction 0..1 or two of them, not {spec['translate']!r}")
            norm["translate"] = [float(v) for v in t]
        if "scale" in spec:
            s = spec["scale"]
            if isinstance(s, numbers.Real):
                if not 0 <= s < 1:
                    raise DataError(f"augment 'scale' as one number is a +/- fraction 0..1, not {s!r}")
                s = [1.0 - s, 1.0 + s]
            s = list(s)
            if len(s) != 2 or not (0 < s[0] <= s[1]):
                raise DataError(f"augment 'scale' must be d or [low, high] with 0 < low <= high, not {spec['scale']!r}")
            norm["scale"] = [float(v) for v in s]
        for key in ("hflip", "vflip"):
            if key in spec:
                norm[key] = _number(spec, key, 0.0, 1.0)
        fill = spec.get("fill", -1.0)
        fill = [float(fill)] if isinstance(fill, numbers.Real) else [float(v) for v in fill]
        norm["fill"] = fill
        self.spec = norm
        self.seed = int(seed)
        self._generator = torch.Generator().manual_seed(self.seed)
        # imported here, not at the top: torchvision pulls in torch._dynamo (seconds at start) and
        # the web app imports this module long before anyone trains with augmentation

        ops: list = []
        if norm.get("hflip", 0) > 0:
            ops.append(v2.RandomHorizontalFlip(norm["hflip"]))
        if norm.get("vflip", 0) > 0:
            ops.append(v2.RandomVerticalFlip(norm["vflip"]))
        if norm.get("rotate", 0) > 0 or any(norm.get("translate", [0, 0])) or "scale" in norm:
            ops.append(v2.RandomAffine(degrees=norm.get("rotate", 0.0), translate=norm.get("translate"),
                                       scale=norm.get("scale"),
                                       interpolation=v2.InterpolationMode.BILINEAR,
                                       fill=fill[0] if len(fill) == 1 else fill))
        self._transform = v2.Compose(ops) if ops else None

    def reseed(self, seed: int) -> None:
        """Restart the random stream (e.g. to replay an epoch)."""
        self.seed = int(seed)
        self._generator.manual_seed(self.seed)

    def _one(self, x: torch.Tensor) -> torch.Tensor:
        # torchvision draws from the global RNG; fork it and seed it from our own stream so the
        # result depends only on this augmenter, and the caller's RNG state is left as it was.
        image_seed = int(torch.randint(0, 2 ** 62, (1,), generator=self._generator))
        with torch.random.fork_rng(devices=[]):
            # CPU generator only: torch.manual_seed would also queue a CUDA seeding (and record
            # a stack trace for it) on every call, which costs more than the transform itself.
            torch.default_generator.manual_seed(image_seed)

            return self._transform(tv_tensors.Image(x)).as_subclass(torch.Tensor)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self._transform is None:
            return x
        if x.ndim == 3:
            return self._one(x)
        if x.ndim == 4:
            return torch.stack([self._one(img) for img in x])  # per-image parameters
        raise DataError(f"augment expects [C, H, W] or [N, C, H, W], got shape {tuple(x.shape)}")

    def __repr__(self) -> str:
        return f"Augmenter({self.spec}, seed={self.seed})"


def make_augment(spec: dict | None, seed: int = 0) -> Augmenter:
    """Build an augmenter for real images.

    Args:
        spec: dict with any of ``rotate`` (max degrees), ``translate`` (max fraction of the size,
            one number or [x, y]), ``scale`` (d for [1-d, 1+d], or [low, high]), ``hflip`` /
            ``vflip`` (probability, or True for 0.5), ``fill`` (value(s) in [-1, 1] for uncovered
            pixels; default -1, black). None or {} gives the identity.
        seed: seeds the augmenter's private random stream.

    Returns:
        :class:`Augmenter`; same seed and same calls -> same outputs.
    """
    return Augmenter(dict(spec or {}), seed)


# ----------------------------------------------------------------------------- DiffAugment

def _rand(shape, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    device = generator.device if generator is not None else x.device
    return torch.rand(shape, generator=generator, device=device, dtype=torch.float32).to(x.device, x.dtype)


def _randint(low: int, high: int, shape, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    device = generator.device if generator is not None else x.device
    return torch.randint(low, high, shape, generator=generator, device=device).to(x.device)


def _color(x: torch.Tensor, g) -> torch.Tensor:
    n = x.shape[0]
    x = x + (_rand((n, 1, 1, 1), x, g) - 0.5)                    # brightness: +U(-0.5, 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand((n, 1, 1, 1), x, g) * 2) + mean       # saturation: x U(0, 2) around grey
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand((n, 1, 1, 1), x, g) + 0.5) + mean  # contrast: x U(0.5, 1.5) around mean


def _translation(x: torch.Tensor, g, ratio: float = 0.125) -> torch.Tensor:
    n, c, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = _randint(-sh, sh + 1, (n, 1, 1), x, g)  # [N, 1, 1] shift in pixels
    dx = _randint(-sw, sw + 1, (n, 1, 1), x, g)
    rows = torch.arange(h, device=x.device).view(1, h, 1) + dy  # [N, H, 1] source row of each pixel
    cols = torch.arange(w, device=x.device).view(1, 1, w) + dx  # [N, 1, W]
    inside = ((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)).to(x.dtype)  # [N, H, W]
    index = (rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)).view(n, 1, h * w).expand(n, c, h * w)
    out = x.reshape(n, c, h * w).gather(2, index).view(n, c, h, w)
    return out * inside.unsqueeze(1)  # pixels shifted in from outside are zero, as in the paper


def _cutout(x: torch.Tensor, g, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    # Centre of the square anywhere in the image; the square may hang over the border.
    cy = _randint(0, h + (1 - ch % 2), (n, 1, 1), x, g)
    cx = _randint(0, w + (1 - cw % 2), (n, 1, 1), x, g)
    rows = torch.arange(h, device=x.device).view(1, h, 1) - (cy - ch // 2)
    cols = torch.arange(w, device=x.device).view(1, 1, w) - (cx - cw // 2)
    hole = (rows >= 0) & (rows < ch) & (cols >= 0) & (cols < cw)  # [N, H, W]
    return x * (~hole).to(x.dtype).unsqueeze(1)


_OPS = {"color": _color, "translation": _translation, "cutout": _cutout}


def diff_augment(x: torch.Tensor, policy: str = "color,translation,cutout",
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """DiffAugment: differentiable random augmentation for a batch [N, C, H, W] in [-1, 1].

    Apply it, with the same policy, to both the real and the generated batch every time the
    discriminator sees them (D and G steps). Each call draws new per-image parameters.

    Args:
        x: float tensor [N, C, H, W]; gradients flow through to it.
        policy: comma-separated subset of ``color`` (brightness +U(-.5,.5), saturation xU(0,2),
            contrast xU(.5,1.5)), ``translation`` (shift up to 1/8 of the size, zero padded),
            ``cutout`` (one zeroed square of half the size). Empty string -> identity.
        generator: optional torch.Generator for reproducible draws (CPU or x's device).

    Returns:
        Tensor of the same shape, dtype and device.
    """
    if x.ndim != 4:
        raise DataError(f"diff_augment expects [N, C, H, W], got shape {tuple(x.shape)}")
    names = [p.strip() for p in policy.split(",") if p.strip()]
    unknown = [p for p in names if p not in _OPS]
    if unknown:
        raise DataError(f"unknown DiffAugment op(s) {unknown}; known: {', '.join(DIFF_AUGMENT_OPS)}")
    for name in names:
        x = _OPS[name](x, generator)
    return x
