"""Exports for other tools: synthetic labelled data sets and ONNX models.

- :func:`export_dataset` (:mod:`explorer.export.dataset`): an ImageFolder tree of generated PNGs
  with provenance plus ``manifest.json``; optional filtering by the project classifier.
- :func:`export_onnx` (:mod:`explorer.export.onnx`): one ONNX file per generator, dynamic batch
  (and H, W for image-to-image models), verified against PyTorch with onnxruntime, with
  provenance in ``metadata_props``. Needs the optional ``onnx``/``onnxruntime`` packages, which are
  imported only when an export runs.
- :mod:`explorer.export.cli`: the ``export-onnx``, ``export-dataset``, ``zoo`` and
  ``experiment augment`` subcommands.
"""

from explorer.export.dataset import export_dataset, iter_synthetic, synthetic_tensors
from explorer.export.onnx import export_onnx, onnx_session, read_onnx_metadata

__all__ = ["export_dataset", "export_onnx", "iter_synthetic", "onnx_session", "read_onnx_metadata", "synthetic_tensors"]
