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
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import nn

from explorer.checkpoint import load as load_model
from explorer.checkpoint import save
from explorer.errors import CheckpointError, TrainingError
from explorer.runtime import resolve_precision
from explorer.train.config import TrainConfig
from explorer.train.events import (
    AlertEvent,
    CheckpointEvent,
    DoneEvent,
    ErrorEvent,
    Event,
    EventSink,
    SamplesEvent,
    StartEvent,
    StepEvent,
)
from explorer.train.monitors import CollapseMonitor, find_classifier
from explorer.train.setup import (  # noqa: F401  (build_model, load_training_data, config_from_checkpoint: public here too)
    CHECKPOINT_NAME,
    DataStream,
    _Dist,
    _grad_norm,
    _init_distributed,
    _machine,
    _make_adam,
    _pick_device,
    _save_png,
    _seed_all,
    _to_uint8_grid,
    build_model,
    config_from_checkpoint,
    load_training_data,
    resolve_resume,
)
from explorer.train.state import (
    capture_rng,
    flatten_state,
    load_train_state,
    restore_rng,
    save_flat_state,
    unflatten_state,
)
from explorer.train.tasks import get_task

MODEL_NAME = "model.safetensors"
#: settings that define the model and data; a resumed run must keep them
_IDENTITY_FIELDS = ("family", "model", "data", "data_b", "split", "resolution", "channels", "conditional")


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




