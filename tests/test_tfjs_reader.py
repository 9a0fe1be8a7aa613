"""The TensorFlow.js reader and Keras-graph builder on small model files written here.

Weights in every storage the format has (float32; uint8, uint16 and float16 quantisation) decode to
the values written; the graph equals the same network written with plain torch ops (TensorFlow's
asymmetric 'same' padding included); bad, huge, corrupt or incomplete files fail with a
:class:`CheckpointError` that says what was wrong, before anything large is read. The real
packages are tested in tests/test_tfjs.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import explorer
from explorer.errors import CheckpointError
from explorer.importers.tfjs import read_tfjs
from explorer.importers.tfjs_layers import build_graph


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def _conv_layer(name, filters, k, inbound, padding="same", strides=1, bias=True, activation="linear"):
    return {"class_name": "Conv2D", "name": name, "inbound_nodes": [[[inbound, 0, 0, {}]]],
            "config": {"name": name, "filters": filters, "kernel_size": [k, k], "strides": [strides, strides],
                       "padding": padding, "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1,
                       "activation": activation, "use_bias": bias}}


def write_tiny(folder: Path, quant: str | None = None, extra_layers=(), shard_name="group1-shard1of1.bin") -> dict:
    """Input → conv 3x3/2 'same' (odd size: asymmetric padding) → relu → BN → 1x1 conv; returns the float weights."""
    rng = np.random.default_rng(0)
    weights = {
        "c1/kernel": rng.standard_normal((3, 3, 3, 5)).astype(np.float32), "c1/bias": rng.standard_normal(5).astype(np.float32),
        "bn/gamma": rng.uniform(0.5, 1.5, 5).astype(np.float32), "bn/beta": rng.standard_normal(5).astype(np.float32),
        "bn/moving_mean": rng.standard_normal(5).astype(np.float32), "bn/moving_variance": rng.uniform(0.5, 2, 5).astype(np.float32),
        "c2/kernel": rng.standard_normal((1, 1, 5, 2)).astype(np.float32), "c2/bias": rng.standard_normal(2).astype(np.float32),
    }
    layers = [
        {"class_name": "InputLayer", "name": "inp", "inbound_nodes": [], "config": {"name": "inp", "batch_input_shape": [None, None, None, 3]}},
        _conv_layer("c1", 5, 3, "inp", strides=2, activation="relu"),
        {"class_name": "BatchNormalization", "name": "bn", "inbound_nodes": [[["c1", 0, 0, {}]]],
         "config": {"name": "bn", "axis": -1, "epsilon": 1e-3, "center": True, "scale": True}},
        _conv_layer("c2", 2, 1, "bn", padding="valid"),
        *extra_layers,
    ]
    specs, blobs, stored = [], [], {}
    for name, w in weights.items():
        spec = {"name": name, "shape": list(w.shape), "dtype": "float32"}
        if quant in ("uint8", "uint16"):
            lo, hi = float(w.min()), float(w.max())
            levels = 255 if quant == "uint8" else 65535
            scale = (hi - lo) / levels
            q = np.round((w - lo) / scale).astype(quant)
            spec["quantization"] = {"dtype": quant, "scale": scale, "min": lo}
            blobs.append(q.astype("<u2" if quant == "uint16" else "u1").tobytes())
            stored[name] = q.astype(np.float64) * scale + lo
        elif quant == "float16":
            spec["quantization"] = {"dtype": "float16"}
            blobs.append(w.astype("<f2").tobytes())
            stored[name] = w.astype(np.float16).astype(np.float64)
        else:
            blobs.append(w.astype("<f4").tobytes())
            stored[name] = w
        specs.append(spec)
    out_layer = extra_layers[-1]["name"] if extra_layers else "c2"
    model = {"format": "layers-model", "modelTopology": {"model_config": {"class_name": "Functional", "config": {
        "name": "tiny", "layers": layers, "input_layers": [["inp", 0, 0]], "output_layers": [[out_layer, 0, 0]]}}},
        "weightsManifest": [{"paths": [shard_name], "weights": specs}]}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.json").write_text(json.dumps(model))
    (folder / shard_name).write_bytes(b"".join(blobs))
    return stored


def _reference_tiny(w: dict, x: torch.Tensor) -> torch.Tensor:
    """The tiny model written with plain torch ops; TF 'same' at stride 2 on an odd size pads 1 before, 1 after."""
    k = lambda n: torch.from_numpy(np.asarray(w[n], np.float32))  # noqa: E731
    h = torch.relu(torch.nn.functional.conv2d(x, k("c1/kernel").permute(3, 2, 0, 1), k("c1/bias"), stride=2, padding=1))
    h = (h - k("bn/moving_mean")[:, None, None]) / torch.sqrt(k("bn/moving_variance")[:, None, None] + 1e-3)
    h = h * k("bn/gamma")[:, None, None] + k("bn/beta")[:, None, None]
    return torch.nn.functional.conv2d(h, k("c2/kernel").permute(3, 2, 0, 1), k("c2/bias"))


@pytest.mark.parametrize("quant", [None, "uint8", "uint16", "float16"])
def test_reader_decodes_weights_and_builds_the_graph(tmp_path, quant):
    stored = write_tiny(tmp_path, quant)
    tm = read_tfjs(tmp_path / "model.json")
    assert [s.name for s in tm.specs][:2] == ["c1/kernel", "c1/bias"]
    assert tm.weights["c1/kernel"].shape == (3, 3, 3, 5) and tm.weights["c1/kernel"].dtype == np.float32
    for name, value in stored.items():
        np.testing.assert_allclose(tm.weights[name], value, rtol=0, atol=1e-6 * max(1.0, np.abs(value).max()))
    graph = build_graph(tm.topology, tm.weights).eval()
    x = torch.randn(2, 3, 9, 7)  # odd sizes: TF's 'same' padding at stride 2 is exercised
    with torch.no_grad():
        got = graph(x)
    assert got.shape == (2, 2, 5, 4)
    assert (got - _reference_tiny(stored, x)).abs().max() <= 1e-4


def test_reader_keeps_quantised_values_exactly(tmp_path):
    write_tiny(tmp_path, "uint8")
    tm = read_tfjs(tmp_path, keep_quantized=True)
    q = tm.weights["c1/kernel"]
    assert q.q.dtype == np.uint8 and q.q.shape == (3, 3, 3, 5) and q.q.min() == 0 and q.q.max() == 255


def test_missing_shard_wrong_size_and_escaping_paths(tmp_path):
    write_tiny(tmp_path / "a")
    (tmp_path / "a" / "group1-shard1of1.bin").unlink()
    with pytest.raises(CheckpointError, match="shard 'group1-shard1of1.bin' is missing"):
        read_tfjs(tmp_path / "a")
    write_tiny(tmp_path / "b")
    shard = tmp_path / "b" / "group1-shard1of1.bin"
    shard.write_bytes(shard.read_bytes()[:-4])  # truncated by one float
    with pytest.raises(CheckpointError, match=r"describes 688 bytes of weights but the shards .* hold 684"):
        read_tfjs(tmp_path / "b")
    shard.write_bytes(b"\0" * 692)
    with pytest.raises(CheckpointError, match="hold 692"):
        read_tfjs(tmp_path / "b" / "model.json")
    write_tiny(tmp_path / "c" / "inner", shard_name="../outside.bin")
    with pytest.raises(CheckpointError, match="leaves the model's folder"):
        read_tfjs(tmp_path / "c" / "inner")


def test_bad_huge_and_corrupt_model_json(tmp_path, monkeypatch):
    from explorer.importers import tfjs

    write_tiny(tmp_path)
    mj = tmp_path / "model.json"
    good = json.loads(mj.read_text())
    cases = {
        "not json {": "not valid JSON",
        json.dumps({"weightsManifest": []}): "no 'modelTopology'",
        json.dumps({**good, "format": "graph-model"}): "only Layers models",
        json.dumps({**good, "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": [{"name": "x", "shape": [-1], "dtype": "float32"}]}]}): "malformed shape",
        json.dumps({**good, "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": [{"name": "x", "shape": [2], "dtype": "string"}]}]}): "dtype 'string'",
        json.dumps({**good, "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": [{"name": "x", "shape": [2], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": float("nan"), "min": 0}}]}]}).replace("NaN", "1e999"): "finite 'scale'",
        "[" * 100_000 + "]" * 100_000: "not valid JSON",
    }
    for text, message in cases.items():
        mj.write_text(text)
        with pytest.raises(CheckpointError, match=message):
            read_tfjs(mj)
    mj.write_text(json.dumps(good))
    monkeypatch.setattr(tfjs, "MAX_MODEL_JSON_BYTES", 1000)
    with pytest.raises(CheckpointError, match="refused before parsing"):
        read_tfjs(mj)
    monkeypatch.setattr(tfjs, "MAX_MODEL_JSON_BYTES", 1 << 20)
    monkeypatch.setenv("GAN_EXPLORER_MAX_TFJS_BYTES", "100")
    with pytest.raises(CheckpointError, match="refused before reading them"):
        read_tfjs(mj)


def test_huge_declared_weights_refused_before_reading(tmp_path):
    write_tiny(tmp_path)
    mj = tmp_path / "model.json"
    obj = json.loads(mj.read_text())
    obj["weightsManifest"][0]["weights"].append({"name": "big", "shape": [1 << 20, 1 << 10], "dtype": "float32"})
    mj.write_text(json.dumps(obj))
    with pytest.raises(CheckpointError, match=r"4,295.* MB, more than"):
        read_tfjs(mj)


def test_unsupported_layers_and_non_sr_models_are_refused_by_name(tmp_path):
    extra = [{"class_name": "Dense", "name": "fc", "inbound_nodes": [[["c2", 0, 0, {}]]], "config": {"name": "fc", "units": 3}}]
    write_tiny(tmp_path / "dense", extra_layers=extra)
    tm = read_tfjs(tmp_path / "dense")
    with pytest.raises(CheckpointError, match="cannot run: Dense"):
        build_graph(tm.topology, tm.weights)
    write_tiny(tmp_path / "tiny")
    with pytest.raises(CheckpointError, match="not a super-resolution network GAN Explorer knows"):
        explorer.load(tmp_path / "tiny", device="cpu")
