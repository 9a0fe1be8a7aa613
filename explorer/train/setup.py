"""Everything the training loop sets up before its first step: the data (:class:`DataStream`,
:func:`load_training_data`), the model (:func:`build_model`), processes and devices under torchrun,
seeds, optimisers, and where a resumed run continues from (:func:`resolve_resume`); and
:class:`_SetupMixin`, the ``_Trainer``'s ``setup`` that puts them together (model, task, optimisers,
EMA copy, data streams, DDP wrappers, precision, start weights, sample inputs, monitor).

Part of :mod:`explorer.train` (the loop itself is :mod:`explorer.train.loop`).
"""

from __future__ import annotations

import atexit
import copy
import dataclasses
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from explorer.data.dataset import get_dataset
from explorer.errors import CheckpointError, TrainingError
from explorer.registry import get_family
from explorer.runtime import resolve_device, resolve_precision
from explorer.train.config import TrainConfig
from explorer.train.monitors import CollapseMonitor, find_classifier
from explorer.train.state import load_train_state
from explorer.train.task_base import Task
from explorer.train.tasks import get_task

CHECKPOINT_NAME = "checkpoint.safetensors"


# ============================================================================ data
class DataStream:
    """Endless shuffled batches from an in-memory image tensor, sharded across ranks.

    Each epoch draws a permutation from a seeded generator (identical on every rank); rank r
    takes items ``[r·B, (r+1)·B)`` of each global batch of ``B·world`` images. The tail that does
    not fill a global batch is skipped for that epoch (next epoch reshuffles).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, seed: int, device: torch.device,
                 rank: int = 0, world: int = 1, augment=None, channels_last: bool = False):
        self.n = images.shape[0]
        self.batch_size, self.rank, self.world = batch_size, rank, world
        self.global_batch = batch_size * world
        if self.n < self.global_batch:
            raise TrainingError(f"the data has {self.n} images, fewer than one batch ({batch_size} × {world} processes); "
                                "lower batch_size")
        self.device = device
        self.images = images.to(device)  # [N, C, H, W] float32 in [-1, 1]
        self.labels = labels.to(device)  # [N]
        self.generator = torch.Generator().manual_seed(seed)
        self.augment = augment
        self.channels_last = channels_last
        self.perm: torch.Tensor | None = None
        self.pos = 0
        self.epoch = 0

    def _new_epoch(self) -> None:
        self.perm = torch.randperm(self.n, generator=self.generator).to(self.device)
        self.pos = 0
        self.epoch += 1

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.perm is None or self.pos + self.global_batch > self.n:
            self._new_epoch()
        start = self.pos + self.rank * self.batch_size
        idx = self.perm[start : start + self.batch_size]
        self.pos += self.global_batch
        x = self.images.index_select(0, idx)  # [B, C, H, W]
        y = self.labels.index_select(0, idx)  # [B]
        if self.augment is not None:
            x = self.augment(x)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y

    def state_dict(self) -> dict[str, Any]:
        state = {"generator": self.generator.get_state(), "perm": self.perm, "pos": self.pos, "epoch": self.epoch}
        aug_gen = getattr(self.augment, "_generator", None)
        if isinstance(aug_gen, torch.Generator):
            state["augment_generator"] = aug_gen.get_state()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.perm = None if state["perm"] is None else state["perm"].to(self.device)
        self.pos, self.epoch = int(state["pos"]), int(state["epoch"])
        aug_gen = getattr(self.augment, "_generator", None)
        if isinstance(aug_gen, torch.Generator) and "augment_generator" in state:
            aug_gen.set_state(state["augment_generator"])


def load_training_data(cfg: TrainConfig, task_cls: type[Task]) -> dict[str, Any]:
    """Load the configured data set(s) at the resolution the family trains at."""
    res = cfg.resolution or cfg.model.get("resolution")
    ch_a = cfg.channels or cfg.model.get("channels") or cfg.model.get("channels_a")
    ds = get_dataset(cfg.data, resolution=res, channels=ch_a, split=cfg.split, augment=cfg.augment, seed=cfg.seed)
    if res is None:
        want = task_cls.pick_resolution(ds.resolution)
        if want != ds.resolution:
            ds = get_dataset(cfg.data, resolution=want, channels=ch_a, split=cfg.split, augment=cfg.augment, seed=cfg.seed)
    images, labels = ds.tensors()
    info = {"images": images, "labels": labels, "resolution": ds.resolution, "channels": ds.channels,
            "num_classes": ds.num_classes, "class_names": list(ds.class_names), "name": ds.name,
            "preprocessing": ds.preprocessing, "augment": ds.augment}
    if cfg.conditional and ds.num_classes < 2:
        raise TrainingError(f"conditional training needs labelled data; {ds.name} has {ds.num_classes} class")
    if cfg.data_b:
        ch_b = cfg.channels or cfg.model.get("channels_b")
        ds_b = get_dataset(cfg.data_b, resolution=ds.resolution, channels=ch_b, split=cfg.split, augment=cfg.augment,
                            seed=cfg.seed + 1)
        info.update(images_b=ds_b.tensors()[0], channels_b=ds_b.channels, name_b=ds_b.name,
                    preprocessing_b=ds_b.preprocessing, augment_b=ds_b.augment)
    return info


def build_model(cfg: TrainConfig, task_cls: type[Task], data_info: dict) -> nn.Module:
    """The family's model from the data-implied fields overridden by ``cfg.model``."""
    cls = get_family(cfg.family)
    fields = {f.name for f in dataclasses.fields(cls.config_cls)}
    kwargs = {k: v for k, v in task_cls.model_overrides(cfg, data_info).items() if k in fields}
    if "class_names" in fields and cfg.conditional:
        kwargs["class_names"] = tuple(data_info["class_names"])
    unknown = sorted(set(cfg.model) - fields)
    if unknown:
        raise TrainingError(f"unknown {cfg.family} model setting(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}")
    kwargs.update(cfg.model)
    try:
        return cls(cls.config_cls(**kwargs))
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"invalid {cfg.family} model settings: {exc}") from None


