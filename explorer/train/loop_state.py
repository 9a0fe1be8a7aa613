"""The training loop's state, as checkpoints hold it: capture and restore, the checkpoint written
every ``checkpoint_every`` steps, the in-memory rollback of the NaN monitor, the learning-rate
factor that rollbacks and the decay schedule set, and the two ways a run starts from saved weights
(resume: :meth:`_StateMixin._check_resumable`; fine-tuning: :meth:`_StateMixin._init_weights`).

:class:`_StateMixin` is one part of the loop's ``_Trainer`` (:mod:`explorer.train.loop`): its methods
read and write the trainer's model, EMA copy, optimisers, task, data streams and counters. The
file format (safetensors + JSON index, no pickle) is :mod:`explorer.train.state`.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch

from explorer.checkpoint import load as load_model
from explorer.errors import CheckpointError, TrainingError
from explorer.train.config import TrainConfig
from explorer.train.events import AlertEvent, CheckpointEvent
from explorer.train.setup import CHECKPOINT_NAME
from explorer.train.state import (
    capture_rng,
    flatten_state,
    load_train_state,
    restore_rng,
    save_flat_state,
    unflatten_state,
)

#: settings that define the model and data; a resumed run must keep them
_IDENTITY_FIELDS = ("family", "model", "data", "data_b", "split", "resolution", "channels", "conditional")


class _StateMixin:
    """Checkpoint, rollback, resume and fine-tuning start of the ``_Trainer``."""

    # ----- starting from saved weights ---------------------------------------------------------
    def _init_weights(self, path: Path) -> None:
        """Fine-tuning: the weights of ``path`` (training checkpoint, run folder or model file) as step 0.

        Optimisers, step, data order and learning-rate schedule start fresh. A model file without a
        discriminator (e.g. an imported generator) keeps this run's freshly initialised one.
        """
        if path.is_dir():
            path = path / CHECKPOINT_NAME
        if not path.is_file():
            raise TrainingError(f"init_from: no training checkpoint, run folder or model file at {path}")
        try:
            state = load_train_state(path)
        except CheckpointError:
            state = None  # not a training checkpoint: a model file (ours or an importable foreign one)
        if state is not None:
            family = TrainConfig.from_dict(state["config"]).family
            weights, ema = state["model"], state["ema"]
        else:
            loaded = load_model(path, device="cpu")
            family, weights, ema = loaded.kind, loaded.state_dict(), None
        if family != self.cfg.family:
            raise TrainingError(f"init_from: {path.name} holds a {family} model; this run trains a {self.cfg.family}")
        target = self.model.state_dict()
        wrong = [k for k, v in weights.items() if k not in target or target[k].shape != v.shape]
        g_keys = [k for k in target if k.split(".", 1)[0] in self.task.g_parts]
        missing = [k for k in g_keys if k not in weights]
        if wrong or missing:
            detail = ", ".join((wrong + missing)[:4])
            raise TrainingError(f"init_from: {path.name} does not fit this run's {self.cfg.family} (different model "
                                f"settings; first mismatches: {detail}); use the same 'model' settings as that run")
        self.model.load_state_dict(weights, strict=False)
        for n in self.task.g_parts:
            part = getattr(self.ema_model, n)
            part.load_state_dict(ema[n] if ema is not None else getattr(self.model, n).state_dict())

    def _check_resumable(self, saved: dict, path: Path) -> None:
        saved_cfg = TrainConfig.from_dict(saved)
        diffs = [f for f in _IDENTITY_FIELDS if getattr(saved_cfg, f) != getattr(self.cfg, f)]
        if diffs:
            raise TrainingError(f"{path} was trained with different {', '.join(diffs)}; resume with the same settings "
                                f"(e.g. --config {path.parent / 'config.json'}) or start a new run")

    # ----- capture and restore -----------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "model": self.model.state_dict(),
            "ema": {n: getattr(self.ema_model, n).state_dict() for n in self.task.g_parts},
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "task": self.task.state_dict(),
            "rng": capture_rng(self.device),
            "data": self.stream.state_dict(),
            "data_b": self.stream_b.state_dict() if self.stream_b is not None else None,
            "loop": {"lr_scale": self.lr_scale, "rollbacks": self.rollbacks, "alerts": self.num_alerts,
                     "collapse_alerts": self.collapse_alerts, "wall_time_s": self._wall_time()},
            "config": self.cfg.to_dict(),
        }

    def _flat_state(self) -> tuple[Any, dict]:
        return flatten_state(self._state())

    def _load_state(self, state: dict[str, Any], keep_counters: bool = False) -> None:
        self.step = int(state["step"])
        self.model.load_state_dict(state["model"])
        for n in self.task.g_parts:
            getattr(self.ema_model, n).load_state_dict(state["ema"][n])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        _match_layouts(self.opt_g)
        _match_layouts(self.opt_d)
        self.task.load_state_dict(state["task"])
        restore_rng(state["rng"], self.device)
        self.stream.load_state_dict(state["data"])
        if self.stream_b is not None and state.get("data_b") is not None:
            self.stream_b.load_state_dict(state["data_b"])
        if not keep_counters:
            loop = state["loop"]
            self.lr_scale = float(loop["lr_scale"])
            self.rollbacks = int(loop["rollbacks"])
            self.num_alerts = int(loop["alerts"])
            self.collapse_alerts = int(loop["collapse_alerts"])
            self.prior_wall = float(loop["wall_time_s"])
        self._apply_lr()

    def _wall_time(self) -> float:
        return self.prior_wall + (time.monotonic() - self.t_start if hasattr(self, "t_start") else 0.0)

    # ----- learning rates ----------------------------------------------------------------------
    def _lr_factor(self) -> float:
        """Rollback scale × the linear decay (1 until ``lr_decay_start``, 0 at ``iterations``)."""
        cfg = self.cfg
        if cfg.lr_decay_start is None or self.step < cfg.lr_decay_start:
            return self.lr_scale
        return self.lr_scale * max(0.0, (cfg.iterations - self.step) / (cfg.iterations - cfg.lr_decay_start))

    def _apply_lr(self) -> None:
        factor = self._lr_factor()
        for opt, base in ((self.opt_g, self.cfg.lr_g), (self.opt_d, self.cfg.lr_d)):
            for group in opt.param_groups:
                group["lr"] = base * factor

    # ----- checkpoints and rollback ------------------------------------------------------------
    def _checkpoint(self) -> None:
        self.snapshot = self._flat_state()
        if self.dist.main:
            save_flat_state(*self.snapshot, self.ckpt_path)
            self.last_ckpt = self.ckpt_path
            self._emit(CheckpointEvent(step=self.step, path=str(self.ckpt_path)))
        else:
            self.last_ckpt = self.ckpt_path

    def _rollback(self, values: dict[str, float]) -> None:
        """Non-finite losses: back to the last checkpoint (or the start; kept in memory), learning rates lowered."""
        self.rollbacks += 1
        bad_terms = sorted(k for k, v in values.items() if not k.startswith("_") and not math.isfinite(v))
        bad_step = self.step
        if self.rollbacks > self.cfg.max_rollbacks:
            raise TrainingError(f"non-finite losses ({', '.join(bad_terms)}) by step {bad_step} after "
                                f"{self.cfg.max_rollbacks} rollbacks; lower the learning rates or change the loss")
        structure, tensors = self.snapshot
        self._load_state(unflatten_state(structure, tensors), keep_counters=True)
        self.lr_scale *= self.cfg.rollback_lr_factor
        self._apply_lr()
        self.num_alerts += 1
        self._emit(AlertEvent(
            step=bad_step, kind="nan_rollback", count=self.rollbacks,
            message=(f"non-finite {', '.join(bad_terms)} by step {bad_step}: rolled back to step {self.step} and "
                     f"lowered the learning rates ×{self.cfg.rollback_lr_factor} (rollback {self.rollbacks} of at most "
                     f"{self.cfg.max_rollbacks})"),
            details={"bad_terms": bad_terms, "rolled_back_to": self.step, "lr_g": self.cfg.lr_g * self.lr_scale,
                     "lr_d": self.cfg.lr_d * self.lr_scale}))


def _match_layouts(opt: torch.optim.Optimizer) -> None:
    """Give loaded optimiser moments their parameter's memory format (checkpoints store them
    contiguous; a fused step over a channels_last weight and an NCHW moment would pair the wrong
    elements, and fresh moments are ``zeros_like(param)``, i.e. channels_last)."""
    for p, st in opt.state.items():
        for k, v in st.items():
            if isinstance(v, torch.Tensor) and v.shape == p.shape and v.stride() != p.stride():
                st[k] = torch.empty_like(p, dtype=v.dtype).copy_(v)
