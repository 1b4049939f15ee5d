"""What a command left out, and why: one line each, never silently.

Readers and metrics call :func:`skip` for each file, sample or metric they leave out
(``sample_003.pdb: unreadable (...)``, ``novelty_*: needs the training chains``). Inside
:func:`collecting_skips` (``gensci evaluate`` opens one) each becomes a :class:`Skipped`
record, which the command prints as a summary and writes to its JSON under ``"skipped"``;
outside, each is a warning, so a Python caller sees it too. :func:`skip_all` records many
at once and, outside a collection, warns once with a summary instead of once per item.

    with collecting_skips() as skipped:
        samples = domain.read(folder)     # unreadable files: skip("x.pdb", "unreadable ...")
        metrics = domain.evaluate(samples)
    print(len(skipped), "left out")
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass

__all__ = ["Skipped", "INPUT", "METRIC", "collecting_skips", "skip", "skip_all", "summary_lines"]

#: kinds of things left out: an input (a file, a chain, a sample) or a metric
INPUT, METRIC = "input", "metric"


@dataclass(frozen=True)
class Skipped:
    """One thing left out: ``what`` (a file, ``file:chain``, a metric name) and the one-line ``reason``."""

    what: str
    reason: str
    kind: str = INPUT

    def __str__(self) -> str:
        return f"{self.what}: {self.reason}"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


_SINK: ContextVar[list[Skipped] | None] = ContextVar("gensci_skipped", default=None)


@contextmanager
def collecting_skips() -> Iterator[list[Skipped]]:
    """Within the block, :func:`skip` appends to the list yielded instead of warning."""
    found: list[Skipped] = []
    token = _SINK.set(found)
    try:
        yield found
    finally:
        _SINK.reset(token)


def skip(what: str, reason: str, kind: str = INPUT) -> None:
    """Record that ``what`` was left out for ``reason`` (a warning outside a collection)."""
    reason = " ".join(str(reason).split())  # one line, whatever the reason's source printed
    sink = _SINK.get()
    if sink is None:
        warnings.warn(f"skipped {what}: {reason}", stacklevel=2)
    else:
        sink.append(Skipped(str(what), reason, kind))


def skip_all(items: Iterable[tuple[str, str]], summary: str, kind: str = INPUT) -> None:
    """Record each ``(what, reason)``; outside a collection, warn once with ``summary``."""
    items = list(items)
    if not items:
        return
    sink = _SINK.get()
    if sink is None:
        warnings.warn(summary, stacklevel=2)
        return
    for what, reason in items:
        sink.append(Skipped(str(what), " ".join(str(reason).split()), kind))


def summary_lines(skipped: Iterable[Skipped], limit: int = 20) -> list[str]:
    """A printable summary: ``skipped N inputs:`` / ``skipped N metrics:`` headers, one line
    per item (at most ``limit`` per kind, then how many more)."""
    lines: list[str] = []
    skipped = list(skipped)
    for kind, title in ((INPUT, "inputs"), (METRIC, "metrics")):
        mine = [s for s in skipped if s.kind == kind]
        if not mine:
            continue
        lines.append(f"skipped {len(mine)} {title if len(mine) > 1 else title[:-1]}:")
        lines += [f"  {s}" for s in mine[:limit]]
        if len(mine) > limit:
            lines.append(f"  ... and {len(mine) - limit} more (all in the JSON)")
    return lines