# ============================================================================ helpers
@dataclass(frozen=True)
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    created: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed(device_pref: str) -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()

    created = False
    if not dist.is_initialized():
        # created once per process and kept (a second init after destroy would hang on torchrun's
        # store), so a script may call train() several times; destroyed at interpreter exit
        use_nccl = torch.cuda.is_available() and not str(device_pref).startswith("cpu")
        dist.init_process_group("nccl" if use_nccl else "gloo")
        atexit.register(dist.destroy_process_group)
        created = True
    return _Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), created)


def _pick_device(cfg: TrainConfig, d: _Dist) -> torch.device:
    device = resolve_device(cfg.device)
    if device.type == "cuda" and d.world > 1:
        device = torch.device("cuda", d.local_rank)
        torch.cuda.set_device(device)
    return device


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _make_adam(params: list[nn.Parameter], lr: float, betas: tuple, device: torch.device) -> torch.optim.Adam:
    # fused Adam: one kernel over all parameters (CPU and CUDA); deterministic on CPU
    try:
        return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr, betas=betas, foreach=True)


def _grad_norm(params: list[nn.Parameter]) -> torch.Tensor | None:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return None
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


def resolve_resume(resume: Any, run_dir: Path) -> Path | None:
    """``resume``: None/False (fresh), True/"auto" (the run's checkpoint if any), or a path."""
    if resume is None or resume is False:
        return None
    if resume is True or resume == "auto":
        p = run_dir / CHECKPOINT_NAME
        return p if p.is_file() else None
    p = Path(resume)
    if p.is_dir():
        p = p / CHECKPOINT_NAME
    if not p.is_file():
        raise TrainingError(f"nothing to resume: no training checkpoint at {p}")
    return p


def config_from_checkpoint(path: str | os.PathLike) -> TrainConfig:
    """The ``TrainConfig`` a training checkpoint (or run folder) was written with."""
    p = Path(path)
    if p.is_dir():
        p = p / CHECKPOINT_NAME
    state = load_train_state(p)
    return TrainConfig.from_dict(state["config"])


