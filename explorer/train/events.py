"""Typed training events: what the loop reports to the CLI, the app, the tests and the JSONL log.

Every event is a frozen dataclass with a ``type`` tag and a ``to_dict()`` that is JSON-ready
(one line of ``runs/<name>/events.jsonl`` each). Consumers switch on ``event.type``:

============  =================================================================================
type          fields
============  =================================================================================
start         step (first step to run), iterations, run_dir, resumed_from, world_size, device,
              config (dict)
step          step, losses {term: mean over the logging interval}, d_real / d_fake (mean
              sigmoid of D's logits on real / generated images), d_real_logit / d_fake_logit
              (raw means), grad_norm_g / grad_norm_d (L2 norm over all parameters, last step of
              the interval), images_per_s (real images through D, all ranks), lr_g, lr_d,
              elapsed_s
samples       step, path (PNG of the grid on the fixed latent batch), image (uint8 [H, W, C];
              not written to JSONL), diversity (generated / real mean pairwise distance),
              coverage (fraction of classes the project classifier finds; None without one)
checkpoint    step, path
alert         step, kind ("nan_rollback" | "mode_collapse" | "monitor_off"), message, count,
              details (dict)
done          step, stopped (True when should_stop / time limit ended the run early),
              model_path, checkpoint_path, wall_time_s, final_losses
error         step, message, kind (exception class name)
============  =================================================================================
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class Event:
    type: str = field(init=False, default="event")

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                continue  # pixels belong in the PNG, not the log
            out[f.name] = value
        return out


@dataclass(frozen=True)
class StartEvent(Event):
    type: str = field(init=False, default="start")
    step: int = 0
    iterations: int = 0
    run_dir: str = ""
    resumed_from: str | None = None
    world_size: int = 1
    device: str = "cpu"
    config: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StepEvent(Event):
    type: str = field(init=False, default="step")
    step: int = 0
    losses: dict = field(default_factory=dict)
    d_real: float | None = None
    d_fake: float | None = None
    d_real_logit: float | None = None
    d_fake_logit: float | None = None
    grad_norm_g: float | None = None
    grad_norm_d: float | None = None
    images_per_s: float = 0.0
    lr_g: float = 0.0
    lr_d: float = 0.0
    elapsed_s: float = 0.0


@dataclass(frozen=True)
class SamplesEvent(Event):
    type: str = field(init=False, default="samples")
    step: int = 0
    path: str | None = None
    image: np.ndarray | None = field(default=None, repr=False)
    diversity: float | None = None
    coverage: float | None = None


@dataclass(frozen=True)
class CheckpointEvent(Event):
    type: str = field(init=False, default="checkpoint")
    step: int = 0
    path: str = ""


@dataclass(frozen=True)
class AlertEvent(Event):
    type: str = field(init=False, default="alert")
    step: int = 0
    kind: str = ""
    message: str = ""
    count: int = 0
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DoneEvent(Event):
    type: str = field(init=False, default="done")
    step: int = 0
    stopped: bool = False
    model_path: str | None = None
    checkpoint_path: str | None = None
    wall_time_s: float = 0.0
    final_losses: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ErrorEvent(Event):
    type: str = field(init=False, default="error")
    step: int = 0
    message: str = ""
    kind: str = ""


class EventSink:
    """Fan-out of events to the JSONL log (rank 0 only) and the caller's ``on_event`` hook."""

    def __init__(self, path: str | os.PathLike | None, on_event: Callable[[Event], None] | None):
        self.path = Path(path) if path is not None else None
        self.on_event = on_event
        self._fh = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")

    def emit(self, event: Event) -> None:
        if self._fh is not None:
            # one flushed line per event: a killed process leaves a readable log up to its last event
            self._fh.write(json.dumps(event.to_dict(), default=_json_default) + "\n")
            self._fh.flush()
        if self.on_event is not None:
            self.on_event(event)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, tuple):
        return list(obj)
    return str(obj)


def read_events(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Parse a run's ``events.jsonl`` (skipping a torn last line left by a killed process)."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out
