"""CycleGAN's training task: two adversarial directions, cycle and identity losses, and the image
pools (:class:`ImagePool`) that feed each discriminator a history of generated images."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from explorer import losses as L
from explorer.train.task_base import Batch, Task, logit_stats
from explorer.train.task_registry import register_task


class ImagePool:
    """History of generated images (Shrivastava et al. 2017, as in CycleGAN): D sees a mix of the
    newest fakes and older ones, which damps oscillation. Size 0 disables it.

    Each image of a query batch enters the pool while it is filling; once full, with
    probability ½ it replaces a random stored image and the stored one is returned instead.
    Draws come from the pool's own generator so its state can be checkpointed.
    """

    def __init__(self, size: int, seed: int):
        self.size = size
        self.images: torch.Tensor | None = None  # [n ≤ size, C, H, W]
        self.generator = torch.Generator().manual_seed(seed)

    def query(self, fakes: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return fakes
        fakes = fakes.detach()
        out = []
        for img in fakes:
            n = 0 if self.images is None else self.images.shape[0]
            if n < self.size:
                self.images = img[None].clone() if self.images is None else torch.cat([self.images, img[None]])
                out.append(img)
            elif float(torch.rand((), generator=self.generator)) > 0.5:
                i = int(torch.randint(0, self.size, (), generator=self.generator))
                out.append(self.images[i].clone())
                self.images[i] = img
            else:
                out.append(img)
        return torch.stack(out)

    def state_dict(self) -> dict[str, Any]:
        return {"images": self.images, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        images = state.get("images")
        self.images = None if images is None else images.to(device)
        self.generator.set_state(state["generator"])


@register_task("cyclegan")
class CycleGANTask(Task):
    """CycleGAN: LSGAN adversarial terms (by default) for both directions, cycle-consistency
    (λ_cyc) and identity (λ_id·λ_cyc) losses, image pools of ``pool_size`` for each D.

    The batch holds ``x`` (domain A) and ``x_b`` (domain B), drawn independently (unpaired).
    """

    g_parts = ("G_AB", "G_BA")
    d_parts = ("D_A", "D_B")
    generative = False

    def __init__(self, model: nn.Module, cfg, device: torch.device):
        super().__init__(model, cfg, device)
        self.pool_a = ImagePool(cfg.pool_size, cfg.seed + 1)
        self.pool_b = ImagePool(cfg.pool_size, cfg.seed + 2)

    @classmethod
    def model_overrides(cls, cfg, data_info: dict) -> dict:
        return {"resolution": data_info["resolution"], "channels_a": data_info["channels"],
                "channels_b": data_info["channels_b"]}

    def d_step(self, batch: Batch, keep_graph: bool) -> dict[str, torch.Tensor]:
        a, b = batch["x"], batch["x_b"]
        with self.autocast():
            fake_b = self._gen(lambda: self.nets["G_AB"](a), keep_graph)  # [N, Cb, H, W]
            fake_a = self._gen(lambda: self.nets["G_BA"](b), keep_graph)  # [N, Ca, H, W]
            real_a_logits = self.nets["D_A"](self.aug(a))  # [N, 1, h, w] patch logits
            fake_a_logits = self.nets["D_A"](self.aug(self.pool_a.query(fake_a).to(a.dtype)))
            real_b_logits = self.nets["D_B"](self.aug(b))
            fake_b_logits = self.nets["D_B"](self.aug(self.pool_b.query(fake_b).to(b.dtype)))
        d_a = self._adv_d(real_a_logits, fake_a_logits)
        d_b = self._adv_d(real_b_logits, fake_b_logits)
        terms = {"d_a": d_a, "d_b": d_b,
                 **logit_stats(torch.cat([real_a_logits.flatten(), real_b_logits.flatten()]),
                                torch.cat([fake_a_logits.flatten(), fake_b_logits.flatten()]))}
        loss = d_a + d_b
        if self.use_gp:
            terms["gp"] = (L.gradient_penalty(self.raw["D_A"], a, fake_a, self.cfg.gp_weight)
                           + L.gradient_penalty(self.raw["D_B"], b, fake_b, self.cfg.gp_weight))
            loss = loss + terms["gp"]
        self._fake = (fake_a, fake_b) if keep_graph else None
        self.num_d_steps += 1
        terms["loss"] = loss
        return terms

    def g_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        a, b = batch["x"], batch["x_b"]
        fake_a, fake_b = self._fake
        self._fake = None
        G_AB, G_BA = self.raw["G_AB"], self.raw["G_BA"]
        with self.autocast():
            adv_ab = self.gan.g_loss(self.raw["D_B"](self.aug(fake_b)).float())
            adv_ba = self.gan.g_loss(self.raw["D_A"](self.aug(fake_a)).float())
            rec_a, rec_b = G_BA(fake_b), G_AB(fake_a)  # A→B→A, B→A→B
            terms = {"g_ab": adv_ab, "g_ba": adv_ba,
                     "cycle": L.cycle_consistency_loss(a, rec_a.float(), b, rec_b.float(), self.cfg.lambda_cyc)}
            loss = adv_ab + adv_ba + terms["cycle"]
            lambda_id = self.identity_weight()
            if lambda_id > 0:
                same_a, same_b = G_BA(a), G_AB(b)  # a generator fed its own output domain should do nothing
                terms["identity"] = L.identity_loss(a, same_a.float(), b, same_b.float(), self.cfg.lambda_cyc, lambda_id)
                loss = loss + terms["identity"]
        terms["loss"] = loss
        return terms

    def identity_weight(self) -> float:
        """λ_id of the current iteration: constant, or falling linearly to 0 at ``lambda_id_until``."""
        until = self.cfg.lambda_id_until
        if until is None:
            return self.cfg.lambda_id
        iteration = (self.num_d_steps - 1) // self.cfg.n_critic  # the G step follows this iteration's D steps
        return self.cfg.lambda_id * max(0.0, 1.0 - iteration / until)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "pool_a": self.pool_a.state_dict(), "pool_b": self.pool_b.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.pool_a.load_state_dict(state["pool_a"], self.device)
        self.pool_b.load_state_dict(state["pool_b"], self.device)

    def fixed_inputs(self, data: dict, num: int, seed: int) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(seed)
        a, b = data["images"], data["images_b"]
        ia = torch.randperm(a.shape[0], generator=gen)[: max(1, num // 2)]
        ib = torch.randperm(b.shape[0], generator=gen)[: max(1, num // 2)]
        return {"a": a[ia].to(self.device), "b": b[ib].to(self.device)}

    @torch.no_grad()
    def render(self, model: nn.Module, fixed: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([model.translate(fixed["a"], "AtoB"), model.translate(fixed["b"], "BtoA")])

    def reference_images(self, data: dict, num: int, seed: int) -> torch.Tensor:
        # the samples are half A→B, half B→A: compare with real images of both domains
        gen = torch.Generator().manual_seed(seed)
        a, b = data["images"], data["images_b"]
        half = max(2, num // 2)
        return torch.cat([a[torch.randperm(a.shape[0], generator=gen)[:half]],
                          b[torch.randperm(b.shape[0], generator=gen)[:half]]])

    def grid_images(self, outputs: torch.Tensor, fixed: dict[str, torch.Tensor]) -> torch.Tensor:
        # rows alternate input / translation: A then A→B, B then B→A
        inputs = torch.cat([fixed["a"], fixed["b"]])
        return _interleave_rows(inputs, outputs)


def _interleave_rows(inputs: torch.Tensor, outputs: torch.Tensor, per_row: int = 8) -> torch.Tensor:
    """Stack [input row, output row, input row, …] with ``per_row`` images per row."""
    rows = []
    for i in range(0, inputs.shape[0], per_row):
        rows += [inputs[i : i + per_row], outputs[i : i + per_row]]
    return torch.cat(rows)
