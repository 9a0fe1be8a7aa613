"""Our checkpoint format: exact round-trips, and hostile or broken files fail safely and clearly."""

from __future__ import annotations

import json
import os
import pickle
import struct

import pytest
import torch
from safetensors.torch import load_file, save_file

import explorer
from explorer.checkpoint import METADATA_KEY, load_state_dict_safely, read_metadata, sniff_format
from explorer.errors import CheckpointError
from explorer.models.classifier import Classifier, ClassifierConfig
from explorer.models.cyclegan import CycleGAN, CycleGANConfig
from explorer.models.dcgan import DCGAN, DCGANConfig


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)
    torch.manual_seed(0)


def _perturb_buffers_(model: torch.nn.Module) -> None:
    """Give BatchNorm statistics non-default values so the round-trip really carries them."""
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith("running_mean"):
                buf.uniform_(-0.2, 0.2)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 2.0)
            elif name.endswith("num_batches_tracked"):
                buf.fill_(123)


def _assert_same_tensors(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert sa[k].dtype == sb[k].dtype and torch.equal(sa[k], sb[k]), k


def _dcgan(**kw) -> DCGAN:
    cfg = dict(resolution=32, channels=3, latent_dim=8, ngf=4, ndf=4)
    cfg.update(kw)
    m = DCGAN(DCGANConfig(**cfg))
    _perturb_buffers_(m)
    return m.eval()


# ----- round trips ---------------------------------------------------------------------------
@pytest.mark.parametrize("kw", [{}, {"num_classes": 5, "d_norm": "spectral"}, {"resolution": 64, "channels": 1, "parts": ("G",)}])
def test_dcgan_roundtrip_is_exact(tmp_path, kw):
    m = _dcgan(**kw)
    card = {"intended_use": "tests", "data": "none", "limits": ["tiny"]}
    summary = {"dataset": "digits", "steps": 12, "losses": {"G": 1.5, "D": 0.25}, "ema": False}
    path = explorer.save(m, tmp_path / "m.safetensors", card=card, summary=summary)
    again = explorer.load(path, device="cpu")
    assert type(again) is DCGAN and again.config == m.config
    assert again.card == card and again.summary == summary
    _assert_same_tensors(m, again)
    z = explorer.latents_from_seeds(m, [0, 1, 2])
    labels = torch.tensor([0, 1, 4]) if m.num_classes else None
    x = m.generate(z, labels)
    assert torch.equal(again.generate(z, labels), x)
    if m.D is not None:
        assert torch.equal(again.discriminate(x, labels).scores, m.discriminate(x, labels).scores)
    meta = read_metadata(path)
    assert meta["kind"] == "dcgan" and meta["format_version"] == 1 and meta["config"]["parts"] == list(m.config.parts)


def test_cyclegan_roundtrip_is_exact(tmp_path):
    m = CycleGAN(CycleGANConfig(channels_a=1, ngf=4, ndf=4, num_blocks=2, parts=("G_AB", "D_B"))).eval()
    path = explorer.save(m, tmp_path / "c.safetensors", card={"notes": "one-way"})
    again = explorer.load(path, device="cpu", kind="cyclegan")
    assert again.config == m.config and again.directions == ("AtoB",)
    _assert_same_tensors(m, again)
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    assert torch.equal(again.translate(x), m.translate(x))
    y = m.translate(x)
    assert torch.equal(again.discriminate(y, domain="B").patch_map, m.discriminate(y, domain="B").patch_map)


def test_classifier_roundtrip_is_exact(tmp_path):
    m = Classifier(ClassifierConfig(width=4, class_names=tuple("abcdefghij")))
    _perturb_buffers_(m)
    m.eval()
    path = explorer.save(m, tmp_path / "k.safetensors")
    again = explorer.load(path, device="cpu")
    assert again.config == m.config and again.config.class_names == tuple("abcdefghij")
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    assert torch.equal(again.logits(x), m.logits(x))


def test_save_refuses_other_suffixes(tmp_path):
    with pytest.raises(CheckpointError, match="safetensors"):
        explorer.save(_dcgan(), tmp_path / "m.pth")


# ----- hostile and broken files -------------------------------------------------------------
class _Payload:
    """Unpickling this would create a marker file: the classic pickle code-execution gadget."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_raw_pickle_with_code_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps({"main.0.weight": _Payload(marker)}, protocol=2))
    with pytest.raises(CheckpointError):
        explorer.load(evil)
    assert not marker.exists()


def test_torch_saved_payload_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "netG_epoch_1.pth"
    torch.save({"main.0.weight": torch.zeros(1), "extra": _Payload(marker)}, evil)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="refusing"):
        explorer.load(evil)
    assert not marker.exists()


class _Custom:
    def __init__(self):
        self.value = 3


def test_torch_saved_custom_object_is_refused(tmp_path):
    path = tmp_path / "custom.pth"
    torch.save({"weight": torch.zeros(2), "meta": _Custom()}, path)
    with pytest.raises(CheckpointError, match="pickled Python objects"):
        load_state_dict_safely(path)


def test_non_tensor_values_are_refused(tmp_path):
    path = tmp_path / "mixed.pth"
    torch.save({"weight": torch.zeros(2), "epoch": 3}, path)
    with pytest.raises(CheckpointError, match="state_dict"):
        explorer.load(path)


def test_truncated_safetensors(tmp_path):
    path = explorer.save(_dcgan(), tmp_path / "m.safetensors")
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 1, 12, 7):
        broken = tmp_path / f"cut{cut}.safetensors"
        broken.write_bytes(data[:cut])
        with pytest.raises(CheckpointError):
            explorer.load(broken)


def test_truncated_pth(tmp_path):
    path = tmp_path / "netG_epoch_0.pth"
    torch.save({"main.0.weight": torch.randn(8, 32, 4, 4)}, path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        explorer.load(path)


def test_garbage_and_empty_files(tmp_path):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(bytes(torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(1), dtype=torch.uint8).tolist()))
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    text = tmp_path / "readme.pth"
    text.write_text("this is not a checkpoint\n" * 10)
    for p in (garbage, empty, text):
        with pytest.raises(CheckpointError):
            explorer.load(p)
    with pytest.raises(CheckpointError, match="no such"):
        explorer.load(tmp_path / "missing.safetensors")


def test_safetensors_header_that_lies_about_sizes(tmp_path):
    header = json.dumps({"w": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 4_000_000]}}).encode()
    lying = tmp_path / "lying.safetensors"
    lying.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 16)
    with pytest.raises(CheckpointError, match="truncated"):
        explorer.load(lying)
    huge = tmp_path / "huge.safetensors"
    huge.write_bytes(struct.pack("<Q", 2**60) + b"{}")
    with pytest.raises(CheckpointError):
        explorer.load(huge)


def test_foreign_safetensors_without_our_metadata(tmp_path):
    path = tmp_path / "other_program.safetensors"
    save_file({"encoder.layer.0.weight": torch.randn(4, 4), "head.bias": torch.zeros(4)}, str(path))
    with pytest.raises(CheckpointError, match="unrecognised checkpoint layout"):
        explorer.load(path)
    with pytest.raises(CheckpointError, match="not a GAN Explorer checkpoint"):
        read_metadata(path)


def test_our_metadata_with_wrong_shapes(tmp_path):
    path = explorer.save(_dcgan(), tmp_path / "m.safetensors")
    tensors = load_file(str(path))
    meta = read_metadata(path)
    tensors["G.stem.0.weight"] = torch.zeros(3, 3, 4, 4)
    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata={METADATA_KEY: json.dumps(meta)})
    with pytest.raises(CheckpointError, match="do not match"):
        explorer.load(tmp_path / "bad.safetensors")
    del tensors["G.stem.0.weight"]
    save_file(tensors, str(tmp_path / "missing.safetensors"), metadata={METADATA_KEY: json.dumps(meta)})
    with pytest.raises(CheckpointError, match="do not match"):
        explorer.load(tmp_path / "missing.safetensors")


def _rewrite_meta(tmp_path, edit) -> os.PathLike:
    path = explorer.save(_dcgan(), tmp_path / "m.safetensors")
    meta = read_metadata(path)
    edit(meta)
    out = tmp_path / "edited.safetensors"
    save_file(load_file(str(path)), str(out), metadata={METADATA_KEY: json.dumps(meta)})
    return out


def test_metadata_with_unknown_kind_newer_format_or_foreign_config(tmp_path):
    with pytest.raises(CheckpointError, match="unknown model kind"):
        explorer.load(_rewrite_meta(tmp_path, lambda m: m.update(kind="diffusion")))
    with pytest.raises(CheckpointError, match="newer"):
        explorer.load(_rewrite_meta(tmp_path, lambda m: m.update(format_version=99)))
    with pytest.raises(CheckpointError, match="config"):
        explorer.load(_rewrite_meta(tmp_path, lambda m: m["config"].update(flux_capacitor=1)))


def test_metadata_with_invalid_config_values(tmp_path):
    with pytest.raises(CheckpointError):
        explorer.load(_rewrite_meta(tmp_path, lambda m: m["config"].update(resolution=48)))


def test_wrong_kind(tmp_path):
    path = explorer.save(_dcgan(), tmp_path / "m.safetensors")
    with pytest.raises(CheckpointError, match="dcgan model, but a cyclegan model was expected"):
        explorer.load(path, kind="cyclegan")


def test_safetensors_whose_header_length_starts_like_a_pickle(tmp_path):
    """A header length whose low byte is 0x80 must not be mistaken for a pickle's PROTO opcode."""
    path = tmp_path / "m.safetensors"
    for pad in range(300):
        explorer.save(_dcgan(), path, card={"pad": "x" * pad})
        if path.read_bytes()[0] == 0x80:
            break
    else:
        pytest.skip("could not produce a 0x80 header length")
    assert sniff_format(path) == "safetensors"
    assert explorer.load(path, device="cpu").kind == "dcgan"
