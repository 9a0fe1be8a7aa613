"""The one training loop for every model family: ``train(config, on_event, should_stop, resume)``.

The loop owns everything that is not a loss term (those come from a family's task in
``explorer.train.tasks``): data order, optimisers (Adam), critic steps, EMA of the generator,
bf16 autocast, channels_last, checkpoints and resume, samples, monitors, events, and
DistributedDataParallel under torchrun.

Design choices, and why:

- **Data** is one preprocessed tensor in memory (``ImageDataset.tensors()``), shuffled each
  epoch with a permutation from a seeded ``torch.Generator``; every rank takes its slice of the
  global batch (DistributedSampler-like). No DataLoader workers: on a small CPU they would
  compete with the training threads for cores.
- **No host syncs per step**: loss terms are summed on the device and read once per logging
  interval; non-finite values are detected from those sums (NaN/inf propagate into them).
- **Backward only into the parameters being trained** (``backward(inputs=...)``): the G step
  needs D's input gradient, never D's weight gradients, so those are not computed.
- **Checkpoints** hold weights, EMA, optimiser moments, every RNG, data order and task state
  (safetensors + JSON index, no pickle), written atomically; resuming reproduces the same losses
  step for step on CPU. The most recent checkpoint also stays in memory as the rollback target
  of the NaN monitor.
- Only rank 0 writes files and emits events; all ranks take the same decisions (stop, rollback)
  at the same steps, agreed by an all-reduce at logging boundaries.

The ``_Trainer`` here runs the steps; its other parts are mixins in their own modules:
``setup`` (:mod:`explorer.train.setup`), checkpoints, rollback and resume
(:mod:`explorer.train.loop_state`), events, samples and the exported model
(:mod:`explorer.train.loop_outputs`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import nn

from explorer.errors import TrainingError
from explorer.train.config import TrainConfig
from explorer.train.events import AlertEvent, DoneEvent, ErrorEvent, Event, EventSink, StartEvent
from explorer.train.loop_outputs import MODEL_NAME, _OutputsMixin
from explorer.train.loop_state import _StateMixin
from explorer.train.setup import (
    CHECKPOINT_NAME,
    DataStream,
    _Dist,
    _grad_norm,
    _init_distributed,
    _pick_device,
    _SetupMixin,
    build_model,
    config_from_checkpoint,
    load_training_data,
    resolve_resume,
)

# names that live in setup / loop_outputs and are importable from here too (the CLI, tests)
__all__ = [
    "CHECKPOINT_NAME",
    "MODEL_NAME",
    "DataStream",
    "RunResult",
    "build_model",
    "config_from_checkpoint",
    "load_training_data",
    "resolve_resume",
    "train",
]


@dataclass(frozen=True)
class RunResult:
    """Outcome of :func:`train`."""

    run_dir: Path
    model_path: Path | None  # exported inference model (EMA weights), rank 0 only
    checkpoint_path: Path | None  # last training checkpoint
    events_path: Path | None
    step: int  # iterations completed
    iterations: int  # iterations asked for
    stopped: bool  # ended early by should_stop / max_seconds
    wall_time_s: float  # training wall time over all sessions of this run
    final_losses: dict
    rollbacks: int
    alerts: int
    #: the trained model in memory (EMA generator weights), eval mode, on every rank
    model: nn.Module | None = dataclasses.field(default=None, repr=False)


class _Interval:
    """What the loop gathers between two reports: loss sums on the device (read with one host
    sync), the number of iterations, the last gradient norms and the start time."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.num_steps = 0
        self.grad_norm_g: torch.Tensor | None = None
        self.grad_norm_d: torch.Tensor | None = None
        self.started = time.monotonic()

    def add(self, key: str, value: torch.Tensor) -> None:
        v = value.detach().float()
        prev = self.sums.get(key)
        self.sums[key] = v if prev is None else prev + v

    def means(self) -> dict[str, float]:
        """Mean of every term over the interval (the one host sync of the interval)."""
        if not self.sums:
            return {}
        keys = list(self.sums)
        vals = torch.stack([self.sums[k] for k in keys]).cpu().tolist()
        return {k: v / max(self.num_steps, 1) for k, v in zip(keys, vals)}


