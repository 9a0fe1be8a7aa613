"""Adaptive exposure time: an N-down-1-up staircase on how long an image is shown.

The staircase is a pure function of a rater's past answers on one track, so the server can
rebuild it from the database at any time (after a restart, or when a page is reloaded)
instead of keeping mutable state per browser.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from explorer.humaneval.config import StaircaseConfig


class Staircase:
    """One staircase track. Feed answers with :meth:`update`; read :attr:`exposure_ms`."""

    def __init__(self, config: StaircaseConfig | None = None):
        self.config = config or StaircaseConfig()
        self.exposure_ms: int = self.config.start_ms
        self.history: list[int] = []  # exposure of every trial answered so far
        self.reversals: list[int] = []  # exposures at which the direction changed
        self._run_correct = 0
        self._run_wrong = 0
        self._last_direction = 0  # -1 went down (harder), +1 went up (easier)

    def update(self, correct: bool) -> int:
        """Record one answer given at the current exposure; return the next exposure (ms)."""
        cfg = self.config
        self.history.append(self.exposure_ms)
        direction = 0
        if correct:
            self._run_correct += 1
            self._run_wrong = 0
            if self._run_correct >= cfg.num_down:
                self._run_correct = 0
                direction = -1
        else:
            self._run_wrong += 1
            self._run_correct = 0
            if self._run_wrong >= cfg.num_up:
                self._run_wrong = 0
                direction = +1
        if direction:
            if self._last_direction and direction != self._last_direction:
                self.reversals.append(self.exposure_ms)
            self._last_direction = direction
            step = cfg.step_factor if direction > 0 else 1.0 / cfg.step_factor
            self.exposure_ms = int(round(min(cfg.max_ms, max(cfg.min_ms, self.exposure_ms * step))))
        return self.exposure_ms

    @property
    def converged(self) -> bool:
        return len(self.reversals) >= self.config.min_reversals

    def threshold_ms(self) -> float | None:
        """Exposure threshold estimate: geometric mean of the reversal exposures after the first
        ``discard_reversals``; before enough reversals, of the last half of the trials shown.
        None when nothing was answered yet."""
        usable = self.reversals[self.config.discard_reversals:]
        if len(self.reversals) < self.config.min_reversals or not usable:
            usable = self.history[len(self.history) // 2:]
        if not usable:
            return None
        return math.exp(sum(math.log(v) for v in usable) / len(usable))

    def mean_exposure_ms(self) -> float | None:
        """Arithmetic mean exposure over all answered trials (reported alongside the threshold)."""
        return sum(self.history) / len(self.history) if self.history else None


def replay(correct: Iterable[bool], config: StaircaseConfig | None = None) -> Staircase:
    """Staircase state after the given answers (in the order they were given)."""
    stair = Staircase(config)
    for c in correct:
        stair.update(bool(c))
    return stair
