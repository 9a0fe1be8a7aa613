"""Inference fusion of DCGAN generators: same images as the eval-mode model, up to float rounding."""

from __future__ import annotations

import pytest
import torch

from explorer.errors import ExplorerError
from explorer.models.dcgan import DCGAN, DCGANConfig
from explorer.models.fuse import fuse_dcgan


def _trained_looking(cfg: DCGANConfig) -> DCGAN:
    torch.manual_seed(0)
    m = DCGAN(cfg)
    with torch.no_grad():  # non-trivial BatchNorm statistics and affine parameters
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.normal_(0, 0.5)
                mod.running_var.uniform_(0.3, 2.0)
                mod.weight.normal_(1.0, 0.3)
                mod.bias.normal_(0.0, 0.3)
    return m.eval()


@pytest.mark.parametrize(
    "cfg",
    [
        DCGANConfig(resolution=64, ngf=8, parts=("G",)),
        DCGANConfig(resolution=32, channels=1, ngf=8, num_classes=4, latent_dim=20),
        DCGANConfig(resolution=128, ngf=4),
    ],
)
def test_fused_equals_eval_model(cfg):
    m = _trained_looking(cfg)
    z = torch.randn(5, cfg.latent_dim)
    labels = torch.arange(5) % cfg.num_classes if cfg.num_classes else None
    fused = fuse_dcgan(m)
    out = fused(z, labels)
    assert out.shape == (5, cfg.channels, cfg.resolution, cfg.resolution)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(out, m.generate(z, labels), atol=1e-5)
    assert torch.allclose(fused(z[:1], None if labels is None else labels[:1]), out[:1], atol=1e-5)  # batch-independent


def test_fused_is_inference_only():
    m = _trained_looking(DCGANConfig(resolution=32, ngf=4))
    fused = fuse_dcgan(m)
    with pytest.raises(ExplorerError):
        fused.train()
    with pytest.raises(ExplorerError):
        fuse_dcgan(DCGAN(DCGANConfig(resolution=32, ngf=4, parts=("D",))))
    cond = fuse_dcgan(_trained_looking(DCGANConfig(resolution=32, ngf=4, num_classes=2)))
    with pytest.raises(ExplorerError):
        cond(torch.randn(1, 100))
