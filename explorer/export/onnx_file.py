"""Writing and checking ONNX files: torch's exporter run on an :class:`ExportSpec`, the file checked with
onnxruntime, and GAN Explorer's provenance metadata written into it and read back.

:mod:`explorer.export.onnx` decides what goes into the graph (the wrapper modules, each model's inputs,
outputs and PyTorch reference, as an :class:`ExportSpec`) and calls these in order. ``onnx`` and
``onnxruntime`` are optional packages, imported when first needed (:func:`require`).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from explorer import __version__
from explorer.errors import ExplorerError
from explorer.images import SYNTHETIC_STATEMENT
from explorer.models.base import GANModel

#: prefix of our keys in the ONNX ``metadata_props``
META_PREFIX = "gan_explorer."


@dataclass
class ExportSpec:
    """Everything about one export that depends on the model: wrapper, names, shapes, docs."""

    module: torch.nn.Module
    kind: str
    generates: bool
    example: tuple[torch.Tensor, ...]  # tracing inputs
    fresh: tuple[torch.Tensor, ...]  # verification inputs (other batch and image sizes)
    inputs: dict[str, str]
    outputs: dict[str, str]
    dynamic: dict[str, dict[int, str]]  # input/output name -> {axis: symbolic name}
    reference: Any  # callable(*fresh) -> PyTorch output via the public verbs
    settings: dict[str, Any]


def run_exporter(spec: ExportSpec, path: Path, opset: int, exporter: str) -> None:
    names = list(spec.inputs)
    out_names = list(spec.outputs)
    log = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(log), torch.no_grad():
            warnings.simplefilter("ignore")  # deprecation and tracer chatter; the result is verified below
            if exporter == "torchscript":
                torch.onnx.export(
                    spec.module, spec.example, str(path), input_names=names, output_names=out_names,
                    opset_version=opset, dynamic_axes=spec.dynamic, do_constant_folding=True, dynamo=False,
                )
            else:
                dim = torch.export.Dim.DYNAMIC
                shapes = tuple({axis: dim for axis in spec.dynamic.get(n, {})} or None for n in names)
                program = torch.onnx.export(
                    spec.module, spec.example, input_names=names, output_names=out_names, opset_version=opset,
                    dynamic_shapes=shapes, dynamo=True, verbose=False,
                )
                program.save(str(path))
    except ExplorerError:
        raise
    except Exception as exc:  # the exporters raise many types; the user needs one clear message
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:400]
        raise ExplorerError(f"ONNX export ({exporter}, opset {opset}) of this {spec.kind} model failed: {first}") from exc


def verify_file(path: Path, model: GANModel, spec: ExportSpec) -> float:
    """Max abs difference between onnxruntime and the PyTorch verbs on ``spec.fresh`` inputs."""
    session = onnx_session(path)
    feed = {name: t.numpy() for name, t in zip(spec.inputs, spec.fresh)}
    try:
        (got,) = session.run(None, feed)
    except Exception as exc:
        raise ExplorerError(f"onnxruntime could not run the exported {spec.kind} model: {str(exc)[:300]}") from exc
    want = spec.reference(*spec.fresh).cpu().numpy()
    if got.shape != want.shape:
        raise ExplorerError(f"ONNX output shape {list(got.shape)} differs from PyTorch's {list(want.shape)}")
    return float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max())


def onnx_session(path: str | os.PathLike, threads: int | None = None):
    """An onnxruntime CPU ``InferenceSession`` for ``path`` (``threads`` intra-op threads; None = ORT default)."""
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


# ----------------------------------------------------------------------------------------
# metadata
# ----------------------------------------------------------------------------------------
def file_metadata(identity: dict[str, Any], spec: ExportSpec, exporter: str, opset: int, diff: float | None) -> dict[str, str]:
    fields: dict[str, Any] = {
        "version": __version__,
        "kind": identity["model_kind"],
        "model": identity["model"],
        "model_hash": identity["model_hash"],
        "model_hash_of": identity["model_hash_of"],
        "model_file": identity["model_file"],
        "config": identity["model_config"],
        "card": identity["model_card"],
        "dataset": identity["model_dataset"],
        "inputs": spec.inputs,
        "outputs": spec.outputs,
        "image_range": "[-1, 1]; uint8 = round((x + 1) * 127.5)",
        "latents": "z ~ N(0, I); GAN Explorer maps seed s to torch.randn(latent_dim, generator=torch.Generator().manual_seed(s))"
        if spec.generates else None,
        "exporter": f"torch {torch.__version__} {exporter}",
        "opset": opset,
        "verified_max_abs_diff": diff,
        "synthetic": True,
        "statement": SYNTHETIC_STATEMENT,
        **spec.settings,
    }
    return {META_PREFIX + k: v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in fields.items() if v is not None}


def annotate(proto: Any, spec: ExportSpec, metadata: dict[str, str]) -> None:
    """Write metadata_props, the model doc string and per-input/output doc strings into ``proto``."""
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    lines = [f"GAN Explorer {spec.kind} exported to ONNX. " + metadata[META_PREFIX + "statement"]]
    lines += [f"input {n}: {d}" for n, d in spec.inputs.items()] + [f"output {n}: {d}" for n, d in spec.outputs.items()]
    proto.doc_string = "\n".join(lines)
    proto.producer_name = "gan-explorer"
    proto.producer_version = metadata[META_PREFIX + "version"]
    docs = {**spec.inputs, **spec.outputs}
    for value_info in list(proto.graph.input) + list(proto.graph.output):
        if value_info.name in docs:
            value_info.doc_string = docs[value_info.name]


def read_onnx_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Our metadata of an exported ONNX file, keys without the prefix, JSON values decoded."""
    onnx = require("onnx")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except FileNotFoundError:
        raise ExplorerError(f"no such ONNX file: {path}") from None
    except Exception as exc:
        raise ExplorerError(f"{Path(path).name} is not a readable ONNX file ({str(exc)[:200]})") from None
    out: dict[str, Any] = {}
    for entry in proto.metadata_props:
        if entry.key.startswith(META_PREFIX):
            key = entry.key[len(META_PREFIX):]
            try:
                out[key] = json.loads(entry.value)
            except json.JSONDecodeError:
                out[key] = entry.value
    return out


def require(module: str):
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        raise ExplorerError(
            f"ONNX export needs the optional package {module!r}: pip install 'gan-explorer[onnx]'"
        ) from None
