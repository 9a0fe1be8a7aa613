"""Keras layer graphs (from a TensorFlow.js ``modelTopology``) as torch modules.

:func:`build_graph` turns a Functional or Sequential Keras config plus its weights into a
:class:`KerasGraph`: one torch module per layer, run in the config's order, each input taken from
the layers its ``inbound_nodes`` name. Tensors flow channels-first ([N, C, H, W], our convention)
and every layer reproduces Keras' channels-last semantics on them: kernels HWIO → OIHW,
concatenation along channels, TensorFlow's asymmetric 'same' padding (the extra pixel goes after),
'same' average pooling that averages only real pixels.

Supported layer classes (what the TF.js super-resolution and Inception models use):
InputLayer, Conv2D, Activation, ReLU, LeakyReLU, Add, Concatenate, UpSampling2D (nearest,
bilinear), BatchNormalization, MaxPooling2D, AveragePooling2D, and UpscalerJS' two custom layers:
``MultiplyBeta`` (x · beta, beta from the config, 0.2 by default as the package defines it) and
``PixelShuffle`` / ``PixelShuffle<N>x`` (TensorFlow's ``depth_to_space`` in NHWC order). Anything
else is refused by name, before any weight is touched; so are shared layers (a layer called on two inputs).
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from explorer.errors import CheckpointError
from explorer.importers.tfjs import model_layers
from explorer.models.rdn import depth_to_space

_ACTIVATIONS = {
    "linear": lambda x: x, "relu": F.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
    "elu": F.elu, "selu": F.selu, "softplus": F.softplus, "swish": F.silu,
    "relu6": lambda x: F.relu6(x), "softmax": lambda x: torch.softmax(x, dim=1),
}
SUPPORTED = ("InputLayer", "Conv2D", "Activation", "ReLU", "LeakyReLU", "Add", "Concatenate", "UpSampling2D",
             "BatchNormalization", "MaxPooling2D", "AveragePooling2D", "MultiplyBeta", "PixelShuffle")
_PIXEL_SHUFFLE = re.compile(r"^PixelShuffle(\d+)x$")  # UpscalerJS names the class after its scale in later versions


def _class(name: str) -> str:
    """The supported class a Keras class name stands for (``PixelShuffle4x`` → ``PixelShuffle``)."""
    return "PixelShuffle" if _PIXEL_SHUFFLE.match(name) else name
#: largest conv kernel side / filter count / up-sampling factor a config may ask for
_MAX_KERNEL, _MAX_FILTERS, _MAX_UP = 31, 8192, 16


def _same_pad(size: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """TensorFlow 'same' padding along one axis: (before, after), the odd pixel after."""
    out = math.ceil(size / s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def _pair(value: Any, what: str, layer: str, hi: int) -> tuple[int, int]:
    v = [value, value] if isinstance(value, int) else value
    if not (isinstance(v, list) and len(v) == 2 and all(isinstance(i, int) and not isinstance(i, bool) and 1 <= i <= hi for i in v)):
        raise CheckpointError(f"layer {layer!r}: {what} {str(value)[:30]} is not 1 or 2 integers in 1..{hi}")
    return v[0], v[1]


def _activation(name: Any, layer: str):
    if name not in _ACTIVATIONS:
        raise CheckpointError(f"layer {layer!r}: activation {str(name)[:30]!r} is not supported ({', '.join(_ACTIVATIONS)})")
    return _ACTIVATIONS[name]


class Conv2D(nn.Module):
    def __init__(self, name: str, cfg: dict, weights: dict[str, np.ndarray]):
        super().__init__()
        if cfg.get("data_format", "channels_last") != "channels_last" or cfg.get("groups", 1) != 1:
            raise CheckpointError(f"layer {name!r}: only channels_last, ungrouped Conv2D is supported")
        self.k = _pair(cfg.get("kernel_size"), "kernel_size", name, _MAX_KERNEL)
        self.s = _pair(cfg.get("strides", 1), "strides", name, _MAX_KERNEL)
        self.d = _pair(cfg.get("dilation_rate", 1), "dilation_rate", name, _MAX_KERNEL)
        self.padding = cfg.get("padding")
        if self.padding not in ("same", "valid"):
            raise CheckpointError(f"layer {name!r}: padding {str(self.padding)[:20]!r} is not 'same' or 'valid'")
        self.act = _activation(cfg.get("activation", "linear"), name)
        kernel = _weight(weights, name, "kernel", ndim=4)  # [kh, kw, C_in, C_out]
        if tuple(kernel.shape[:2]) != self.k or not 1 <= kernel.shape[3] <= _MAX_FILTERS or kernel.shape[3] != cfg.get("filters"):
            raise CheckpointError(f"layer {name!r}: kernel shape {list(kernel.shape)} does not match kernel_size {list(self.k)} / filters {cfg.get('filters')}")
        self.weight = nn.Parameter(torch.from_numpy(kernel).permute(3, 2, 0, 1).contiguous(), requires_grad=False)
        bias = _weight(weights, name, "bias", ndim=1) if cfg.get("use_bias", True) else None
        if bias is not None and bias.shape[0] != kernel.shape[3]:
            raise CheckpointError(f"layer {name!r}: bias has {bias.shape[0]} values for {kernel.shape[3]} filters")
        self.bias = nn.Parameter(torch.from_numpy(bias), requires_grad=False) if bias is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding == "same":
            (t, b), (l, r) = (_same_pad(x.shape[2 + i], self.k[i], self.s[i], self.d[i]) for i in range(2))
            if t == b and l == r:
                return self.act(F.conv2d(x, self.weight, self.bias, self.s, (t, l), self.d))
            x = F.pad(x, (l, r, t, b))
        return self.act(F.conv2d(x, self.weight, self.bias, self.s, 0, self.d))


class BatchNorm(nn.Module):
    def __init__(self, name: str, cfg: dict, weights: dict[str, np.ndarray]):
        super().__init__()
        axis = cfg.get("axis", -1)
        if axis not in (-1, 3, [-1], [3]):
            raise CheckpointError(f"layer {name!r}: BatchNormalization over axis {axis} (only channels) is not supported")
        self.eps = float(cfg.get("epsilon", 1e-3))
        mean = _weight(weights, name, "moving_mean", ndim=1)
        n = mean.shape[0]
        get = lambda p, default: _weight(weights, name, p, ndim=1, size=n) if cfg.get(  # noqa: E731
            {"gamma": "scale", "beta": "center"}.get(p, p), True) else np.full(n, default, np.float32)
        for p, default in (("moving_mean", 0.0), ("moving_variance", 1.0), ("gamma", 1.0), ("beta", 0.0)):
            self.register_buffer(p, torch.from_numpy(np.ascontiguousarray(get(p, default))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.moving_mean, self.moving_variance, self.gamma, self.beta, False, 0.0, self.eps)


class Pool(nn.Module):
    def __init__(self, name: str, cfg: dict, kind: str):
        super().__init__()
        self.kind = kind
        self.k = _pair(cfg.get("pool_size", 2), "pool_size", name, _MAX_KERNEL)
        self.s = _pair(cfg.get("strides") or list(self.k), "strides", name, _MAX_KERNEL)
        self.padding = cfg.get("padding", "valid")
        if self.padding not in ("same", "valid") or cfg.get("data_format", "channels_last") != "channels_last":
            raise CheckpointError(f"layer {name!r}: only channels_last pooling with 'same'/'valid' padding is supported")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = (0, 0, 0, 0)
        if self.padding == "same":
            (t, b), (l, r) = (_same_pad(x.shape[2 + i], self.k[i], self.s[i]) for i in range(2))
            pad = (l, r, t, b)
        if self.kind == "max":
            return F.max_pool2d(F.pad(x, pad, value=-math.inf), self.k, self.s)
        # TF averages only the pixels inside the image: pool the sum, divide by the pooled count
        ones = F.pad(torch.ones_like(x[:1, :1]), pad)
        return F.avg_pool2d(F.pad(x, pad), self.k, self.s) / F.avg_pool2d(ones, self.k, self.s)


class Elementwise(nn.Module):
    def __init__(self, name: str, class_name: str, cfg: dict):
        super().__init__()
        self.class_name = class_name
        if class_name == "Activation":
            self.fn = _activation(cfg.get("activation"), name)
        elif class_name == "ReLU":
            if cfg.get("max_value") is not None or cfg.get("threshold", 0) or cfg.get("negative_slope", 0):
                raise CheckpointError(f"layer {name!r}: ReLU with max_value/threshold/negative_slope is not supported")
            self.fn = F.relu
        elif class_name == "LeakyReLU":
            alpha = float(cfg.get("alpha", 0.3))
            self.fn = lambda x: F.leaky_relu(x, alpha)
        elif class_name == "MultiplyBeta":
            beta = cfg.get("beta", 0.2)
            if not isinstance(beta, (int, float)) or isinstance(beta, bool) or not math.isfinite(beta):
                raise CheckpointError(f"layer {name!r}: beta {str(beta)[:20]} is not a number")
            self.fn = lambda x: x * float(beta)
        elif class_name == "PixelShuffle":
            scale = cfg.get("scale")
            if scale is None and (m := _PIXEL_SHUFFLE.match(str(cfg.get("class_name", "")))):
                scale = int(m.group(1))
            if not isinstance(scale, int) or isinstance(scale, bool) or not 2 <= scale <= _MAX_UP:
                raise CheckpointError(f"layer {name!r}: PixelShuffle needs an integer scale in 2..{_MAX_UP}, got {str(scale)[:20]}")
            self.fn = lambda x: depth_to_space(x, scale)
        elif class_name == "UpSampling2D":
            size = _pair(cfg.get("size", 2), "size", name, _MAX_UP)
            mode = cfg.get("interpolation", "nearest")
            if mode not in ("nearest", "bilinear") or cfg.get("data_format", "channels_last") != "channels_last":
                raise CheckpointError(f"layer {name!r}: UpSampling2D {str(mode)[:20]!r} is not supported (nearest, bilinear)")
            if mode == "nearest":
                self.fn = lambda x: x.repeat_interleave(size[0], dim=2).repeat_interleave(size[1], dim=3)
            else:  # tf.image.resize bilinear uses half-pixel centres, as align_corners=False does
                self.fn = lambda x: F.interpolate(x, scale_factor=size, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


class Merge(nn.Module):
    def __init__(self, name: str, class_name: str, cfg: dict):
        super().__init__()
        self.class_name = class_name
        if class_name == "Concatenate" and cfg.get("axis", -1) not in (-1, 3):
            raise CheckpointError(f"layer {name!r}: concatenation along axis {cfg.get('axis')} (only channels) is not supported")

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if self.class_name == "Concatenate":
            return torch.cat(xs, dim=1)
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


def _weight(weights: dict, layer: str, param: str, ndim: int, size: int | None = None) -> np.ndarray:
    key = f"{layer}/{param}"
    if key not in weights:
        raise CheckpointError(f"layer {layer!r}: weight {key!r} is not in the weights manifest")
    w = weights[key]
    if not isinstance(w, np.ndarray):
        w = w.dequantize()
    if w.ndim != ndim or (size is not None and w.shape[0] != size):
        raise CheckpointError(f"weight {key!r} has shape {list(w.shape)}, expected {ndim} dimensions" + (f" of {size}" if size else ""))
    return np.ascontiguousarray(w, dtype=np.float32)


def _make_layer(layer: dict, weights: dict) -> nn.Module | None:
    cls, name, cfg = _class(layer["class_name"]), str(layer.get("name") or layer.get("config", {}).get("name")), layer.get("config") or {}
    if cls == "PixelShuffle" and "scale" not in cfg:
        cfg = {**cfg, "class_name": layer["class_name"]}  # PixelShuffle<N>x: the scale is in the name
    if cls == "InputLayer":
        return None
    if cls == "Conv2D":
        return Conv2D(name, cfg, weights)
    if cls == "BatchNormalization":
        return BatchNorm(name, cfg, weights)
    if cls in ("MaxPooling2D", "AveragePooling2D"):
        return Pool(name, cfg, "max" if cls.startswith("Max") else "avg")
    if cls in ("Add", "Concatenate"):
        return Merge(name, cls, cfg)
    return Elementwise(name, cls, cfg)


class KerasGraph(nn.Module):
    """A Keras layer graph as a torch module: images [N, C, H, W] → the output layer's tensor.

    ``order``: layer names in execution order; ``inputs[name]``: the names feeding each layer;
    ``output``: the layer whose value ``forward`` returns.
    """

    def __init__(self, layers: dict[str, nn.Module], order: list[str], inputs: dict[str, list[str]], input_name: str, output: str):
        super().__init__()
        self.layers = nn.ModuleDict(layers)
        self.order, self.inputs, self.input_name, self.output = order, inputs, input_name, output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {self.input_name: x}
        for name in self.order:
            values[name] = self.layers[name](*(values[i] for i in self.inputs[name]))
            if name == self.output:
                break
        return values[self.output]


def build_graph(topology: dict[str, Any], weights: dict[str, Any], output: str | None = None) -> KerasGraph:
    """The torch module of a Keras topology with its weights (see the module docstring).

    ``output``: stop at this layer and return its value (default: the model's output layer).
    Raises CheckpointError for unsupported layers, graphs with several inputs/outputs, shared layers,
    dangling inputs, or weights that do not fit their layers.
    """
    layers_cfg = model_layers(topology)
    if output is not None:  # only the layers up to the requested one must be runnable
        ends = [i for i, ly in enumerate(layers_cfg) if output in (ly.get("name"), (ly.get("config") or {}).get("name"))]
        if not ends:
            raise CheckpointError(f"output layer {output!r} is not a layer of the model")
        layers_cfg = layers_cfg[: ends[0] + 1]
    unknown = sorted({ly["class_name"] for ly in layers_cfg if _class(ly["class_name"]) not in SUPPORTED})
    if unknown:
        raise CheckpointError(f"this TensorFlow.js model uses layer types GAN Explorer cannot run: {', '.join(unknown)} "
                              f"(supported: {', '.join(SUPPORTED)})")
    sequential = topology.get("model_config", topology).get("class_name") == "Sequential"
    names, inputs = [], {}
    prev = "input"
    for i, ly in enumerate(layers_cfg):
        name = str(ly.get("name") or ly.get("config", {}).get("name") or f"layer_{i}")
        if name in inputs or (name == "input" and sequential):
            raise CheckpointError(f"layer name {name!r} appears twice")
        if sequential:
            inputs[name] = [prev] if ly["class_name"] != "InputLayer" else []
            prev = name
        else:
            nodes = ly.get("inbound_nodes") or []
            if len(nodes) > 1:
                raise CheckpointError(f"layer {name!r} is shared (called {len(nodes)} times); shared layers are not supported")
            inbound = nodes[0] if nodes else []
            if not isinstance(inbound, list) or not all(isinstance(n, list) and n and isinstance(n[0], str) for n in inbound):
                raise CheckpointError(f"layer {name!r}: malformed inbound_nodes")
            inputs[name] = [n[0] for n in inbound]
        names.append(name)
    entry = [n for n, ly in zip(names, layers_cfg) if ly["class_name"] == "InputLayer"]
    if sequential and not entry:
        entry, inputs = ["input"], {**inputs}
    if len(entry) != 1:
        raise CheckpointError(f"the model has {len(entry)} input layers; one image input is supported")
    if not sequential:
        outs = topology.get("model_config", {}).get("config", {}).get("output_layers") or []
        if len(outs) != 1:
            raise CheckpointError(f"the model has {len(outs)} outputs; one is supported")
        default_out = str(outs[0][0])
    else:
        default_out = names[-1]
    output = output or default_out
    seen = {entry[0]}
    modules = {}
    for name, ly in zip(names, layers_cfg):
        missing = [i for i in inputs[name] if i not in seen]
        if missing:
            raise CheckpointError(f"layer {name!r} takes {missing[0]!r}, which no earlier layer produces")
        seen.add(name)
        if ly["class_name"] != "InputLayer":
            modules[name] = _make_layer(ly, weights)
    if output not in modules:
        raise CheckpointError(f"output layer {output!r} is not a layer of the model")
    order = [n for n in names if n in modules]
    return KerasGraph(modules, order, inputs, entry[0], output)
