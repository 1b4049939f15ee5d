"""Every candidate a design loop tried, with its round, strategy, scores and file.

A :class:`Candidate` is one decoded object as it was written and read back (so what was
scored is exactly what the file holds). Its ``status`` says how far it went:

* ``"invalid"``   — it did not decode (no key); never scored;
* ``"duplicate"`` — the same object (same key) was tried before; not scored again
  (``duplicate_of`` names the first);
* ``"infeasible"`` — a constraint rejected it (``failures`` says which); not scored;
* ``"over_budget"`` — the oracle budget ran out within its round; not scored;
* ``"failed"``    — an objective's oracle raised or gave NaN (``failures`` holds why); it
  used oracle calls but has no score;
* ``"scored"``    — it has values, desirabilities and a combined ``score``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Candidate", "STATUSES"]

STATUSES = ("invalid", "duplicate", "infeasible", "over_budget", "failed", "scored")


@dataclass
class Candidate:
    """One candidate of a design loop (module docstring)."""

    id: int
    round: int
    strategy: str
    file: str
    index: int
    key: str | None
    bucket: str | None = None
    conditions: dict[str, Any] = field(default_factory=dict)
    status: str = "invalid"
    values: dict[str, float] = field(default_factory=dict)
    desirability: dict[str, float] = field(default_factory=dict)
    score: float = math.nan
    hit: bool = False
    failures: list[str] = field(default_factory=list)
    duplicate_of: int | None = None

    @property
    def scored(self) -> bool:
        return self.status == "scored"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: NaN (no value) written as null."""
        out = asdict(self)
        out["score"] = _to_json(self.score)
        for name in ("values", "desirability"):
            out[name] = {k: _to_json(v) for k, v in out[name].items()}
        return out

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Candidate:
        """The candidate :meth:`to_dict` wrote (null read back as NaN)."""
        data = dict(record)
        data["score"] = _from_json(data.get("score"))
        for name in ("values", "desirability"):
            data[name] = {k: _from_json(v) for k, v in (data.get(name) or {}).items()}
        return cls(**data)


def _to_json(v: Any) -> Any:
    return None if isinstance(v, float) and math.isnan(v) else v


def _from_json(v: Any) -> float:
    return math.nan if v is None else float(v)
