"""ONNX export of every generator family, checked against PyTorch with onnxruntime.

``export_onnx(checkpoint_or_model, "model.onnx")`` writes one ONNX file per generator:

=========  =====================================================  =============================
kind       inputs                                                  output
=========  =====================================================  =============================
dcgan      ``z`` float32 [N, latent_dim];                          ``image`` float32 [N, C, R, R]
           ``labels`` int64 [N] (class-conditional models only);
           ``truncation`` float32 [] (only with truncation="input")
stylegan   ``z``, ``labels`` as above; ``truncation`` float32 []   ``image`` [N, C, R, R]
           (default; or fixed at export with truncation=ψ)
cyclegan   ``image`` float32 [N, C, H, W], H and W multiples of 4  ``output`` [N, C', H, W]
           (one file per direction: ``direction="AtoB"|"BtoA"``)
srgan      ``image`` float32 [N, C, h, w], any h, w                ``output`` [N, C, s·h, s·w] (s = scale)
=========  =====================================================  =============================

Every batch axis is dynamic; so are H, W of the image-to-image models. Images are in [-1, 1]
(the same convention as :mod:`explorer`): map uint8 pixels with ``p / 127.5 - 1`` and back with
``round((x + 1) * 127.5)``. Truncation means what ``model.generate`` means: DCGAN scales z by ψ,
StyleGAN pulls w toward the tracked mean ``w_avg``. StyleGAN exports use ``noise_mode="const"``
(the checkpoint's fixed noise images), so an ONNX StyleGAN is deterministic and equals
``model.generate(z, labels, truncation)``. The graph holds the network only: CycleGAN's
pad-to-a-multiple-of-4 and SRGAN's tiling for huge inputs stay in the Python API.

Seeds: :func:`explorer.latents_from_seeds` draws z with torch's CPU generator; other runtimes
cannot reproduce that stream, so to regenerate a GAN Explorer image elsewhere, save its z
(``gan-explorer generate --seeds ...`` prints/saves latents) and feed that.

Exporter: ``exporter="torchscript"`` (default) is torch's TorchScript-based ``torch.onnx.export``
(``dynamo=False``): deprecated upstream but present in torch 2.14, exports these networks in about
a second, and gives the same numbers. ``exporter="dynamo"`` uses the ``torch.export``-based
exporter (the future default; 20–60× slower to export here, same results, and it prefers opset ≥ 18).

Provenance: ``metadata_props`` carry the GAN Explorer version, model kind, name, content hash,
config, card excerpt, input/output documentation, truncation/noise settings, the measured
ONNX-vs-PyTorch difference and a "synthetic image" statement (:func:`read_onnx_metadata`).

``onnx`` and ``onnxruntime`` are an optional extra (``pip install gan-explorer[onnx]``).

This module decides what goes into the graph (wrapper modules with exactly the graph's inputs, and
each model's :class:`~explorer.export.onnx_file.ExportSpec`); running the exporter, checking the file
with onnxruntime and the metadata are in :mod:`explorer.export.onnx_file`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from explorer.atomic import atomic_path
from explorer.errors import ExplorerError
from explorer.export.common import resolve_model
from explorer.export.onnx_file import (
    META_PREFIX,
    ExportSpec,
    annotate,
    file_metadata,
    onnx_session,
    read_onnx_metadata,
    require,
    run_exporter,
    verify_file,
)
from explorer.models.base import GANModel
from explorer.models.layers import check_truncation

# Names other modules import from here; the file-level helpers live in explorer.export.onnx_file.
__all__ = ["DEFAULT_OPSET", "EXPORTERS", "META_PREFIX", "OnnxExport", "export_onnx", "onnx_session",
           "read_onnx_metadata"]

EXPORTERS = ("torchscript", "dynamo")
DEFAULT_OPSET = 17


@dataclass
class OnnxExport:
    """What :func:`export_onnx` wrote: the file, its interface and how closely it matched PyTorch."""

    path: Path
    kind: str
    inputs: dict[str, str]  # name -> documentation
    outputs: dict[str, str]
    max_abs_diff: float | None  # ONNX Runtime vs PyTorch on fresh inputs (None = not verified)
    metadata: dict[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------
# wrappers: one forward() with exactly the ONNX graph's inputs
# ----------------------------------------------------------------------------------------
class _Generate(nn.Module):
    """Base of the generator wrappers: (z, labels, ψ) → images in [-1, 1], as ``model.generate`` computes them.

    One subclass per input combination, each with an explicit ``forward`` signature, because
    ``torch.export`` (the dynamo exporter) matches dynamic shapes to named parameters.
    """

    def __init__(self, model: GANModel, truncation: float = 1.0):
        super().__init__()
        self.net = model.traceable_generator()  # the family's own truncation and forward
        self.truncation = float(truncation)

    def run(self, z: torch.Tensor, labels: torch.Tensor | None, psi: torch.Tensor | float) -> torch.Tensor:
        return self.net(z, labels, psi)


class _GenZ(_Generate):
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.run(z, None, self.truncation)


class _GenZLabels(_Generate):
    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.run(z, labels, self.truncation)


class _GenZTrunc(_Generate):
    def forward(self, z: torch.Tensor, truncation: torch.Tensor) -> torch.Tensor:
        return self.run(z, None, truncation)


class _GenZLabelsTrunc(_Generate):
    def forward(self, z: torch.Tensor, labels: torch.Tensor, truncation: torch.Tensor) -> torch.Tensor:
        return self.run(z, labels, truncation)


_GENERATE_WRAPPERS = {(False, False): _GenZ, (True, False): _GenZLabels, (False, True): _GenZTrunc, (True, True): _GenZLabelsTrunc}


class _Translate(nn.Module):
    """image → image through one generator network (no padding, no tiling)."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.G = generator

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.G(image)


