"""The "imagenet-trunk" network: Keras InceptionV3 up to ``mixed5``, as our own torch module.

The weights come from the npm package ``nsfwjs`` 4.4.0, whose ``inception_v3`` model is a
Keras 2.2.4 InceptionV3 in TF.js layers format (uint8-quantised). Its layers up to ``mixed5``
are frozen (``trainable: false``) ImageNet weights from ``keras.applications`` (Apache-2.0);
the later layers were fine-tuned for another task and are not used. ``scripts/
convert_nsfwjs_inception.py`` turns the package into ``checkpoints/extractors/
imagenet_trunk_mixed5.safetensors``, which keeps the original uint8 values, per-tensor
quantisation parameters and Keras layer names, so the file is a faithful copy of the source.

Input scaling: nsfwjs feeds RGB / 255, i.e. [0, 1], not Keras' usual [-1, 1]. The stored BN
moving statistics were re-estimated under that scaling while nsfwjs fine-tuned the model (Keras
2.2.4 still updates the moving statistics of BN layers marked ``trainable: false``): conv2d_1's
moving means equal its kernel applied to the ImageNet mean pixel scaled to [0, 1] (correlation
0.997) and not scaled to [-1, 1] (-0.07), and deeper layers' pre-BN statistics on photographs fit
the stored ones better with [0, 1] input. So the trunk takes our [-1, 1] images and rescales them
to [0, 1] (``INPUT_RANGE``); the conv kernels themselves are frozen ImageNet weights.

Features: global average pool of ``mixed5`` → 768-d. This is NOT the standard FID network
(pool3 of the TF "2015-12-05" graph, 2048-d); scores are internally consistent but not
comparable with published FIDs.

Layer names follow Keras: ``conv2d_N`` + ``batch_normalization_N`` (no scale, eps 1e-3) + ReLU.
Keras is channels-last (kernels HWIO); torch is channels-first (OIHW): the loader transposes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

from explorer.errors import ExplorerError
from explorer.importers.tfjs import Quantized
from explorer.runtime import resolve_device

INPUT_SIZE = 299
#: value range the network was calibrated for (nsfwjs preprocessing: RGB / 255)
INPUT_RANGE = (0.0, 1.0)
FEATURE_DIM = 768
BN_EPSILON = 1e-3
DEFAULT_FILENAME = "imagenet_trunk_mixed5.safetensors"
WEIGHTS_ENV = "GAN_EXPLORER_IMAGENET_TRUNK"


class ConvBN(nn.Module):
    """Keras ``conv2d_bn``: Conv2D (no bias) → BatchNormalization(scale=False) → ReLU."""

    def __init__(self, index: int, in_ch: int, out_ch: int, kernel, stride: int = 1, padding: str = "same"):
        super().__init__()
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        if padding == "same" and stride != 1:
            raise ValueError("'same' padding is only used with stride 1 in InceptionV3")
        self.index = index
        self.keras_conv = f"conv2d_{index}"
        self.keras_bn = f"batch_normalization_{index}"
        self.kernel_size = (kh, kw)
        self.stride = stride
        self.padding_mode = padding
        # Keras 'same' with stride 1 and odd kernels pads (k-1)/2 on each side; 'valid' pads nothing.
        self.pad = ((kh - 1) // 2, (kw - 1) // 2) if padding == "same" else (0, 0)
        self.weight = nn.Parameter(torch.zeros(out_ch, in_ch, kh, kw), requires_grad=False)  # OIHW
        self.register_buffer("beta", torch.zeros(out_ch))
        self.register_buffer("moving_mean", torch.zeros(out_ch))
        self.register_buffer("moving_variance", torch.ones(out_ch))

    def conv(self, x: torch.Tensor) -> torch.Tensor:
        """The convolution alone (before batch norm); used by the conversion spot checks."""
        return F.conv2d(x, self.weight, stride=self.stride, padding=self.pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        x = F.batch_norm(x, self.moving_mean, self.moving_variance, None, self.beta, False, 0.0, BN_EPSILON)
        return F.relu(x)


def _avg_pool_same(x: torch.Tensor) -> torch.Tensor:
    # Keras AveragePooling2D(3, strides=1, padding='same') averages only the valid pixels.
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class BlockA(nn.Module):
    """mixed0..mixed2 (35x35): 1x1 | 1x1→5x5 | 1x1→3x3→3x3 | avgpool→1x1."""

    def __init__(self, first: int, in_ch: int, pool_ch: int):
        super().__init__()
        i = first
        self.branch1x1 = ConvBN(i, in_ch, 64, 1)
        self.branch5x5_1 = ConvBN(i + 1, in_ch, 48, 1)
        self.branch5x5_2 = ConvBN(i + 2, 48, 64, 5)
        self.branch3x3dbl_1 = ConvBN(i + 3, in_ch, 64, 1)
        self.branch3x3dbl_2 = ConvBN(i + 4, 64, 96, 3)
        self.branch3x3dbl_3 = ConvBN(i + 5, 96, 96, 3)
        self.branch_pool = ConvBN(i + 6, in_ch, pool_ch, 1)

    def forward(self, x):
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(_avg_pool_same(x))
        return torch.cat([b1, b5, b3, bp], dim=1)  # [N, 224 + pool_ch, 35, 35]


class BlockB(nn.Module):
    """mixed3 (35x35 → 17x17): 3x3/2 | 1x1→3x3→3x3/2 | maxpool/2."""

    def __init__(self, first: int, in_ch: int):
        super().__init__()
        i = first
        self.branch3x3 = ConvBN(i, in_ch, 384, 3, stride=2, padding="valid")
        self.branch3x3dbl_1 = ConvBN(i + 1, in_ch, 64, 1)
        self.branch3x3dbl_2 = ConvBN(i + 2, 64, 96, 3)
        self.branch3x3dbl_3 = ConvBN(i + 3, 96, 96, 3, stride=2, padding="valid")

    def forward(self, x):
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = F.max_pool2d(x, 3, stride=2)
        return torch.cat([b3, bd, bp], dim=1)  # [N, 768, 17, 17]


class BlockC(nn.Module):
    """mixed4..mixed5 (17x17): 1x1 | 1x1→1x7→7x1 | 1x1→7x1→1x7→7x1→1x7 | avgpool→1x1."""

    def __init__(self, first: int, in_ch: int, c7: int):
        super().__init__()
        i = first
        self.branch1x1 = ConvBN(i, in_ch, 192, 1)
        self.branch7x7_1 = ConvBN(i + 1, in_ch, c7, 1)
        self.branch7x7_2 = ConvBN(i + 2, c7, c7, (1, 7))
        self.branch7x7_3 = ConvBN(i + 3, c7, 192, (7, 1))
        self.branch7x7dbl_1 = ConvBN(i + 4, in_ch, c7, 1)
        self.branch7x7dbl_2 = ConvBN(i + 5, c7, c7, (7, 1))
        self.branch7x7dbl_3 = ConvBN(i + 6, c7, c7, (1, 7))
        self.branch7x7dbl_4 = ConvBN(i + 7, c7, c7, (7, 1))
        self.branch7x7dbl_5 = ConvBN(i + 8, c7, 192, (1, 7))
        self.branch_pool = ConvBN(i + 9, in_ch, 192, 1)

    def forward(self, x):
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            bd = layer(bd)
        bp = self.branch_pool(_avg_pool_same(x))
        return torch.cat([b1, b7, bd, bp], dim=1)  # [N, 768, 17, 17]


class ImagenetTrunk(nn.Module):
    """InceptionV3 (Keras layout) from the input to ``mixed5``, then global average pooling.

    Input: RGB in [-1, 1] (our convention), [N, 3, 299, 299]; rescaled to ``INPUT_RANGE`` inside.
    Output: [N, 768] pooled ``mixed5`` features.
    """

    def __init__(self):
        super().__init__()
        self.conv2d_1 = ConvBN(1, 3, 32, 3, stride=2, padding="valid")  # [N, 32, 149, 149]
        self.conv2d_2 = ConvBN(2, 32, 32, 3, padding="valid")  # [N, 32, 147, 147]
        self.conv2d_3 = ConvBN(3, 32, 64, 3)  # [N, 64, 147, 147] → maxpool → 73x73
        self.conv2d_4 = ConvBN(4, 64, 80, 1, padding="valid")  # [N, 80, 73, 73]
        self.conv2d_5 = ConvBN(5, 80, 192, 3, padding="valid")  # [N, 192, 71, 71] → maxpool → 35x35
        self.mixed0 = BlockA(6, 192, 32)  # [N, 256, 35, 35]
        self.mixed1 = BlockA(13, 256, 64)  # [N, 288, 35, 35]
        self.mixed2 = BlockA(20, 288, 64)  # [N, 288, 35, 35]
        self.mixed3 = BlockB(27, 288)  # [N, 768, 17, 17]
        self.mixed4 = BlockC(31, 768, 128)  # [N, 768, 17, 17]
        self.mixed5 = BlockC(41, 768, 160)  # [N, 768, 17, 17]

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """``mixed5`` activations [N, 768, 17, 17] for x [N, 3, 299, 299] in [-1, 1]."""
        lo, hi = INPUT_RANGE
        x = (x + 1.0) * (0.5 * (hi - lo)) + lo  # [-1, 1] → the range the BN statistics were estimated for
        x = self.conv2d_3(self.conv2d_2(self.conv2d_1(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.conv2d_5(self.conv2d_4(x))
        x = F.max_pool2d(x, 3, stride=2)
        for block in (self.mixed0, self.mixed1, self.mixed2, self.mixed3, self.mixed4, self.mixed5):
            x = block(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_map(x).mean(dim=(2, 3))  # [N, 768]

    def conv_layers(self) -> dict[str, ConvBN]:
        """All conv+BN layers by Keras conv name (``conv2d_1`` … ``conv2d_50``)."""
        return {m.keras_conv: m for m in self.modules() if isinstance(m, ConvBN)}

    def concat_inputs(self) -> dict[str, list[str]]:
        """For each ``mixedN``: the Keras names of its concatenated inputs, in order (for checks)."""
        out = {}
        for name in ("mixed0", "mixed1", "mixed2", "mixed3", "mixed4", "mixed5"):
            block = getattr(self, name)
            if isinstance(block, BlockB):
                out[name] = [block.branch3x3.keras_conv, block.branch3x3dbl_3.keras_conv, "max_pooling2d"]
            elif isinstance(block, BlockA):
                out[name] = [b.keras_conv for b in (block.branch1x1, block.branch5x5_2, block.branch3x3dbl_3, block.branch_pool)]
            else:
                out[name] = [b.keras_conv for b in (block.branch1x1, block.branch7x7_3, block.branch7x7dbl_5, block.branch_pool)]
        return out


# ----- the shipped weights file ------------------------------------------------------------
# File layout (written by scripts/convert_nsfwjs_inception.py): for every Keras weight
# "<layer>/<param>" (conv kernels in Keras HWIO layout, BN beta/moving_mean/moving_variance) a
# uint8 tensor under that name and a float64 [2] tensor "<layer>/<param>:quant" = (scale, min);
# value = q * scale + min (TF.js uint8 quantisation), i.e. the exact values nsfwjs ships.

def default_weights_path() -> Path:
    """``$GAN_EXPLORER_IMAGENET_TRUNK`` or ``<repo>/checkpoints/extractors/imagenet_trunk_mixed5.safetensors``."""
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "checkpoints" / "extractors" / DEFAULT_FILENAME


def dequantise(q: torch.Tensor, quant: torch.Tensor) -> torch.Tensor:
    """uint8 → float32 with TF.js affine quantisation (value = q * scale + min), by the TF.js
    reader's own rule (:class:`explorer.importers.tfjs.Quantized`), so the two cannot drift apart."""

    return torch.from_numpy(Quantized(q.numpy(), float(quant[0]), float(quant[1])).dequantize())


