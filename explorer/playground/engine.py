"""The playground's tiny GAN: two small MLPs on 2-D points, trained a few steps per frame.

G maps a 2-D latent z ~ U(-1, 1)² to a point of the plane; D maps a point to a logit. Losses and
regularisers are the image trainer's (:mod:`explorer.losses`: the same names, the same WGAN-GP
penalty and weight clipping), so what a learner sees here is what the Train tab's runs optimise.
The latent is 2-D on purpose: a grid of latent points can then be drawn, and its image under G
shows how G bends the plane.

Everything is seeded: a :class:`PlaygroundConfig` and its seed fix the initial weights, every
training batch and the fixed latent/real points shown, so a run replays step for step (on the
same thread count). It always runs on the CPU: the networks are a few thousand weights, and a
frame costs milliseconds; copying to an accelerator and back would cost more than the maths.

:meth:`Playground.frame` returns plain numpy arrays (:class:`Frame`) for the renderer;
:meth:`Playground.readout` says how many of the ring's modes the generator covers, so mode
collapse shows as a number as well as a picture.
"""

from __future__ import annotations

import math
import secrets
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from explorer.errors import TrainingError
from explorer.losses import NEEDS_GRADIENT_PENALTY, NEEDS_WEIGHT_CLIP, clip_weights, get_gan_loss, gradient_penalty
from explorer.playground.data import (
    DISTRIBUTIONS,
    EXTENT,
    RING_MODES,
    RING_STD,
    check_points,
    ring_centres,
    sample_real,
)

#: points of each set drawn in a frame, and the fixed latents/real points behind them
NUM_SHOWN = 512
#: points of each set behind the coverage readout
NUM_COVERAGE = 256
#: generated points that get a gradient arrow
NUM_ARROWS = 48
#: latent grid: lines per axis and points per line
GRID_LINES, GRID_POINTS = 11, 41
#: D's output is evaluated on a MAP_RES × MAP_RES grid of the plane (the renderer smooths it)
MAP_RES = 64
#: a ring mode counts as covered when at least this share of the shown generated points lie
#: within 3σ of its centre (a fair share is 1/8 = 0.125; a few strays do not count)
MODE_MIN_SHARE = 0.02
#: losses whose D output is a logit of P(real); LSGAN regresses to 1 (real) / 0 (fake); the
#: Wasserstein and hinge critics output unbounded scores that only mean something relative to each other
PROBABILITY_LOSSES = frozenset({"minimax", "nonsaturating"})