# ============================================================================ the trainer's setup
class _SetupMixin:
    """``setup``: the ``_Trainer``'s model, task, optimisers, EMA copy, data, DDP, precision and monitor.

    The order of these steps is part of reproducibility: the global RNG is seeded just before the
    model is built (identical initial weights on every rank), and nothing else draws from it
    until the first step.
    """

    def setup(self, resume_path: Path | None) -> None:
        cfg = self.cfg
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        self._build_model_and_task()
        self._build_optimisers_and_ema()
        self._build_streams()
        if self.dist.world > 1:
            self._wrap_ddp()
        self.precision = resolve_precision(cfg.mixed_precision, self.device)
        if self.precision == "bf16":
            self.task.autocast = lambda: torch.autocast(self.device.type, dtype=torch.bfloat16)
        self._load_start_weights(resume_path)
        if self.dist.rank > 0:
            # different latents per rank (weights are equal: DDP broadcast rank 0's at wrap time)
            _seed_all(cfg.seed + 7919 * self.dist.rank + self.step)
        self.fixed = self.task.fixed_inputs(self.data_info, cfg.num_samples, seed=cfg.seed * 1000 + 424242)
        self._build_monitor()
        self.snapshot = self._flat_state()  # rollback target until the first checkpoint

    def _build_model_and_task(self) -> None:
        cfg = self.cfg
        self.task_cls = get_task(cfg.family)
        self.data_info = load_training_data(cfg, self.task_cls)
        _seed_all(cfg.seed)  # same seed on every rank: identical initial weights
        model = build_model(cfg, self.task_cls, self.data_info).to(self.device)
        if cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
        model.train()
        self.model = model
        self.task = self.task_cls(model, cfg, self.device)

    def _build_optimisers_and_ema(self) -> None:
        cfg, task = self.cfg, self.task
        self.g_params = [p for n in task.g_parts for p in task.raw[n].parameters() if p.requires_grad]
        self.d_params = [p for n in task.d_parts for p in task.raw[n].parameters() if p.requires_grad]
        self.opt_g = _make_adam(self.g_params, cfg.lr_g, cfg.betas, self.device)
        self.opt_d = _make_adam(self.d_params, cfg.lr_d, cfg.betas, self.device)
        # the EMA copy is a whole model (so it can generate/translate and be exported); only its
        # generator parts are averaged, the rest is copied in at export time
        self.ema_model = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.ema_pairs = [(list(getattr(self.ema_model, n).parameters()), list(task.raw[n].parameters()),
                           list(getattr(self.ema_model, n).buffers()), list(task.raw[n].buffers())) for n in task.g_parts]

    def _build_streams(self) -> None:
        cfg, d, info = self.cfg, self.dist, self.data_info
        self.stream = DataStream(info["images"], info["labels"], cfg.batch_size, cfg.seed, self.device,
                                 d.rank, d.world, info["augment"], cfg.channels_last)
        self.stream_b = None
        if "images_b" in info:
            ib = info["images_b"]
            self.stream_b = DataStream(ib, torch.zeros(ib.shape[0], dtype=torch.long), cfg.batch_size, cfg.seed + 1,
                                       self.device, d.rank, d.world, info.get("augment_b"), cfg.channels_last)

    def _wrap_ddp(self) -> None:
        ids = [self.device.index] if self.device.type == "cuda" else None
        for name in self.task.g_parts + self.task.d_parts:
            self.task.nets[name] = DDP(self.task.raw[name], device_ids=ids)

    def _load_start_weights(self, resume_path: Path | None) -> None:
        """Weights to start from: a resumed checkpoint (exact continuation) or ``init_from`` (fine-tuning)."""
        self.resumed_from = None
        if resume_path is None and self.cfg.init_from:
            self._init_weights(Path(self.cfg.init_from).expanduser())
        if resume_path is not None:
            state = load_train_state(resume_path)
            self._check_resumable(state["config"], resume_path)
            self._load_state(state)
            self.resumed_from = str(resume_path)

    def _build_monitor(self) -> None:
        """The collapse monitor (rank 0 only), with class coverage when a classifier is found."""
        cfg, task, info = self.cfg, self.task, self.data_info
        self.monitor = None
        self.setup_notes: list[str] = []
        if not self.dist.main:
            return
        ref = task.reference_images(info, cfg.num_samples, seed=cfg.seed + 99)
        classifier = None
        if task.generative and info["num_classes"] >= 2:
            try:
                classifier = find_classifier(cfg, self.device)
            except CheckpointError as exc:
                self.setup_notes.append(f"class coverage is off: {exc}")
        ref_labels = task.reference_labels(info, cfg.num_samples, seed=cfg.seed + 99)
        self.monitor = CollapseMonitor(ref, cfg.collapse_threshold, classifier, info["num_classes"],
                                       cfg.coverage_threshold, reference_labels=ref_labels)
