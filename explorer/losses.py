"""GAN losses and regularisers as pure functions on logits and tensors.

Everything here takes raw discriminator logits (no sigmoid applied; higher = "more real")
or images, and returns a scalar tensor averaged over the batch, so that the training loop
can add terms freely. Logit-space formulas use ``softplus`` rather than ``log(sigmoid)``
because they stay finite for large logits:

    log σ(x)      = -softplus(-x)
    log(1 - σ(x)) = -softplus(x)

Adversarial pairs live in :data:`GAN_LOSSES` (name -> ``GanLoss(d_loss, g_loss)``):

=============== =========================================== ==================================
name            D loss(real r, fake f)                      G loss(fake f)
=============== =========================================== ==================================
minimax         E softplus(-r) + E softplus(f)              E log(1 - σ(f)) = -E softplus(f)
nonsaturating   same as minimax                             E softplus(-f)  (= -E log σ(f))
wgan-clip       E f - E r   (+ weight clipping)             -E f
wgan-gp         E f - E r   (+ gradient penalty, λ=10)      -E f
hinge           E relu(1 - r) + E relu(1 + f)               -E f
lsgan           ½ E (r - 1)² + ½ E f²                       E (f - 1)²
=============== =========================================== ==================================

The LSGAN scaling follows CycleGAN (D loss halved, G loss not). WGAN's regularisers are not
functions of the logits alone, so they are separate helpers: :func:`clip_weights` (call after
each critic step) and :func:`gradient_penalty`; :data:`NEEDS_GRADIENT_PENALTY` and
:data:`NEEDS_WEIGHT_CLIP` name the losses that want them.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from explorer.errors import TrainingError

Tensor = torch.Tensor


# ----- adversarial losses ------------------------------------------------------------------
def minimax_d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Binary cross-entropy of D: -E log σ(r) - E log(1 - σ(f))."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def minimax_g_loss(fake_logits: Tensor) -> Tensor:
    """The original (saturating) G loss E log(1 - σ(f)); G minimises it. Gradients vanish when D wins."""
    return -F.softplus(fake_logits).mean()


def nonsaturating_g_loss(fake_logits: Tensor) -> Tensor:
    """Non-saturating G loss -E log σ(f) (Goodfellow et al. 2014, §3)."""
    return F.softplus(-fake_logits).mean()


def wasserstein_d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Critic loss E f - E r (the critic maximises E r - E f)."""
    return fake_logits.mean() - real_logits.mean()


def wasserstein_g_loss(fake_logits: Tensor) -> Tensor:
    return -fake_logits.mean()


def hinge_d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Hinge loss (Lim & Ye 2017; used by SAGAN/BigGAN): E relu(1 - r) + E relu(1 + f)."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def hinge_g_loss(fake_logits: Tensor) -> Tensor:
    return -fake_logits.mean()


