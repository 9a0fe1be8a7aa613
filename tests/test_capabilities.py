"""Families own their facts: what a checkpoint can do, read from its header, matches what the loaded model does."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import explorer
from explorer.checkpoint import read_metadata
from explorer.errors import ExplorerError
from explorer.models.dcgan import DCGAN
from explorer.registry import capabilities, display_name, get_family, trainable_families

SHIPPED = sorted(p for p in Path("checkpoints").glob("*.safetensors"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_header_capabilities_match_the_loaded_model(path):
    meta = read_metadata(path)  # header only: no weights
    caps = capabilities(meta["kind"], meta["config"])
    model = explorer.load(path, device="cpu")
    assert caps == model.caps
    assert caps.generates == model.can_generate
    assert set(caps.directions) == set(model.directions)
    if caps.generates:
        z = torch.randn(2, model.latent_dim)
        labels = torch.zeros(2, dtype=torch.long) if model.num_classes else None
        assert model.generate(z, labels).shape == (2, model.image_channels, model.resolution, model.resolution)
    else:
        with pytest.raises(ExplorerError, match="does not generate"):
            model.generate(torch.randn(2, 8))
    for d in caps.directions:
        c = model.channels_of(d[0]) if caps.domains else model.image_channels
        y = model.translate(torch.zeros(1, c, 16, 16), d)
        assert y.shape[-1] == 16 * (int(d[1:]) if caps.upscales else 1)
    if caps.has_discriminator:
        dom = caps.domains[0] if caps.domains else None
        x = torch.zeros(1, model.channels_of(dom) if dom else model.image_channels, model.resolution or 32, model.resolution or 32)
        labels = torch.zeros(1, dtype=torch.long) if model.num_classes and caps.generates else None
        assert model.discriminate(x, labels=labels, domain=dom).scores.shape == (1,)


def test_parts_decide_capabilities_without_building():
    assert capabilities("dcgan", {"parts": ["D"]}).generates is False
    assert capabilities("dcgan", {"parts": ["G"]}).has_discriminator is False
    assert capabilities("cyclegan", {"parts": ["G_BA", "D_A"]}).directions == ("BtoA",)
    assert capabilities("srgan", {"scale": 2, "parts": ["G"]}) == capabilities("srgan", {"scale": 2, "parts": ("G",)})
    sr = capabilities("srgan", {"scale": 2, "parts": ["G"]})
    assert sr.label == "SR ×2" and sr.upscales and sr.directions == ("x2",) and not sr.has_discriminator
    unknown = capabilities("not-a-family", {})
    assert (unknown.label, unknown.generates, unknown.directions) == ("not-a-family", False, ())
    assert display_name("cyclegan") == "CycleGAN" and display_name("mystery") == "mystery"


def test_training_facts_come_from_the_families():
    assert trainable_families() == ["dcgan", "stylegan", "cyclegan", "srgan"]
    assert [get_family(f).default_loss for f in trainable_families()] == ["nonsaturating", "nonsaturating", "lsgan",
                                                                          "nonsaturating"]
    assert get_family("classifier").trainable is False
    # the quick widths build a model of each family
    for f in trainable_families():
        cls = get_family(f)
        cfg = cls.config_cls(**{k: v for k, v in cls.quick_model.items()})
        assert isinstance(cls(cfg), cls)


def test_truncation_is_one_rule():
    from explorer.models.layers import truncate

    torch.manual_seed(0)
    m = DCGAN(DCGAN.config_cls(latent_dim=8, ngf=8, ndf=8, resolution=32, channels=1)).eval()
    z = torch.randn(3, 8)
    assert torch.equal(m.generate(z, truncation=0.5), m.generate(z * 0.5))
    assert torch.equal(m.traceable_generator()(z, None, 0.5), m.G(truncate(z, 0.5)))
    assert torch.equal(m.traceable_generator()(z, None, torch.tensor(0.5)), m.generate(z, truncation=0.5))
    for bad in (-0.1, float("nan"), "x"):
        with pytest.raises(ExplorerError, match="truncation must be a finite number ≥ 0"):
            truncate(z, bad)
