"""What a checkpoint says about a model: its card (:class:`ModelCard`) and training summary (:class:`TrainingSummary`).

Both are typed records, written by :func:`explorer.save` and read by :func:`explorer.load` /
:func:`explorer.read_metadata` readers. Files written over the project's life name some facts
differently (``license``/``licence``, ``losses``/``final_losses``, a data set as a name, a dict or a
pair …); :meth:`from_dict` maps every old spelling onto one field, so the rest of the code asks
once, by attribute. Keys a record does not know are kept in ``extra`` and written back unchanged
(nothing in a file is lost by loading and saving it).

Both records also answer the ``dict`` calls (``card["name"]``, ``.get``, ``.update``,
``.setdefault``, ``dict(card)``) that scripts written against 0.1, where they were plain dicts,
use; old spellings work there too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterator

from explorer.errors import ExplorerError


@dataclass(eq=False)
class _Record:
    extra: dict[str, Any] = field(default_factory=dict)

    #: old key → field
    ALIASES: ClassVar[dict[str, str]] = {}

    # -- reading and writing ---------------------------------------------------------------------
    @classmethod
    def _field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls) if f.name != "extra")

    @classmethod
    def coerce(cls, data: Any) -> "_Record":
        """``data`` itself when it is already this record (no copy: for readers), else :meth:`from_dict`."""
        return data if isinstance(data, cls) else cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> "_Record":
        """A new record from a stored dict (any old spelling) or a copy of a record; ``None`` or
        anything else gives an empty record."""
        if isinstance(data, cls):
            return cls.from_dict(data.to_dict())
        data = dict(data) if isinstance(data, dict) else {}
        names = set(cls._field_names())
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            name = cls.ALIASES.get(key, key)
            if name in names and name not in values and (name == key or name not in data):
                values[name] = value
            else:
                extra[key] = value  # unknown, or an old spelling shadowed by the current one: kept as is
        record = cls(**values, extra=extra)
        record._normalise()
        return record

    def _normalise(self) -> None:
        """Turn old value shapes into the field's type (subclasses)."""

    def to_dict(self) -> dict[str, Any]:
        """The dict stored in checkpoints: set fields under their current names, then ``extra``."""
        out = {name: getattr(self, name) for name in self._field_names() if getattr(self, name) is not None}
        out.update((k, v) for k, v in self.extra.items() if k not in out)
        return out

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (_Record, dict)):  # both read as stored dicts (old spellings too)
            stored = other.to_dict() if isinstance(other, _Record) else other
            return self.to_dict() == type(self).from_dict(stored).to_dict()
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  (mutable)

    # -- the dict calls of 0.1 -------------------------------------------------------------------
    def _name(self, key: str) -> str | None:
        name = self.ALIASES.get(key, key)
        return name if name in self._field_names() else None

    def __getitem__(self, key: str) -> Any:
        name = self._name(key)
        if name is not None and getattr(self, name) is not None:
            return getattr(self, name)
        if key in self.extra:
            return self.extra[key]
        raise KeyError(key)

    def __setitem__(self, key: str, value: Any) -> None:
        name = self._name(key)
        if name is None:
            self.extra[key] = value
        else:
            setattr(self, name, value)
            self._normalise()

    def __delitem__(self, key: str) -> None:
        name = self._name(key)
        if name is not None and getattr(self, name) is not None:
            setattr(self, name, None)
        else:
            del self.extra[key]

    def __contains__(self, key: object) -> bool:
        try:
            self[key]  # type: ignore[index]
        except (KeyError, TypeError):
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())

    def keys(self):
        return self.to_dict().keys()

    def items(self):
        return self.to_dict().items()

    def values(self):
        return self.to_dict().values()

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def update(self, other: Any = (), **more: Any) -> None:
        pairs = other.items() if hasattr(other, "items") else other
        for key, value in [*pairs, *more.items()]:
            self[key] = value

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]


@dataclass(eq=False)
class ModelCard(_Record):
    """What a model is for and where it came from, for people (shown on the model's card).

    ``data``: the training data in words; ``limits``: known limits (text or a list); ``imported``:
    for converted foreign files {format, files, parts, notes}; ``zoo``: how it entered the user's
    folder {source, files, sha256, …}; ``metrics``: recorded evaluations (a list of dicts, see :attr:`metric_records`);
    ``quality``: the shipped models' measured quality (dict).
    """

    name: str | None = None
    title: str | None = None
    description: str | None = None
    source: str | None = None
    data: Any = None
    licence: str | None = None
    intended_use: str | None = None
    limits: Any = None
    training: str | None = None
    weights: str | None = None
    reproduce: str | None = None
    quality: Any = None
    sample_grid: str | None = None
    synthetic: Any = None
    notes: Any = None
    imported: dict[str, Any] | None = None
    zoo: dict[str, Any] | None = None
    metrics: Any = None
    class_names: list[str] | None = None

    ALIASES: ClassVar[dict[str, str]] = {"license": "licence", "known_limits": "limits", "command": "reproduce",
                                         "dataset": "data", "data_set": "data"}

    @property
    def metric_records(self) -> list[Any]:
        """``metrics`` as a list (:func:`explorer.metrics.record_metrics` writes a list; a few old files hold one record)."""
        m = self.metrics
        return list(m) if isinstance(m, list) else [m] if m else []

    @property
    def display_name(self) -> str | None:
        """The name people see: ``name``, else ``title``."""
        return self.name or self.title or None


