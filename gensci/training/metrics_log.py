"""``metrics.csv`` across legs: a resumed run appends to the log of the legs before it.

Lightning's CSV logger deletes an existing ``metrics.csv`` when it starts, so a run stopped and
resumed would keep only its last leg's rows. :class:`LegLogger` keeps them: a resumed leg
appends its rows under the same header, each row tagged with its leg (``leg`` = 1, 2, ...;
rows of a file written before the column existed count as leg 1). ``step`` continues across
legs (it is the global step), so a leg resumed from an older checkpoint than the last row shows
the repeated steps under its own leg number. When a leg logs a column the file lacks, the file is
rewritten once with the union of the columns (Lightning's writer does this; earlier rows get
empty cells). A fresh (not resumed) run in a folder that holds an earlier run's log moves that
log aside to ``metrics.<k>.csv`` (:func:`keep_earlier_log`).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

__all__ = ["LegLogger", "keep_earlier_log", "read_log_header", "next_leg"]

LOG_NAME = "metrics.csv"


def keep_earlier_log(run_dir: str | os.PathLike) -> Path | None:
    """Move an earlier run's ``metrics.csv`` aside to ``metrics.<k>.csv`` (the next free ``k``)
    and return where it went; None when there is none."""
    log = Path(run_dir) / LOG_NAME
    if not log.is_file():
        return None
    k = 1
    while (log.parent / f"metrics.{k}.csv").exists():
        k += 1
    target = log.parent / f"metrics.{k}.csv"
    os.replace(log, target)
    return target


def read_log_header(path: str | os.PathLike) -> list[str]:
    """The columns of the CSV log at ``path`` in file order ([] when absent or empty)."""
    path = Path(path)
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return next(csv.reader(handle), [])


def next_leg(path: str | os.PathLike) -> int:
    """1 for a new log; else one more than the highest ``leg`` in the log at ``path`` (rows
    without a leg count as leg 1)."""
    path = Path(path)
    if not path.is_file():
        return 1
    highest = 0
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            text = (row.get("leg") or "").strip()
            highest = max(highest, int(float(text)) if text else 1)
    return highest + 1 if highest else 1


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer that keeps an existing ``metrics.csv`` and tags rows with a leg."""

    def __init__(self, log_dir: str, leg: int):
        self.leg = leg
        super().__init__(log_dir)
        # write under the existing header, in its order; a new column rewrites the file once
        self.metrics_keys = read_log_header(self.metrics_file_path)

    def _check_log_dir_exists(self) -> None:
        """Keep the earlier legs' log (the parent deletes it)."""

    def log_metrics(self, metrics_dict: dict[str, Any], step: int | None = None) -> None:
        super().log_metrics(metrics_dict, step)
        self.metrics[-1]["leg"] = self.leg


class LegLogger(CSVLogger):
    """A CSV logger writing ``<run_dir>/metrics.csv``; ``resumed=True`` appends a new leg to the
    log there, ``resumed=False`` moves an earlier log aside and starts leg 1."""

    def __init__(self, run_dir: str | os.PathLike, resumed: bool):
        super().__init__(str(run_dir), name="", version="")
        if not resumed and int(os.environ.get("LOCAL_RANK", "0") or 0) == 0:
            keep_earlier_log(run_dir)
        self.leg = next_leg(Path(run_dir) / LOG_NAME)

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:  # type: ignore[override]
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(self.log_dir, self.leg)
        return self._experiment