# ----------------------------------------------------------------------------------------
# the export
# ----------------------------------------------------------------------------------------
def export_onnx(
    source: str | os.PathLike | GANModel,
    out_path: str | os.PathLike,
    opset: int = DEFAULT_OPSET,
    direction: str | None = None,
    truncation: float | str | None = None,
    exporter: str = "torchscript",
    verify: bool = True,
    atol: float = 1e-4,
) -> OnnxExport:
    """Export a generator to ONNX, verify it with onnxruntime, and embed provenance metadata.

    Args:
        source: checkpoint path (own or foreign format) or a loaded model (it is copied, not changed).
        out_path: the ``.onnx`` file to write (atomically: nothing is left behind on failure).
        opset: ONNX opset (default 17: onnxruntime ≥ 1.12, onnxruntime-web, TensorFlow converters).
        direction: CycleGAN only, "AtoB" or "BtoA" (default: the first the model has). One file per direction.
        truncation: generators only. "input" → a float32 scalar input named ``truncation``;
            a number → ψ fixed in the graph. Default: "input" for StyleGAN, 1.0 for DCGAN.
        exporter: "torchscript" (default, fast) or "dynamo" (torch.export-based); see the module docstring.
        verify: run the file in onnxruntime on fresh inputs (another batch size, another image size) and
            compare with the PyTorch model's ``generate``/``translate``; raise if they differ by more than ``atol``.

    Returns:
        :class:`OnnxExport` (path, input/output docs, measured max abs difference, metadata).

    Raises:
        ExplorerError: unsupported kind or direction, missing generator, missing ``onnx`` package,
            an export that fails, or outputs that do not match PyTorch's.
    """
    onnx = require("onnx")
    if exporter not in EXPORTERS:
        raise ExplorerError(f"exporter must be one of {EXPORTERS}, got {exporter!r}")
    if not 7 <= int(opset) <= 23:
        raise ExplorerError(f"opset must lie in 7..23, got {opset}")
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".onnx":
        raise ExplorerError(f"{out_path.name}: ONNX files are written with the .onnx suffix")
    model, identity = resolve_model(source)
    spec = _spec(model, direction, truncation)

    with atomic_path(out_path) as tmp:
        run_exporter(spec, tmp, int(opset), exporter)
        proto = onnx.load(str(tmp))
        diff = verify_file(tmp, model, spec) if verify else None
        if diff is not None and not diff <= atol:  # `not <=` also catches NaN
            raise ExplorerError(
                f"the ONNX export of this {model.kind} model differs from PyTorch by {diff:.3g} (> {atol:g}); not written"
            )
        metadata = file_metadata(identity, spec, exporter, int(opset), diff)
        annotate(proto, spec, metadata)
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
    return OnnxExport(out_path, model.kind, dict(spec.inputs), dict(spec.outputs), diff, metadata)


def _spec(model: GANModel, direction: str | None, truncation: float | str | None) -> ExportSpec:
    caps = model.caps
    if caps.generates or model.edit_space:  # a generator family (with or without its G: that error comes next)
        if direction is not None:
            raise ExplorerError(f"a {model.kind} model has no directions; drop direction")
        return _generator_spec(model, truncation)
    if truncation is not None:
        raise ExplorerError(f"truncation applies to generators (DCGAN, StyleGAN), not to a {model.kind} model")
    if caps.directions:
        return _translator_spec(model, direction)
    raise ExplorerError(f"a {model.kind} model cannot be exported to ONNX here: it neither generates nor translates")