@dataclass(eq=False)
class TrainingSummary(_Record):
    """How a model was trained, as the training loop (or an importer) recorded it.

    ``dataset`` / ``dataset_b``: the data set(s) by name or path (B: the second domain of a
    CycleGAN); ``steps``: iterations; ``images_seen``; ``wall_time_s``; ``machine``; ``settings``:
    the full training config; ``final_losses``: last logged losses by name.
    """

    dataset: str | None = None
    dataset_b: str | None = None
    preprocessing: dict[str, Any] | None = None
    steps: int | None = None
    epochs: int | None = None
    images_seen: int | None = None
    wall_time_s: float | None = None
    machine: str | None = None
    world_size: int | None = None
    precision: str | None = None
    loss: str | None = None
    ema: bool | None = None
    ema_beta: float | None = None
    final_losses: dict[str, float] | None = None
    final_loss: float | None = None
    rollbacks: int | None = None
    alerts: int | None = None
    settings: dict[str, Any] | None = None
    imported_from: str | None = None
    class_names: list[str] | None = None
    metrics: Any = None
    train_accuracy: float | None = None
    heldout_accuracy: float | None = None

    ALIASES: ClassVar[dict[str, str]] = {"data": "dataset", "data_set": "dataset", "dataset_a": "dataset",
                                         "dataset_A": "dataset", "dataset_B": "dataset_b", "iterations": "steps", "losses": "final_losses"}

    def _normalise(self) -> None:
        ds = self.dataset
        if isinstance(ds, dict):  # {"name"/"source"/"path": …} in old files
            self.extra.setdefault("dataset_details", ds)
            self.dataset = _first_name(ds)
        elif isinstance(ds, (list, tuple)) and len(ds) == 2:  # a CycleGAN's (A, B) pair
            self.dataset, self.dataset_b = str(ds[0]), self.dataset_b or str(ds[1])
        elif ds is not None and not isinstance(ds, str):
            self.dataset = str(ds)
        if self.dataset == "":
            self.dataset = None

    def data_set(self, domain: str | None = None) -> str | None:
        """The data set of the model, or of one domain ("A"/"B") of a two-domain model (B without its
        own falls back to ``dataset``, as 0.1 read it); then ``preprocessing["source"]`` (no domain)."""
        if domain == "B" and self.dataset_b:
            return self.dataset_b
        if self.dataset:
            return self.dataset
        prep = self.preprocessing
        if domain is None and isinstance(prep, dict) and isinstance(prep.get("source"), str) and prep["source"]:
            return prep["source"]
        return None


def _first_name(data: dict[str, Any]) -> str | None:
    """A data set given as a dict in old files: its first non-empty ``name``, ``source`` or ``path``."""
    return next((data[k] for k in ("name", "source", "path") if isinstance(data.get(k), str) and data[k]), None)


def dataset_name(meta: dict[str, Any], domain: str | None = None) -> str | None:
    """The data set a model was trained on (a shipped name or a path), if its metadata says.

    ``meta``: a checkpoint's metadata (``{"summary": …, "card": …}``, dicts or records). The summary
    says first (:meth:`TrainingSummary.data_set`), then the card's ``data`` when it is a name.
    ``domain`` ("A"/"B") picks one side of a two-domain (CycleGAN) model.
    """
    found = TrainingSummary.coerce(meta.get("summary")).data_set(domain)
    if found:
        return found
    data = ModelCard.coerce(meta.get("card")).data
    if isinstance(data, dict):
        data = _first_name(data)
    elif isinstance(data, (list, tuple)) and len(data) == 2 and domain:
        data = str(data[0 if domain == "A" else 1])
    return data if isinstance(data, str) and data else None


def model_dataset_name(model) -> str | None:
    """:func:`dataset_name` of a loaded model (its ``summary`` and ``card``)."""
    return dataset_name({"summary": getattr(model, "summary", None), "card": getattr(model, "card", None)})


def class_names(model, meta: dict[str, Any] | None = None) -> list[str]:
    """Names of a class-conditional generator's classes, ``[]`` for an unconditional model.

    The first list of the right length from: the config's ``class_names``, the training summary's,
    the card's (``meta`` — a catalog entry's metadata — instead of the model's own when given),
    the shipped data set it was trained on; else the class ids "0" … "k-1".
    """
    k = int(getattr(model, "num_classes", 0) or 0)
    if not k:
        return []
    if meta is None:
        meta = {"summary": getattr(model, "summary", None), "card": getattr(model, "card", None)}
    summary, card = TrainingSummary.coerce(meta.get("summary")), ModelCard.coerce(meta.get("card"))
    for names in (getattr(getattr(model, "config", None), "class_names", None), summary.class_names, card.class_names):
        if isinstance(names, (list, tuple)) and len(names) == k:
            return [str(n) for n in names]
    name = dataset_name(meta)
    # imported here, not at the top: explorer.data's package init imports images → models → this module
    from explorer.data.shipped import is_shipped, shipped_info  # noqa: E402  (see above)

    if is_shipped(name):
        try:
            names = list(shipped_info(name).get("class_names") or [])
        except (OSError, ValueError, ExplorerError):  # a missing or broken data file only costs the pretty names
            names = []
        if len(names) == k:
            return [str(n) for n in names]
    return [str(i) for i in range(k)]
