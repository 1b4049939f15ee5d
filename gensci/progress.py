"""Progress of long steps on stderr: stage lines and counting bars, behind one switch.

Library code announces its steps whoever calls it: :func:`stage` for a step of unknown
length (``reading 256 files``, ``FCD``) and :func:`track` around a loop
(``DSSP 120/256``). Both print only inside :func:`showing_progress` (``gensci evaluate``
opens one unless given ``-q``), so Python callers and tests stay quiet unless they ask.
Everything goes to stderr, so a command's table on stdout stays clean to pipe.

    with showing_progress():
        stage("reading 256 files")
        labels = [dssp(bb) for bb in track(backbones, "DSSP")]
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sized
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

__all__ = ["showing_progress", "progress_enabled", "stage", "track"]

T = TypeVar("T")

_ENABLED: ContextVar[bool] = ContextVar("gensci_progress", default=False)


@contextmanager
def showing_progress(enabled: bool = True) -> Iterator[None]:
    """Within the block, :func:`stage` and :func:`track` print to stderr (when ``enabled``)."""
    token = _ENABLED.set(bool(enabled))
    try:
        yield
    finally:
        _ENABLED.reset(token)


def progress_enabled() -> bool:
    """Whether progress is being shown (inside :func:`showing_progress`)."""
    return _ENABLED.get()


def stage(message: str) -> None:
    """Print one line announcing a step, when progress is shown."""
    if _ENABLED.get():
        print(message, file=sys.stderr, flush=True)


def track(items: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """``items`` as they are, counted by a tqdm bar ``desc n/total`` on stderr when progress
    is shown. ``total`` defaults to ``len(items)`` when it has one. On a terminal the bar
    redraws in place; in a log file it is updated at most once every few seconds. The bar
    follows :func:`showing_progress` alone: tqdm's ``TQDM_DISABLE`` does not silence it."""
    if not _ENABLED.get():
        yield from items
        return
    from tqdm.auto import tqdm

    if total is None and isinstance(items, Sized):
        total = len(items)
    interval = 0.1 if sys.stderr.isatty() else 5.0
    with tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, mininterval=interval, dynamic_ncols=True,
              disable=False) as bar:
        for item in items:
            yield item
            bar.update(1)