# ============================================================================ the loop
class _Trainer(_SetupMixin, _StateMixin, _OutputsMixin):
    """One training run: ``setup`` (data, model, task, optimisers), then ``run`` (the steps and
    their boundaries) until the last iteration or a stop request."""

    def __init__(self, cfg: TrainConfig, sink: EventSink, should_stop: Callable[[], bool] | None, dist_info: _Dist):
        self.cfg = cfg
        self.sink = sink
        self.should_stop = should_stop
        self.dist = dist_info
        self.device = _pick_device(cfg, dist_info)
        self.run_dir = cfg.run_dir
        self.ckpt_path = self.run_dir / CHECKPOINT_NAME
        self.step = 0
        self.lr_scale = 1.0
        self.rollbacks = 0
        self.num_alerts = 0
        self.collapse_alerts = 0
        self.prior_wall = 0.0
        self.final_losses: dict[str, float] = {}
        self.snapshot: tuple[Any, dict] | None = None
        self.last_ckpt: Path | None = None
        self.faults = dict(cfg.fault_injection or {})
        self.faults_left = int(self.faults.get("times", 1))

    def run(self) -> RunResult:
        cfg = self.cfg
        self.t_start = time.monotonic()
        self._emit(StartEvent(step=self.step, iterations=cfg.iterations, run_dir=str(self.run_dir),
                              resumed_from=self.resumed_from, world_size=self.dist.world, device=str(self.device),
                              config=cfg.to_dict()))
        for note in self.setup_notes:
            self._emit(AlertEvent(step=self.step, kind="monitor_off", message=note))
        interval = _Interval()
        stopped = False
        while self.step < cfg.iterations:
            if cfg.lr_decay_start is not None and self.step >= cfg.lr_decay_start:
                self._apply_lr()
            log_step = (self.step + 1) % cfg.log_every == 0
            self._iteration(interval, log_step)
            # ---- boundaries: logging, NaN check, checkpoints, samples, stop
            want_stop = self.dist.world == 1 and self._stop_requested()
            at_ckpt = self.step % cfg.checkpoint_every == 0
            at_sample = self.step % cfg.sample_every == 0
            last = self.step >= cfg.iterations
            if not (log_step or at_ckpt or at_sample or last or want_stop):
                continue
            stop_now = self._boundary(interval, want_stop, at_ckpt, at_sample, last)
            interval = _Interval()
            if stop_now:
                stopped = True
                break
        return self._finish(stopped)

    def _iteration(self, interval: _Interval, log_step: bool) -> None:
        """``n_critic`` discriminator steps, then one generator step and the EMA update."""
        cfg, task = self.cfg, self.task
        for i in range(cfg.n_critic):
            batch = self._next_batch()
            terms = task.d_step(batch, keep_graph=(i == cfg.n_critic - 1))
            loss_d = terms.pop("loss")
            if loss_d.requires_grad:
                self.opt_d.zero_grad(set_to_none=True)
                loss_d.backward(inputs=self.d_params)
                if log_step and i == cfg.n_critic - 1:
                    interval.grad_norm_d = _grad_norm(self.d_params)
                self.opt_d.step()
                task.after_d_step()
            interval.add("d_loss", loss_d)
            for k, v in terms.items():
                interval.add(k, v)
        terms = task.g_step(batch)
        loss_g = terms.pop("loss")
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward(inputs=self.g_params)
        if log_step:
            interval.grad_norm_g = _grad_norm(self.g_params)
        self.opt_g.step()
        self._update_ema()
        interval.add("g_loss", loss_g)
        for k, v in terms.items():
            interval.add(k, v)
        self.step += 1
        interval.num_steps += 1

    def _boundary(self, interval: _Interval, want_stop: bool, at_ckpt: bool, at_sample: bool, last: bool) -> bool:
        """Report the interval (or roll back if a loss went non-finite), write samples and the
        checkpoint when due; returns whether the run stops here, before its last iteration."""
        values = interval.means()
        bad = any(not math.isfinite(v) for k, v in values.items() if not k.startswith("_"))
        if self.dist.world > 1:
            bad, dist_stop = _all_agree(bad, self._stop_requested(), self.device)
            want_stop = want_stop or dist_stop
        if bad:
            self._rollback(values)
            return False
        seconds = max(time.monotonic() - interval.started, 1e-9)
        self._report_step(values, interval.num_steps, interval.grad_norm_g, interval.grad_norm_d, seconds)
        if at_sample or last or want_stop:
            self._samples()
        if at_ckpt or last or want_stop:
            self._checkpoint()
        return want_stop and not last

    def _finish(self, stopped: bool) -> RunResult:
        """Last checkpoint, the exported model, the done event."""
        if self.dist.world > 1:
            self._sync_buffers()
        if self.last_ckpt is None:
            self._checkpoint()  # e.g. resumed a run that had already finished: still leave a checkpoint
        for n in self.task.d_parts:
            getattr(self.ema_model, n).load_state_dict(self.task.raw[n].state_dict())
        model_path = self._export() if self.dist.main else None
        wall = self._wall_time()
        self._emit(DoneEvent(step=self.step, stopped=stopped, model_path=str(model_path) if model_path else None,
                             checkpoint_path=str(self.last_ckpt) if self.last_ckpt else None,
                             wall_time_s=wall, final_losses=self.final_losses))
        return RunResult(run_dir=self.run_dir, model_path=model_path, checkpoint_path=self.last_ckpt,
                         events_path=self.sink.path, step=self.step, iterations=self.cfg.iterations, stopped=stopped,
                         wall_time_s=wall, final_losses=self.final_losses, rollbacks=self.rollbacks,
                         alerts=self.num_alerts, model=self.ema_model)

    @torch.no_grad()
    def _update_ema(self) -> None:
        beta = self.cfg.ema_beta
        # warm-up (as in many EMA implementations): early on the average would be dominated by
        # the random initial weights, so the decay ramps up with the step count
        beta = min(beta, (1.0 + self.step) / (10.0 + self.step)) if beta > 0 else 0.0
        for ema_p, p, ema_b, b in self.ema_pairs:
            if beta == 0.0:
                torch._foreach_copy_(ema_p, p)
            else:
                torch._foreach_lerp_(ema_p, p, 1.0 - beta)
            if ema_b:
                torch._foreach_copy_(ema_b, b)

    def _next_batch(self) -> dict[str, Any]:
        x, y = self.stream.next()
        batch: dict[str, Any] = {"x": x, "y": y if self.cfg.conditional else None}
        if self.stream_b is not None:
            batch["x_b"] = self.stream_b.next()[0]
        if self.faults.get("nan_at_step") == self.step + 1 and self.faults_left > 0:
            self.faults_left -= 1
            batch["x"] = x * float("nan")  # poisons D's loss, then (through Adam) every weight
        return batch

    def _sync_buffers(self) -> None:
        """Give every rank rank 0's buffers (BatchNorm statistics drift apart between DDP's
        per-forward broadcasts), so all ranks end with identical models."""

        for module in (self.model, self.ema_model):
            for b in module.buffers():
                dist.broadcast(b, src=0)

    def _stop_requested(self) -> bool:
        if self.should_stop is not None and self.should_stop():
            return True
        return self.cfg.max_seconds is not None and time.monotonic() - self.t_start >= self.cfg.max_seconds


