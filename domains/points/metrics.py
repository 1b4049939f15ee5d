"""Metrics of sampled points.

* ``w2``: the exact 2-Wasserstein distance between samples and held-out data,
  ``W2 = (min_pi sum_ij pi_ij ||x_i - y_j||^2)^(1/2)`` (POT's network simplex), on at most
  2000 points of each.
* For each categorical condition requested at sampling, ``<name>_accuracy``: the share of
  samples that a k-nearest-neighbour oracle, fitted on the train split, assigns to the
  requested class; ``<name>_oracle_accuracy`` is that oracle's own accuracy on the held-out
  split (its ceiling).
* For each numeric condition, ``<name>_mae`` between requested and oracle-predicted values
  (k-NN regression) and ``<name>_oracle_mae`` on the held-out split.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from domains.points.data import PointTable
from gensci.core.transport import wasserstein2

__all__ = ["point_metrics", "knn_predict"]

MAX_W2_POINTS = 2000


def knn_predict(train_x: np.ndarray, train_y: np.ndarray, query: np.ndarray, k: int = 5, categorical: bool = True) -> np.ndarray:
    """Majority vote (classes) or mean (numbers) of the ``k`` nearest train points."""
    ref = torch.as_tensor(train_x, dtype=torch.float64)
    out = []
    for start in range(0, len(query), 2048):
        q = torch.as_tensor(query[start : start + 2048], dtype=torch.float64)
        idx = torch.cdist(q, ref).topk(k, largest=False).indices.numpy()
        neigh = train_y[idx]
        if categorical:
            for row in neigh:
                values, counts = np.unique(row.astype(str), return_counts=True)
                out.append(values[np.argmax(counts)])
        else:
            out.extend(neigh.astype(np.float64).mean(axis=1))
    return np.asarray(out, dtype=object if categorical else np.float64)


def _subsample(x: np.ndarray, n: int, seed: int) -> np.ndarray:
    if len(x) <= n:
        return x
    return x[np.random.default_rng(seed).choice(len(x), n, replace=False)]


def point_metrics(samples: PointTable, train: PointTable, held_out: PointTable, specs: list[dict[str, Any]]) -> dict[str, float]:
    """W2 to ``held_out``, and oracle control metrics for each requested condition."""
    out: dict[str, float] = {"n_samples": float(len(samples))}
    finite = np.isfinite(samples.x).all(axis=1)
    out["finite_fraction"] = float(finite.mean())
    requested = {k: v for k, v in samples.conditions.items()}
    a = samples.x[finite]
    if requested:
        # a conditional sample is compared with the held-out points of the same condition
        mask = np.ones(len(held_out), dtype=bool)
        for name, values in requested.items():
            uniq = {str(v) for v in values}
            if len(uniq) == 1 and name in held_out.conditions:
                mask &= np.asarray([str(v) for v in held_out.conditions[name]]) == uniq.pop()
        b = held_out.x[mask]
    else:
        b = held_out.x
    if len(a) and len(b):
        out["w2"] = wasserstein2(torch.as_tensor(_subsample(a, MAX_W2_POINTS, 0)), torch.as_tensor(_subsample(b, MAX_W2_POINTS, 1)))
    for spec in specs:
        name = spec["name"]
        if name not in requested or name not in train.conditions:
            continue
        keep = np.array([v is not None and v == v for v in train.conditions[name]])
        categorical = spec["kind"] == "categorical"
        ytrain = train.conditions[name][keep]
        if categorical:
            ytrain = ytrain.astype(str)
        pred = knn_predict(train.x[keep], ytrain, samples.x[finite], categorical=categorical)
        want = np.asarray(requested[name])[finite]
        hkeep = np.array([v is not None and v == v for v in held_out.conditions[name]])
        hpred = knn_predict(train.x[keep], ytrain, held_out.x[hkeep], categorical=categorical)
        htrue = held_out.conditions[name][hkeep]
        if categorical:
            out[f"{name}_accuracy"] = float(np.mean(pred.astype(str) == want.astype(str)))
            out[f"{name}_oracle_accuracy"] = float(np.mean(hpred.astype(str) == htrue.astype(str)))
        else:
            out[f"{name}_mae"] = float(np.mean(np.abs(pred - want.astype(np.float64))))
            out[f"{name}_oracle_mae"] = float(np.mean(np.abs(hpred - htrue.astype(np.float64))))
    return out
