"""DCGAN's training task: its adversarial loss terms, gradient penalty and mode-seeking term."""

from __future__ import annotations

import torch

from explorer import losses as L
from explorer.train.task_base import Batch, Task, logit_stats
from explorer.train.task_registry import register_task


@register_task("dcgan")
class DCGANTask(Task):
    """DCGAN: any adversarial loss of the registry; class-conditional when the model is.

    Conditional runs give G the real batch's labels, so fake labels follow the data's class
    frequencies without touching the random stream.
    """

    @classmethod
    def pick_resolution(cls, native: int) -> int:
        return 32 if native <= 32 else 64 if native <= 64 else 128

    def _latents(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.model.latent_dim, device=self.device)

    def _pairs(self, n: int) -> int:
        """Mode seeking compares fake[:h] with fake[h:2h] (same labels); h = 0 when it is off."""
        return n // 2 if self.cfg.mode_seeking > 0 else 0

    def d_step(self, batch: Batch, keep_graph: bool) -> dict[str, torch.Tensor]:
        x, y = batch["x"], batch.get("y")
        z = self._latents(x.shape[0])
        h = self._pairs(x.shape[0])
        y_fake = y
        if h and y is not None:
            y_fake = y.clone()
            y_fake[h:2 * h] = y[:h]  # each pair (i, h+i) shares a label, so only z differs
        G, D = self.nets["G"], self.nets["D"]
        with self.autocast():
            fake = self._gen(lambda: G(z, y_fake), keep_graph)  # [N, C, R, R]
            real_logits = D(self.aug(x), y)  # [N]
            fake_logits = D(self.aug(fake.detach()), y_fake)  # [N]
        adv = self._adv_d(real_logits, fake_logits)
        terms = {"d_adv": adv, **logit_stats(real_logits, fake_logits)}
        loss = adv
        if self.use_gp:
            D_raw = self.raw["D"]
            terms["gp"] = L.gradient_penalty(lambda t: D_raw(t, y), x, fake, self.cfg.gp_weight)
            loss = loss + terms["gp"]
        self._fake = (fake, y_fake, z) if keep_graph else None
        self.num_d_steps += 1
        terms["loss"] = loss
        return terms

    def g_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        fake, y, z = self._fake
        self._fake = None
        with self.autocast():
            fake_logits = self.raw["D"](self.aug(fake), y)  # [N]
        adv = self.gan.g_loss(fake_logits.float())
        terms = {"g_adv": adv}
        loss = adv
        h = self._pairs(fake.shape[0])
        if h:
            terms["mode_seeking"] = self.cfg.mode_seeking * L.mode_seeking(fake[:h], fake[h:2 * h], z[:h], z[h:2 * h])
            loss = loss + terms["mode_seeking"]
        terms["loss"] = loss
        return terms
