"""Objectives and constraints of a design loop, and how several combine.

An **objective** is a named oracle (a batched Python callable on decoded candidates, or a
shell command, :class:`CommandOracle`) with a goal and a desirability transform
(:mod:`gensci.inverse.transforms`):

* ``goal="maximize"`` / ``"minimize"``: for Pareto selection the raw value is maximised
  (or minimised); ``threshold`` (optional) says what counts as a hit (``x >= threshold``,
  or ``x <= threshold``);
* ``goal=[low, high]``: a target window; a hit lies inside it. Without a transform a
  window gets ``step(low, high)``.

A **constraint** is a hard filter: a named oracle whose truthy value (1 / True) keeps a
candidate (validity, novelty, clash-free ...). Failing candidates are kept in the record
but never selected.

Several objectives combine into one score by the weighted geometric mean of their
desirabilities (REINVENT4's default aggregation):

    S = exp( Σ_i w_i log d_i / Σ_i w_i ),   S = 0 when any d_i = 0,

or stay separate for Pareto selection (:mod:`gensci.inverse.pareto`).

Failures never stop the loop: an oracle that raises gives NaN for every candidate of the
call (the error text is kept), a NaN or non-finite value marks that evaluation failed, and
a candidate with a failed evaluation gets no score.
"""

from __future__ import annotations

import math
import os
import shlex
import subprocess
import tempfile
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gensci.inverse.transforms import Step, Transform, make_transform
from gensci.errors import GensciError

__all__ = ["Objective", "Constraint", "CommandOracle", "OracleCall", "call_oracle", "combine", "as_objective", "as_constraint"]

Oracle = Callable[[Sequence[Any]], Sequence[float]]


@dataclass
class OracleCall:
    """What one batched oracle call returned: ``values`` (NaN where it failed) and, when the
    whole call failed, ``error`` (the exception's last line)."""

    values: np.ndarray
    error: str | None = None


def call_oracle(oracle: Oracle, items: Sequence[Any], name: str = "oracle") -> OracleCall:
    """``oracle(items)`` as floats, never raising: an exception gives NaN for every item and
    its message; a result of the wrong length is an error of the same kind."""
    n = len(items)
    if n == 0:
        return OracleCall(np.zeros(0))
    try:
        raw = oracle(list(items))
        values = np.asarray([_as_float(v) for v in raw], dtype=np.float64)
        if values.shape != (n,):
            raise GensciError(f"oracle {name!r} returned {values.size} values for {n} candidates")
        return OracleCall(values)
    except Exception as err:  # noqa: BLE001 - a failing oracle is recorded, never fatal
        last = traceback.format_exception_only(type(err), err)[-1].strip()
        return OracleCall(np.full(n, np.nan), error=f"{name}: {last}")


def _as_float(v: Any) -> float:
    if v is None:
        return math.nan
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f if math.isfinite(f) else math.nan


