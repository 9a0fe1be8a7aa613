"""Importer for TensorFlow.js super-resolution models: UpscalerJS ``@upscalerjs/esrgan-slim`` (MIT).

What the package's versions ship (all MIT, Kevin Scott):

- 1.0.0-beta.6: one ×4 **ESRGAN** generator (``models/model.json``, uint8-quantised, 4.2 MB):
  an RRDN with T=10 residual-in-residual dense blocks, C=4, G=32, nf=32, the custom layers
  ``MultiplyBeta`` and ``PixelShuffle``; the package feeds pixels / 255 and clips to 0..1.
- 1.0.0-beta.7 … 1.0.0: ``models/{2x,3x,4x,8x}`` (later ``x2 … x8``) ``/model.json`` + one float32
  shard each. Despite the name, the package's own model definition says ``architecture: "rdn"``:
  Residual Dense Networks in idealo ISR's layout (C=1, D=2, G=4, G0=64, trained on DIV2K) fed
  0..255 (its ``inputRange``/``outputRange``).

Both import as ``srgan``-kind models with ``generator="rrdn"`` / ``"rdn"``, ``parts=("G",)`` (no
discriminator ships) and ``scale`` from the graph (:mod:`explorer.models.rdn`).

Recognition is by layout: the Keras layer names ISR writes (RDN: ``F_m1``, ``F_0``, ``F_d_c``,
``LFF_d``, ``GFF_1/2``, ``UPN1..3``, ``UPsample``, ``SR``; RRDN: ``Pre_blocks_conv``,
``F_t_d_c``, ``LFF_t_d``, ``post_blocks_conv``, ``PreShuffle``, ``SR``) give the sizes; the weights
are mapped onto our module; then the model is checked numerically against the generic Keras graph
:func:`explorer.importers.tfjs_layers.build_graph` builds from the same file (same input, relative
difference ≤ 1e-5), so a file whose wiring differs is refused instead of being imported wrong.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import torch

from explorer.errors import CheckpointError
from explorer.importers.base import ForeignFile, imported_card
from explorer.importers.tfjs import TFJSModel, read_tfjs
from explorer.importers.tfjs_layers import build_graph
from explorer.models.rdn import RDBS_PER_RRDB, RRDB_BETA
from explorer.models.srgan import SRGAN, SRGANConfig

FORMAT = "TensorFlow.js Layers model (UpscalerJS esrgan-slim: RDN or ESRGAN RRDN)"
DESCRIPTION = ("TensorFlow.js Layers super-resolution model: model.json + weight shards (a folder holding model.json), "
               "e.g. @upscalerjs/esrgan-slim models/x4; imported as kind 'srgan' (RDN or ESRGAN generator, ×2/×3/×4/×8)")
_BLOCK = re.compile(r"^LFF_(\d+)$")
_LAYER = re.compile(r"^F_(\d+)_(\d+)$")
_RRDB_FUSE = re.compile(r"^LFF_(\d+)_(\d+)$")
_RRDB_LAYER = re.compile(r"^F_(\d+)_(\d+)_(\d+)$")
#: the check against the generic graph: max |ours - graph| / max |graph| on a random input
SELF_CHECK_TOL = 1e-5


def _conv(tm: TFJSModel, name: str) -> np.ndarray:
    w = tm.weights.get(f"{name}/kernel")
    if w is None or not isinstance(w, np.ndarray) or w.ndim != 4:
        raise CheckpointError(f"{tm.name}: no 4-d kernel for layer {name!r}; not an RDN super-resolution model")
    return w


def _layer_cfg(tm: TFJSModel, name: str) -> dict:
    for ly in tm.layers:
        if ly.get("name") == name or (ly.get("config") or {}).get("name") == name:
            return ly.get("config") or {}
    raise CheckpointError(f"{tm.name}: has no layer {name!r}; not an RDN super-resolution model")


def sr_config(tm: TFJSModel):
    """The SRGAN config of an UpscalerJS/ISR RDN or RRDN (ESRGAN) file (CheckpointError if neither)."""
    names = {str(ly.get("name")) for ly in tm.layers}
    rdn = {"F_m1", "F_0", "GFF_1", "GFF_2", "UPN1", "UPN2", "UPN3", "UPsample", "SR"}
    rrdn = {"Pre_blocks_conv", "post_blocks_conv", "PreShuffle", "SR"}
    if rdn <= names:
        return _rdn_config(tm, names)
    if rrdn <= names:
        return _rrdn_config(tm, names)
    classes = sorted({ly["class_name"] for ly in tm.layers})
    raise CheckpointError(
        f"{tm.name}: a TensorFlow.js Layers model ({len(tm.layers)} layers: {', '.join(classes)[:160]}) that is not a "
        f"super-resolution network GAN Explorer knows (no RDN layers {', '.join(sorted(rdn - names))[:80]}; no ESRGAN "
        f"layers {', '.join(sorted(rrdn - names))[:80]}). Known: {DESCRIPTION}")


def _numbered(names: set[str], pattern: re.Pattern, group: int, fixed: dict[int, str] | None = None) -> int:
    """How many consecutive numbers 1..n group ``group`` of ``pattern`` takes (others fixed); 0 if not 1..n."""
    found = sorted({int(m.group(group)) for n in names if (m := pattern.match(n)) and all(m.group(k) == v for k, v in (fixed or {}).items())})
    return len(found) if found == list(range(1, len(found) + 1)) else 0


def _config(tm: TFJSModel, **kwargs):
    try:
        return SRGANConfig(resolution=32 * kwargs["scale"], parts=("G",), **kwargs)
    except ValueError as exc:
        raise CheckpointError(f"{tm.name}: not a network this app builds ({exc})") from None


def _rdn_config(tm: TFJSModel, names: set[str]):
    blocks, layers = _numbered(names, _BLOCK, 1), _numbered(names, _LAYER, 2, {1: "1"})
    if not blocks or not layers:
        raise CheckpointError(f"{tm.name}: RDN blocks/layers are not numbered 1..D / 1..C; not an RDN model")
    head = _conv(tm, "F_m1")  # [3, 3, C, G0]
    up = _layer_cfg(tm, "UPsample")
    size = up.get("size")
    if not (isinstance(size, list) and len(size) == 2 and size[0] == size[1] and size[0] in (2, 3, 4, 8)):
        raise CheckpointError(f"{tm.name}: up-sampling size {size} is not ×2, ×3, ×4 or ×8")
    if up.get("interpolation", "nearest") != "nearest":
        raise CheckpointError(f"{tm.name}: RDN up-sampling must be nearest-neighbour")
    return _config(tm, channels=int(head.shape[2]), num_features=int(head.shape[3]), scale=size[0], generator="rdn",
                   rdn_blocks=blocks, rdn_layers=layers, rdn_growth=int(_conv(tm, "F_1_1").shape[3]), pixel_max=255.0)


def _rrdn_config(tm: TFJSModel, names: set[str]):
    rrdbs = _numbered(names, _RRDB_FUSE, 1)
    per_rrdb = _numbered(names, _RRDB_FUSE, 2, {1: "1"})
    layers = _numbered(names, _RRDB_LAYER, 3, {1: "1", 2: "1"})
    if not rrdbs or per_rrdb != RDBS_PER_RRDB or not layers:
        raise CheckpointError(f"{tm.name}: ESRGAN blocks are not numbered 1..T, {RDBS_PER_RRDB} dense blocks each, convs 1..C")
    betas = {ly["config"].get("beta", RRDB_BETA) for ly in tm.layers if ly["class_name"] == "MultiplyBeta"}
    if betas != {RRDB_BETA}:
        raise CheckpointError(f"{tm.name}: residual scaling {sorted(betas)} is not ESRGAN's {RRDB_BETA}")
    head = _conv(tm, "Pre_blocks_conv")  # [3, 3, C, nf]
    channels = int(head.shape[2])
    scale = round((_conv(tm, "PreShuffle").shape[3] / channels) ** 0.5)
    return _config(tm, channels=channels, num_features=int(head.shape[3]), scale=scale, generator="rrdn", rdn_blocks=rrdbs,
                   rdn_layers=layers, rdn_growth=int(_conv(tm, "F_1_1_1").shape[3]), pixel_max=1.0)


def _pairs(cfg) -> dict[str, str]:
    """Our ``G.*`` module names → the Keras layer names holding their weights."""
    if cfg.generator == "rrdn":
        pairs = {"head": "Pre_blocks_conv", "post": "post_blocks_conv", "up": "PreShuffle", "tail": "SR"}
        for t in range(cfg.rdn_blocks):
            for d in range(3):
                pairs[f"blocks.{t}.blocks.{d}.fuse"] = f"LFF_{t + 1}_{d + 1}"
                for c in range(cfg.rdn_layers):
                    pairs[f"blocks.{t}.blocks.{d}.convs.{c}"] = f"F_{t + 1}_{d + 1}_{c + 1}"
        return pairs
    pairs = {"head": "F_m1", "entry": "F_0", "global_fuse": "GFF_1", "global_conv": "GFF_2",
             "up1": "UPN1", "up2": "UPN2", "up3": "UPN3", "tail": "SR"}
    for d in range(cfg.rdn_blocks):
        pairs[f"blocks.{d}.fuse"] = f"LFF_{d + 1}"
        for c in range(cfg.rdn_layers):
            pairs[f"blocks.{d}.convs.{c}"] = f"F_{d + 1}_{c + 1}"
    return pairs


def sr_state_dict(tm: TFJSModel, cfg) -> dict[str, torch.Tensor]:
    """Keras weights → the ``G.*`` tensors of an SRGAN with an RDN/RRDN generator (kernels HWIO → OIHW)."""
    state = {}
    for ours, keras in _pairs(cfg).items():
        state[f"G.{ours}.weight"] = torch.from_numpy(np.ascontiguousarray(_conv(tm, keras).transpose(3, 2, 0, 1)))
        bias = tm.weights.get(f"{keras}/bias")
        if not isinstance(bias, np.ndarray) or bias.ndim != 1:
            raise CheckpointError(f"{tm.name}: layer {keras!r} has no bias vector")
        state[f"G.{ours}.bias"] = torch.from_numpy(bias.copy())
    return state


def check_against_graph(model, tm: TFJSModel, size: tuple[int, int] = (9, 11)) -> float:
    """Max relative difference between ``model`` and the generic Keras graph of ``tm`` on one random input."""

    graph = build_graph(tm.topology, tm.weights).eval()
    x = torch.rand(1, model.image_channels, *size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    half = 0.5 * model.config.pixel_max
    with torch.no_grad():
        ref = graph((x + 1) * half) / half - 1  # the file's 0..pixel_max units → ours
        got = model.G(x)
    if ref.shape != got.shape:
        raise CheckpointError(f"{tm.name}: the graph outputs {list(ref.shape)}, the RDN {list(got.shape)}; not an RDN layout")
    return float((got - ref.clamp(-1, 1)).abs().max() / ref.abs().max().clamp_min(1e-6))


def package_info(model_json: Path) -> dict:
    """name, version and licence from the npm ``package.json`` above the model (within 3 folders), if any."""
    for folder in list(model_json.resolve().parents)[:3]:
        pj = folder / "package.json"
        if pj.is_file() and pj.stat().st_size < 1 << 20:
            try:
                info = json.loads(pj.read_text("utf-8"))
            except (ValueError, UnicodeDecodeError):
                return {}
            return {k: str(info.get(k))[:200] for k in ("name", "version", "license") if isinstance(info, dict) and info.get(k)}
    return {}


def import_tfjs(model_json: Path, shards: dict[str, Path] | None = None):
    """Read a TF.js Layers RDN (``model.json`` [+ shard files given by name]) into an ``srgan`` model."""

    def read_shard(name: str) -> bytes:
        p = shards.get(Path(name).name) or (model_json.parent / name)
        if not p.is_file():
            raise CheckpointError(f"{model_json.name}: weight shard {name[:80]!r} is missing (give it with model.json)")
        return p.read_bytes()

    tm = read_tfjs(model_json, read_shard=read_shard if shards else None)  # None: the files next to model.json
    cfg = sr_config(tm)
    model = SRGAN(cfg)
    try:
        model.load_state_dict(sr_state_dict(tm, cfg), strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{tm.name}: weights do not fit a {cfg.generator.upper()} of the sizes its layers give ({str(exc)[:200]})") from None
    model.eval()
    err = check_against_graph(model, tm)
    if not err <= SELF_CHECK_TOL:
        raise CheckpointError(f"{tm.name}: its layer graph is not wired like an {cfg.generator.upper()} (outputs differ by {err:.2g} "
                              "relative); refused")
    pkg = package_info(model_json)
    files = [ForeignFile(model_json, {}, "topology")] + [ForeignFile(Path(s), {}, "weights") for s in tm.meta["shards"]]
    if cfg.generator == "rrdn":
        what = (f"ESRGAN generator (RRDN) ×{cfg.scale}: T={cfg.rdn_blocks} residual-in-residual dense blocks of 3 dense blocks "
                f"with C={cfg.rdn_layers} convs, growth G={cfg.rdn_growth}, nf={cfg.num_features}, residual scaling 0.2")
    else:
        what = (f"RDN ×{cfg.scale}: D={cfg.rdn_blocks} blocks of C={cfg.rdn_layers} convs, growth G={cfg.rdn_growth}, "
                f"G0={cfg.num_features} (idealo ISR layout; UpscalerJS publishes it under the name esrgan-slim)")
    notes = [
        what,
        f"pixel values 0..{cfg.pixel_max:g} in and out, as the package feeds them; outputs clamped to the image range",
        f"checked against the file's own layer graph: max relative difference {err:.1e}",
        "no discriminator ships with it: discriminate() is unavailable",
    ]
    if pkg:
        notes.insert(0, f"npm package {pkg.get('name', '?')} {pkg.get('version', '?')}, licence {pkg.get('license', 'unknown')}")
    model.card.update(imported_card(FORMAT, files, ["G"], notes))
    if pkg.get("license"):
        model.card.licence = f"{pkg['license']} (npm package {pkg.get('name', '?')} {pkg.get('version', '')})".strip()
    model.summary.imported_from = FORMAT
    return model

