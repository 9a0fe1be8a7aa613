"""The base class of training tasks: what a model family contributes to the one training loop.

A task knows its family's networks and losses and nothing about optimisers, EMA, checkpoints,
devices or events (the loop in ``explorer.train.loop`` owns those). Per iteration the loop calls
``d_step(batch, keep_graph)`` ``n_critic`` times and then ``g_step(batch)`` once; each returns
a dict of scalar tensors whose ``"loss"`` entry is what the loop backpropagates (into the
``d_parts`` or ``g_parts`` parameters only). Keys starting with ``_`` are statistics, not losses
(``_d_real`` / ``_d_fake``: mean raw logits of D on real / generated images).

Like pytorch/examples' DCGAN, the fake batch generated in the last D step keeps its graph and
is reused by the G step, so G runs forward once per iteration, not twice.

``self.nets[name]`` is the network to call when training ``name`` (DistributedDataParallel-
wrapped under torchrun); ``self.raw[name]`` is the bare module (used for forward passes that do
not train that network, e.g. D inside the G step).

The implementations live one family per module (``task_dcgan``, ``task_stylegan``,
``task_cyclegan``, ``task_srgan``) and register themselves in :mod:`explorer.train.task_registry`.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from explorer import losses as L
from explorer.data.augment import diff_augment
from explorer.latent import latents_from_seeds

Batch = dict[str, Any]


class Task:
    """Base class: a family's loss terms over its generator parts and discriminator parts."""

    family: ClassVar[str] = ""
    g_parts: ClassVar[tuple[str, ...]] = ("G",)
    d_parts: ClassVar[tuple[str, ...]] = ("D",)
    #: does this family map latents to images (True) or images to images (False)?
    generative: ClassVar[bool] = True

    def __init__(self, model: nn.Module, cfg, device: torch.device):
        self.model = model
        self.cfg = cfg
        self.device = device
        self.gan = L.get_gan_loss(cfg.gan_loss)
        self.use_gp = cfg.gan_loss in L.NEEDS_GRADIENT_PENALTY
        self.use_clip = cfg.gan_loss in L.NEEDS_WEIGHT_CLIP
        self.raw = {name: getattr(model, name) for name in self.g_parts + self.d_parts}
        self.nets = dict(self.raw)
        self.autocast: Callable[[], Any] = contextlib.nullcontext
        self.num_d_steps = 0  # counts D steps (lazy regularisation schedules use it)
        self._fake: Any = None  # generated batch (with graph) handed from the last D step to the G step

    # ----- model construction (classmethods: run before the model exists) ------------------
    @classmethod
    def model_overrides(cls, cfg, data_info: dict) -> dict:
        """Family config fields implied by the data (resolution, channels, classes)."""
        out = {"resolution": data_info["resolution"], "channels": data_info["channels"]}
        if cfg.conditional:
            out["num_classes"] = data_info["num_classes"]
        return out

    @classmethod
    def pick_resolution(cls, native: int) -> int:
        """Training resolution for data of native size ``native`` when none is given."""
        return native

    # ----- hooks the loop calls -------------------------------------------------------------
    def aug(self, x: torch.Tensor) -> torch.Tensor:
        """DiffAugment for D inputs (real and fake alike), if configured."""
        if not self.cfg.diffaugment:
            return x

        return diff_augment(x, self.cfg.diffaugment)

    def d_step(self, batch: Batch, keep_graph: bool) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def g_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def after_d_step(self) -> None:
        """Called after each D optimiser step (WGAN weight clipping)."""
        if self.use_clip:
            for name in self.d_parts:
                L.clip_weights(self.raw[name], self.cfg.clip_value)

    def state_dict(self) -> dict[str, Any]:
        """Task state beyond the networks (counters, image pool) for exact resume."""
        return {"num_d_steps": self.num_d_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.num_d_steps = int(state.get("num_d_steps", 0))

    # ----- samples for the grid and the monitors ---------------------------------------------
    def fixed_inputs(self, data: dict, num: int, seed: int) -> dict[str, torch.Tensor]:
        """The fixed batch the sample grid is drawn from (latents from seeds, never the global RNG)."""

        z = latents_from_seeds(self.model.latent_dim, range(seed, seed + num)).to(self.device)
        out = {"z": z}
        if self.model.num_classes:
            out["labels"] = (torch.arange(num) % self.model.num_classes).to(self.device)
        return out

    @torch.no_grad()
    def render(self, model: nn.Module, fixed: dict[str, torch.Tensor]) -> torch.Tensor:
        """Images [N, C, H, W] in [-1, 1] from ``model`` (the EMA copy, eval mode) on ``fixed``."""
        return model.generate(fixed["z"], fixed.get("labels"))

    @staticmethod
    def _reference_index(data: dict, num: int, seed: int) -> torch.Tensor:
        """Which real images form the collapse monitor's reference batch (fixed per run)."""
        gen = torch.Generator().manual_seed(seed)
        return torch.randperm(data["images"].shape[0], generator=gen)[:num]

    def reference_images(self, data: dict, num: int, seed: int) -> torch.Tensor:
        """Real images the collapse monitor compares the rendered samples with (fixed per run)."""
        return data["images"][self._reference_index(data, num, seed)]

    def reference_labels(self, data: dict, num: int, seed: int) -> torch.Tensor | None:
        """Labels of :meth:`reference_images` (same draw), or None when the model ignores labels."""
        if not getattr(self.model, "num_classes", 0) or data.get("labels") is None:
            return None
        return data["labels"][self._reference_index(data, num, seed)]

    def grid_images(self, outputs: torch.Tensor, fixed: dict[str, torch.Tensor]) -> torch.Tensor:
        """What the sample grid shows (translation tasks put inputs next to outputs)."""
        return outputs

    # ----- shared helpers ---------------------------------------------------------------------
    def _adv_d(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return self.gan.d_loss(real_logits.float(), fake_logits.float())

    def _gen(self, fn: Callable[[], torch.Tensor], keep_graph: bool) -> torch.Tensor:
        if keep_graph:
            return fn()
        with torch.no_grad():
            return fn()


def logit_stats(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """The statistics every D step reports: mean raw logits and mean sigmoid of D on real and fake."""
    real_logits, fake_logits = real_logits.detach().float(), fake_logits.detach().float()
    return {
        "_d_real": real_logits.mean(),
        "_d_fake": fake_logits.mean(),
        "_p_real": torch.sigmoid(real_logits).mean(),
        "_p_fake": torch.sigmoid(fake_logits).mean(),
    }
