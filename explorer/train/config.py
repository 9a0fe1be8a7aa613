"""``TrainConfig``: every setting of a training run, frozen, and readable from / writable to a file.

One flat dataclass for all families (fields a family does not use are ignored by it), so a
run is fully described by one JSON file (``configs/*.json``; ``.toml`` is read too) and the
checkpoint can store it. Bad values raise :class:`TrainingError` naming the field.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from explorer.errors import TrainingError
from explorer.losses import GAN_LOSSES
from explorer.registry import get_family, trainable_families


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run.

    Identity and output: ``name`` (run folder ``<out>/<name>``), ``out``.
    Model: ``family``; ``model`` = keyword overrides for the family's config dataclass
    (resolution, channels and num_classes default to the data's); ``init_from`` (fine-tuning:
    start from the weights of a training checkpoint, a run folder or a model file of the same
    family and shape, with fresh optimisers at step 0 — e.g. a shipped model on new data).
    Data: ``data`` (shipped name, folder or zip), ``data_b`` (CycleGAN's domain B), ``split``,
    ``resolution``, ``channels``, ``conditional`` (train on labels), ``augment`` (spec dict for
    ``explorer.data.make_augment``, applied to real batches), ``diffaugment`` (DiffAugment policy
    applied to both D inputs, e.g. "color,translation,cutout").
    Optimisation: ``loss`` (see ``explorer.losses.GAN_LOSSES``; None = family default),
    ``lr_g``, ``lr_d``, ``betas``, ``batch_size`` (per process), ``iterations`` (G steps),
    ``n_critic`` (D steps per G step), ``ema_beta`` (EMA of G; 0 = off), ``gp_weight``,
    ``clip_value``, ``r1_gamma`` / ``r1_interval`` (lazy R1, StyleGAN), ``style_mixing``,
    ``mode_seeking`` (weight of the mode-seeking term of Mao et al. 2019, MSGAN: pairs of latents
    with the same label must give different images; counters conditional mode collapse; DCGAN),
    ``lambda_cyc`` / ``lambda_id`` / ``pool_size`` (CycleGAN; ``lambda_id_until``: the identity
    weight falls linearly from ``lambda_id`` to 0 at this iteration — it anchors colours early,
    when a CycleGAN would otherwise settle on a colour permutation, and later stops rewarding
    doing nothing; None = constant), ``sr_content`` / ``sr_adv_weight`` / ``sr_degrade``
    / ``sr_clean_share`` (with the "mixture", the share of images given the plain bicubic downscale)
    / ``sr_pretrain_steps`` / ``sr_perceptual`` (SRGAN).
    Schedule of the learning rates: ``lr_decay_start`` (iteration from which both decay linearly
    to 0 at ``iterations``, as in CycleGAN's recipe; None = constant).
    Speed: ``mixed_precision`` ("auto" | "no" | "bf16"; "auto" = bf16 autocast where the device
    has native bf16 arithmetic — AMX-bf16 / AVX512-BF16 CPUs, bf16-capable GPUs — else fp32;
    master weights stay fp32 either way), ``channels_last`` (default on: on CPUs without
    AVX-512, oneDNN's convolution backward is ~3x faster in channels_last than in NCHW),
    ``device``, ``num_threads``.
    Schedule: ``seed``, ``log_every``, ``checkpoint_every``, ``sample_every``, ``num_samples``,
    ``max_seconds`` (clean stop after this wall time).
    Monitors: ``max_rollbacks``, ``rollback_lr_factor``, ``collapse_threshold`` (alert when
    sample diversity / real diversity falls below it), ``coverage_threshold`` (fraction of classes
    the classifier finds in unconditional samples), ``monitor_warmup`` (steps before the collapse
    monitor speaks), ``classifier`` ("auto" = ``checkpoints/classifier_<data>.safetensors`` if it
    exists, a path, or None).
    Testing: ``fault_injection`` e.g. ``{"nan_at_step": 30, "times": 1}`` or
    ``{"collapse_at_step": 20}``.
    """

    name: str = "run"
    out: str = "runs"
    family: str = "dcgan"
    model: dict = field(default_factory=dict)
    init_from: str | None = None
    data: str = "digits"
    data_b: str | None = None
    split: str = "train"
    resolution: int | None = None
    channels: int | None = None
    conditional: bool = False
    augment: dict | None = None
    diffaugment: str | None = None
    loss: str | None = None
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple = (0.5, 0.999)
    batch_size: int = 64
    iterations: int = 1000
    n_critic: int = 1
    ema_beta: float = 0.999
    gp_weight: float = 10.0
    clip_value: float = 0.01
    r1_gamma: float = 0.0
    r1_interval: int = 16
    style_mixing: float = 0.0
    mode_seeking: float = 0.0
    lambda_cyc: float = 10.0
    lambda_id: float = 0.5
    lambda_id_until: int | None = None
    pool_size: int = 50
    sr_content: str = "l1"
    sr_adv_weight: float = 1e-3
    sr_pretrain_steps: int = 0
    sr_perceptual: float = 0.0
    sr_degrade: str = "bicubic"
    sr_clean_share: float = 0.4
    lr_decay_start: int | None = None
    mixed_precision: str = "auto"
    channels_last: bool = True
    device: str = "auto"
    num_threads: int | None = None
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 500
    sample_every: int = 500
    num_samples: int = 64
    max_seconds: float | None = None
    max_rollbacks: int = 3
    rollback_lr_factor: float = 0.5
    collapse_threshold: float = 0.15
    coverage_threshold: float = 0.5
    monitor_warmup: int = 500
    classifier: str | None = "auto"
    fault_injection: dict | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        object.__setattr__(self, "model", dict(self.model or {}))
        families = trainable_families()
        if self.family not in families:
            raise TrainingError(f"family must be one of {', '.join(families)}, not {self.family!r}")
        if not self.name or any(c in self.name for c in "/\\") or self.name in (".", ".."):
            raise TrainingError(f"run name must be a plain folder name, not {self.name!r}")
        if self.loss is not None and self.loss not in GAN_LOSSES:
            raise TrainingError(f"loss must be one of {', '.join(GAN_LOSSES)}, not {self.loss!r}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise TrainingError(f"betas must be two numbers in [0, 1), not {self.betas}")
        for name in ("lr_g", "lr_d"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise TrainingError(f"{name} must be a finite number ≥ 0, not {v!r}")
        for name in ("batch_size", "iterations", "n_critic", "log_every", "checkpoint_every", "sample_every",
                     "num_samples", "r1_interval"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise TrainingError(f"{name} must be a positive integer, not {v!r}")
        if self.num_samples < 2:
            raise TrainingError("num_samples must be at least 2 (the diversity monitor compares pairs)")
        if not 0 <= self.ema_beta < 1:
            raise TrainingError(f"ema_beta must lie in [0, 1), not {self.ema_beta}")
        if self.mixed_precision not in ("auto", "no", "bf16"):
            raise TrainingError(f"mixed_precision must be 'auto', 'no' or 'bf16', not {self.mixed_precision!r}")
        if self.lr_decay_start is not None and (not isinstance(self.lr_decay_start, int) or isinstance(self.lr_decay_start, bool)
                                                or not 0 <= self.lr_decay_start < self.iterations):
            raise TrainingError(f"lr_decay_start must be an iteration in [0, iterations), not {self.lr_decay_start!r}")
        if self.split not in ("train", "heldout", "all"):
            raise TrainingError(f"split must be 'train', 'heldout' or 'all', not {self.split!r}")
        if not isinstance(self.sr_clean_share, (int, float)) or not 0.0 <= self.sr_clean_share <= 1.0:
            raise TrainingError(f"sr_clean_share must be a share in [0, 1], not {self.sr_clean_share!r}")
        if self.sr_degrade not in ("bicubic", "mixture"):
            raise TrainingError(f"sr_degrade must be 'bicubic' or 'mixture', not {self.sr_degrade!r}")
        if self.sr_content not in ("l1", "mse"):
            raise TrainingError(f"sr_content must be 'l1' or 'mse', not {self.sr_content!r}")
        if get_family(self.family).capabilities({}).domains and not self.data_b:
            raise TrainingError(f"{get_family(self.family).display_name} trains on two domains: set data (A) and data_b (B)")
        if not 0 <= self.style_mixing <= 1:
            raise TrainingError(f"style_mixing is a probability in [0, 1], not {self.style_mixing}")
        if self.max_rollbacks < 0 or not 0 < self.rollback_lr_factor < 1:
            raise TrainingError("max_rollbacks must be ≥ 0 and rollback_lr_factor in (0, 1)")
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise TrainingError(f"max_seconds must be positive, not {self.max_seconds}")
        for name in ("gp_weight", "clip_value", "r1_gamma", "mode_seeking", "lambda_cyc", "lambda_id", "sr_adv_weight",
                     "sr_perceptual", "collapse_threshold", "coverage_threshold"):
            if getattr(self, name) < 0:
                raise TrainingError(f"{name} must be ≥ 0, not {getattr(self, name)}")
        if self.lambda_id_until is not None and (not isinstance(self.lambda_id_until, int)
                                                 or isinstance(self.lambda_id_until, bool) or self.lambda_id_until < 1):
            raise TrainingError(f"lambda_id_until must be a positive iteration, not {self.lambda_id_until!r}")
        if self.init_from is not None and (not isinstance(self.init_from, str) or not self.init_from.strip()):
            raise TrainingError(f"init_from must be a path to a checkpoint, run folder or model file, not {self.init_from!r}")
        if self.pool_size < 0 or self.sr_pretrain_steps < 0 or self.monitor_warmup < 0:
            raise TrainingError("pool_size, sr_pretrain_steps and monitor_warmup must be ≥ 0")

    # ----- derived -------------------------------------------------------------------------
    @property
    def gan_loss(self) -> str:
        """The adversarial loss actually used (``loss`` or the family default)."""
        return self.loss or get_family(self.family).default_loss

    @property
    def run_dir(self) -> Path:
        return Path(self.out) / self.name

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    # ----- files ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise TrainingError(f"unknown training setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**d)

    def to_file(self, path: str | os.PathLike) -> Path:
        """Write the config as JSON (sorted keys); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_file(cls, path: str | os.PathLike, **overrides: Any) -> "TrainConfig":
        """Read a ``.json`` or ``.toml`` config; ``overrides`` replace fields after reading.

        A leading ``"_comment"`` / ``"reproduce"`` key (documentation in shipped configs) is ignored.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TrainingError(f"cannot read training config {path}: {exc.strerror}") from None
        try:
            if path.suffix == ".toml":
                # here, not at the top: tomllib is in the standard library from Python 3.11 only (we support 3.10)
                import tomllib

                d = tomllib.loads(text)
            else:
                d = json.loads(text)
        except ValueError as exc:
            raise TrainingError(f"{path.name} is not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {exc}") from None
        if not isinstance(d, dict):
            raise TrainingError(f"{path.name} must hold one object of settings")
        d = {k: v for k, v in d.items() if not k.startswith("_") and k != "reproduce"}
        d.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(d)
