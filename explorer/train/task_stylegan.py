"""StyleGAN's training task: adversarial terms, lazy R1, style mixing and the w_avg update."""

from __future__ import annotations

import torch

from explorer import losses as L
from explorer.train.task_base import Batch, Task, logit_stats
from explorer.train.task_registry import register_task


@register_task("stylegan")
class StyleGANTask(Task):
    """StyleGAN2-style training: non-saturating loss (by default), lazy R1 on real images every
    ``r1_interval`` D steps with weight γ·interval, w_avg EMA updated by each G forward, optional
    style-mixing regularisation (``style_mixing`` = probability per batch)."""

    @classmethod
    def pick_resolution(cls, native: int) -> int:
        r = 8
        while r < native:
            r *= 2
        return r

    def d_step(self, batch: Batch, keep_graph: bool) -> dict[str, torch.Tensor]:
        x, y = batch["x"], batch.get("y")
        z = torch.randn(x.shape[0], self.model.latent_dim, device=self.device)
        G, D = self.nets["G"], self.nets["D"]
        do_r1 = self.cfg.r1_gamma > 0 and self.num_d_steps % self.cfg.r1_interval == 0
        real_in = x.detach().requires_grad_(True) if do_r1 else x
        with self.autocast():
            fake = self._gen(lambda: G(z, y, mixing_prob=self.cfg.style_mixing, update_w_avg=keep_graph), keep_graph)
            real_logits = D(self.aug(real_in), y)
            fake_logits = D(self.aug(fake.detach()), y)
        adv = self._adv_d(real_logits, fake_logits)
        terms = {"d_adv": adv, **logit_stats(real_logits, fake_logits)}
        loss = adv
        if do_r1:
            # lazy regularisation (StyleGAN2 §4): every k-th step, k times the weight
            terms["r1"] = L.r1_penalty(real_logits.float(), real_in, self.cfg.r1_gamma) * self.cfg.r1_interval
            loss = loss + terms["r1"]
        if self.use_gp:
            D_raw = self.raw["D"]
            terms["gp"] = L.gradient_penalty(lambda t: D_raw(t, y), x, fake, self.cfg.gp_weight)
            loss = loss + terms["gp"]
        self._fake = (fake, y) if keep_graph else None
        self.num_d_steps += 1
        terms["loss"] = loss
        return terms

    def g_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        fake, y = self._fake
        self._fake = None
        with self.autocast():
            fake_logits = self.raw["D"](self.aug(fake), y)
        adv = self.gan.g_loss(fake_logits.float())
        return {"loss": adv, "g_adv": adv}
