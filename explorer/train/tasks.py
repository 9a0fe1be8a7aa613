"""What each model family contributes to the one training loop: its loss terms.

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
"""

from __future__ import annotations

import contextlib
import random
from typing import Any, Callable, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from explorer import losses as L
from explorer.data.augment import diff_augment
from explorer.data.sr_mix import degrade_mixture
from explorer.errors import TrainingError
from explorer.latent import latents_from_seeds
from explorer.superres import degrade as bicubic_degrade
from explorer.train.monitors import find_classifier

Batch = dict[str, Any]
_TASKS: dict[str, type["Task"]] = {}


def register_task(family: str) -> Callable[[type["Task"]], type["Task"]]:
    def decorate(cls: type["Task"]) -> type["Task"]:
        if family in _TASKS:
            raise ValueError(f"a training task for {family!r} is already registered ({_TASKS[family].__name__})")
        cls.family = family
        _TASKS[family] = cls
        return cls

    return decorate


def get_task(family: str) -> type["Task"]:
    try:
        return _TASKS[family]
    except KeyError:
        raise TrainingError(f"no training task for model family {family!r}; trainable: {', '.join(sorted(_TASKS))}") from None


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


def _logit_stats(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> dict[str, torch.Tensor]:
    real_logits, fake_logits = real_logits.detach().float(), fake_logits.detach().float()
    return {
        "_d_real": real_logits.mean(),
        "_d_fake": fake_logits.mean(),
        "_p_real": torch.sigmoid(real_logits).mean(),
        "_p_fake": torch.sigmoid(fake_logits).mean(),
    }


# ================================================================================= DCGAN
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
        terms = {"d_adv": adv, **_logit_stats(real_logits, fake_logits)}
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


# ============================================================================== StyleGAN
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
        terms = {"d_adv": adv, **_logit_stats(real_logits, fake_logits)}
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


# ============================================================================== CycleGAN
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
                 **_logit_stats(torch.cat([real_a_logits.flatten(), real_b_logits.flatten()]),
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


# ================================================================================ SRGAN
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
        terms = {"d_adv": adv, **_logit_stats(real_logits, fake_logits)}
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
