"""Pareto selection over several objectives, with pymoo's non-dominated sorting.

A candidate ``a`` dominates ``b`` when it is at least as good on every objective and
better on one (Deb et al., "A fast and elitist multiobjective genetic algorithm: NSGA-II",
IEEE TEVC 2002). Values are oriented so that larger is better
(:meth:`gensci.inverse.objectives.Objective.oriented`); pymoo minimises, so it receives
their negatives. The hypervolume (Zitzler & Thiele 1998) is the volume, in oriented
units, that the front dominates above a reference point.
"""

from __future__ import annotations

import numpy as np

from gensci.errors import GensciError

__all__ = ["pareto_ranks", "pareto_front", "hypervolume"]


def _finite_rows(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise GensciError(f"Pareto selection needs (candidates, objectives) values, got shape {v.shape}")
    return np.isfinite(v).all(axis=1)


def pareto_ranks(values: np.ndarray) -> np.ndarray:
    """The non-domination rank of each row of ``values`` ``(n, k)`` (larger is better):
    0 for the first front, 1 for the next ...; -1 for rows with a failed (NaN) value."""
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    v = np.asarray(values, dtype=np.float64)
    ranks = np.full(len(v), -1, dtype=np.int64)
    ok = np.flatnonzero(_finite_rows(v))
    if ok.size == 0:
        return ranks
    fronts = NonDominatedSorting().do(-v[ok])
    for r, front in enumerate(fronts):
        ranks[ok[np.asarray(front, dtype=np.int64)]] = r
    return ranks


def pareto_front(values: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows of ``values`` (larger is better), sorted."""
    return np.flatnonzero(pareto_ranks(values) == 0)


def hypervolume(values: np.ndarray, reference: np.ndarray) -> float:
    """The hypervolume the rows of ``values`` (larger is better) dominate above ``reference``
    (rows not above it on every objective add nothing)."""
    from pymoo.indicators.hv import HV

    v = np.asarray(values, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    v = v[_finite_rows(v)]
    v = v[(v > ref).all(axis=1)] if v.size else v
    if v.size == 0:
        return 0.0
    return float(HV(ref_point=-ref)(-v))
