r"""Example sizes drawn given the requested conditions: ``p(n | c)`` from the training data.

Many properties are mostly a matter of size (QM9's polarisability alpha and heat capacity Cv
grow with the atom count), and a network that is handed its atom count cannot change it. Asking
for a large alpha with a size drawn from the unconditional histogram ``p(n)`` asks for the
impossible, so the size is drawn from ``p(n | c)`` instead, as EDM does (Hoogeboom et al. 2022,
whose conditional sampling draws ``n`` and the property jointly from the training pairs).

For each numeric condition ``k`` the training values are cut into ``B`` quantile bins and the
joint counts ``N_k[n, b]`` kept (:func:`size_table`). For requested values ``c_1 .. c_K`` in
bins ``b_1 .. b_K`` (a value outside the training range falls in the end bin), the conditions
are taken as independent given the size (naive Bayes, exact for one condition):

.. math::

    p(n \mid c_1, \dots, c_K) \propto p(n) \prod_k \frac{N_k[n, b_k] + a / B}{N_k[n] + a},

a Dirichlet prior of total weight ``a`` spread evenly over the bins (:func:`size_histogram_given`),
so that a size seen a few times only is not ruled in or out by its handful of examples; sizes
absent from training keep weight 0. With one condition and ``a = 0`` this is the empirical ``N[n, b] / N[., b]``.
Categorical conditions and conditions absent from the table leave ``p(n)`` as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from gensci.errors import GensciError

__all__ = ["size_table", "size_histogram_given"]


def size_table(sizes: Tensor, values: Mapping[str, Tensor], bins: int = 20) -> dict[str, dict[str, Any]]:
    """For each condition in ``values`` (one value per example, NaN where unknown): the inner
    quantile edges of its ``bins`` bins (``edges``, ``bins - 1`` numbers, fewer where quantiles
    coincide) and the joint counts ``counts[n][b]`` of size ``n`` and bin ``b`` (JSON-ready)."""
    if bins < 1:
        raise GensciError(f"bins must be positive, got {bins}")
    sizes = torch.as_tensor(sizes).long()
    n_sizes = int(sizes.max()) + 1 if len(sizes) else 1
    table = {}
    for name, raw in values.items():
        v = torch.as_tensor(raw, dtype=torch.float64)
        if v.shape != sizes.shape:
            raise GensciError(f"condition {name!r}: {tuple(v.shape)} values for {tuple(sizes.shape)} sizes")
        known = torch.isfinite(v)
        v, s = v[known], sizes[known]
        if len(v) == 0:
            continue
        q = torch.linspace(0, 1, bins + 1, dtype=torch.float64)[1:-1]
        edges = torch.unique(torch.quantile(v, q)) if bins > 1 else torch.zeros(0, dtype=torch.float64)
        b = torch.bucketize(v, edges, right=True)
        counts = torch.zeros(n_sizes, len(edges) + 1, dtype=torch.float64)
        counts.index_put_((s, b), torch.ones_like(v), accumulate=True)
        table[name] = {"edges": edges.tolist(), "counts": counts.tolist()}
    return table


def size_histogram_given(histogram: Tensor | list[float], table: Mapping[str, dict[str, Any]] | None,
                         requested: Mapping[str, Any], pseudo: float = 1.0) -> Tensor:
    """The size histogram ``p(n)`` reweighted to ``p(n | requested)`` (module docstring); the
    histogram unchanged when no requested numeric condition is in ``table``. ``pseudo`` is the
    prior's total weight ``a`` per size."""
    hist = torch.as_tensor(histogram, dtype=torch.float64).clone()
    if not table or not requested:
        return hist
    weight = torch.ones_like(hist)
    for name, value in requested.items():
        entry = table.get(name)
        if entry is None or not isinstance(value, (int, float)) or value != value:
            continue
        table_counts = torch.tensor(entry["counts"], dtype=torch.float64)
        counts = torch.zeros(len(hist), table_counts.shape[1], dtype=torch.float64)
        n = min(len(hist), len(table_counts))
        counts[:n] = table_counts[:n]
        edges = torch.tensor(entry["edges"], dtype=torch.float64)
        b = int(torch.bucketize(torch.tensor(float(value), dtype=torch.float64), edges, right=True))
        denominator = counts.sum(dim=1) + pseudo
        weight *= torch.where(denominator > 0, (counts[:, b] + pseudo / counts.shape[1]) / denominator.clamp_min(1e-300), 0.0)
    out = hist * weight
    return out if out.sum() > 0 else hist
