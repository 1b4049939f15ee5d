"""CSV output and input of sampled points, written atomically."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from domains.points.data import PointTable, read_csv
from gensci.io import atomic_write

__all__ = ["write_points", "read_points"]


def write_points(table: PointTable, path: str | Path) -> Path:
    """Write one row per sample: the feature columns, then the requested conditions."""
    path = Path(path)
    names = list(table.conditions)
    with atomic_write(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(list(table.columns) + names)
        for i in range(len(table)):
            row = [repr(float(v)) for v in table.x[i]]
            for name in names:
                v = table.conditions[name][i]
                row.append("" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
            writer.writerow(row)
    return path


def read_points(path: str | Path, columns: list[str], condition_names: list[str]) -> PointTable:
    """Read a file :func:`write_points` wrote; condition columns are optional and kept as labels."""
    with open(path, newline="") as handle:
        header = next(csv.reader(handle), [])
    present = [c for c in condition_names if c in header]
    table = read_csv(path, columns=columns, categorical_conditions=present)
    table.conditions = {k: np.asarray(v, dtype=object) for k, v in table.conditions.items()}
    return table