def _generator_spec(model: GANModel, truncation: float | str | None) -> ExportSpec:
    if getattr(model, "G", None) is None:
        raise ExplorerError(f"this {model.kind} model has no generator (it was imported from a discriminator file only)")
    if truncation is None:  # a style space's ψ is worth adjusting at run time: make it an input
        truncation = "input" if model.edit_space == "w" else 1.0
    truncation_input = truncation == "input"
    psi = 1.0
    if not truncation_input:
        try:
            float(truncation)
        except (TypeError, ValueError):
            raise ExplorerError(f"truncation must be 'input' or a number ≥ 0, got {truncation!r}") from None
        psi = check_truncation(truncation)  # the models' own rule: finite and ≥ 0
    module = _GENERATE_WRAPPERS[(model.num_classes > 0, truncation_input)](model, psi).eval()
    c, r, k = model.image_channels, model.resolution, model.num_classes
    meaning = model.truncation_formula
    inputs = {"z": f"float32 [N, {model.latent_dim}]: latent vectors, N(0, I) (explorer.latents_from_seeds draws them from seeds)"}
    if k:
        inputs["labels"] = f"int64 [N]: class ids 0..{k - 1}"
    if truncation_input:
        inputs["truncation"] = f"float32 scalar []: truncation ψ ≥ 0 ({meaning}); 1 = off, <1 = more typical images"
    outputs = {"image": f"float32 [N, {c}, {r}, {r}]: images in [-1, 1] (uint8 pixel = round((x + 1) * 127.5))"}
    gen = torch.Generator().manual_seed(0)

    def args(n: int, psi_value: float) -> tuple[torch.Tensor, ...]:
        out = [torch.randn(n, model.latent_dim, generator=gen)]
        if k:
            out.append(torch.randint(0, k, (n,), generator=gen))
        if truncation_input:
            out.append(torch.tensor(psi_value, dtype=torch.float32))
        return tuple(out)

    example, fresh = args(2, 0.8), args(3, 0.7)

    def reference(*a: torch.Tensor) -> torch.Tensor:
        labels = a[1] if k else None
        psi_value = float(a[-1]) if truncation_input else psi
        with torch.no_grad():
            return model.generate(a[0], labels, truncation=psi_value)

    dynamic = {"z": {0: "batch"}, "image": {0: "batch"}}
    if k:
        dynamic["labels"] = {0: "batch"}
    settings = {"truncation": "input" if truncation_input else psi}
    if model.edit_space == "w":
        settings["noise_mode"] = "const"  # StyleGAN's generate_traceable uses the stored noise
    return ExportSpec(module, model.kind, True, example, fresh, inputs, outputs, dynamic, reference, settings)


def _translator_spec(model: GANModel, direction: str | None) -> ExportSpec:
    directions = tuple(model.directions)
    direction = direction or (directions[0] if directions else None)
    if direction not in directions:
        raise ExplorerError(f"this {model.kind} model translates {', '.join(directions) or 'nothing'}, not {direction!r}")
    generator = model.translation_network(direction)
    if model.caps.domains:
        c_in = model.channels_of(direction[0])
        c_out = model.channels_of(direction[-1])
        size, fresh_size = (32, 32), (20, 28)
        inputs = {"image": f"float32 [N, {c_in}, H, W]: domain-{direction[0]} images in [-1, 1]; H, W multiples of 4, at least 8"}
        outputs = {"output": f"float32 [N, {c_out}, H, W]: domain-{direction[-1]} images in [-1, 1]"}
        dynamic = {"image": {0: "batch", 2: "height", 3: "width"}, "output": {0: "batch", 2: "height", 3: "width"}}
    else:
        c_in = c_out = model.image_channels
        side = max(model.resolution // model.config.scale, 8)
        size, fresh_size = (side, side), (side + 3, side - 1)
        inputs = {"image": f"float32 [N, {c_in}, h, w]: low-resolution images in [-1, 1], any h, w ≥ 1"}
        s = model.config.scale
        outputs = {"output": f"float32 [N, {c_out}, {s}h, {s}w]: ×{s} upscaled images in [-1, 1]"}
        dynamic = {"image": {0: "batch", 2: "height", 3: "width"}, "output": {0: "batch", 2: "out_height", 3: "out_width"}}
    gen = torch.Generator().manual_seed(0)
    example = (torch.rand(2, c_in, *size, generator=gen) * 2 - 1,)
    fresh = (torch.rand(3, c_in, *fresh_size, generator=gen) * 2 - 1,)

    def reference(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model.translate(x, direction)

    return ExportSpec(_Translate(generator).eval(), model.kind, False, example, fresh, inputs, outputs, dynamic, reference,
                 {"direction": direction})


