"""What a design loop returns and writes: candidates, history, the best, the Pareto front.

``DIR/report.json`` holds the settings, ``history`` (one entry per round: ``best`` — the
best combined score so far —, ``top10_mean``, ``oracle_calls``, ``hits`` and the round's
counts), the PMO top-10 AUC, the ten best candidates and the Pareto front;
``DIR/candidates.csv`` one row per candidate (round, strategy, status, conditions, values,
desirabilities, score, hit, file); ``DIR/best<suffix>`` the best candidates as domain files;
and plots (:mod:`gensci.inverse.plots`).

The PMO top-10 AUC (Gao et al. 2022) is the area under the top-10 mean score against
oracle calls, divided by the budget; a run that stops early keeps its last value up to the
budget:  AUC = (1/B) Σ_r top10_r · (c_r - c_{r-1}) + top10_last · (B - c_last) / B.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from gensci.inverse.candidates import Candidate
from gensci.inverse.pareto import hypervolume, pareto_front
from gensci.io import atomic_write

__all__ = ["DesignResult", "top10_auc"]


def top10_auc(history: list[dict[str, Any]], budget: int) -> float:
    """The PMO top-10 AUC of a history (module docstring), in [0, 1] for scores in [0, 1]."""
    area, before = 0.0, 0
    for h in history:
        calls = min(int(h["oracle_calls"]), budget)
        area += float(h["top10_mean"]) * (calls - before)
        before = calls
    if history:
        area += float(history[-1]["top10_mean"]) * (budget - before)
    return area / budget


class DesignResult:
    """The outcome of :func:`gensci.inverse` (module docstring)."""

    def __init__(self, ctx: Any, history: list[dict[str, Any]], budget: int, strategy: Any, settings: dict[str, Any]):
        self.ctx = ctx
        self.history = history
        self.budget = budget
        self.strategy = strategy
        self.settings = settings

    @property
    def candidates(self) -> list[Candidate]:
        return self.ctx.candidates

    @property
    def objectives(self) -> list[Any]:
        return self.ctx.objectives

    def item(self, c: Candidate) -> Any:
        """The object (molecule, backbone, vector) of candidate ``c``, as its file holds it."""
        return self.ctx.item(c)

    def best(self, k: int = 10) -> list[Candidate]:
        """The ``k`` best scored candidates by combined score."""
        scored = sorted((c for c in self.candidates if c.scored), key=lambda c: (-c.score, c.id))
        return scored[:k]

    def pareto(self) -> list[Candidate]:
        """The scored candidates no other scored candidate dominates on the objectives."""
        scored = [c for c in self.candidates if c.scored]
        if not scored:
            return []
        values = self._oriented(scored)
        return [scored[i] for i in pareto_front(values)]

    def _oriented(self, cands: list[Candidate]) -> np.ndarray:
        return np.asarray([[o.oriented(np.asarray([c.values[o.name]]))[0] for o in self.objectives] for c in cands])

    @property
    def oracle_calls(self) -> int:
        return int(self.history[-1]["oracle_calls"]) if self.history else 0

    @property
    def hits(self) -> int:
        return int(self.history[-1]["hits"]) if self.history else 0

    def summary(self) -> dict[str, Any]:
        scored = [c for c in self.candidates if c.scored]
        out = {
            "settings": self.settings,
            "strategy": self.strategy.describe(),
            "budget": self.budget,
            "oracle_calls": self.oracle_calls,
            "rounds": len(self.history),
            "hits": self.hits,
            "hit_rate": self.hits / self.oracle_calls if self.oracle_calls else 0.0,
            "top10_auc": top10_auc(self.history, self.budget),
            "failed_evaluations": sum(1 for c in self.candidates if c.status == "failed"),
            "history": self.history,
            "best": [c.to_dict() for c in self.best(10)],
            "pareto": [c.to_dict() for c in self.pareto()] if len(self.objectives) > 1 else [],
        }
        if len(self.objectives) > 1 and scored:
            values = self._oriented(scored)
            out["hypervolume"] = hypervolume(values, values.min(axis=0) - 1e-9)
        return out

    def write(self, folder: str | Path | None = None, best: int = 10) -> Path:
        """Write the report, the candidate table, the best candidates and the plots."""
        folder = Path(folder) if folder is not None else self.ctx.workdir
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_write(folder / "report.json") as handle:
            json.dump(self.summary(), handle, indent=1, default=float)
        self._write_table(folder / "candidates.csv")
        top = self.best(best)
        if top:
            target = self.ctx.domain.design_path(folder / "best", len(top))
            self.ctx.write_items([self.item(c) for c in top], target)
        from gensci.inverse.plots import plot_report

        plot_report(self, folder)
        return folder

    def _write_table(self, path: Path) -> None:
        names = [o.name for o in self.objectives]
        conditions = sorted({k for c in self.candidates for k in c.conditions})
        header = ["id", "round", "strategy", "status", "key", "bucket", *[f"requested_{k}" for k in conditions],
                  *names, *[f"d_{n}" for n in names], "score", "hit", "file", "index", "duplicate_of", "failures"]
        with atomic_write(path, newline="") as handle:
            w = csv.writer(handle)
            w.writerow(header)
            for c in self.candidates:
                w.writerow([c.id, c.round, c.strategy, c.status, c.key or "", c.bucket or "",
                            *[c.conditions.get(k, "") for k in conditions],
                            *[_cell(c.values.get(n)) for n in names], *[_cell(c.desirability.get(n)) for n in names],
                            _cell(c.score), int(c.hit), c.file, c.index, "" if c.duplicate_of is None else c.duplicate_of,
                            "; ".join(c.failures)])

    def __repr__(self) -> str:
        best = self.history[-1]["best"] if self.history else float("nan")
        return (f"DesignResult(rounds={len(self.history)}, oracle_calls={self.oracle_calls}, hits={self.hits}, "
                f"best={best:.3f}, folder={str(self.ctx.workdir)!r})")


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if v != v else f"{v:.6g}"
    return str(v)
