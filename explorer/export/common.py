"""What every export needs: the model behind a path-or-model argument and a record of who it is.

``resolve_model(source)`` accepts a checkpoint path (our ``.safetensors`` or a foreign file
:func:`explorer.load` reads) or an in-memory :class:`~explorer.models.base.GANModel`, and returns
a private CPU float32 eval-mode copy plus an identity record (name, kind, content hash, file,
config, card excerpt) that exports embed as provenance. Paths are hashed by their bytes
(:func:`explorer.checkpoint.file_hash`); in-memory models by their tensors (:func:`state_hash`),
so an unsaved model still gets a stable identity.
"""

from __future__ import annotations

import copy
import hashlib
import os
from pathlib import Path
from typing import Any

import torch

import explorer
from explorer.errors import ExplorerError
from explorer.metadata import model_dataset_name
from explorer.models.base import GANModel

#: card fields copied into export provenance (the rest of a card can be long)
CARD_FIELDS = ("name", "title", "data", "licence", "intended_use", "limits", "imported", "training")


def state_hash(model: torch.nn.Module, length: int = 16) -> str:
    """SHA-256 (hex, truncated) over a model's state_dict: names, dtypes, shapes and bytes, in order."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:length]


def resolve_model(source: str | os.PathLike | list | GANModel, kind: str | None = None) -> tuple[GANModel, dict[str, Any]]:
    """(private CPU eval copy of the model, identity record) for a checkpoint path or a model.

    The copy means exports never change a caller's (possibly cached, possibly training) model.
    """

    if isinstance(source, GANModel):
        model = copy.deepcopy(source).to("cpu", torch.float32).eval()
        files, digest, hashed = [], state_hash(model), "state_dict sha256"
    elif isinstance(source, (str, os.PathLike, list, tuple)):
        paths = [Path(p) for p in source] if isinstance(source, (list, tuple)) else [Path(source)]
        model = explorer.load(paths if len(paths) > 1 else paths[0], device="cpu").float().eval()
        files = [p.name for p in paths]
        if all(p.is_file() for p in paths):
            digests = [explorer.file_hash(p, length=64) for p in paths]
            digest = digests[0][:16] if len(paths) == 1 else hashlib.sha256("".join(digests).encode()).hexdigest()[:16]
            hashed = "file sha256" if len(paths) == 1 else "sha256 of the files' sha256s, in the order given"
        else:  # a run directory: hash what was loaded
            digest, hashed = state_hash(model), "state_dict sha256"
    else:
        raise ExplorerError(f"expected a checkpoint path or a GAN Explorer model, got {type(source).__name__}")
    if kind is not None and model.kind != kind:
        raise ExplorerError(f"expected a {kind} model, got a {model.kind} model")
    name = str(model.card.display_name or (Path(files[0]).stem if files else f"{model.kind}-{digest[:8]}"))
    identity = {
        "model": name,
        "model_kind": model.kind,
        "model_hash": digest,
        "model_hash_of": hashed,
        "model_file": ", ".join(files) or None,
        "model_config": model.config_dict(),
        "model_card": {k: v for k, v in model.card.to_dict().items() if k in CARD_FIELDS},
        "model_dataset": model_dataset_name(model),
    }
    return model, identity