def _all_agree(bad: bool, stop: bool, device: torch.device) -> tuple[bool, bool]:
    flags = torch.tensor([float(bad), float(stop)], device=device)
    dist.all_reduce(flags, op=dist.ReduceOp.MAX)
    return bool(flags[0] > 0), bool(flags[1] > 0)


# ============================================================================ public entry
def train(config: TrainConfig, on_event: Callable[[Event], None] | None = None,
          should_stop: Callable[[], bool] | None = None, resume: Any = None) -> RunResult:
    """Train a model as ``config`` says; returns a :class:`RunResult`.

    Args:
        config: the run's settings (output in ``<config.out>/<config.name>``).
        on_event: called with every :mod:`explorer.train.events` event (rank 0 only); the same
            events are appended to ``<run>/events.jsonl``.
        should_stop: polled every step (every ``log_every`` steps under torchrun); returning
            True ends the run cleanly after writing a checkpoint and the model.
        resume: None (fresh run; refuses a run folder that already has a checkpoint), True /
            "auto" (continue the run's checkpoint if there is one), or a checkpoint / run-folder path.

    Raises:
        TrainingError: bad settings, or training diverged beyond ``max_rollbacks``.
        DataError / CheckpointError: unreadable data or checkpoint.
    Under ``torchrun`` (WORLD_SIZE > 1) it runs data-parallel; see ``explorer.train`` docs.
    """
    if not isinstance(config, TrainConfig):
        raise TrainingError(f"train() needs a TrainConfig, got {type(config).__name__}")
    dist_info = _init_distributed(config.device)
    run_dir = config.run_dir
    sink = None
    trainer = None
    try:
        resume_path = resolve_resume(resume, run_dir)
        if resume_path is None and (run_dir / CHECKPOINT_NAME).exists():
            raise TrainingError(f"{run_dir} already holds a training run; resume it (resume=True / --resume) "
                                "or choose another name")
        if dist_info.main:
            run_dir.mkdir(parents=True, exist_ok=True)
            config.to_file(run_dir / "config.json")
        sink = EventSink(run_dir / "events.jsonl" if dist_info.main else None, on_event if dist_info.main else None)
        trainer = _Trainer(config, sink, should_stop, dist_info)
        trainer.setup(resume_path)
        return trainer.run()
    except Exception as exc:
        if sink is not None and dist_info.main:
            sink.emit(ErrorEvent(step=trainer.step if trainer else 0, message=str(exc), kind=type(exc).__name__))
        raise
    finally:
        if sink is not None:
            sink.close()
