"""SRGAN's training task: content loss (optionally perceptual), a content-only pre-training phase,
then content plus adversarial terms; low-resolution inputs degraded from each real batch."""

from __future__ import annotations

import random
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from explorer import losses as L
from explorer.data.sr_mix import degrade_mixture
from explorer.errors import TrainingError
from explorer.superres import degrade as bicubic_degrade
from explorer.train.monitors import find_classifier
from explorer.train.task_base import Batch, Task, logit_stats
from explorer.train.task_registry import register_task


@register_task("srgan")
class SRGANTask(Task):
    """Super-resolution: content loss (L1 or MSE, optional perceptual) for the first
    ``sr_pretrain_steps`` iterations, then content + ``sr_adv_weight`` · adversarial.

    Low-resolution inputs are made from each real (high-resolution) batch by the model's
    ``degrade`` method when it has one, else by ``cfg.sr_degrade``: "bicubic" (antialiased bicubic
    downscaling by ``config.scale``) or "mixture" (:func:`explorer.data.sr_mix.degrade_mixture`:
    blur, four resize kernels, noise, JPEG). Sample grids always use plain bicubic, the evaluation's
    degradation. The mixture's random stream restarts from the seed on ``--resume``.
    """

    generative = False

    def __init__(self, model: nn.Module, cfg, device: torch.device):
        super().__init__(model, cfg, device)
        self.scale = int(getattr(model.config, "scale", 4))
        self.iteration = 0
        self._degrade_rng = random.Random(cfg.seed)
        self._perceptual = None
        if cfg.sr_perceptual > 0:
            self._perceptual = _load_classifier_features(cfg, device)

    @classmethod
    def model_overrides(cls, cfg, data_info: dict) -> dict:
        return {"channels": data_info["channels"], "resolution": data_info["resolution"]}

    def degrade(self, hr: torch.Tensor) -> torch.Tensor:
        if hasattr(self.model, "degrade"):
            return self.model.degrade(hr)
        return bicubic_degrade(hr, self.scale)

    @property
    def adversarial(self) -> bool:
        return self.iteration >= self.cfg.sr_pretrain_steps

    def train_degrade(self, hr: torch.Tensor) -> torch.Tensor:
        if self.cfg.sr_degrade == "mixture" and not hasattr(self.model, "degrade"):
            return degrade_mixture(hr, self.scale, self._degrade_rng, clean_share=float(self.cfg.sr_clean_share))
        return self.degrade(hr)

    def d_step(self, batch: Batch, keep_graph: bool) -> dict[str, torch.Tensor]:
        hr = batch["x"]
        lr = self.train_degrade(hr)
        with self.autocast():
            sr = self._gen(lambda: self.nets["G"](lr), keep_graph)  # [N, C, sH, sW]
        self._fake = (sr, lr) if keep_graph else None
        self.num_d_steps += 1
        if not self.adversarial:
            zero = hr.new_zeros(())
            return {"loss": zero, "d_adv": zero}  # D idles while G pre-trains on content alone
        with self.autocast():
            real_logits = self.nets["D"](self.aug(hr))
            fake_logits = self.nets["D"](self.aug(sr.detach()))
        adv = self._adv_d(real_logits.flatten(), fake_logits.flatten())
        terms = {"d_adv": adv, **logit_stats(real_logits, fake_logits)}
        loss = adv
        if self.use_gp:
            terms["gp"] = L.gradient_penalty(self.raw["D"], hr, sr, self.cfg.gp_weight)
            loss = loss + terms["gp"]
        terms["loss"] = loss
        return terms

    def g_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        hr = batch["x"]
        sr, _ = self._fake
        self._fake = None
        fake_logits = None
        with self.autocast():
            if self.adversarial:
                fake_logits = self.raw["D"](self.aug(sr)).flatten().float()
            terms = L.sr_generator_loss(sr.float(), hr, fake_logits, self.cfg.sr_content, self.cfg.sr_adv_weight,
                                        self._perceptual, self.cfg.sr_perceptual)
        self.iteration += 1
        return terms

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "iteration": self.iteration}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.iteration = int(state.get("iteration", 0))

    def fixed_inputs(self, data: dict, num: int, seed: int) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(seed)
        hr = data["images"][torch.randperm(data["images"].shape[0], generator=gen)[:num]].to(self.device)
        return {"hr": hr, "lr": self.degrade(hr)}

    @torch.no_grad()
    def render(self, model: nn.Module, fixed: dict[str, torch.Tensor]) -> torch.Tensor:
        return model.translate(fixed["lr"], model.directions[0] if model.directions else "x4")

    def grid_images(self, outputs: torch.Tensor, fixed: dict[str, torch.Tensor]) -> torch.Tensor:
        # rows: nearest-upscaled input, super-resolved, original
        lr_up = F.interpolate(fixed["lr"], size=outputs.shape[-2:], mode="nearest")
        rows = []
        for i in range(0, outputs.shape[0], 8):
            rows += [lr_up[i : i + 8], outputs[i : i + 8], fixed["hr"][i : i + 8]]
        return torch.cat(rows)


def _load_classifier_features(cfg, device: torch.device):
    clf = find_classifier(cfg, device)
    if clf is None:
        raise TrainingError("sr_perceptual > 0 needs a classifier checkpoint (checkpoints/classifier_<data>.safetensors "
                            "or the `classifier` setting)")
    clf.requires_grad_(False)
    return clf.features
