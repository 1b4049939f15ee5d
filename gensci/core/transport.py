"""Small optimal-transport helpers shared by couplings, bridges and metrics.

* Costs: squared Euclidean distances between flattened states (wrapped per coordinate
  on the torus), and the condition cost of C2OT (Cheng et al. 2025, arXiv 2503.10636):
  ``lambda * d(c_i, c_j)`` with ``d`` the squared difference for numeric conditions and
  the 0/1 mismatch for categorical ones; a NaN on either side contributes nothing.
* Solvers: the exact assignment (POT's network simplex, or scipy's
  ``linear_sum_assignment``), the exact plan (POT ``ot.emd``) and the entropic plan (POT
  ``ot.sinkhorn``), all in float64. They are deterministic; sampling from a plan uses
  torch and an explicit generator.
* :func:`wasserstein2`: ``W2(a, b) = sqrt(min_P sum_ij P_ij ||a_i - b_j||^2)`` with
  uniform weights, solved exactly by ``ot.emd2``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Collection

import numpy as np
import ot
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from gensci.core.spaces import Space
from gensci.core.state import State

__all__ = [
    "pairwise_sq_dist",
    "condition_cost",
    "exact_assignment",
    "emd_plan",
    "sinkhorn_plan",
    "sample_from_plan",
    "wasserstein2",
]


def _flat(x: Tensor) -> Tensor:
    return x.reshape(x.shape[0], -1).double()


def pairwise_sq_dist(a: Tensor, b: Tensor, space: Space | None = None) -> Tensor:
    """``C_ij = ||a_i ⊖ b_j||^2`` over flattened states ``(n, ...)``, ``(m, ...)`` → ``(n, m)``.

    Float64. The difference is ``space.difference`` when the space overrides it (the torus
    wraps each coordinate); otherwise the plain difference via
    ``||a||^2 + ||b||^2 - 2 a·b`` (clamped at 0).

    For :class:`~gensci.core.state.State` records the cost is the sum over the continuous
    fields, each with its own space (``space.spaces`` of a product space):
    ``C_ij = sum_f ||a^f_i ⊖ b^f_j||^2``; categorical fields add nothing.
    """
    if isinstance(a, State):
        spaces = getattr(space, "spaces", {})
        total: Tensor | None = None
        for name in a.keys():
            field_space = spaces.get(name)
            if field_space is not None and not field_space.continuous:
                continue
            d = pairwise_sq_dist(a[name], b[name], field_space)
            total = d if total is None else total + d
        if total is None:
            raise ValueError("a transport cost between records needs at least one continuous field")
        return total
    fa, fb = _flat(a), _flat(b)
    if space is not None and type(space).difference is not Space.difference:
        rows = []
        chunk = max(1, 2**22 // max(1, fb.numel()))
        for i in range(0, fa.shape[0], chunk):
            d = space.difference(fa[i : i + chunk, None, :], fb[None, :, :])
            rows.append(d.pow(2).sum(-1))
        return torch.cat(rows, dim=0)
    sq = fa.pow(2).sum(1, keepdim=True) + fb.pow(2).sum(1)[None, :] - 2.0 * fa @ fb.T
    return sq.clamp_min(0.0)


def condition_cost(
    cond_a: dict[str, Tensor] | None,
    cond_b: dict[str, Tensor] | None,
    categorical: Collection[str] = (),
    keys: Collection[str] | None = None,
) -> Tensor | None:
    """``D_ij = sum_k d_k(a_i, b_j)`` over the named conditions; ``None`` without conditions.

    ``d_k`` is ``(a - b)^2`` for numeric conditions and ``[a != b]`` for the names in
    ``categorical``; vector-valued conditions ``(B, k)`` sum over their features. A NaN on
    either side (a missing or dropped label) gives 0.
    """
    if not cond_a or not cond_b:
        return None
    names = [k for k in cond_a if k in cond_b and (keys is None or k in keys)]
    if not names:
        return None
    total: Tensor | None = None
    for k in names:
        a = cond_a[k].double().reshape(cond_a[k].shape[0], -1)
        b = cond_b[k].double().reshape(cond_b[k].shape[0], -1)
        ai, bj = a[:, None, :], b[None, :, :]
        d = (ai != bj).double() if k in categorical else (ai - bj).pow(2)
        d = torch.where(torch.isnan(ai) | torch.isnan(bj), torch.zeros_like(d), d).sum(-1)
        total = d if total is None else total + d
    return total


def exact_assignment(cost: Tensor) -> Tensor:
    """For each column ``j`` of ``cost`` ``(n, m)``, ``n >= m``, the row it is matched to.

    Minimises ``sum_j cost[idx_j, j]`` over injective ``idx`` (an ``inf`` entry forbids a
    pair). Returns a long tensor ``(m,)``. A square, finite cost is solved by the network
    simplex (POT ``ot.emd`` with unit masses, whose optimal vertex is a permutation): on
    dense low-dimensional costs it is several times faster than the shortest augmenting
    path (e.g. 68 ms against 300 ms at n = 1024 in 2D). Otherwise, or if the simplex stops
    short of optimality, ``scipy.optimize.linear_sum_assignment``.
    """
    n, m = cost.shape
    if n < m:
        raise ValueError(f"exact assignment needs at least as many rows as columns, got {n} < {m}")
    c = cost.detach().cpu().double().numpy()
    if n == m and np.isfinite(c).all():
        plan, log = ot.emd(np.ones(n), np.ones(m), c, numItermax=10_000_000, log=True)
        idx = plan.argmax(0)
        if log["result_code"] == 1 and (plan[idx, np.arange(m)] > 0.5).all() and np.unique(idx).size == m:
            return torch.as_tensor(idx, dtype=torch.long).to(cost.device)
    rows, cols = linear_sum_assignment(c.T)
    idx = torch.empty(m, dtype=torch.long)
    idx[torch.as_tensor(rows)] = torch.as_tensor(cols, dtype=torch.long)
    return idx.to(cost.device)


def _finite_cost(cost: Tensor) -> np.ndarray:
    """Replace ``inf`` (forbidden pairs) by a penalty larger than any feasible plan's cost."""
    c = cost.detach().cpu().double().numpy()
    bad = ~np.isfinite(c)
    if bad.any():
        finite = c[~bad]
        big = (np.abs(finite).max() if finite.size else 1.0) * (c.shape[0] + c.shape[1]) * 10.0 + 1.0
        c = np.where(bad, big, c)
    return c


