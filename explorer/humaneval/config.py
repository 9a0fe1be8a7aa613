"""Settings of a human-evaluation session (what the organiser chooses) and their validation.

A :class:`SessionConfig` is frozen and stored as JSON in the session row, so results can
always be traced back to exactly how the session was run.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field

from explorer.errors import ExplorerError

TASKS = ("real_vs_fake", "pairwise")
#: scored trials per staircase track (per model) an adaptive session needs. Simulated 3-down-1-up
#: raters (x1.25 steps from 1000 ms, 79.4 %-correct thresholds of 188/376/753 ms): with 20 trials
#: 0-8 % of tracks converge and estimates lean to the start; with 60, 97-100 % converge and the
#: estimates land within 2 % (188/370/739 ms).
MIN_ADAPTIVE_TRIALS_PER_TRACK = 60
EXPOSURES = ("unlimited", "fixed", "adaptive")
# What a rater can click, per task. "tie" in pairwise means "no visible difference / no preference".
CHOICES = {"real_vs_fake": ("real", "fake"), "pairwise": ("left", "right", "tie")}


class HumanEvalError(ExplorerError):
    """A human-evaluation session cannot be created, joined or answered as asked."""


@dataclass(frozen=True)
class StaircaseConfig:
    """Adaptive exposure (HYPE-time-like): an N-down-1-up staircase on display time.

    After ``num_down`` correct answers in a row the exposure is divided by ``step_factor``
    (harder); after an error it is multiplied by it (easier), within ``[min_ms, max_ms]``.
    3-down-1-up converges to the exposure at which a rater is ~79.4 % correct
    (Levitt 1971). Steps are multiplicative because time perception is roughly logarithmic.
    The threshold is the geometric mean of the exposures at the reversals after the first
    ``discard_reversals``; a track counts as converged after ``min_reversals`` reversals.
    """

    start_ms: int = 1000
    min_ms: int = 100
    max_ms: int = 4000
    num_down: int = 3
    num_up: int = 1
    step_factor: float = 1.25
    discard_reversals: int = 2
    min_reversals: int = 6

    def validate(self) -> None:
        if not 0 < self.min_ms <= self.start_ms <= self.max_ms:
            raise HumanEvalError(
                f"staircase needs 0 < min_ms <= start_ms <= max_ms, got {self.min_ms}, {self.start_ms}, {self.max_ms}"
            )
        if self.num_down < 1 or self.num_up < 1:
            raise HumanEvalError("staircase num_down and num_up must be at least 1")
        if not self.step_factor > 1.0 or not math.isfinite(self.step_factor):
            raise HumanEvalError(f"staircase step_factor must be > 1, got {self.step_factor}")
        if self.discard_reversals < 0 or self.min_reversals < 1:
            raise HumanEvalError("staircase discard_reversals must be >= 0 and min_reversals >= 1")


@dataclass(frozen=True)
class SessionConfig:
    """Everything an organiser chooses when creating a session.

    Args:
        task: "real_vs_fake" (is this image real?) or "pairwise" (which of two models' images,
            made from the same latent seed, looks more realistic?).
        models: checkpoint paths or ids, one per model under test.
        model_names: display/report names (default: file stems, made unique).
        real_set: shipped data set name (real_vs_fake only), e.g. "digits".
        num_trials: scored trials per rater, attention checks not included. real_vs_fake:
            a multiple of 2 x len(models) (half real, half fake, fakes split evenly);
            pairwise: a multiple of the number of model pairs (every pair on every seed).
        num_checks: attention checks per rater (obvious fakes / identical pairs).
        exposure: "unlimited" (HYPE-inf-like), "fixed" (``exposure_ms``) or "adaptive"
            (staircase, ``staircase``). Pairwise trials are always unlimited.
        seed: session seed; stimuli and every rater's order derive from it (random if None).
        min_check_pass_rate: raters passing a smaller fraction of their checks are flagged.
    """

    task: str
    models: tuple[str, ...]
    num_trials: int
    real_set: str | None = None
    model_names: tuple[str, ...] | None = None
    num_checks: int = 4
    exposure: str = "unlimited"
    exposure_ms: int = 1000
    staircase: StaircaseConfig = field(default_factory=StaircaseConfig)
    seed: int | None = None
    title: str = ""
    question: str = ""
    min_check_pass_rate: float = 0.75

    def __post_init__(self) -> None:
        # Accept lists from callers (and JSON) but keep the stored value hashable/frozen.
        object.__setattr__(self, "models", tuple(str(m) for m in self.models))
        if self.model_names is not None:
            object.__setattr__(self, "model_names", tuple(str(m) for m in self.model_names))
        if isinstance(self.staircase, dict):
            object.__setattr__(self, "staircase", StaircaseConfig(**self.staircase))

    @property
    def names(self) -> tuple[str, ...]:
        """Report names of the models, unique, in the order of ``models``."""
        if self.model_names is not None:
            return self.model_names
        return _unique_names([os.path.splitext(os.path.basename(m.rstrip("/\\")))[0] or m for m in self.models])

    @property
    def num_pairs(self) -> int:
        k = len(self.models)
        return k * (k - 1) // 2

    @property
    def default_question(self) -> str:
        if self.task == "pairwise":
            return "Which image looks more like a real photo? Choose 'no difference' if they look the same."
        return "Is this image real or generated?"

    def validate(self) -> None:
        """Raise :class:`HumanEvalError` with a concrete fix when the settings cannot work."""
        if self.task not in TASKS:
            raise HumanEvalError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.exposure not in EXPOSURES:
            raise HumanEvalError(f"exposure must be one of {', '.join(EXPOSURES)}, got {self.exposure!r}")
        k = len(self.models)
        if k == 0:
            raise HumanEvalError("choose at least one model")
        if self.model_names is not None:
            if len(self.model_names) != k:
                raise HumanEvalError(f"{len(self.model_names)} model names given for {k} models")
        if len(set(self.names)) != k:
            raise HumanEvalError(f"model names must be unique, got {list(self.names)}")
        if self.num_checks < 0:
            raise HumanEvalError("num_checks must be >= 0")
        if not 0.0 <= self.min_check_pass_rate <= 1.0:
            raise HumanEvalError("min_check_pass_rate must be between 0 and 1")
        if self.task == "real_vs_fake":
            if not self.real_set:
                raise HumanEvalError("a real-vs-fake session needs a real image set (e.g. 'digits')")
            unit = 2 * k
            what = f"2 x {k} model(s): half real, half fake, fakes split evenly"
        else:
            if k < 2:
                raise HumanEvalError("pairwise preference needs at least two models")
            unit = self.num_pairs
            what = f"the {unit} model pair(s), so every pair is shown on every seed"
        if self.num_trials < unit or self.num_trials % unit:
            lower = max(unit, self.num_trials // unit * unit)
            raise HumanEvalError(
                f"num_trials must be a positive multiple of {unit} ({what}); try {lower} or {lower + unit}"
            )
        if self.exposure == "fixed" and not 10 <= self.exposure_ms <= 60_000:
            raise HumanEvalError(f"fixed exposure must be between 10 and 60000 ms, got {self.exposure_ms}")
        if self.exposure == "adaptive":
            if self.task != "real_vs_fake":
                raise HumanEvalError("adaptive exposure is only defined for real-vs-fake sessions")
            self.staircase.validate()
            need = MIN_ADAPTIVE_TRIALS_PER_TRACK * k
            if self.num_trials < need:
                raise HumanEvalError(
                    f"adaptive display time needs at least {MIN_ADAPTIVE_TRIALS_PER_TRACK} trials per model for its "
                    f"staircase to converge: {need} trials for {k} model(s), not {self.num_trials}")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "SessionConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _unique_names(names: list[str]) -> tuple[str, ...]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            n = f"{n}-{seen[n]}"
        else:
            seen[n] = 1
        out.append(n)
    return tuple(out)
