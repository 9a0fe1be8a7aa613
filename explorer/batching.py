"""Micro-batching: requests for the same work that arrive together run as one call.

Many people dragging sliders at once (a classroom, a human-evaluation session) send many
one-image renders of the same model within a few milliseconds of each other. One forward pass
over N latents costs far less than N passes over one, so :class:`MicroBatcher` gathers them:

* Requests are grouped by a **key**: everything that must match for them to share a call
  (for renders: the model object, its noise mode and precision). What may differ between
  requests (seed, class, truncation, edits) is part of each request's own rows.
* **No added latency when idle**: a request that finds its key's lane idle runs at once, alone.
  Only when another request of the same key is pending or running does it wait — for the running
  call to finish, then up to ``window_s`` more for stragglers — and the next call takes every
  request pending by then (up to ``max_rows`` rows). Under load, batches form by themselves.
* The caller that finds the lane free runs the batch in its own thread (no worker threads to
  start or leak); the others block until their rows are back.
* A batch whose call raises is retried one request at a time, so a bad request fails alone and
  the others still get their results.

Results are the same as unbatched calls as long as the batched function treats rows
independently (tests check this for every generator family). No torch or gradio here.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Sequence

#: gather window when other requests are in flight (seconds): long enough for requests sent in
#: the same animation frame by other browsers to join, short against a 16 ms frame
DEFAULT_WINDOW_S = 0.003
#: most rows (images) one batched call takes; bigger requests run alone
DEFAULT_MAX_ROWS = 64


@dataclass(eq=False)
class _Item:
    payload: Any
    rows: int
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


@dataclass(eq=False)
class _Lane:
    pending: list[_Item] = field(default_factory=list)
    running: bool = False


@dataclass
class BatchStats:
    """Counters since the batcher was made (for benchmarks and tests)."""

    calls: int = 0  # batched calls made
    requests: int = 0  # requests served
    largest: int = 0  # most requests in one call

    @property
    def mean_batch(self) -> float:
        return self.requests / self.calls if self.calls else 0.0


class MicroBatcher:
    """Run ``run_batch(key, payloads) -> results`` once for requests that arrive together.

    Args:
        run_batch: called with a key and the list of payloads gathered for it; returns one
            result per payload, in order. Must treat payloads independently.
        window_s: how long a request that found other work in flight waits for more to join.
        max_rows: most rows per call (a request's ``rows`` says how many it brings).
    """

    def __init__(self, run_batch: Callable[[Hashable, Sequence[Any]], Sequence[Any]], window_s: float = DEFAULT_WINDOW_S,
                 max_rows: int = DEFAULT_MAX_ROWS):
        if max_rows < 1 or window_s < 0:
            raise ValueError("max_rows must be >= 1 and window_s >= 0")
        self._run_batch = run_batch
        self.window_s = float(window_s)
        self.max_rows = int(max_rows)
        self._cond = threading.Condition()
        self._lanes: dict[Hashable, _Lane] = {}
        self.stats = BatchStats()

    @property
    def num_lanes(self) -> int:
        """Keys with work pending or running (idle lanes are dropped, so keys are not kept alive)."""
        with self._cond:
            return len(self._lanes)

    def submit(self, key: Hashable, payload: Any, rows: int = 1) -> Any:
        """Run ``payload`` (batched with others of the same ``key``); returns its result or raises its error."""
        item = _Item(payload, max(1, int(rows)))
        with self._cond:
            lane = self._lanes.setdefault(key, _Lane())
            # company: work of this key was in flight when we came, so others may be arriving too
            company = lane.running or bool(lane.pending)
            lane.pending.append(item)
            while not item.done.is_set():
                if lane.running:
                    self._cond.wait()
                    continue
                lane.running = True
                batch = self._gather(lane, company)
                self._cond.release()
                try:
                    self._run(key, batch)
                finally:
                    self._cond.acquire()
                    lane.running = False
                    if not lane.pending:
                        self._lanes.pop(key, None)
                    self._cond.notify_all()
        if item.error is not None:
            raise item.error
        return item.result

    # ----- internals (called with the lock held unless said otherwise) ---------------------
    def _gather(self, lane: _Lane, company: bool) -> list[_Item]:
        if company and self.window_s > 0:
            deadline = time.monotonic() + self.window_s
            while sum(i.rows for i in lane.pending) < self.max_rows:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
        batch, rows = [], 0
        for item in lane.pending:
            if batch and rows + item.rows > self.max_rows:
                break
            batch.append(item)
            rows += item.rows
        del lane.pending[: len(batch)]
        return batch

    def _run(self, key: Hashable, batch: list[_Item]) -> None:
        """Run one batch (lock not held); on failure retry each request alone."""
        try:
            results = list(self._run_batch(key, [i.payload for i in batch]))
            if len(results) != len(batch):
                raise RuntimeError(f"batched call returned {len(results)} results for {len(batch)} requests")
            for item, res in zip(batch, results):
                item.result = res
        except BaseException as exc:  # noqa: BLE001 - handed to the callers, never swallowed
            if len(batch) == 1:
                batch[0].error = exc
            else:
                for item in batch:
                    try:
                        item.result = self._run_batch(key, [item.payload])[0]
                    except BaseException as one:  # noqa: BLE001
                        item.error = one
        finally:
            for item in batch:
                item.done.set()
            with self._cond:
                self.stats.calls += 1
                self.stats.requests += len(batch)
                self.stats.largest = max(self.stats.largest, len(batch))
