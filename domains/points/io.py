"""CSV output and input of sampled points, written atomically."""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from domains.points.data import PointTable, read_csv
from gensci.errors import GensciError
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


def read_points(path: str | Path, columns: list[str], specs: Sequence[Mapping[str, Any]]) -> PointTable:
    """Read a file :func:`write_points` wrote. Condition columns (named by the condition
    ``specs``) are optional; numeric ones are read as floats (empty = NaN), categorical
    ones as strings (empty = None), as :meth:`PointsDomain.decode` gives them."""
    if Path(path).is_dir():
        raise GensciError(f"{path} is a folder; points samples are one CSV file")
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            header = [h.strip() for h in next(csv.reader(handle), [])]
    except (csv.Error, UnicodeDecodeError) as err:
        raise GensciError(f"{path}: not a readable CSV file ({err})") from None
    present = [spec for spec in specs if spec["name"] in header]
    return read_csv(path, columns=columns,
                    numeric_conditions=[s["name"] for s in present if s["kind"] == "numeric"],
                    categorical_conditions=[s["name"] for s in present if s["kind"] != "numeric"])
