"""ONNX export: every generator family matches PyTorch in onnxruntime (tiny configs), with metadata."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import explorer
from explorer.errors import ExplorerError
from explorer.export.onnx import export_onnx, onnx_session, read_onnx_metadata
from explorer.images import SYNTHETIC_STATEMENT
from explorer.latent import latents_from_seeds
from explorer.models.classifier import Classifier, ClassifierConfig
from explorer.models.cyclegan import CycleGAN, CycleGANConfig
from explorer.models.dcgan import DCGAN, DCGANConfig
from explorer.models.srgan import SRGAN, SRGANConfig
from explorer.models.stylegan import StyleGAN, StyleGANConfig

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

ATOL = 1e-4


def _perturb(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Make every weight and buffer matter: random BatchNorm statistics, non-zero noise strengths, w_avg."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
        if isinstance(model, DCGAN):  # N(0, 0.02) weights under unit-variance statistics give near-blank images
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_var.mul_(0.01)
        if isinstance(model, StyleGAN):
            model.G.w_avg.copy_(torch.randn(model.G.w_avg.shape, generator=gen))
    return model.eval()


def tiny_dcgan(num_classes=3, channels=1):
    torch.manual_seed(0)
    return _perturb(DCGAN(DCGANConfig(resolution=32, channels=channels, latent_dim=8, num_classes=num_classes, ngf=4, ndf=4)))


def tiny_stylegan(num_classes=3):
    torch.manual_seed(0)
    cfg = StyleGANConfig(resolution=16, channels=3, latent_dim=8, w_dim=8, mapping_layers=2, num_classes=num_classes,
                         channel_base=64, max_channels=8)
    return _perturb(StyleGAN(cfg))


def tiny_cyclegan():
    torch.manual_seed(0)
    return _perturb(CycleGAN(CycleGANConfig(channels_a=3, channels_b=1, ngf=4, ndf=4, num_blocks=2, resolution=32)))


def tiny_srgan():
    torch.manual_seed(0)
    return _perturb(SRGAN(SRGANConfig(channels=3, num_blocks=2, num_features=8, resolution=16)))


def _run(path, feed: dict) -> np.ndarray:
    return onnx_session(path).run(None, {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in feed.items()})[0]


def _dims(value_info) -> list:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


@pytest.mark.parametrize("num_classes", [0, 3])
@pytest.mark.parametrize("truncation", [None, 0.6, "input"])
def test_dcgan_matches_pytorch(tmp_path, num_classes, truncation):
    model = tiny_dcgan(num_classes)
    result = export_onnx(model, tmp_path / "g.onnx", truncation=truncation)
    assert result.max_abs_diff is not None and result.max_abs_diff <= ATOL
    psi = 0.6 if truncation == 0.6 else 0.8 if truncation == "input" else 1.0
    for n in (1, 5):  # dynamic batch
        z = latents_from_seeds(model, range(n))
        labels = torch.arange(n) % num_classes if num_classes else None
        feed = {"z": z}
        if num_classes:
            feed["labels"] = labels
        if truncation == "input":
            feed["truncation"] = np.asarray(psi, dtype=np.float32)
        got = _run(result.path, feed)
        want = model.generate(z, labels, truncation=psi).numpy()
        assert got.shape == (n, 1, 32, 32)
        assert np.abs(got - want).max() <= ATOL
        assert np.abs(want).max() > 0.05  # the comparison is not between near-zero images
    names = [i.name for i in onnx.load(str(result.path)).graph.input]
    assert names == ["z"] + (["labels"] if num_classes else []) + (["truncation"] if truncation == "input" else [])


def test_stylegan_matches_pytorch_with_truncation_input(tmp_path):
    model = tiny_stylegan()
    result = export_onnx(model, tmp_path / "sg.onnx")  # default: truncation is an input
    assert list(result.inputs) == ["z", "labels", "truncation"]
    assert result.max_abs_diff <= ATOL
    z = latents_from_seeds(model, [3, 4, 5, 6])
    labels = torch.tensor([0, 1, 2, 0])
    for psi in (1.0, 0.5, 0.0):
        got = _run(result.path, {"z": z, "labels": labels, "truncation": np.asarray(psi, dtype=np.float32)})
        want = model.generate(z, labels, truncation=psi).numpy()  # noise_mode="const"
        assert np.abs(got - want).max() <= ATOL
    meta = read_onnx_metadata(result.path)
    assert meta["noise_mode"] == "const" and meta["truncation"] == "input"


def test_stylegan_fixed_truncation_and_unconditional(tmp_path):
    model = tiny_stylegan(num_classes=0)
    result = export_onnx(model, tmp_path / "sg.onnx", truncation=0.7)
    assert list(result.inputs) == ["z"]
    z = latents_from_seeds(model, [1, 2])
    got = _run(result.path, {"z": z})
    assert np.abs(got - model.generate(z, truncation=0.7).numpy()).max() <= ATOL


@pytest.mark.parametrize("direction", ["AtoB", "BtoA"])
def test_cyclegan_matches_pytorch_dynamic_size(tmp_path, direction):
    model = tiny_cyclegan()
    result = export_onnx(model, tmp_path / f"cg_{direction}.onnx", direction=direction)
    assert result.max_abs_diff <= ATOL
    c_in = 3 if direction == "AtoB" else 1
    for shape in ((1, c_in, 16, 16), (2, c_in, 24, 40)):
        x = torch.rand(*shape) * 2 - 1
        got = _run(result.path, {"image": x})
        want = model.translate(x, direction).numpy()
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= ATOL
    proto = onnx.load(str(result.path))
    assert _dims(proto.graph.input[0])[0] == "batch" and isinstance(_dims(proto.graph.input[0])[2], str)
    assert read_onnx_metadata(result.path)["direction"] == direction


def test_srgan_matches_pytorch_dynamic_size(tmp_path):
    model = tiny_srgan()
    result = export_onnx(model, tmp_path / "sr.onnx")
    assert result.max_abs_diff <= ATOL
    for shape in ((1, 3, 5, 7), (3, 3, 12, 10)):
        x = torch.rand(*shape) * 2 - 1
        got = _run(result.path, {"image": x})
        want = model.translate(x, "x4").numpy()
        assert got.shape == (shape[0], 3, 4 * shape[2], 4 * shape[3])
        assert np.abs(got - want).max() <= ATOL


def test_metadata_from_checkpoint_carries_provenance(tmp_path):
    ckpt = explorer.save(tiny_dcgan(), tmp_path / "tiny.safetensors", card={"name": "tiny digits", "intended_use": "tests"})
    result = export_onnx(ckpt, tmp_path / "tiny.onnx")
    meta = read_onnx_metadata(result.path)
    assert meta["model_hash"] == explorer.file_hash(ckpt)
    assert meta["kind"] == "dcgan" and meta["model"] == "tiny digits" and meta["model_file"] == "tiny.safetensors"
    assert meta["version"] == explorer.__version__
    assert meta["synthetic"] is True and meta["statement"] == SYNTHETIC_STATEMENT
    assert meta["config"]["latent_dim"] == 8 and set(meta["inputs"]) == {"z", "labels"}
    assert meta["verified_max_abs_diff"] <= ATOL and meta["opset"] == 17
    proto = onnx.load(str(result.path))
    assert proto.opset_import[0].version == 17
    assert "synthetic" in proto.doc_string.lower()
    assert all(i.doc_string for i in proto.graph.input)


def test_export_leaves_the_callers_model_alone(tmp_path):
    model = tiny_dcgan()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    export_onnx(model, tmp_path / "g.onnx")
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_refusals(tmp_path):
    with pytest.raises(ExplorerError, match="cannot be exported"):
        export_onnx(Classifier(ClassifierConfig()), tmp_path / "c.onnx")
    g_less = DCGAN(DCGANConfig(resolution=32, latent_dim=8, ngf=4, ndf=4, parts=("D",)))
    with pytest.raises(ExplorerError, match="no generator"):
        export_onnx(g_less, tmp_path / "d.onnx")
    with pytest.raises(ExplorerError, match="not 'sideways'"):
        export_onnx(tiny_cyclegan(), tmp_path / "c.onnx", direction="sideways")
    with pytest.raises(ExplorerError, match="truncation"):
        export_onnx(tiny_srgan(), tmp_path / "s.onnx", truncation=0.5)
    with pytest.raises(ExplorerError, match=".onnx suffix"):
        export_onnx(tiny_dcgan(), tmp_path / "g.bin")
    with pytest.raises(ExplorerError, match="truncation must be"):
        export_onnx(tiny_dcgan(), tmp_path / "g.onnx", truncation="strong")
    assert not list(tmp_path.iterdir())


def test_failed_verification_writes_nothing(tmp_path):
    with pytest.raises(ExplorerError, match="differs from PyTorch"):
        export_onnx(tiny_dcgan(), tmp_path / "g.onnx", atol=-1.0)  # no difference can pass a negative tolerance
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_dynamo_exporter_matches_too(tmp_path):
    model = tiny_dcgan()
    result = export_onnx(model, tmp_path / "g.onnx", exporter="dynamo", opset=18)
    assert result.max_abs_diff <= ATOL
    z = latents_from_seeds(model, range(4))
    labels = torch.tensor([0, 1, 2, 0])
    assert np.abs(_run(result.path, {"z": z, "labels": labels}) - model.generate(z, labels).numpy()).max() <= ATOL
