"""Point data for the ``points`` domain: 2D toys and users' CSV files of vectors.

A CSV file has a header row; feature columns are numbers, condition columns may be
numbers or class labels and may be empty (missing, NaN). Every malformed row is reported
with its line number as one clear :class:`~gensci.errors.GensciError`.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from domains.points import toys
from gensci.errors import GensciError

__all__ = ["PointTable", "TOY_DATASETS", "make_toy", "read_csv", "split_indices"]

#: toy name -> (generator function in :mod:`domains.points.toys`, has labels)
TOY_DATASETS: dict[str, tuple[str, bool]] = {
    "moons": ("moons", False),
    "eight_gaussians": ("eight_gaussians", False),
    "checkerboard": ("checkerboard", False),
    "labelled_moons": ("labelled_moons", True),
}


@dataclass
class PointTable:
    """Vectors with optional per-row conditions (numeric values or class labels as strings)."""

    x: np.ndarray  # (n, d) float64
    columns: list[str]
    conditions: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (n,) float or object
    split: np.ndarray | None = None  # (n,) of "train" / "val" / "test" when the user gives one

    def __len__(self) -> int:
        return self.x.shape[0]


def make_toy(name: str, n: int, generator: torch.Generator) -> PointTable:
    """Draw ``n`` points of a 2D toy; labelled toys carry a categorical ``label`` condition."""
    if name not in TOY_DATASETS:
        raise GensciError(f"unknown toy data set {name!r}; choose one of {', '.join(sorted(TOY_DATASETS))}")
    fn_name, labelled = TOY_DATASETS[name]
    out = getattr(toys, fn_name)(n, generator=generator)
    x, labels = (out if isinstance(out, tuple) else (out, None))
    table = PointTable(x=x.double().numpy(), columns=["x0", "x1"])
    if labelled:
        table.conditions["label"] = np.array([str(int(v)) for v in labels.tolist()], dtype=object)
    return table


def _parse_float(text: str, where: str, column: str, allow_missing: bool) -> float:
    text = text.strip()
    if text == "" or text.lower() in ("nan", "na", "none", "null"):
        if allow_missing:
            return math.nan
        raise GensciError(f"{where}: column {column!r} is empty; feature values may not be missing")
    try:
        value = float(text)
    except ValueError:
        raise GensciError(f"{where}: column {column!r} holds {text!r}, which is not a number") from None
    if not math.isfinite(value) and not allow_missing:
        raise GensciError(f"{where}: column {column!r} holds {text!r}, which is not finite")
    return value


def read_csv(
    path: str | Path,
    columns: list[str] | None = None,
    numeric_conditions: list[str] | None = None,
    categorical_conditions: list[str] | None = None,
    split_column: str | None = None,
) -> PointTable:
    """Read a CSV of vectors. Feature columns default to every column not named as a
    condition or split column."""
    path = Path(path)
    if not path.is_file():
        raise GensciError(f"data file {str(path)!r} does not exist")
    numeric_conditions = list(numeric_conditions or [])
    categorical_conditions = list(categorical_conditions or [])
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise GensciError(f"{path}: the file is empty; it needs a header row") from None
        except (csv.Error, UnicodeDecodeError) as err:
            raise GensciError(f"{path}: not a readable CSV file ({err})") from None
        named = set(numeric_conditions) | set(categorical_conditions) | ({split_column} if split_column else set())
        features = list(columns) if columns else [h for h in header if h not in named]
        for col in features + sorted(named):
            if col not in header:
                raise GensciError(f"{path}: no column {col!r}; the header has {', '.join(header)}")
        if not features:
            raise GensciError(f"{path}: no feature columns left after the condition columns")
        index = {h: i for i, h in enumerate(header)}
        rows_x: list[list[float]] = []
        conds: dict[str, list] = {c: [] for c in numeric_conditions + categorical_conditions}
        split: list[str] = []
        try:
            for line_no, row in enumerate(reader, start=2):
                if not row or all(not cell.strip() for cell in row):
                    continue
                where = f"{path} line {line_no}"
                if len(row) != len(header):
                    raise GensciError(f"{where}: {len(row)} fields, but the header has {len(header)}")
                rows_x.append([_parse_float(row[index[c]], where, c, allow_missing=False) for c in features])
                for c in numeric_conditions:
                    conds[c].append(_parse_float(row[index[c]], where, c, allow_missing=True))
                for c in categorical_conditions:
                    conds[c].append(row[index[c]].strip())
                if split_column:
                    value = row[index[split_column]].strip().lower()
                    if value not in ("train", "val", "test"):
                        raise GensciError(f"{where}: split column {split_column!r} holds {value!r}; use train, val or test")
                    split.append(value)
        except (csv.Error, UnicodeDecodeError) as err:
            raise GensciError(f"{path}: not a readable CSV file ({err})") from None
    if not rows_x:
        raise GensciError(f"{path}: no data rows")
    table = PointTable(x=np.asarray(rows_x, dtype=np.float64), columns=features)
    for c in numeric_conditions:
        table.conditions[c] = np.asarray(conds[c], dtype=np.float64)
    for c in categorical_conditions:
        table.conditions[c] = np.asarray([v if v else None for v in conds[c]], dtype=object)
    if split_column:
        table.split = np.asarray(split, dtype=object)
    return table


def split_indices(n: int, fractions: tuple[float, float, float], generator: torch.Generator) -> dict[str, Tensor]:
    """A seeded random split of ``range(n)`` into train / val / test by ``fractions``."""
    perm = torch.randperm(n, generator=generator)
    n_val = int(round(fractions[1] * n))
    n_test = int(round(fractions[2] * n))
    n_train = n - n_val - n_test
    if n_train < 1:
        raise GensciError(f"{n} rows are too few to split {fractions}")
    return {"train": perm[:n_train], "val": perm[n_train : n_train + n_val], "test": perm[n_train + n_val :]}