def emd_plan(cost: Tensor) -> Tensor:
    """The exact OT plan ``(n, m)`` between uniform weights (POT ``ot.emd``), float64."""
    n, m = cost.shape
    plan = ot.emd(np.full(n, 1.0 / n), np.full(m, 1.0 / m), _finite_cost(cost), numItermax=10_000_000)
    return torch.as_tensor(plan, device=cost.device)


def _marginal_error(plan: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return float(max(np.abs(plan.sum(1) - a).max() / a.max(), np.abs(plan.sum(0) - b).max() / b.max()))


def sinkhorn_plan(cost: Tensor, reg: float, num_iter: int = 1000, tol: float = 1e-3) -> Tensor:
    """The entropic OT plan ``argmin <P, C> + reg * KL(P | a b^T)`` with uniform ``a, b``.

    ``P = diag(u) exp(-C / reg) diag(v)`` (Cuturi 2013, arXiv 1306.0895), float64 via POT.
    The fast kernel iterations run first; if the plan is not finite or its marginals are
    off by more than ``tol`` (relative), the log-domain solver runs with ten times the
    iterations. If that plan is finite but still off, it is used with a
    ``RuntimeWarning``; if it is not finite (e.g. a point with no allowed partner), a
    ``RuntimeWarning`` is raised and the independent plan over the allowed pairs (finite
    cost) is returned.
    """
    if reg <= 0:
        raise ValueError(f"Sinkhorn needs reg > 0, got {reg}")
    n, m = cost.shape
    a, b = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    c = cost.detach().cpu().double().numpy()
    plan = None
    for method, iters in (("sinkhorn", num_iter), ("sinkhorn_log", 10 * num_iter)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with np.errstate(all="ignore"):
                plan = ot.sinkhorn(a, b, c, reg, method=method, numItermax=iters, stopThr=1e-9, warn=False)
        ok = bool(np.all(np.isfinite(plan)) and plan.sum() > 0)
        if ok and _marginal_error(plan, a, b) <= tol:
            return torch.as_tensor(plan, device=cost.device)
    scale = np.nanmax(np.where(np.isfinite(c), c, np.nan)) if np.isfinite(c).any() else np.inf
    if ok:
        warnings.warn(
            f"Sinkhorn did not converge (reg={reg:g}, cost scale {scale:.3g}, marginal error "
            f"{_marginal_error(plan, a, b):.2g}); using the approximate plan. Raise reg or normalise the data.",
            RuntimeWarning,
            stacklevel=2,
        )
    else:
        warnings.warn(
            f"Sinkhorn failed (reg={reg:g}, cost scale {scale:.3g}): the plan is not finite; "
            "using the independent plan over allowed pairs. Raise reg or check the forbidden pairs.",
            RuntimeWarning,
            stacklevel=2,
        )
        plan = np.isfinite(c).astype(np.float64)
        plan /= plan.sum()
    return torch.as_tensor(plan, device=cost.device)


def sample_from_plan(plan: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """For each column ``j`` draw a row ``i ~ P[:, j] / sum_i P[i, j]``; a long tensor ``(m,)``."""
    probs = plan.T.double().clamp_min(0.0)
    probs = torch.where(probs.sum(1, keepdim=True) > 0, probs, torch.ones_like(probs))
    dev = generator.device if generator is not None else plan.device
    return torch.multinomial(probs.to(dev), 1, replacement=True, generator=generator).squeeze(1).to(plan.device)


def wasserstein2(a: Tensor, b: Tensor) -> float:
    """Exact ``W2`` between point sets ``(n, ...)`` and ``(m, ...)`` with uniform weights.

    ``W2 = sqrt(min_{P in U(1/n, 1/m)} sum_ij P_ij ||a_i - b_j||^2)`` (POT ``ot.emd2``).
    """
    cost = pairwise_sq_dist(a, b).cpu().numpy()
    n, m = cost.shape
    w = ot.emd2(np.full(n, 1.0 / n), np.full(m, 1.0 / m), cost, numItermax=10_000_000)
    return math.sqrt(max(float(w), 0.0))
