"""Training: one loop for every model family, with events, checkpoints, monitors and DDP.

    from explorer.train import TrainConfig, train
    cfg = TrainConfig(name="digits-dcgan", family="dcgan", data="digits", iterations=2000)
    result = train(cfg, on_event=print)            # -> RunResult; runs/digits-dcgan/{events.jsonl,samples/,model.safetensors}

Modules: ``config`` (TrainConfig), ``loop`` (train, RunResult; the step loop) with ``setup`` (data,
model, optimisers, DDP), ``loop_state`` (checkpoints, rollback, resume) and ``loop_outputs`` (events,
samples, the exported model), ``tasks`` (per-family loss terms: ``task_base``, ``task_registry``,
one ``task_<family>`` each), ``events`` (typed events), ``monitors`` (mode collapse), ``state``
(pickle-free checkpoints), ``cli`` (``gan-explorer train`` and ``python -m explorer.train`` for torchrun).
Importing this package does not import the model families or touch a device.
"""

from explorer.train.config import TrainConfig
from explorer.train.events import (
    AlertEvent,
    CheckpointEvent,
    DoneEvent,
    ErrorEvent,
    Event,
    SamplesEvent,
    StartEvent,
    StepEvent,
    read_events,
)
from explorer.train.loop import RunResult, config_from_checkpoint, train

__all__ = [
    "AlertEvent",
    "CheckpointEvent",
    "DoneEvent",
    "ErrorEvent",
    "Event",
    "RunResult",
    "SamplesEvent",
    "StartEvent",
    "StepEvent",
    "TrainConfig",
    "config_from_checkpoint",
    "read_events",
    "train",
]
