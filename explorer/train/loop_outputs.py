"""What the training loop shows and leaves behind: events (rank 0 only), the step report, sample
grids with the collapse monitor's reading and alerts, and the exported inference model with its
card and training summary.

:class:`_OutputsMixin` is one part of the loop's ``_Trainer`` (:mod:`explorer.train.loop`): its methods
read the trainer's settings, EMA model, task, fixed sample inputs, monitor and counters.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from explorer.atomic import atomic_path
from explorer.checkpoint import save
from explorer.images import make_grid, tensor_to_uint8
from explorer.train.events import AlertEvent, Event, SamplesEvent, StepEvent

MODEL_NAME = "model.safetensors"


class _OutputsMixin:
    """Events, samples, monitor alerts and the exported model of the ``_Trainer``."""

    def _emit(self, event: Event) -> None:
        if self.dist.main:
            self.sink.emit(event)

    def _report_step(self, values: dict[str, float], num_steps: int, grad_norm_g, grad_norm_d, seconds: float) -> None:
        """The step event of a logging interval: mean losses and D statistics over its ``num_steps``."""
        cfg = self.cfg
        self.final_losses = {k: v for k, v in values.items() if not k.startswith("_")}
        self._emit(StepEvent(
            step=self.step, losses=self.final_losses,
            d_real=values.get("_p_real"), d_fake=values.get("_p_fake"),
            d_real_logit=values.get("_d_real"), d_fake_logit=values.get("_d_fake"),
            grad_norm_g=None if grad_norm_g is None else float(grad_norm_g),
            grad_norm_d=None if grad_norm_d is None else float(grad_norm_d),
            images_per_s=num_steps * cfg.n_critic * cfg.batch_size * self.dist.world / seconds,
            lr_g=cfg.lr_g * self._lr_factor(), lr_d=cfg.lr_d * self._lr_factor(), elapsed_s=self._wall_time()))

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


def _to_uint8_grid(images: torch.Tensor, nrow: int | None = None):
    """[N, C, H, W] in [-1, 1] → uint8 [H', W', 3] grid (numpy; grey repeated to RGB, white padding).

    The project's one grid (:func:`explorer.images.make_grid`); at most ``N`` columns; one image
    is returned as is, without a frame."""
    images = images.detach().float().cpu().clamp(-1, 1).expand(-1, 3, -1, -1)  # grey shown as RGB
    if images.shape[0] == 1:
        return tensor_to_uint8(images[0])
    return np.asarray(make_grid(images, nrow=min(nrow, images.shape[0]) if nrow else None, padding=2, pad_value=255))


def _save_png(array, path: Path) -> None:
    img = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")


def _machine(device: torch.device) -> dict[str, Any]:
    out = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
           "cpu_count": os.cpu_count(), "torch": torch.__version__, "device": str(device),
           "threads": torch.get_num_threads()}
    if device.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(device)
    return out
