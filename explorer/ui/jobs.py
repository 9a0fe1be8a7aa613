"""The server's training slot: at most one training run at a time, in a background thread.

The run is :func:`explorer.train.train` with two hooks: ``on_event`` appends each event (as a
small plain dict; sample grids stay on disk as PNGs) to an in-memory store, and ``should_stop``
reads a flag the Stop button sets. Every browser session polls :meth:`TrainingJobs.view` from a
``gr.Timer``; a version counter lets a poll return "nothing new" cheaply. When a run finishes, its
exported model is copied into the catalog's user folder, so it appears in every model picker.

No gradio here.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from explorer.errors import ExplorerError
from explorer.paths import app_home
from explorer.train import train
from explorer.train.events import read_events
from explorer.ui.catalog import Catalog
from explorer.zoo import safe_stem

log = logging.getLogger(__name__)

#: events of one run kept in memory (a step event is ~300 bytes)
MAX_EVENTS = 20_000
#: file in a run's folder naming the catalog model the run saved (so a resume updates that model)
CATALOG_MARKER = "catalog_model.txt"


@dataclass
class RunView:
    """A consistent snapshot of the current (or last) run, for one poll."""

    version: int
    state: str  # "idle" | "running" | "stopping" | "done" | "stopped" | "error"
    name: str = ""
    iterations: int = 0
    steps: list[dict] = field(default_factory=list)
    samples: list[dict] = field(default_factory=list)  # {"step", "path", "diversity"}
    alerts: list[dict] = field(default_factory=list)
    message: str = ""
    model_id: str = ""  # catalog id of the finished model
    run_dir: str = ""


class TrainingJobs:
    """One training run at a time per server (shared by every session)."""

    def __init__(self, catalog: Catalog, runs_dir: str | Path | None = None):
        self.catalog = catalog
        self.runs_dir = Path(runs_dir) if runs_dir is not None else app_home() / "runs"
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._view = RunView(version=0, state="idle")

    # ----- control -------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def start(self, config, resume: bool = False) -> None:
        """Start ``config`` (a :class:`explorer.train.TrainConfig`) in the background.

        Raises:
            ExplorerError: another run is in progress on this server.
        """
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise ExplorerError(
                    f"a training run ({self._view.name}) is already in progress on this server — one run at a time. "
                    "Watch it here, or wait until it finishes or is stopped."
                )
            self._stop.clear()
            steps, samples, alerts = _history(Path(config.run_dir)) if resume else ([], [], [])
            self._view = RunView(version=self._view.version + 1, state="running", name=config.name,
                                 iterations=config.iterations, run_dir=str(config.run_dir),
                                 steps=steps, samples=samples, alerts=alerts,
                                 message="starting (loading data, building the model)…")
            self._thread = threading.Thread(target=self._run, args=(config, resume), name=f"train-{config.name}", daemon=True)
            self._thread.start()

    def stop(self) -> bool:
        """Ask the running job to stop cleanly (checkpoint + model written); False if none runs."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                return False
            self._stop.set()
            self._touch(state="stopping", message="stopping after the current step (writing a checkpoint)…")
            return True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current run ends (tests, shutdown); True if it ended."""
        t = self._thread
        if t is not None:
            t.join(timeout)
            return not t.is_alive()
        return True

    def view(self) -> RunView:
        """A snapshot of the current run (lists are copies)."""
        with self._lock:
            v = self._view
            return RunView(version=v.version, state=v.state, name=v.name, iterations=v.iterations, steps=list(v.steps),
                           samples=list(v.samples), alerts=list(v.alerts), message=v.message, model_id=v.model_id, run_dir=v.run_dir)

    @property
    def finished_model_id(self) -> str:
        """Catalog id of the model the last finished run saved ("" if none)."""
        with self._lock:
            return self._view.model_id

    @property
    def version(self) -> int:
        with self._lock:
            return self._view.version

    def resumable_runs(self) -> list[str]:
        """Names of runs under ``runs_dir`` that have a checkpoint to continue from."""
        if not self.runs_dir.is_dir():
            return []
        return sorted(p.parent.name for p in self.runs_dir.glob("*/checkpoint.safetensors") if (p.parent / "config.json").is_file())

    def fresh_name(self, stem: str) -> str:
        """A run name from user text that is not taken yet under ``runs_dir``."""
        base = safe_stem(stem, default="run")
        name, n = base, 2
        while (self.runs_dir / name).exists():
            name, n = f"{base}-{n}", n + 1
        return name

    # ----- the worker thread ----------------------------------------------------------------
    def _touch(self, **changes: Any) -> None:
        """Update the view (caller holds the lock) and bump its version."""
        for k, v in changes.items():
            setattr(self._view, k, v)
        self._view.version += 1

    def _on_event(self, event) -> None:
        d = event.to_dict()
        with self._lock:
            v = self._view
            kind = d.get("type")
            if kind == "step":
                if len(v.steps) >= MAX_EVENTS:
                    del v.steps[: MAX_EVENTS // 2 : 2]  # thin the oldest half; the curve keeps its shape
                v.steps.append({k: d.get(k) for k in ("step", "losses", "d_real", "d_fake", "images_per_s", "elapsed_s", "lr_g", "lr_d")})
                msg = (f"step {d['step']} of {v.iterations} · {d.get('images_per_s', 0):.0f} images/s · "
                       f"{format_duration(d.get('elapsed_s') or 0)} so far" + eta_text(v.steps, v.iterations))
                self._touch(message=msg)
            elif kind == "samples":
                if v.samples and v.samples[-1].get("step") == d.get("step"):
                    v.samples.pop()  # the same step again (a resume's first grid): keep the new one
                v.samples.append({"step": d.get("step"), "path": d.get("path"), "diversity": d.get("diversity")})
                self._touch()
            elif kind == "alert":
                v.alerts.append({"step": d.get("step"), "kind": d.get("kind"), "message": d.get("message")})
                self._touch()
            elif kind == "start":
                if d.get("resumed_from"):  # history up to the checkpoint stays; later steps are redone
                    at = int(d.get("step") or 0)
                    v.steps = [e for e in v.steps if (e.get("step") or 0) <= at]
                    v.samples = [e for e in v.samples if (e.get("step") or 0) <= at]
                    v.alerts = [e for e in v.alerts if (e.get("step") or 0) <= at]
                self._touch(iterations=int(d.get("iterations") or v.iterations),
                            message=f"running on {d.get('device')}" + (f", resumed at step {d.get('step')}" if d.get("resumed_from") else ""))

    def _run(self, config, resume: bool) -> None:
        try:
            result = train(config, on_event=self._on_event, should_stop=self._stop.is_set, resume=resume or None)
        except ExplorerError as exc:
            with self._lock:
                self._touch(state="error", message=str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a background thread must report, not vanish
            log.exception("training run %s failed", config.name)
            with self._lock:
                self._touch(state="error", message=f"{type(exc).__name__}: {exc}")
            return
        model_id = ""
        note = ""
        if result.model_path is not None and Path(result.model_path).is_file():
            try:
                # one run, one model: a resumed run replaces the model its earlier part saved
                marker = Path(config.run_dir) / CATALOG_MARKER
                earlier = self.catalog.user_dir / marker.read_text(encoding="utf-8").strip() if marker.is_file() else None
                replaced = earlier is not None and earlier.parent == self.catalog.user_dir and earlier.is_file()
                dest = earlier if replaced else self.catalog.user_path(config.name)
                tmp = dest.with_name(f".{dest.name}.tmp")
                shutil.copyfile(result.model_path, tmp)
                tmp.replace(dest)  # atomic: the catalog never lists a half-copied file
                marker.write_text(dest.name, encoding="utf-8")
                model_id = f"user:{dest.stem}"
                note = (f" Model “{dest.stem}” updated (same model, now {result.step} steps)." if replaced
                        else f" Saved as model “{dest.stem}” — it is now in every model picker.")
            except OSError as exc:
                note = f" The model is in {result.model_path} but could not be copied to the model folder ({exc})."
        with self._lock:
            state = "stopped" if result.stopped else "done"
            verb = f"stopped at step {result.step} of {result.iterations}" if result.stopped else f"finished {result.step} steps"
            self._touch(state=state, model_id=model_id,
                        message=f"{verb} in {result.wall_time_s:.0f} s.{note}" + (" Resume to continue." if result.stopped else ""))


#: step events the ETA's pace is measured over (recent ones: the pace changes, e.g. after warm-up)
ETA_WINDOW = 50


def format_duration(seconds: float) -> str:
    """12 s, 4 min 05 s, 1 h 07 min."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def eta_text(steps: list[dict], iterations: int) -> str:
    """The message's ETA, e.g. `` · about 3 min 10 s left (2.10 s/step)``: the remaining steps at the
    pace of the recent ones (sample grids and checkpoints included, as they fall inside the measured
    wall time); "" until there is a pace. Steps before a resume do not count: their clock restarted."""
    recent = [e for e in steps[-ETA_WINDOW:] if e.get("elapsed_s") is not None and e.get("step") is not None]
    for i in range(len(recent) - 1, 0, -1):
        if recent[i]["elapsed_s"] < recent[i - 1]["elapsed_s"]:  # a resume: the clock started again
            recent = recent[i:]
            break
    if len(recent) < 2:
        return ""
    first, last = recent[0], recent[-1]
    done, took = last["step"] - first["step"], last["elapsed_s"] - first["elapsed_s"]
    if done <= 0 or took <= 0:
        return ""
    left = max(0, int(iterations) - int(last["step"])) * took / done
    return f" · about {format_duration(left)} left ({took / done:.2f} s/step)"