def lsgan_d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Least-squares D loss with targets 1 (real) and 0 (fake), halved as in CycleGAN."""
    return 0.5 * ((real_logits - 1.0).square().mean() + fake_logits.square().mean())


def lsgan_g_loss(fake_logits: Tensor) -> Tensor:
    return (fake_logits - 1.0).square().mean()


class GanLoss(NamedTuple):
    """An adversarial loss pair: ``d_loss(real_logits, fake_logits)``, ``g_loss(fake_logits)``."""

    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[[Tensor], Tensor]


GAN_LOSSES: dict[str, GanLoss] = {
    "minimax": GanLoss(minimax_d_loss, minimax_g_loss),
    "nonsaturating": GanLoss(minimax_d_loss, nonsaturating_g_loss),
    "wgan-clip": GanLoss(wasserstein_d_loss, wasserstein_g_loss),
    "wgan-gp": GanLoss(wasserstein_d_loss, wasserstein_g_loss),
    "hinge": GanLoss(hinge_d_loss, hinge_g_loss),
    "lsgan": GanLoss(lsgan_d_loss, lsgan_g_loss),
}
NEEDS_GRADIENT_PENALTY = frozenset({"wgan-gp"})
NEEDS_WEIGHT_CLIP = frozenset({"wgan-clip"})


def get_gan_loss(name: str) -> GanLoss:
    """Look up an adversarial loss by name; unknown names raise :class:`TrainingError`."""
    try:
        return GAN_LOSSES[name]
    except KeyError:
        raise TrainingError(f"unknown GAN loss {name!r}; choose one of {', '.join(GAN_LOSSES)}") from None


# ----- regularisers ------------------------------------------------------------------------
@torch.no_grad()
def clip_weights(module: nn.Module, clip_value: float = 0.01) -> None:
    """Clamp every parameter of ``module`` to [-c, c] in place (WGAN, Arjovsky et al. 2017)."""
    params = [p for p in module.parameters()]
    if params:
        torch._foreach_clamp_min_(params, -clip_value)
        torch._foreach_clamp_max_(params, clip_value)


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    weight: float = 10.0,
    alpha: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """WGAN-GP penalty λ · E (‖∇ critic(x̂)‖₂ - 1)² on x̂ = α·real + (1-α)·fake (Gulrajani et al. 2017).

    ``critic`` maps images [N, ...] to logits [N] (or [N, ...], summed per sample). ``alpha`` [N]
    defaults to U(0, 1) per sample, drawn from ``generator`` (or the global RNG). The result
    keeps its graph, so backpropagating it trains the critic.
    """
    n = real.shape[0]
    if alpha is None:
        alpha = torch.rand(n, generator=generator, device="cpu" if generator is None else generator.device)
    alpha = alpha.to(real.device, real.dtype).view(n, *([1] * (real.ndim - 1)))
    x_hat = (alpha * real.detach() + (1.0 - alpha) * fake.detach()).requires_grad_(True)
    logits = critic(x_hat)
    (grad,) = torch.autograd.grad(logits.sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)  # [N]
    return weight * (norms - 1.0).square().mean()


def r1_penalty(real_logits: Tensor, real_images: Tensor, gamma: float = 10.0) -> Tensor:
    """R1 penalty γ/2 · E ‖∇ₓ D(x)‖² on real images (Mescheder et al. 2018).

    ``real_images`` must have had ``requires_grad_(True)`` before ``real_logits = D(real_images)``.
    """
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return 0.5 * gamma * grad.flatten(1).square().sum(1).mean()


# ----- reconstruction and feature losses ---------------------------------------------------
def l1_loss(output: Tensor, target: Tensor) -> Tensor:
    """Mean absolute error."""
    return (output - target).abs().mean()


def l2_loss(output: Tensor, target: Tensor) -> Tensor:
    """Mean squared error."""
    return (output - target).square().mean()


def feature_matching_loss(real_features: Sequence[Tensor] | Tensor, fake_features: Sequence[Tensor] | Tensor) -> Tensor:
    """Feature matching (Salimans et al. 2016): Σ_layers mean over units of (E f(x) - E f(G(z)))².

    Features are discriminator activations [N, ...] per layer; the batch means are compared,
    and real features are treated as constants.
    """
    if isinstance(real_features, Tensor):
        real_features, fake_features = [real_features], [fake_features]  # type: ignore[list-item]
    if len(real_features) != len(fake_features) or not real_features:
        raise TrainingError("feature matching needs the same (non-zero) number of real and fake feature layers")
    total = fake_features[0].new_zeros(())
    for real, fake in zip(real_features, fake_features):
        total = total + (real.detach().mean(0) - fake.mean(0)).square().mean()
    return total


def mode_seeking(fake_1: Tensor, fake_2: Tensor, z_1: Tensor, z_2: Tensor, eps: float = 1e-5) -> Tensor:
    """Mode-seeking term (Mao et al. 2019, MSGAN) for the generator, to minimise:
    1 / (ratio + eps) with ratio = mean|fake_1 - fake_2| / mean|z_1 - z_2|.

    Pairs (fake_1[i], fake_2[i]) come from different latents with the same condition; a generator
    that ignores the latent (conditional mode collapse) makes the ratio 0 and this term large.
    """
    if fake_1.shape != fake_2.shape or z_1.shape != z_2.shape or fake_1.shape[0] != z_1.shape[0] or not len(z_1):
        raise TrainingError("mode seeking needs two equally long batches of images and of latents")
    ratio = (fake_1 - fake_2).abs().mean() / (z_1 - z_2).abs().mean()
    return 1.0 / (ratio + eps)


def cycle_consistency_loss(real_a: Tensor, rec_a: Tensor, real_b: Tensor, rec_b: Tensor, lambda_cyc: float = 10.0) -> Tensor:
    """CycleGAN cycle loss λ_cyc · (‖G_BA(G_AB(a)) - a‖₁ + ‖G_AB(G_BA(b)) - b‖₁) (means over pixels)."""
    return lambda_cyc * (l1_loss(rec_a, real_a) + l1_loss(rec_b, real_b))


def identity_loss(
    real_a: Tensor, same_a: Tensor, real_b: Tensor, same_b: Tensor, lambda_cyc: float = 10.0, lambda_id: float = 0.5
) -> Tensor:
    """CycleGAN identity loss λ_cyc · λ_id · (‖G_BA(a) - a‖₁ + ‖G_AB(b) - b‖₁).

    ``same_a = G_BA(real_a)`` (a generator fed an image already in its output domain should
    leave it alone); λ_id = 0.5 relative to λ_cyc as in the CycleGAN paper's code.
    """
    return lambda_cyc * lambda_id * (l1_loss(same_a, real_a) + l1_loss(same_b, real_b))


def content_loss(sr: Tensor, hr: Tensor, kind: str = "l1") -> Tensor:
    """Super-resolution content loss in pixel space: ``"l1"`` or ``"mse"``."""
    if kind == "l1":
        return l1_loss(sr, hr)
    if kind in ("mse", "l2"):
        return l2_loss(sr, hr)
    raise TrainingError(f"unknown content loss {kind!r}; choose 'l1' or 'mse'")


def sr_generator_loss(
    sr: Tensor,
    hr: Tensor,
    fake_logits: Tensor | None,
    content: str = "l1",
    adv_weight: float = 1e-3,
    perceptual: Callable[[Tensor], Tensor | Sequence[Tensor]] | None = None,
    perceptual_weight: float = 1.0,
) -> dict[str, Tensor]:
    """SRGAN generator objective: content + adv_weight · (-E log σ(D(sr))) (Ledig et al. 2017).

    ``fake_logits=None`` gives the content-only objective used to pre-train the generator.
    ``perceptual`` (optional) maps images to features (e.g. the project classifier's); its
    MSE between sr and hr is added with ``perceptual_weight``. Returns the terms and ``"loss"``.
    """
    terms: dict[str, Tensor] = {"content": content_loss(sr, hr, content)}
    total = terms["content"]
    if perceptual is not None:
        f_sr, f_hr = perceptual(sr), perceptual(hr)
        if isinstance(f_sr, Tensor):
            f_sr, f_hr = [f_sr], [f_hr]  # type: ignore[list-item]
        terms["perceptual"] = sum(l2_loss(a, b.detach()) for a, b in zip(f_sr, f_hr))  # type: ignore[assignment]
        total = total + perceptual_weight * terms["perceptual"]
    if fake_logits is not None:
        terms["adversarial"] = nonsaturating_g_loss(fake_logits)
        total = total + adv_weight * terms["adversarial"]
    terms["loss"] = total
    return terms