@dataclass(frozen=True)
class PlaygroundConfig:
    """One playground run. ``distribution``: ``ring | moons | spiral | drawn``; ``loss``: a name in
    :data:`explorer.losses.GAN_LOSSES`; ``d_steps``: D updates per G update; ``hidden`` × ``layers``:
    the width and depth of both MLPs."""

    distribution: str = "ring"
    loss: str = "nonsaturating"
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    d_steps: int = 1
    batch_size: int = 128
    hidden: int = 64
    layers: int = 2
    seed: int = 0

    def check(self) -> None:
        """Raise :class:`TrainingError` naming the first bad field."""
        if self.distribution not in DISTRIBUTIONS:
            raise TrainingError(f"unknown distribution {self.distribution!r}; choose one of {', '.join(DISTRIBUTIONS)}")
        get_gan_loss(self.loss)
        for name in ("lr_g", "lr_d"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 < value <= 0.1):
                raise TrainingError(f"{name} must lie in (0, 0.1], got {value!r}")
        for name, low, high in (("d_steps", 1, 10), ("batch_size", 8, 1024), ("hidden", 4, 256), ("layers", 1, 4),
                                ("seed", 0, 2**31 - 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise TrainingError(f"{name} must be an integer between {low} and {high}, got {value!r}")

    def replace(self, **changes) -> "PlaygroundConfig":
        return PlaygroundConfig(**{**asdict(self), **changes})


#: name -> (label, settings, what to watch). One that keeps all modes, one that collapses.
PRESETS: dict[str, tuple[str, PlaygroundConfig, str]] = {
    "ring-covers": ("Ring — keeps every mode", PlaygroundConfig(distribution="ring", loss="nonsaturating", lr_g=1e-3, lr_d=1e-3),
                    "Equal learning rates: D keeps up with G, and its surface pulls points toward every mode "
                    "(all 8 covered after about 1,500 steps)."),
    "ring-collapses": ("Ring — mode collapse", PlaygroundConfig(distribution="ring", loss="nonsaturating", lr_g=3e-3, lr_d=3e-4),
                       "G learns ten times faster than D: it piles all its points into one tight blob that chases D's "
                       "current favourite spot around the ring (0–1 modes covered)."),
}


@dataclass
class Frame:
    """What one picture shows, as numpy arrays in plane coordinates."""

    real: np.ndarray  # [NUM_SHOWN, 2]
    fake: np.ndarray  # [NUM_SHOWN, 2]
    realness: np.ndarray  # [MAP_RES, MAP_RES] in [0, 1], row 0 = top (y = +EXTENT)
    grid: np.ndarray  # [2 * GRID_LINES, GRID_POINTS, 2]: G's image of the latent grid lines
    arrows: np.ndarray  # [NUM_ARROWS, 2]: where the G loss pushes the first NUM_ARROWS fake points
    step: int


def _mlp(num_in: int, num_out: int, hidden: int, layers: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    width = num_in
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
        width = hidden
    mods.append(nn.Linear(width, num_out))
    return nn.Sequential(*mods)


def sample_latent(n: int, gen: torch.Generator) -> torch.Tensor:
    """``n`` latents ``[n, 2]`` from U(-1, 1)²."""
    return torch.rand(n, 2, generator=gen) * 2 - 1


def latent_grid() -> torch.Tensor:
    """Latent grid lines ``[2 * GRID_LINES, GRID_POINTS, 2]``: first the vertical lines, then the horizontal."""
    ticks = torch.linspace(-1, 1, GRID_LINES)
    along = torch.linspace(-1, 1, GRID_POINTS)
    vertical = torch.stack(torch.broadcast_tensors(ticks[:, None], along[None, :]), dim=-1)  # x fixed per line
    horizontal = vertical.flip(-1)
    return torch.cat([vertical, horizontal])


class Playground:
    """A live 2-D GAN. ``points`` (``[P, 2]``, plane units) is required for ``distribution="drawn"``.

    Thread-safe: a step and a frame from two requests of one session never interleave.
    """

    def __init__(self, config: PlaygroundConfig, points=None):
        config.check()
        self.config = config
        self.points = torch.from_numpy(check_points(points)) if config.distribution == "drawn" and points is not None else None
        self.loss = get_gan_loss(config.loss)
        with torch.random.fork_rng(devices=[]):  # seeded weights without touching the caller's RNG
            torch.manual_seed(config.seed)
            self.G = _mlp(2, 2, config.hidden, config.layers)
            self.D = _mlp(2, 1, config.hidden, config.layers)
        shown = torch.Generator().manual_seed(config.seed + 1)
        self.real_shown = sample_real(config.distribution, NUM_SHOWN, shown, self.points)  # [NUM_SHOWN, 2]
        self.z_shown = sample_latent(NUM_SHOWN, shown)  # [NUM_SHOWN, 2]
        self.gen = torch.Generator().manual_seed(config.seed + 2)  # the training stream
        # WGAN-GP's authors use a low β1/β2 (Gulrajani et al. 2017, Alg. 1); the rest the DCGAN betas
        betas = (0.5, 0.9) if config.loss in NEEDS_GRADIENT_PENALTY else (0.5, 0.999)
        # fused: one kernel per optimiser step rather than one per tensor (a step here is ~10 tiny tensors)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=config.lr_g, betas=betas, fused=True)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=config.lr_d, betas=betas, fused=True)
        self.step = 0
        self.losses = {"d": math.nan, "g": math.nan}
        self._lock = threading.Lock()

    def _critic(self, x: torch.Tensor) -> torch.Tensor:
        return self.D(x).squeeze(1)  # [N]

    def train(self, num_steps: int = 1) -> dict[str, float]:
        """Run ``num_steps`` G updates (each after ``d_steps`` D updates); returns the last losses.

        Raises :class:`TrainingError` when a loss stops being finite (then the run is lost: reset).
        """
        cfg = self.config
        with self._lock:
            for _ in range(int(num_steps)):
                for _ in range(cfg.d_steps):
                    real = sample_real(cfg.distribution, cfg.batch_size, self.gen, self.points)  # [B, 2]
                    with torch.no_grad():
                        fake = self.G(sample_latent(cfg.batch_size, self.gen))  # [B, 2]
                    # one pass over real and fake together: D has no batch statistics, so it is the same maths
                    real_logits, fake_logits = self._critic(torch.cat([real, fake])).split(cfg.batch_size)
                    d_loss = self.loss.d_loss(real_logits, fake_logits)
                    if cfg.loss in NEEDS_GRADIENT_PENALTY:
                        d_loss = d_loss + gradient_penalty(self._critic, real, fake, generator=self.gen)
                    self.opt_d.zero_grad(set_to_none=True)
                    d_loss.backward()
                    self.opt_d.step()
                    if cfg.loss in NEEDS_WEIGHT_CLIP:
                        clip_weights(self.D)
                g_loss = self.loss.g_loss(self._critic(self.G(sample_latent(cfg.batch_size, self.gen))))
                self.opt_g.zero_grad(set_to_none=True)
                g_loss.backward()
                self.opt_g.step()
                self.step += 1
                self.losses = {"d": d_loss.item(), "g": g_loss.item()}
                if not all(math.isfinite(v) for v in self.losses.values()):
                    raise TrainingError(f"the losses stopped being finite at step {self.step}; lower the learning rates and reset")
        return dict(self.losses)

    def _realness(self, logits: torch.Tensor, real_mean: float, fake_mean: float) -> torch.Tensor:
        """D's output mapped to [0, 1] for colouring: 1 = looks real, 0 = looks generated."""
        if self.config.loss in PROBABILITY_LOSSES:
            return torch.sigmoid(logits)
        if self.config.loss == "lsgan":
            return logits.clamp(0, 1)
        # unbounded critic scores: centred between the mean score of real and generated points
        half_gap = max(abs(real_mean - fake_mean) / 2, 1e-6)
        return 0.5 + 0.5 * torch.tanh((logits - (real_mean + fake_mean) / 2) / half_gap)

    def frame(self) -> Frame:
        """The current picture's data (see :class:`Frame`)."""
        with self._lock:
            with torch.no_grad():
                fake = self.G(self.z_shown)  # [NUM_SHOWN, 2]
                axis = torch.linspace(-EXTENT, EXTENT, MAP_RES)
                ys, xs = torch.meshgrid(axis.flip(0), axis, indexing="ij")  # row 0 at the top of the picture
                plane = torch.stack([xs, ys], dim=-1).reshape(-1, 2)  # [MAP_RES², 2]
                logits = self._critic(torch.cat([plane, self.real_shown, fake]))
                map_logits, real_logits, fake_logits = logits.split([len(plane), NUM_SHOWN, NUM_SHOWN])
                realness = self._realness(map_logits, real_logits.mean().item(), fake_logits.mean().item())
                lines = latent_grid()
                grid = self.G(lines.reshape(-1, 2)).reshape(lines.shape)
            # the direction G's loss moves each point: minus its gradient w.r.t. the point (summed,
            # so an arrow does not shrink with the number of points)
            x = fake[:NUM_ARROWS].clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.loss.g_loss(self._critic(x)) * NUM_ARROWS, x)
            return Frame(real=self.real_shown.numpy().copy(), fake=fake.numpy(), realness=realness.reshape(MAP_RES, MAP_RES).numpy(),
                         grid=grid.numpy(), arrows=(-grad).numpy(), step=self.step)

    def readout(self) -> dict:
        """Step, last losses, ``coverage`` (share of real points near a generated one) and, for the
        ring, how many modes hold generated points (and which share of those points are within 3σ
        of some mode: ``on_mode``)."""
        with self._lock, torch.no_grad():
            out = {"step": self.step, "d_loss": self.losses["d"], "g_loss": self.losses["g"]}
            fake = self.G(self.z_shown)  # [NUM_SHOWN, 2]
            if self.config.distribution == "ring":
                dist = torch.cdist(fake, ring_centres())  # [NUM_SHOWN, RING_MODES]
                nearest, mode = dist.min(dim=1)
                on_mode = nearest < 3 * RING_STD
                counts = torch.bincount(mode[on_mode], minlength=RING_MODES)
                out["modes_covered"] = int((counts >= MODE_MIN_SHARE * NUM_SHOWN).sum())
                out["num_modes"] = RING_MODES
                out["on_mode"] = float(on_mode.float().mean())
            # imported here: explorer.metrics' package init loads every metric and extractor (~2 s), which the
            # playground's other frames and its import do not need
            from explorer.metrics.scores import density_coverage

            # share of real points with a generated point among their 5 nearest real neighbours
            # (Naeem et al. 2020), on the first NUM_COVERAGE of each: a quarter of the work per frame
            out["coverage"] = density_coverage(fake[:NUM_COVERAGE], self.real_shown[:NUM_COVERAGE], k=5)["coverage"]
            return out


class PlaygroundStore:
    """Live playgrounds by key, at most ``capacity`` of them (the least recently used goes first),
    so a server's memory does not grow with its visitors. Keys are random, not guessable."""

    def __init__(self, capacity: int = 16):
        self.capacity = capacity
        self._items: OrderedDict[str, Playground] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, playground: Playground) -> str:
        key = secrets.token_hex(12)
        with self._lock:
            self._items[key] = playground
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return key

    def get(self, key: str | None) -> Playground | None:
        with self._lock:
            playground = self._items.get(key) if key else None
            if playground is not None:
                self._items.move_to_end(key)
            return playground

    def drop(self, key: str | None) -> None:
        with self._lock:
            self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)