class StageClock:
    """Honest progress text for multi-stage work (metrics, inversion): the stage, its count and the
    time left *in this stage* at the pace measured in it (Gradio's own estimate comes from earlier,
    unrelated jobs, and a bar that restarts per stage makes elapsed time look like progress).

    ``clock(stage, done, total)`` returns e.g. ``"samples 320/1000 · about 41 s left in this stage"``.
    """

    def __init__(self, now=time.monotonic):
        self._now = now
        self._stage: str | None = None
        self._start = (0.0, 0)

    def __call__(self, stage: str, done: int, total: int) -> str:
        t = self._now()
        if stage != self._stage:
            self._stage, self._start = stage, (t, int(done))
        text = f"{stage} {int(done)}/{int(total)}"
        t0, d0 = self._start
        if total and done < total and done > d0 and t > t0:
            text += f" · about {format_duration((total - done) * (t - t0) / (done - d0))} left in this stage"
        return text


def _history(run_dir: Path) -> tuple[list[dict], list[dict], list[dict]]:
    """Steps, sample grids and alerts of a run's earlier parts, from its ``events.jsonl``."""

    steps, samples, alerts = [], [], []
    path = run_dir / "events.jsonl"
    if not path.is_file():
        return steps, samples, alerts
    for d in read_events(path):
        kind = d.get("type")
        if kind == "step":
            steps.append({k: d.get(k) for k in ("step", "losses", "d_real", "d_fake", "images_per_s", "elapsed_s", "lr_g", "lr_d")})
        elif kind == "samples":
            samples.append({"step": d.get("step"), "path": d.get("path"), "diversity": d.get("diversity")})
        elif kind == "alert":
            alerts.append({"step": d.get("step"), "kind": d.get("kind"), "message": d.get("message")})
    # a run resumed before may have logged steps twice (after the checkpoint, then again): keep the last
    steps = list({e["step"]: e for e in steps}.values())
    samples = list({e["step"]: e for e in samples}.values())
    if len(steps) > MAX_EVENTS:
        steps = steps[:: -(-len(steps) // MAX_EVENTS)]
    return sorted(steps, key=lambda e: e["step"] or 0), sorted(samples, key=lambda e: e["step"] or 0), alerts


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until true or timeout (used by tests and the CLI)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