@dataclass
class Objective:
    """A named oracle with a goal, a transform and a weight (module docstring)."""

    name: str
    oracle: Oracle
    goal: str | Sequence[float] = "maximize"
    transform: Transform | str | dict | None = None
    weight: float = 1.0
    threshold: float | None = None

    def __post_init__(self) -> None:
        if not callable(self.oracle):
            raise GensciError(f"objective {self.name!r}: the oracle must be callable, got {type(self.oracle).__name__}")
        if isinstance(self.goal, str):
            if self.goal not in ("maximize", "minimize"):
                raise GensciError(f"objective {self.name!r}: goal must be maximize, minimize or [low, high], got {self.goal!r}")
            self.window = None
        else:
            low, high = (float(v) for v in self.goal)
            if not high >= low:
                raise GensciError(f"objective {self.name!r}: the target window [{low:g}, {high:g}] is empty")
            self.window = (low, high)
            self.goal = [low, high]
            if self.transform is None:
                self.transform = Step(low, high)
        self.transform = make_transform(self.transform)
        if not self.weight > 0:
            raise GensciError(f"objective {self.name!r}: the weight must be positive, got {self.weight}")

    def desirability(self, values: np.ndarray) -> np.ndarray:
        return np.clip(self.transform(values), 0.0, 1.0)

    def hit(self, values: np.ndarray) -> np.ndarray:
        """Whether each value meets the objective: inside the window, past the threshold,
        or (neither given) a desirability of at least 0.5. NaN is never a hit."""
        x = np.asarray(values, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            if self.window is not None:
                ok = (x >= self.window[0]) & (x <= self.window[1])
            elif self.threshold is not None:
                ok = x >= self.threshold if self.goal == "maximize" else x <= self.threshold
            else:
                ok = self.desirability(x) >= 0.5
        return ok & np.isfinite(x)

    def oriented(self, values: np.ndarray) -> np.ndarray:
        """Values to maximise for Pareto selection: the value, its negative (minimize) or
        minus its distance to the window."""
        x = np.asarray(values, dtype=np.float64)
        if self.window is not None:
            return -np.maximum(0.0, np.maximum(self.window[0] - x, x - self.window[1]))
        return x if self.goal == "maximize" else -x

    def describe(self) -> dict[str, Any]:
        goal = self.goal if isinstance(self.goal, str) else list(self.goal)
        return {"name": self.name, "goal": goal, "transform": self.transform.describe(), "weight": self.weight,
                "threshold": self.threshold}


@dataclass
class Constraint:
    """A hard filter: a named oracle whose truthy value keeps a candidate."""

    name: str
    oracle: Oracle

    def __post_init__(self) -> None:
        if not callable(self.oracle):
            raise GensciError(f"constraint {self.name!r}: the oracle must be callable, got {type(self.oracle).__name__}")


def combine(desirabilities: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """The weighted geometric mean of ``desirabilities`` ``(n, k)`` over its columns:
    ``exp(Σ w log d / Σ w)``, 0 where any d is 0, NaN where any d is NaN."""
    d = np.asarray(desirabilities, dtype=np.float64)
    if d.ndim != 2:
        raise GensciError(f"desirabilities must be (candidates, objectives), got shape {d.shape}")
    w = np.asarray(weights, dtype=np.float64)
    if d.shape[1] != w.size:
        raise GensciError(f"{w.size} weights for {d.shape[1]} objectives")
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(d > 0, np.log(np.where(d > 0, d, 1.0)), -np.inf)
        score = np.exp((logs * w).sum(axis=1) / w.sum())
    score[np.isnan(d).any(axis=1)] = np.nan
    return score


@dataclass
class CommandOracle:
    """An external program as an oracle: the candidates are written to a file with the
    domain's writer, ``command`` runs with ``{input}`` replaced by that file's path (or the
    path appended when there is no placeholder), and its standard output must hold one
    number per candidate (whitespace-separated; ``nan`` for a failure).

    ``writer(items, path)`` writes the items (the design loop binds the domain's writer);
    ``suffix`` is the file's suffix (e.g. ``.sdf``); ``timeout`` in seconds."""

    command: str
    suffix: str = ".csv"
    timeout: float = 600.0
    writer: Callable[[Sequence[Any], Path], Any] | None = field(default=None, repr=False)

    def bind(self, context: Any) -> None:
        """Write candidates with the loop's writer (the design loop calls this once)."""
        if self.writer is None:
            self.writer = context.write_items
            if self.suffix == ".csv" and getattr(context, "suffix", None):
                self.suffix = context.suffix

    def __call__(self, items: Sequence[Any]) -> list[float]:
        if self.writer is None:
            raise GensciError("this command oracle has no writer; run it inside a design loop or give writer=")
        with tempfile.TemporaryDirectory(prefix="gensci-oracle-") as tmp:
            path = Path(tmp) / f"candidates{self.suffix}"
            written = Path(self.writer(list(items), path) or path)
            text = self.command.replace("{input}", shlex.quote(str(written))) if "{input}" in self.command \
                else f"{self.command} {shlex.quote(str(written))}"
            try:
                done = subprocess.run(text, shell=True, capture_output=True, text=True, timeout=self.timeout,
                                      env=dict(os.environ))
            except subprocess.TimeoutExpired:
                raise GensciError(f"oracle command timed out after {self.timeout:g} s: {self.command}") from None
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise GensciError(f"oracle command exited with status {done.returncode}: {tail[0]}")
        words = done.stdout.split()
        if len(words) != len(items):
            raise GensciError(f"oracle command printed {len(words)} numbers for {len(items)} candidates")
        return [_as_float(w) for w in words]


def as_objective(spec: Objective | dict) -> Objective:
    """An :class:`Objective` from itself or from a dict of its fields."""
    return spec if isinstance(spec, Objective) else Objective(**dict(spec))


def as_constraint(spec: Constraint | dict) -> Constraint:
    """A :class:`Constraint` from itself or from a dict of its fields."""
    return spec if isinstance(spec, Constraint) else Constraint(**dict(spec))
