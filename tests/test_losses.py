"""Each loss checked against values worked out by hand (see the comment beside each number)."""

import math

import pytest
import torch
from torch import nn

from explorer import losses as L
from explorer.errors import TrainingError

LN3 = math.log(3.0)


def close(t, value, tol=1e-6):
    assert t.shape == ()
    assert abs(float(t.detach()) - value) < tol, (float(t.detach()), value)


def test_registry_names():
    assert set(L.GAN_LOSSES) == {"minimax", "nonsaturating", "wgan-clip", "wgan-gp", "hinge", "lsgan"}
    d_loss, g_loss = L.GAN_LOSSES["hinge"]
    assert d_loss is L.hinge_d_loss and g_loss is L.hinge_g_loss
    with pytest.raises(TrainingError, match="unknown GAN loss"):
        L.get_gan_loss("wgan")


def test_minimax_and_nonsaturating():
    # σ(0) = 1/2, σ(ln 3) = 3/4, σ(-ln 3) = 1/4
    real = torch.tensor([0.0, LN3])
    fake = torch.tensor([0.0, -LN3])
    # -E log σ(r) = (ln 2 + ln 4/3)/2 ; -E log(1 - σ(f)) = (ln 2 + ln 4/3)/2  -> sum ln(8/3)
    close(L.GAN_LOSSES["minimax"].d_loss(real, fake), math.log(8 / 3))
    close(L.GAN_LOSSES["nonsaturating"].d_loss(real, fake), math.log(8 / 3))
    # E log(1 - σ(f)) = (ln 1/2 + ln 3/4)/2
    close(L.minimax_g_loss(fake), (math.log(0.5) + math.log(0.75)) / 2)
    # -E log σ(f) = (ln 2 + ln 4)/2
    close(L.nonsaturating_g_loss(fake), 1.5 * math.log(2))


def test_saturating_vs_nonsaturating_gradient():
    # when D confidently rejects fakes (f = -10) the saturating loss gives almost no gradient
    f = torch.tensor([-10.0], requires_grad=True)
    (g_sat,) = torch.autograd.grad(L.minimax_g_loss(f), f)
    (g_ns,) = torch.autograd.grad(L.nonsaturating_g_loss(f), f)
    assert abs(float(g_sat)) < 1e-4  # -σ(-10) ≈ -4.5e-5
    assert abs(float(g_ns) + 1.0) < 1e-4  # -σ(10) ≈ -1


def test_large_logits_stay_finite():
    big = torch.tensor([1e4, -1e4])
    for d_loss, g_loss in L.GAN_LOSSES.values():
        assert torch.isfinite(d_loss(big, big)) and torch.isfinite(g_loss(big))


def test_wasserstein():
    real = torch.tensor([1.0, 3.0])
    fake = torch.tensor([-1.0, 0.5])
    close(L.wasserstein_d_loss(real, fake), -0.25 - 2.0)  # E f - E r
    close(L.wasserstein_g_loss(fake), 0.25)  # -E f
    assert L.GAN_LOSSES["wgan-gp"].d_loss is L.wasserstein_d_loss
    assert "wgan-gp" in L.NEEDS_GRADIENT_PENALTY and "wgan-clip" in L.NEEDS_WEIGHT_CLIP


def test_hinge():
    real = torch.tensor([0.5, 2.0])
    fake = torch.tensor([-2.0, 0.5])
    # relu(1 - r) = [0.5, 0] -> 0.25 ; relu(1 + f) = [0, 1.5] -> 0.75
    close(L.hinge_d_loss(real, fake), 1.0)
    close(L.hinge_g_loss(fake), 0.75)


def test_lsgan():
    real = torch.tensor([1.0, 0.0])
    fake = torch.tensor([0.0, 2.0])
    # ½ (E (r-1)² + E f²) = ½ (0.5 + 2) ; E (f-1)² = 1
    close(L.lsgan_d_loss(real, fake), 1.25)
    close(L.lsgan_g_loss(fake), 1.0)


def test_clip_weights():
    m = nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        m.weight.copy_(torch.tensor([[-0.5, 0.005, 0.2]]))
    L.clip_weights(m, 0.01)
    assert torch.equal(m.weight, torch.tensor([[-0.01, 0.005, 0.01]]))


def test_gradient_penalty_linear_critic():
    # critic(x) = 3 x0 + 4 x1 has gradient (3, 4) everywhere: ‖∇‖ = 5 -> λ (5 - 1)² = 160
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    critic = lambda x: x @ w  # noqa: E731
    real, fake = torch.randn(4, 2), torch.randn(4, 2)
    gp = L.gradient_penalty(critic, real, fake, weight=10.0)
    close(gp, 160.0, 1e-4)
    # the penalty trains the critic: d/dw λ(‖w‖-1)² = 2λ(‖w‖-1) w/‖w‖ = 80 (3,4)/5
    (grad_w,) = torch.autograd.grad(gp, w)
    assert torch.allclose(grad_w, torch.tensor([48.0, 64.0]))