# ============================================================================ the loop
class _Trainer:
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

    # ----- setup ---------------------------------------------------------------------------
    def setup(self, resume_path: Path | None) -> None:
        cfg = self.cfg
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        self.task_cls = get_task(cfg.family)
        self.data_info = load_training_data(cfg, self.task_cls)
        _seed_all(cfg.seed)  # same seed on every rank: identical initial weights
        model = build_model(cfg, self.task_cls, self.data_info).to(self.device)
        if cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
        model.train()
        self.model = model
        task = self.task_cls(model, cfg, self.device)
        self.task = task
        self.g_params = [p for n in task.g_parts for p in task.raw[n].parameters() if p.requires_grad]
        self.d_params = [p for n in task.d_parts for p in task.raw[n].parameters() if p.requires_grad]
        self.opt_g = _make_adam(self.g_params, cfg.lr_g, cfg.betas, self.device)
        self.opt_d = _make_adam(self.d_params, cfg.lr_d, cfg.betas, self.device)
        # the EMA copy is a whole model (so it can generate/translate and be exported); only its
        # generator parts are averaged, the rest is copied in at export time
        self.ema_model = copy.deepcopy(model).eval().requires_grad_(False)
        self.ema_pairs = [(list(getattr(self.ema_model, n).parameters()), list(task.raw[n].parameters()),
                           list(getattr(self.ema_model, n).buffers()), list(task.raw[n].buffers())) for n in task.g_parts]
        d = self.dist
        self.stream = DataStream(self.data_info["images"], self.data_info["labels"], cfg.batch_size, cfg.seed, self.device,
                                 d.rank, d.world, self.data_info["augment"], cfg.channels_last)
        self.stream_b = None
        if "images_b" in self.data_info:
            ib = self.data_info["images_b"]
            self.stream_b = DataStream(ib, torch.zeros(ib.shape[0], dtype=torch.long), cfg.batch_size, cfg.seed + 1,
                                       self.device, d.rank, d.world, self.data_info.get("augment_b"), cfg.channels_last)
        if d.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            for name in task.g_parts + task.d_parts:
                task.nets[name] = DDP(task.raw[name], device_ids=ids)
        self.precision = resolve_precision(cfg.mixed_precision, self.device)
        if self.precision == "bf16":
            task.autocast = lambda: torch.autocast(self.device.type, dtype=torch.bfloat16)
        self.resumed_from = None
        if resume_path is None and cfg.init_from:
            self._init_weights(Path(cfg.init_from).expanduser())
        if resume_path is not None:
            state = load_train_state(resume_path)
            self._check_resumable(state["config"], resume_path)
            self._load_state(state)
            self.resumed_from = str(resume_path)
        if d.rank > 0:
            # different latents per rank (weights are equal: DDP broadcast rank 0's at wrap time)
            _seed_all(cfg.seed + 7919 * d.rank + self.step)
        self.fixed = task.fixed_inputs(self.data_info, cfg.num_samples, seed=cfg.seed * 1000 + 424242)
        self.monitor = None
        self.setup_notes: list[str] = []
        if d.main:
            ref = task.reference_images(self.data_info, cfg.num_samples, seed=cfg.seed + 99)
            classifier = None
            if task.generative and self.data_info["num_classes"] >= 2:
                try:
                    classifier = find_classifier(cfg, self.device)
                except CheckpointError as exc:
                    self.setup_notes.append(f"class coverage is off: {exc}")
            ref_labels = task.reference_labels(self.data_info, cfg.num_samples, seed=cfg.seed + 99)
            self.monitor = CollapseMonitor(ref, cfg.collapse_threshold, classifier, self.data_info["num_classes"],
                                           cfg.coverage_threshold, reference_labels=ref_labels)
        self.snapshot = self._flat_state()  # rollback target until the first checkpoint

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

    # ----- state -------------------------------------------------------------------------------
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

    def _wall_time(self) -> float:
        return self.prior_wall + (time.monotonic() - self.t_start if hasattr(self, "t_start") else 0.0)

    # ----- events --------------------------------------------------------------------------
    def _emit(self, event: Event) -> None:
        if self.dist.main:
            self.sink.emit(event)

    # ----- the loop ------------------------------------------------------------------------------
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

    def run(self) -> RunResult:
        cfg, task = self.cfg, self.task
        self.t_start = time.monotonic()
        self._emit(StartEvent(step=self.step, iterations=cfg.iterations, run_dir=str(self.run_dir),
                              resumed_from=self.resumed_from, world_size=self.dist.world, device=str(self.device),
                              config=cfg.to_dict()))
        for note in self.setup_notes:
            self._emit(AlertEvent(step=self.step, kind="monitor_off", message=note))
        acc: dict[str, torch.Tensor] = {}
        acc_steps = 0
        gn_g = gn_d = None
        t_interval = time.monotonic()
        stopped = False
        while self.step < cfg.iterations:
            if cfg.lr_decay_start is not None and self.step >= cfg.lr_decay_start:
                self._apply_lr()
            log_step = (self.step + 1) % cfg.log_every == 0
            # ---- discriminator steps
            for i in range(cfg.n_critic):
                batch = self._next_batch()
                terms = task.d_step(batch, keep_graph=(i == cfg.n_critic - 1))
                loss_d = terms.pop("loss")
                if loss_d.requires_grad:
                    self.opt_d.zero_grad(set_to_none=True)
                    loss_d.backward(inputs=self.d_params)
                    if log_step and i == cfg.n_critic - 1:
                        gn_d = _grad_norm(self.d_params)
                    self.opt_d.step()
                    task.after_d_step()
                _accumulate(acc, "d_loss", loss_d)
                for k, v in terms.items():
                    _accumulate(acc, k, v)
            # ---- generator step
            terms = task.g_step(batch)
            loss_g = terms.pop("loss")
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward(inputs=self.g_params)
            if log_step:
                gn_g = _grad_norm(self.g_params)
            self.opt_g.step()
            self._update_ema()
            _accumulate(acc, "g_loss", loss_g)
            for k, v in terms.items():
                _accumulate(acc, k, v)
            self.step += 1
            acc_steps += 1

            # ---- boundaries: logging, NaN check, checkpoints, samples, stop
            want_stop = False
            if self.dist.world == 1:
                want_stop = self._stop_requested()
            at_ckpt = self.step % cfg.checkpoint_every == 0
            at_sample = self.step % cfg.sample_every == 0
            last = self.step >= cfg.iterations
            if not (log_step or at_ckpt or at_sample or last or want_stop):
                continue
            values = _read(acc, acc_steps)  # the one host sync of the interval
            bad = any(not math.isfinite(v) for k, v in values.items() if not k.startswith("_"))
            if self.dist.world > 1:
                bad, dist_stop = _all_agree(bad, self._stop_requested(), self.device)
                want_stop = want_stop or dist_stop
            if bad:
                self._rollback(values)
                acc, acc_steps, gn_g, gn_d = {}, 0, None, None
                t_interval = time.monotonic()
                continue
            dt = max(time.monotonic() - t_interval, 1e-9)
            self.final_losses = {k: v for k, v in values.items() if not k.startswith("_")}
            self._emit(StepEvent(
                step=self.step, losses=self.final_losses,
                d_real=values.get("_p_real"), d_fake=values.get("_p_fake"),
                d_real_logit=values.get("_d_real"), d_fake_logit=values.get("_d_fake"),
                grad_norm_g=None if gn_g is None else float(gn_g), grad_norm_d=None if gn_d is None else float(gn_d),
                images_per_s=acc_steps * cfg.n_critic * cfg.batch_size * self.dist.world / dt,
                lr_g=cfg.lr_g * self._lr_factor(), lr_d=cfg.lr_d * self._lr_factor(), elapsed_s=self._wall_time()))
            acc, acc_steps, gn_g, gn_d = {}, 0, None, None
            if at_sample or last or want_stop:
                self._samples()
            if at_ckpt or last or want_stop:
                self._checkpoint()
            t_interval = time.monotonic()
            if want_stop and not last:
                stopped = True
                break
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
                         events_path=self.sink.path, step=self.step, iterations=cfg.iterations, stopped=stopped,
                         wall_time_s=wall, final_losses=self.final_losses, rollbacks=self.rollbacks,
                         alerts=self.num_alerts, model=self.ema_model)

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

    # ----- monitors ------------------------------------------------------------------------------
    def _rollback(self, values: dict[str, float]) -> None:
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

    def _samples(self) -> None:
        if not self.dist.main:
            return
        outputs = self.task.render(self.ema_model, self.fixed)  # [N, C, H, W] in [-1, 1]
        collapse_at = self.faults.get("collapse_at_step")
        if collapse_at is not None and self.step >= collapse_at:
            outputs = outputs[:1].expand_as(outputs)  # test hook: a generator that lost all variety
        grid = _to_uint8_grid(self.task.grid_images(outputs, self.fixed),
                              nrow=None if self.task.generative else 8)
        path = self.run_dir / "samples" / f"step_{self.step:06d}.png"
        _save_png(grid, path)
        reading = self.monitor.check(outputs, self.fixed.get("labels")) if self.monitor else None
        self._emit(SamplesEvent(step=self.step, path=str(path), image=grid,
                                diversity=None if reading is None else reading.diversity,
                                coverage=None if reading is None else reading.coverage))
        if reading is not None and reading.collapsed and self.step >= self.cfg.monitor_warmup:
            self.collapse_alerts += 1
            self.num_alerts += 1
            self._emit(AlertEvent(step=self.step, kind="mode_collapse", message=reading.message,
                                  count=self.collapse_alerts,
                                  details={"diversity": reading.diversity, "coverage": reading.coverage,
                                           "threshold": self.cfg.collapse_threshold}))

    def _checkpoint(self) -> None:
        self.snapshot = self._flat_state()
        if self.dist.main:
            save_flat_state(*self.snapshot, self.ckpt_path)
            self.last_ckpt = self.ckpt_path
            self._emit(CheckpointEvent(step=self.step, path=str(self.ckpt_path)))
        else:
            self.last_ckpt = self.ckpt_path

    def _export(self) -> Path:
        """Save the inference model: EMA generator(s) + the trained discriminator(s)."""

        cfg, info = self.cfg, self.data_info
        data_desc = info["name"] + (f" ↔ {info['name_b']}" if "name_b" in info else "")
        summary = {
            "dataset": info["name"], "dataset_b": info.get("name_b"), "preprocessing": info["preprocessing"],
            "steps": self.step, "images_seen": self.step * cfg.n_critic * cfg.batch_size * self.dist.world,
            "wall_time_s": round(self._wall_time(), 1), "machine": _machine(self.device), "world_size": self.dist.world,
            "final_losses": self.final_losses, "precision": self.precision, "ema": cfg.ema_beta > 0, "ema_beta": cfg.ema_beta,
            "loss": cfg.gan_loss, "settings": cfg.to_dict(), "rollbacks": self.rollbacks, "alerts": self.num_alerts,
        }
        card = {
            "data": data_desc,
            "training": (f"{self.step} iterations of {cfg.family} ({cfg.gan_loss} loss, batch {cfg.batch_size}"
                         f"{f' × {self.dist.world} processes' if self.dist.world > 1 else ''}, lr G {cfg.lr_g:g} / D "
                         f"{cfg.lr_d:g}) with GAN Explorer's training loop"),
            "weights": "generator: exponential moving average of the trained weights" if cfg.ema_beta > 0 else "as trained",
            "reproduce": f"gan-explorer train --config {self.run_dir / 'config.json'}",
        }
        self.ema_model.card = dict(card)
        self.ema_model.summary = {}
        return save(self.ema_model, self.run_dir / MODEL_NAME, card=card, summary=summary)


def _match_layouts(opt: torch.optim.Optimizer) -> None:
    """Give loaded optimiser moments their parameter's memory format (checkpoints store them
    contiguous; a fused step over a channels_last weight and an NCHW moment would pair the wrong
    elements, and fresh moments are ``zeros_like(param)``, i.e. channels_last)."""
    for p, st in opt.state.items():
        for k, v in st.items():
            if isinstance(v, torch.Tensor) and v.shape == p.shape and v.stride() != p.stride():
                st[k] = torch.empty_like(p, dtype=v.dtype).copy_(v)


def _accumulate(acc: dict[str, torch.Tensor], key: str, value: torch.Tensor) -> None:
    v = value.detach().float()
    prev = acc.get(key)
    acc[key] = v if prev is None else prev + v


def _read(acc: dict[str, torch.Tensor], count: int) -> dict[str, float]:
    if not acc:
        return {}
    keys = list(acc)
    vals = torch.stack([acc[k] for k in keys]).cpu().tolist()
    return {k: v / max(count, 1) for k, v in zip(keys, vals)}


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