def read_metadata(path: str | os.PathLike | None = None) -> dict:
    """The JSON provenance stored in the weights file (source package, licences, layout)."""

    path = Path(path) if path else default_weights_path()
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata() or {}
    return json.loads(meta.get("gan_explorer_extractor", "{}"))


def load_imagenet_trunk(path: str | os.PathLike | None = None, device=None) -> ImagenetTrunk:
    """Build the trunk and load the converted nsfwjs weights (eval mode, float32).

    Raises ExplorerError when the file is missing or does not match the architecture.
    """

    path = Path(path) if path else default_weights_path()
    if not path.is_file():
        raise ExplorerError(
            f"ImageNet-trunk weights not found at {path}. They ship in the repository under "
            f"checkpoints/extractors/{DEFAULT_FILENAME}; rebuild them offline with "
            f"`python scripts/convert_nsfwjs_inception.py --tarball nsfwjs-4.4.0.tgz` "
            f"(`npm pack nsfwjs@4.4.0`), or point ${WEIGHTS_ENV} at the file."
        )
    try:
        tensors = load_file(str(path))
    except Exception as exc:
        raise ExplorerError(f"{path.name} is not a readable safetensors file: {exc}") from None
    model = ImagenetTrunk()
    module_names = {id(m): n for n, m in model.named_modules()}
    state = {}
    for conv_name, layer in model.conv_layers().items():
        prefix = conv_name.replace("conv2d_", "")
        try:
            kernel = dequantise(tensors[f"{conv_name}/kernel"], tensors[f"{conv_name}/kernel:quant"])
            bn = {p: dequantise(tensors[f"batch_normalization_{prefix}/{p}"], tensors[f"batch_normalization_{prefix}/{p}:quant"])
                  for p in ("beta", "moving_mean", "moving_variance")}
        except KeyError as exc:
            raise ExplorerError(f"{path.name} lacks weight {exc.args[0]!r}; re-run the converter") from None
        kernel = kernel.permute(3, 2, 0, 1)  # Keras HWIO → torch OIHW
        if tuple(kernel.shape) != tuple(layer.weight.shape):
            raise ExplorerError(f"{path.name}: {conv_name} has shape {list(kernel.shape)}, expected {list(layer.weight.shape)}")
        name = module_names[id(layer)]
        state[f"{name}.weight"] = kernel.float()
        for p, v in bn.items():
            state[f"{name}.{p}"] = v.float()
    model.load_state_dict(state, strict=True)

    return model.to(resolve_device(device)).eval()

