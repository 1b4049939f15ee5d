"""The ``points`` domain: vectors in R^d, from 2D toys or a user's CSV file.

It is the smallest complete domain and the template for writing one's own (see
docs/writing-a-domain.md). States are standardised vectors ``(x - mean) / std`` (the
statistics come from the train split and travel in the checkpoint); conditions are the
CSV's label columns, numeric or categorical, with missing values allowed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from domains.points.data import TOY_DATASETS, PointTable, make_toy, read_csv, split_indices
from domains.points.io import read_points, write_points
from domains.points.metrics import point_metrics
from domains.points.plot import plot_points
from gensci.domain import Batch, BatchDataset, ConditionRequest, Domain, SamplePlan, check_conditions
from gensci.errors import GensciError

__all__ = ["PointsDomain"]

SPLITS = ("train", "val", "test")


class PointsDomain(Domain):
    """Vectors from a toy (``dataset``) or a CSV file (``path``).

    Args:
        dataset: a toy name (moons, eight_gaussians, checkerboard, labelled_moons) when no path.
        path: a CSV file of vectors; ``columns`` picks the feature columns (default: all others).
        numeric_conditions / categorical_conditions: CSV columns used as conditions.
        split_column: a CSV column holding train / val / test; otherwise a seeded random split.
        source: "gaussian" (the process prior) or a toy name drawn at t = 0 (e.g. eight_gaussians).
        n_train / n_val / n_test: toy sizes. normalize: standardise features (default: CSV yes, toys no).
    """

    name = "points"
    suffix = ".csv"
    outputs = (".csv", ".png")

    def __init__(
        self,
        dataset: str | None = "moons",
        path: str | None = None,
        columns: list[str] | None = None,
        numeric_conditions: list[str] | None = None,
        categorical_conditions: list[str] | None = None,
        split_column: str | None = None,
        split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
        source: str = "gaussian",
        n_train: int = 20000,
        n_val: int = 2000,
        n_test: int = 2000,
        normalize: bool | None = None,
        seed: int = 0,
    ):
        if path is None and dataset is None:
            raise GensciError("the points domain needs data: set domain.path=FILE.csv or domain.dataset=NAME (a toy)")
        if source != "gaussian" and source not in TOY_DATASETS:
            raise GensciError(f"unknown source {source!r}; use gaussian or one of {', '.join(sorted(TOY_DATASETS))}")
        self.dataset_name = dataset
        self.path = path
        self.columns = list(columns) if columns else None
        self.numeric_conditions = list(numeric_conditions or [])
        self.categorical_conditions = list(categorical_conditions or [])
        self.split_column = split_column
        self.split_fractions = tuple(split_fractions)
        self.source_name = source
        self.sizes = {"train": int(n_train), "val": int(n_val), "test": int(n_test)}
        self.normalize = (path is not None) if normalize is None else bool(normalize)
        self.seed = int(seed)
        self._tables: dict[str, PointTable] | None = None
        self._stats: dict[str, Any] | None = None

    # ----------------------------------------------------------------- data
    def _load_tables(self) -> dict[str, PointTable]:
        if self._tables is not None:
            return self._tables
        if self.path is None:
            tables = {}
            for i, split in enumerate(SPLITS):
                g = torch.Generator().manual_seed(self.seed * 1000 + i)
                tables[split] = make_toy(self.dataset_name, self.sizes[split], g)
        else:
            table = read_csv(self.path, self.columns, self.numeric_conditions, self.categorical_conditions, self.split_column)
            if table.split is not None:
                index = {s: torch.as_tensor(np.nonzero(table.split == s)[0]) for s in SPLITS}
            else:
                index = split_indices(len(table), self.split_fractions, torch.Generator().manual_seed(self.seed))
            tables = {s: _take(table, index[s].numpy()) for s in SPLITS}
            if len(tables["train"]) == 0:
                raise GensciError(f"{self.path}: the train split is empty")
        self._tables = tables
        return tables

    def prepare(self) -> None:
        tables = self._load_tables()
        train = tables["train"]
        mean = train.x.mean(axis=0) if self.normalize else np.zeros(train.x.shape[1])
        std = train.x.std(axis=0) if self.normalize else np.ones(train.x.shape[1])
        std = np.where(std > 0, std, 1.0)
        specs = []
        for name in self.numeric_conditions + (["label"] if self._toy_labelled() else []) + self.categorical_conditions:
            values = train.conditions[name]
            if name in self.numeric_conditions:
                v = values[~np.isnan(values)]
                if v.size == 0:
                    raise GensciError(f"condition {name!r} has no values in the train split")
                specs.append({"name": name, "kind": "numeric", "low": float(v.min()), "high": float(v.max()),
                              "mean": float(v.mean()), "std": float(v.std() or 1.0)})
            else:
                classes = sorted({str(c) for c in values if c is not None})
                if len(classes) < 1:
                    raise GensciError(f"condition {name!r} has no values in the train split")
                specs.append({"name": name, "kind": "categorical", "num_classes": len(classes), "classes": classes})
        self._stats = {
            "columns": list(train.columns),
            "dim": int(train.x.shape[1]),
            "mean": [float(v) for v in mean],
            "std": [float(v) for v in std],
            "conditions": specs,
            "source": self.source_name,
        }

    def _toy_labelled(self) -> bool:
        return self.path is None and TOY_DATASETS.get(self.dataset_name, ("", False))[1]

    def encode_x(self, x: np.ndarray) -> Tensor:
        s = self._require_stats()
        return torch.as_tensor((x - np.asarray(s["mean"])) / np.asarray(s["std"]), dtype=torch.float32)

    def encode_conditions(self, conditions: dict[str, np.ndarray], n: int) -> dict[str, Tensor]:
        """Numeric values stay raw floats (the network normalises); classes become indices; missing -> NaN."""
        out = {}
        for spec in self._require_stats()["conditions"]:
            values = conditions.get(spec["name"])
            if values is None:
                out[spec["name"]] = torch.full((n,), math.nan)
            elif spec["kind"] == "numeric":
                out[spec["name"]] = torch.as_tensor(np.asarray(values, dtype=np.float64), dtype=torch.float32)
            else:
                lookup = {c: float(i) for i, c in enumerate(spec["classes"])}
                out[spec["name"]] = torch.tensor([lookup.get(str(v), math.nan) if v is not None else math.nan for v in values])
        return out

    def dataset(self, split: str) -> Dataset:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        table = self._load_tables()[split]
        return BatchDataset(self.encode_x(table.x), self.encode_conditions(table.conditions, len(table)))

    def source(self, n: int, generator: torch.Generator | None = None) -> Tensor | None:
        name = self._require_stats()["source"]
        if name == "gaussian":
            return None
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        return self.encode_x(make_toy(name, n, g).x)

    # ------------------------------------------------------------ network
    def network_kwargs(self) -> dict[str, Any]:
        s = self._require_stats()
        return {"dim": s["dim"], "conditions": s["conditions"]}

    # ------------------------------------------------------------ sampling
    def plan(self, n: int, conditions: ConditionRequest | None = None, **options: Any) -> SamplePlan:
        if options:
            raise GensciError(f"the points domain takes no sampling options, got {', '.join(options)}")
        s = self._require_stats()
        checked = check_conditions(s["conditions"], conditions)
        requested = {name: np.full(n, v) if isinstance(v, float) else np.array([v] * n, dtype=object)
                     for name, v in checked.items()}
        cond = self.encode_conditions(requested, n) if requested else None
        return SamplePlan(shape=(n, s["dim"]), cond=cond, info={"requested": requested})

    def decode(self, x: Tensor, plan: SamplePlan) -> PointTable:
        """Vectors ``x * std + mean`` with the requested conditions as per-row columns."""
        s = self._require_stats()
        values = x.detach().double().cpu().numpy() * np.asarray(s["std"]) + np.asarray(s["mean"])
        return PointTable(x=values, columns=list(s["columns"]), conditions=dict(plan.info.get("requested", {})))

    def write(self, samples: PointTable, path: str | Path) -> Path:
        """CSV (the feature columns, then the requested conditions), or a PNG scatter plot
        when ``path`` ends in ``.png``."""
        if str(path).lower().endswith(".png"):
            return plot_points(samples, path)
        return write_points(samples, path)

    def read(self, path: str | Path) -> PointTable:
        """The points of a CSV :meth:`write` produced, with the requested conditions its
        condition columns hold (numeric ones as floats, classes as strings)."""
        s = self._require_stats()
        return read_points(path, s["columns"], s["conditions"])

    # --------------------------------------------------------------- design
    def items(self, samples: PointTable) -> list[np.ndarray]:
        """One vector ``(d,)`` per sample."""
        return [row for row in np.asarray(samples.x)]

    def collect(self, items: Sequence[np.ndarray]) -> PointTable:
        s = self._require_stats()
        x = np.stack([np.asarray(v, dtype=np.float64) for v in items]) if items else np.zeros((0, s["dim"]))
        return PointTable(x=x, columns=list(s["columns"]))

    def candidate_key(self, item: np.ndarray) -> str | None:
        """The vector to 6 significant digits (None if any entry is not finite)."""
        v = np.asarray(item, dtype=np.float64)
        return None if not np.isfinite(v).all() else ",".join(f"{x:.6g}" for x in v)

    def candidate_bucket(self, item: np.ndarray) -> str | None:
        """A cell of a grid of a quarter train-std on every axis."""
        s = self._require_stats()
        cell = np.floor((np.asarray(item) - np.asarray(s["mean"])) / (0.25 * np.asarray(s["std"]))).astype(int)
        return ",".join(str(c) for c in cell)

    def featurise(self, items: Sequence[np.ndarray]) -> Batch:
        return Batch(x=self.encode_x(np.stack([np.asarray(v, dtype=np.float64) for v in items])))

    def readout(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Normalised states back in the data's units: ``x * std + mean``."""
        s = self._require_stats()
        return x * torch.as_tensor(s["std"], dtype=x.dtype) + torch.as_tensor(s["mean"], dtype=x.dtype)

    def design_oracles(self) -> dict[str, Any]:
        from domains.points.oracles import VectorExpression, VectorFunction

        return {"expression": VectorExpression, "function": VectorFunction}

    # -------------------------------------------------------------- metrics
    def figures(self, samples: PointTable, stem: Path, split: str = "test") -> list[Path]:
        """``<stem>_points.png``: the samples over the ``split``'s points, and per requested
        class over that class's points (:mod:`domains.points.figures`)."""
        from domains.points.figures import scatter_figure, scatter_panels

        if split not in SPLITS:
            raise GensciError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        specs = self._require_stats()["conditions"]
        categorical = [spec["name"] for spec in specs if spec["kind"] != "numeric"]
        panels = scatter_panels(samples, self._load_tables()[split], categorical, split)
        columns = list(self._require_stats()["columns"]) + [""]
        return [scatter_figure(panels, Path(stem).parent / f"{Path(stem).name}_points.png", (columns[0], columns[1]))]

    def evaluate(self, samples: PointTable, split: str = "test") -> dict[str, float]:
        tables = self._load_tables()
        return point_metrics(samples, tables["train"], tables[split], self._require_stats()["conditions"])


def _take(table: PointTable, idx: np.ndarray) -> PointTable:
    return PointTable(x=table.x[idx], columns=table.columns, conditions={k: v[idx] for k, v in table.conditions.items()})

