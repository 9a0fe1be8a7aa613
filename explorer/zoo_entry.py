"""One model of the zoo: :class:`ModelEntry` and how it is read from a checkpoint's header.

Reading needs no weights: the metadata and the stored tensor shapes (for the parameter count) come
from the safetensors header. Entries are cached process-wide by (folder kind, path, mtime, size), so
listing the zoo again only re-reads files that changed. Listing, search, import, export and delete
are in :mod:`explorer.zoo`.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from safetensors import safe_open

import explorer
from explorer.errors import CheckpointError
from explorer.metadata import ModelCard, TrainingSummary, dataset_name
from explorer.models.base import Capabilities
from explorer.registry import capabilities, display_name

# unreadable files are reported under the zoo's logger name, which callers may filter on
log = logging.getLogger("explorer.zoo")

#: BatchNorm bookkeeping tensors are stored but are not parameters
_NOT_PARAMS = ("running_mean", "running_var", "num_batches_tracked")
DEFAULT_LICENCE = "unknown: the licence of the original files applies; check it before redistributing"


@dataclass(frozen=True)
class ModelEntry:
    """One model in the catalog (read from its checkpoint header; no weights loaded).

    ``id``: "shipped:<stem>" or "user:<stem>" (the folder it lives in). ``source``: "shipped" |
    "imported" | "trained" (what a user sees next to the name). ``params``: stored parameter
    count (BatchNorm statistics excluded). ``metrics``: the card's metric records
    (``explorer.metrics.record_metrics``). ``origin``: where the weights came from, in words.
    ``sample_grid``: PNG next to the file, or None. What the model can do (``caps``) its family
    reads from the config.
    """

    id: str
    name: str
    kind: str
    source: str
    path: Path
    dataset: str | None
    resolution: int | None
    num_classes: int
    file_size: int
    params: int
    metrics: list = field(default_factory=list, compare=False)  # (lists and dicts stay out of ==/hash)
    card: ModelCard = field(default_factory=ModelCard, compare=False)
    summary: TrainingSummary = field(default_factory=TrainingSummary, repr=False, compare=False)
    config: dict = field(default_factory=dict, repr=False, compare=False)
    sample_grid: Path | None = None
    origin: str = ""
    licence: str | None = None
    intended_use: str | None = None
    mtime: float = 0.0
    format_version: int = 0

    @classmethod
    def from_metadata(cls, id: str, path: Path, source: str, meta: dict[str, Any], **fields: Any) -> "ModelEntry":
        """An entry from a checkpoint's metadata (as :func:`explorer.read_metadata` returns it; its card
        and summary may already be records)."""
        card, summary = ModelCard.coerce(meta.get("card")), TrainingSummary.coerce(meta.get("summary"))
        config = dict(meta.get("config") or {})
        dataset = dataset_name({"card": card, "summary": summary})
        values = dict(id=id, name=str(card.display_name or path.stem), kind=str(meta.get("kind")),
                      source=source, path=path, dataset=str(dataset) if dataset else None,
                      resolution=int(config["resolution"]) if isinstance(config.get("resolution"), int) else None,
                      num_classes=int(config.get("num_classes") or 0), file_size=0, params=0,
                      metrics=card.metric_records, card=card, summary=summary, config=config,
                      intended_use=card.intended_use, format_version=int(meta.get("format_version") or 0))
        return cls(**{**values, **fields})

    @property
    def deletable(self) -> bool:
        return self.source != "shipped"

    @property
    def meta(self) -> dict[str, Any]:
        """The checkpoint's metadata as stored (kind, config, card, summary)."""
        return {"format_version": self.format_version, "kind": self.kind, "config": dict(self.config),
                "card": self.card.to_dict(), "summary": self.summary.to_dict()}

    @functools.cached_property
    def caps(self) -> Capabilities:
        """What the model can do, as its family reads it from the header (no weights loaded)."""
        return capabilities(self.kind, self.config)

    @property
    def kind_name(self) -> str:
        """The family's name for people ("DCGAN", "super-resolution")."""
        return display_name(self.kind)

    @property
    def label(self) -> str:
        """What a model picker shows: name · family (SR: its scale) · shipped/imported/trained."""
        return f"{self.name} · {self.caps.label} · {self.source}"

    @property
    def can_generate(self) -> bool:
        return self.caps.generates

    @property
    def has_discriminator(self) -> bool:
        return self.caps.has_discriminator

    @property
    def upscales(self) -> bool:
        return self.caps.upscales

    def translates(self, direction: str) -> bool:
        return direction in self.caps.directions

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (paths as strings)."""
        out = asdict(self)
        del out["mtime"], out["format_version"]
        out["path"] = str(self.path)
        out["sample_grid"] = str(self.sample_grid) if self.sample_grid else None
        out["deletable"] = self.deletable
        return out

    def matches(self, words: Sequence[str]) -> bool:
        """True if every word occurs (case-insensitively) in the entry's id, name, kind, data, origin or card."""
        text = " ".join([self.id, self.name, self.kind, self.source, str(self.dataset or ""), self.origin,
                         json.dumps(self.card.to_dict(), default=str)]).lower()
        return all(w.lower() in text for w in words)


_CACHE: dict[tuple[str, str, float, int], ModelEntry] = {}
_LOCK = threading.Lock()


def read_entry(source_dir: str, path: Path) -> ModelEntry | None:
    """Entry for one file, or None if it is not a readable GAN Explorer checkpoint."""
    try:
        st = path.stat()
    except OSError:
        return None
    key = (source_dir, str(path), st.st_mtime, st.st_size)
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit
    try:
        meta = explorer.read_metadata(path)
        params = _count_params(path)
    except (CheckpointError, OSError, ValueError) as exc:
        log.warning("skipping %s: %s", path, exc)
        return None
    card, summary = ModelCard.from_dict(meta.get("card")), TrainingSummary.from_dict(meta.get("summary"))
    imported = card.imported or summary.imported_from or (card.zoo or {}).get("source") == "imported"
    source = "shipped" if source_dir == "shipped" else ("imported" if imported else "trained")
    grid = path.with_suffix(".png")
    entry = ModelEntry.from_metadata(
        f"{source_dir}:{path.stem}", path, source, {**meta, "card": card, "summary": summary}, file_size=st.st_size, params=params,
        sample_grid=grid if grid.is_file() else None, origin=_origin(source, card, summary),
        licence=card.licence or (DEFAULT_LICENCE if source == "imported" else None), mtime=st.st_mtime)
    with _LOCK:
        _CACHE[key] = entry
    return entry


def _origin(source: str, card: ModelCard, summary: TrainingSummary) -> str:
    zoo = card.zoo if isinstance(card.zoo, dict) else {}
    imported = card.imported if isinstance(card.imported, dict) else {}
    if source == "imported" or imported:
        files = zoo.get("files") or imported.get("files") or []
        fmt = imported.get("format") or zoo.get("format") or summary.imported_from or "unknown format"
        return f"imported from {', '.join(map(str, files)) or 'files'} ({fmt})"
    if source == "shipped":
        return str(card.reproduce and f"trained by the GAN Explorer project; reproduce: {card.reproduce}"
                   or "trained by the GAN Explorer project")
    return str(card.training or "trained with GAN Explorer")


def _count_params(path: Path) -> int:
    total = 0
    with safe_open(str(path), framework="pt") as fh:
        for name in fh.keys():
            if name.rsplit(".", 1)[-1] in _NOT_PARAMS:
                continue
            n = 1
            for d in fh.get_slice(name).get_shape():
                n *= int(d)
            total += n
    return total
