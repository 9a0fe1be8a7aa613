"""The "inception-v3" extractor: pool3 (2048-d) features from a user-supplied weights file.

Nothing is downloaded. Two layouts are recognised from the state_dict itself:

- torchvision ``inception_v3`` (``fc`` has 1000 outputs, usually ``AuxLogits.*`` too): the stock
  torchvision network. Its ImageNet weights differ from the TF graph used for published FIDs,
  so scores are labelled as not comparable with published numbers.
- pytorch-fid's ``pt_inception-2015-12-05-*.pth`` (``fc`` has 1008 outputs, no aux head): the
  port of the TF "2015-12-05" FID graph. Its blocks differ slightly from torchvision's (average
  pools exclude padding; the last block max-pools), which :class:`FIDInceptionA` etc. reproduce.
  Scores are comparable with published FIDs (as pytorch-fid's are: the resize differs from TF's).

Files are read with ``torch.load(weights_only=True)`` or safetensors: no code from them runs.
Input: RGB in [-1, 1], resized bilinearly to 299x299 (what both weight sets expect).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision.models.inception import Inception3, InceptionA, InceptionC, InceptionE

from explorer.checkpoint import file_hash
from explorer.errors import ExplorerError
from explorer.metrics.feature_base import FeatureExtractor
from explorer.weights_io import load_state_dict_safely

WEIGHTS_ENV = "GAN_EXPLORER_INCEPTION_WEIGHTS"

HOW_TO_SUPPLY = (
    "Supply an Inception-v3 weights file: either torchvision's inception_v3 ImageNet weights "
    "(inception_v3_google-0cc3c7bd.pth, https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth) "
    "or pytorch-fid's FID weights (pt_inception-2015-12-05-6726825d.pth, from the mseitzer/pytorch-fid "
    "GitHub releases), downloaded on a machine with internet access. Then pass its path "
    f"(Python: weights=PATH; CLI: --inception-weights PATH) or set ${WEIGHTS_ENV}=PATH. "
    "Without it, use --extractor imagenet-trunk (ships offline) or domain-classifier."
)


class FIDInceptionA(InceptionA):
    """Mixed_5b..5d of the TF FID graph: the average pool ignores padded pixels."""

    def _forward(self, x):
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False))
        return [b1, b5, b3, bp]


class FIDInceptionC(InceptionC):
    """Mixed_6b..6e of the TF FID graph: the average pool ignores padded pixels."""

    def _forward(self, x):
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            bd = layer(bd)
        bp = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False))
        return [b1, b7, bd, bp]


class FIDInceptionE(InceptionE):
    """Mixed_7b (average pool ignoring padding) and Mixed_7c (max pool) of the TF FID graph."""

    def __init__(self, in_channels: int, pool: str):
        super().__init__(in_channels)
        self.pool = pool

    def _forward(self, x):
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        if self.pool == "max":
            bp = F.max_pool2d(x, 3, stride=1, padding=1)
        else:
            bp = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        return [b1, b3, bd, self.branch_pool(bp)]


def build_fid_inception() -> Inception3:
    """The TF FID graph's architecture (pytorch-fid layout) with uninitialised weights."""
    net = Inception3(num_classes=1008, aux_logits=False, transform_input=False, init_weights=False)
    net.Mixed_5b = FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = FIDInceptionE(1280, pool="avg")
    net.Mixed_7c = FIDInceptionE(2048, pool="max")
    return net


def default_weights_path() -> Path | None:
    env = os.environ.get(WEIGHTS_ENV)
    return Path(env) if env else None


def load_inception(weights: str | os.PathLike | None = None) -> tuple[Inception3, str]:
    """Load the network from ``weights`` (or ``$GAN_EXPLORER_INCEPTION_WEIGHTS``); returns (net, layout).

    ``layout`` is "torchvision" or "pytorch-fid". Raises ExplorerError with instructions when
    no file is given or found, or when the file does not hold an Inception-v3 state_dict.
    """
    path = Path(weights) if weights else default_weights_path()
    if path is None:
        raise ExplorerError("the inception-v3 extractor needs a weights file, and none was given. " + HOW_TO_SUPPLY)
    if not path.is_file():
        raise ExplorerError(f"Inception-v3 weights file not found: {path}. " + HOW_TO_SUPPLY)

    try:
        state = load_state_dict_safely(path)
    except ExplorerError as exc:
        raise ExplorerError(f"cannot use {path.name} as Inception-v3 weights: {exc}. " + HOW_TO_SUPPLY) from None
    state = {k.removeprefix("module."): v for k, v in state.items()}
    fc = state.get("fc.weight")
    if fc is None or fc.ndim != 2 or fc.shape[1] != 2048:
        raise ExplorerError(f"{path.name} is not an Inception-v3 state_dict (no fc.weight of shape [K, 2048]). " + HOW_TO_SUPPLY)
    if fc.shape[0] == 1008:
        layout, net = "pytorch-fid", build_fid_inception()
    else:
        layout = "torchvision"
        has_aux = any(k.startswith("AuxLogits.") for k in state)
        net = Inception3(num_classes=fc.shape[0], aux_logits=has_aux, transform_input=False, init_weights=False)
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ExplorerError(
            f"{path.name} does not match the {layout} Inception-v3 layout "
            f"(missing: {missing[:3]}{'...' if len(missing) > 3 else ''}; "
            f"unexpected: {unexpected[:3]}{'...' if len(unexpected) > 3 else ''}). " + HOW_TO_SUPPLY
        )
    return net.eval(), layout


class InceptionV3Extractor(FeatureExtractor):
    name = "inception-v3"
    display_name = "Inception-v3"
    feature_dim = 2048
    input_size = 299

    def __init__(self, weights: str | os.PathLike | None = None):
        super().__init__()
        self.net, self.layout = load_inception(weights)
        self.weights_path = Path(weights) if weights else default_weights_path()
        self.num_logits = int(self.net.fc.out_features)
        if self.layout == "pytorch-fid":
            self.comparable_with_published = True
            self.label = "Inception-v3 pool3 (2048-d), FID weights (pytorch-fid layout): comparable with published FIDs"
            self.logits_label = ("1008 logits of the TF Inception graph without the fc bias "
                                 "(torch-fidelity's logits_unbiased, as in the original Inception Score)")
        else:
            self.comparable_with_published = False
            self.label = ("Inception-v3 pool3 (2048-d), torchvision ImageNet weights: "
                          "not the TF FID graph, so not exactly comparable with published FIDs")
            self.logits_label = f"{self.num_logits} ImageNet logits (torchvision weights)"
        self._id = None

    def identity(self) -> str:
        if self._id is None:
            self._id = f"{self.name}:{self.layout}@{file_hash(self.weights_path)}"
        return self._id

    def fd_name(self) -> str:
        return "FID"  # Fréchet distance in Inception-v3 pool3 space: the one the name was coined for

    def info(self) -> dict:
        return {**super().info(), "weights_layout": self.layout}

    def _forward(self, x):
        net = self.net
        # torchvision's Inception3 body, stopping at pool3 (no dropout, no aux head).
        for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
                     "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b",
                     "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = getattr(net, name)(x)
        pool3 = torch.flatten(net.avgpool(x), 1)  # [N, 2048]
        if self.layout == "pytorch-fid":
            # The TF graph's IS softmax is taken over unbiased logits (torch-fidelity "logits_unbiased").
            return pool3, pool3 @ net.fc.weight.T  # [N, 1008]
        return pool3, net.fc(pool3)