def test_gradient_penalty_uses_interpolates():
    # critic(x) = Σ x² -> ∇ = 2 x̂ ; x̂ = ½ (2, 0) + ½ (0, 0) = (1, 0) -> ‖∇‖ = 2 -> 10 (2 - 1)² = 10
    critic = lambda x: x.square().sum(1)  # noqa: E731
    gp = L.gradient_penalty(critic, torch.tensor([[2.0, 0.0]]), torch.zeros(1, 2), weight=10.0, alpha=torch.tensor([0.5]))
    close(gp, 10.0)


def test_r1_penalty():
    # D(x) = Σ x² at x = (1, 2): ∇ = (2, 4), ‖∇‖² = 20 -> γ/2 · 20 = 10 with γ = 1
    x = torch.tensor([[1.0, 2.0]], requires_grad=True)
    close(L.r1_penalty(x.square().sum(1), x, gamma=1.0), 10.0)
    # batch mean: second sample at (0, 0) has zero gradient -> 5
    x = torch.tensor([[1.0, 2.0], [0.0, 0.0]], requires_grad=True)
    close(L.r1_penalty(x.square().sum(1), x, gamma=1.0), 5.0)


def test_reconstruction():
    out, target = torch.tensor([1.0, -2.0]), torch.zeros(2)
    close(L.l1_loss(out, target), 1.5)
    close(L.l2_loss(out, target), 2.5)


def test_feature_matching():
    real = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # mean (2, 3)
    fake = torch.tensor([[0.0, 0.0], [0.0, 2.0]])  # mean (0, 1) -> diff² (4, 4) -> 4
    close(L.feature_matching_loss(real, fake), 4.0)
    close(L.feature_matching_loss([real, real], [fake, real]), 4.0)


def test_cycle_and_identity():
    a, b = torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2)
    rec_a, rec_b = torch.full_like(a, 0.1), torch.full_like(b, -0.2)
    close(L.cycle_consistency_loss(a, rec_a, b, rec_b), 10 * (0.1 + 0.2), 1e-5)
    # identity weight λ_cyc · 0.5 = 5
    close(L.identity_loss(a, rec_a, b, rec_b), 5 * (0.1 + 0.2), 1e-5)


def test_sr_losses():
    sr, hr = torch.full((1, 1, 2, 2), 0.5), torch.zeros(1, 1, 2, 2)
    close(L.content_loss(sr, hr, "l1"), 0.5)
    close(L.content_loss(sr, hr, "mse"), 0.25)
    terms = L.sr_generator_loss(sr, hr, torch.tensor([0.0]), content="l1", adv_weight=1e-3)
    close(terms["adversarial"], math.log(2))  # -log σ(0)
    close(terms["loss"], 0.5 + 1e-3 * math.log(2))
    pre = L.sr_generator_loss(sr, hr, None, content="mse")
    assert "adversarial" not in pre
    close(pre["loss"], 0.25)
    # perceptual term: features = 2x -> MSE((1,1,1,1), 0) = 1
    perc = L.sr_generator_loss(sr, hr, None, perceptual=lambda x: 2 * x, perceptual_weight=0.5)
    close(perc["perceptual"], 1.0)
    close(perc["loss"], 0.5 + 0.5)
    with pytest.raises(TrainingError):
        L.content_loss(sr, hr, "huber")


def test_mode_seeking():
    # |f1 - f2| = 0.5 everywhere, |z1 - z2| = 2 everywhere: ratio 0.25, term 1 / 0.25 = 4
    f1, f2 = torch.zeros(2, 1, 2, 2), torch.full((2, 1, 2, 2), 0.5)
    z1, z2 = torch.ones(2, 3), -torch.ones(2, 3)
    close(L.mode_seeking(f1, f2, z1, z2, eps=0.0), 4.0)
    # identical images (the latent ignored): the term is 1 / eps, as large as it gets
    close(L.mode_seeking(f1, f1, z1, z2, eps=1e-3), 1000.0, tol=1e-3)
    # more different images for the same latent distance lower the term, with a gradient toward that
    f2.requires_grad_(True)
    L.mode_seeking(f1, f2, z1, z2).backward()
    assert (f2.grad < 0).all()
    with pytest.raises(TrainingError, match="equally long"):
        L.mode_seeking(f1, f2[:1], z1, z2)
