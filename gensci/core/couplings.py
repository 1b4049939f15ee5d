"""Couplings: how source samples x0 are paired with data samples x1 in a minibatch.

The data ``x1`` and its conditions keep their order; a coupling reorders or resamples
``x0`` (and may attach per-pair loss weights). All costs are on flattened states.

* :class:`IndependentCoupling` — ``pi = mu ⊗ nu`` (I-CFM; Lipman et al. 2023,
  arXiv 2210.02747; Tong et al. 2023, arXiv 2302.00482).
* :class:`ExactOTCoupling` — minibatch OT with cost ``||x0 - x1||^2`` solved as an
  assignment, a permutation of x0 (OT-CFM; Tong et al. 2023; Pooladian et al. 2023).
* :class:`SinkhornCoupling` — the entropic plan ``P = argmin <P, C> + reg KL(P | ab^T)``;
  each x1 draws its x0 from its column of P. ``reg = 2 sigma^2`` is the static
  Schrödinger-bridge plan ([SF]²M, Tong et al. 2023, arXiv 2307.03672).
* :class:`PairedCoupling` — the identity, for data that comes in pairs (bridge matching).
* :class:`GibbsWeightedCoupling` — W-CFM (Calvo-Ordoñez et al. 2025, arXiv 2507.22270):
  independent pairs with weights ``w = exp(-||x0 - x1|| / eps)``, optionally corrected so
  that the weighted measure keeps the marginals (see the class).

Condition cost (C2OT, Cheng et al. 2025, arXiv 2503.10636): every coupling takes
``cond_weight = lambda``. The source sample ``x0_i`` inherits the condition ``c_i`` of the
``x1_i`` it was drawn beside, and the cost of the pair ``(x0_i, x1_j)`` gains
``lambda * d(c_i, c_j)`` (see :func:`gensci.core.transport.condition_cost`);
``lambda = inf`` never pairs across different conditions. Masks of variable-size states
are accepted and currently ignored by the costs.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass, field

import torch
from torch import Tensor

from gensci.core.process import Condition
from gensci.core.spaces import Space
from gensci.core.transport import (
    condition_cost,
    emd_plan,
    exact_assignment,
    pairwise_sq_dist,
    sample_from_plan,
    sinkhorn_plan,
)

__all__ = [
    "Pairing",
    "Coupling",
    "IndependentCoupling",
    "ExactOTCoupling",
    "SinkhornCoupling",
    "PairedCoupling",
    "GibbsWeightedCoupling",
]


@dataclass
class Pairing:
    """A coupled minibatch: ``x0[i]`` goes with ``x1[i]`` and ``cond[k][i]``."""

    x0: Tensor = field(metadata={"help": "source samples, reordered to match x1"})
    x1: Tensor = field(metadata={"help": "data samples, in their given order"})
    cond: Condition | None = field(default=None, metadata={"help": "conditions of x1"})
    weight: Tensor | None = field(default=None, metadata={"help": "per-pair loss weights (B,)"})
    index: Tensor | None = field(default=None, metadata={"help": "row of the given x0 used for each x1"})
    logs: dict[str, Tensor] = field(default_factory=dict, metadata={"help": "detached diagnostics"})


class Coupling(ABC):
    """Pair a source batch ``x0`` ``(n0, ...)`` with a data batch ``x1`` ``(n1, ...)``."""

    #: whether the caller must supply x0 (given pairs) rather than a prior draw
    requires_x0: bool = False

    def __init__(
        self,
        cond_weight: float = 0.0,
        categorical: Collection[str] = (),
        cond_keys: Collection[str] | None = None,
    ):
        if not cond_weight >= 0:
            raise ValueError(f"cond_weight must be >= 0 (or inf), got {cond_weight}")
        self.cond_weight = float(cond_weight)
        self.categorical = frozenset(categorical)
        self.cond_keys = None if cond_keys is None else frozenset(cond_keys)

    def cond_cost(self, n0: int, cond: Condition | None) -> Tensor | None:
        """``lambda * d(c_i, c_j)`` ``(n0, n1)``, with ``x0_i`` carrying ``c_i`` (NaN past n1)."""
        if self.cond_weight == 0.0 or not cond:
            return None
        src = {}
        for k, v in cond.items():
            pad = v.new_full((max(0, n0 - v.shape[0]),) + tuple(v.shape[1:]), float("nan"), dtype=torch.float64)
            src[k] = torch.cat([v.double()[:n0], pad])
        d = condition_cost(src, cond, self.categorical, self.cond_keys)
        if d is None:
            return None
        if math.isinf(self.cond_weight):
            return torch.where(d > 0, torch.full_like(d, math.inf), torch.zeros_like(d))
        return self.cond_weight * d

    def cost(self, x0: Tensor, x1: Tensor, cond: Condition | None = None, space: Space | None = None) -> Tensor:
        """``C_ij = ||x0_i ⊖ x1_j||^2 + lambda d(c_i, c_j)``, float64 ``(n0, n1)``."""
        c = pairwise_sq_dist(x0, x1, space)
        d = self.cond_cost(x0.shape[0], cond)
        return c if d is None else c + d.to(c.device)

    @abstractmethod
    def __call__(
        self, x0: Tensor, x1: Tensor, cond: Condition | None = None, generator: torch.Generator | None = None,
        mask: Tensor | None = None, space: Space | None = None,
    ) -> Pairing:
        """Return ``x0`` reordered (or resampled) to pair with ``x1``, plus optional weights."""

    def _pair(self, x0: Tensor, x1: Tensor, idx: Tensor, cond: Condition | None, cost: Tensor) -> Pairing:
        """``x0[idx]`` beside ``x1``; logs the mean cost of the chosen pairs."""
        pair_cost = cost[idx, torch.arange(x1.shape[0], device=cost.device)].mean().float()
        return Pairing(x0=x0[idx.to(x0.device)], x1=x1, cond=cond, index=idx, logs={"coupling/cost": pair_cost})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(cond_weight={self.cond_weight:g})"


class IndependentCoupling(Coupling):
    """``pi = mu ⊗ nu``: the pairs as drawn (resampled uniformly if the sizes differ).

    The condition cost has no effect here: nothing is reordered.
    """

    @torch.no_grad()
    def __call__(self, x0, x1, cond=None, generator=None, mask=None, space=None) -> Pairing:
        n0, n1 = x0.shape[0], x1.shape[0]
        if n0 == n1:
            return Pairing(x0=x0, x1=x1, cond=cond, index=torch.arange(n1, device=x0.device))
        dev = generator.device if generator is not None else x0.device
        idx = torch.randint(0, n0, (n1,), generator=generator, device=dev).to(x0.device)
        return Pairing(x0=x0[idx], x1=x1, cond=cond, index=idx)


class ExactOTCoupling(Coupling):
    """Minibatch exact OT on ``C_ij = ||x0_i - x1_j||^2 (+ lambda d(c_i, c_j))``.

    With ``n0 >= n1`` this is an assignment (Hungarian): every x1 gets a distinct x0 and
    ``sum_j C_{idx_j, j}`` is minimal. With fewer x0 than x1 the exact plan (``ot.emd``)
    is sampled column by column.
    """

    @torch.no_grad()
    def __call__(self, x0, x1, cond=None, generator=None, mask=None, space=None) -> Pairing:
        cost = self.cost(x0, x1, cond, space)
        if x0.shape[0] >= x1.shape[0]:
            idx = exact_assignment(cost)
        else:
            idx = sample_from_plan(emd_plan(cost), generator)
        return self._pair(x0, x1, idx, cond, cost)


class SinkhornCoupling(Coupling):
    """The entropic plan ``P = diag(u) exp(-C / reg) diag(v)`` with uniform marginals.

    Each ``x1_j`` draws its partner ``i ~ P[:, j] / sum_i P_ij`` with the generator, so a
    source sample may be used twice. ``reg`` is in the units of the cost (squared
    distance): ``reg = 2 sigma^2`` gives the static Schrödinger-bridge plan for a Brownian
    reference ``sigma W``.
    """

    def __init__(self, reg: float = 1.0, num_iter: int = 1000, **kwargs):
        super().__init__(**kwargs)
        if reg <= 0:
            raise ValueError(f"SinkhornCoupling needs reg > 0, got {reg}")
        self.reg = float(reg)
        self.num_iter = int(num_iter)

    def plan(self, x0: Tensor, x1: Tensor, cond: Condition | None = None, space: Space | None = None) -> Tensor:
        """The entropic plan ``(n0, n1)`` (float64, sums to 1)."""
        return sinkhorn_plan(self.cost(x0, x1, cond, space), self.reg, self.num_iter)

    @torch.no_grad()
    def __call__(self, x0, x1, cond=None, generator=None, mask=None, space=None) -> Pairing:
        cost = self.cost(x0, x1, cond, space)
        idx = sample_from_plan(sinkhorn_plan(cost, self.reg, self.num_iter), generator)
        return self._pair(x0, x1, idx, cond, cost)

    def __repr__(self) -> str:
        return f"SinkhornCoupling(reg={self.reg:g}, cond_weight={self.cond_weight:g})"


class PairedCoupling(Coupling):
    """The identity: ``x0[i]`` was given as the partner of ``x1[i]`` (bridge matching)."""

    requires_x0 = True

    def __call__(self, x0, x1, cond=None, generator=None, mask=None, space=None) -> Pairing:
        if x0.shape[0] != x1.shape[0]:
            raise ValueError(f"paired data needs equal batch sizes, got {x0.shape[0]} and {x1.shape[0]}")
        return Pairing(x0=x0, x1=x1, cond=cond, index=torch.arange(x1.shape[0], device=x0.device))


class GibbsWeightedCoupling(Coupling):
    r"""W-CFM: independent pairs with Gibbs weights (Calvo-Ordoñez et al. 2025, arXiv 2507.22270).

    Naive weights (``marginal_correction = 0``), computed under ``no_grad``:

    .. math:: w_i = \exp(-\|x0_i - x1_i\| / \varepsilon), \qquad \varepsilon = \kappa \sqrt{d}

    with ``d`` the flattened state dimension (the norm, not its square). The weighted
    measure ``w · mu ⊗ nu`` is the entropic plan of the cost ``||x - y||`` up to a tilt of
    its marginals: its x0-marginal is ``mu(x) E_nu[w(x, y)]``, not ``mu``.

    Marginal correction (``marginal_correction = k > 0``): the entropic plan is
    ``f(x) K(x, y) g(y) mu ⊗ nu``, with scalings f, g that restore the marginals. They are
    estimated on the minibatch with ``k`` Sinkhorn iterations on
    ``K_ij = exp(-(||x0_i - x1_j|| + lambda d(c_i, c_j)) / eps)`` (log domain, O(k B^2),
    no assignment), giving the batch plan ``P = diag(f) K diag(g)`` with rows and columns
    summing to ``1/B``. Each independent (diagonal) pair is then weighted by
    ``w_i ∝ f_i K_ii g_i`` — the importance weight of ``P`` against the independent
    coupling — so the weighted pairs follow the entropic plan with untilted marginals at
    I-CFM's sampling cost. The condition cost only enters through this correction: a
    diagonal pair always shares its condition.

    Weights are normalised to mean 1 in the batch (``normalize=True``); this only rescales
    the learning rate. Logged: ``coupling/ess``, the effective-sample-size fraction
    ``(sum w)^2 / (B sum w^2)`` in ``(0, 1]`` (1 = uniform weights), and
    ``coupling/mean_weight``, the mean of the unnormalised weights (``B^2 f_i K_ii g_i``
    with the correction).
    """

    def __init__(
        self,
        kappa: float = 1.0,
        eps: float | None = None,
        marginal_correction: int = 0,
        normalize: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if kappa <= 0 or (eps is not None and eps <= 0):
            raise ValueError(f"W-CFM needs kappa > 0 and eps > 0, got kappa={kappa}, eps={eps}")
        if marginal_correction < 0:
            raise ValueError(f"marginal_correction counts iterations, got {marginal_correction}")
        self.kappa = float(kappa)
        self.eps = None if eps is None else float(eps)
        self.marginal_correction = int(marginal_correction)
        self.normalize = normalize

    def epsilon(self, x: Tensor) -> float:
        """``eps`` if given, else ``kappa * sqrt(d)`` with ``d`` the flattened state size."""
        return self.eps if self.eps is not None else self.kappa * math.sqrt(x[0].numel())

    def log_kernel(self, x0: Tensor, x1: Tensor, cond: Condition | None = None, space: Space | None = None) -> Tensor:
        """``log K_ij = -(||x0_i - x1_j|| + lambda d(c_i, c_j)) / eps``, float64."""
        c = pairwise_sq_dist(x0, x1, space).sqrt()
        d = self.cond_cost(x0.shape[0], cond)
        if d is not None:
            c = c + d.to(c.device)
        return -c / self.epsilon(x1)

    def scalings(self, log_k: Tensor, iters: int | None = None) -> tuple[Tensor, Tensor]:
        """Log scalings ``(log f, log g)`` after ``iters`` Sinkhorn sweeps (column sums exact).

        The sweeps run on the kernel ``K = exp(log K)`` (two mat-vecs each, float64; ``K <= 1``
        since the costs are non-negative), which is 5-10 times faster than ``logsumexp``
        sweeps; if a scaling leaves ``(0, inf)`` (a row or column of ``K`` underflowed), they
        run again in the log domain.
        """
        n, m = log_k.shape
        iters = self.marginal_correction if iters is None else iters
        log_f, log_g = log_k.new_zeros(n), log_k.new_zeros(m)
        if iters == 0:
            return log_f, log_g
        k = torch.exp(log_k)
        f, g = k.new_ones(n), k.new_ones(m)
        for _ in range(iters):
            f = 1.0 / (n * (k @ g))
            g = 1.0 / (m * (k.T @ f))
        if bool(torch.isfinite(f).all() and torch.isfinite(g).all() and (f > 0).all() and (g > 0).all()):
            return f.log(), g.log()
        for _ in range(iters):
            log_f = -math.log(n) - torch.logsumexp(log_k + log_g[None, :], dim=1)
            log_g = -math.log(m) - torch.logsumexp(log_k + log_f[:, None], dim=0)
        return log_f, log_g

    @torch.no_grad()
    def plan(self, x0: Tensor, x1: Tensor, cond: Condition | None = None, space: Space | None = None) -> Tensor:
        """The corrected batch plan ``diag(f) K diag(g)`` (float64) that the weights importance-sample."""
        log_k = self.log_kernel(x0, x1, cond, space)
        log_f, log_g = self.scalings(log_k)
        return torch.exp(log_f[:, None] + log_k + log_g[None, :])

    @torch.no_grad()
    def __call__(self, x0, x1, cond=None, generator=None, mask=None, space=None) -> Pairing:
        n = x1.shape[0]
        if x0.shape[0] != n:
            raise ValueError(f"W-CFM weights independent pairs: batch sizes differ ({x0.shape[0]} vs {n})")
        if self.marginal_correction == 0:
            diff = space.difference(x0, x1) if space is not None else x0 - x1
            log_w = diff.reshape(n, -1).double().norm(dim=1).mul_(-1.0 / self.epsilon(x1))
        else:
            log_k = self.log_kernel(x0, x1, cond, space)
            log_f, log_g = self.scalings(log_k)
            log_w = log_f + log_k.diagonal() + log_g + 2.0 * math.log(n)
        top = log_w.max()
        w = (log_w - top).exp_()
        total = w.sum()
        ess = total * total / (n * w.square().sum())
        mean_raw = top.exp() * total / n
        weight = (w * (n / total) if self.normalize else torch.exp(log_w)).to(x1.dtype)
        logs = {"coupling/ess": ess.float(), "coupling/mean_weight": mean_raw.float()}
        return Pairing(x0=x0, x1=x1, cond=cond, weight=weight, index=torch.arange(n, device=x0.device), logs=logs)

    def __repr__(self) -> str:
        k, e, m = self.kappa, self.eps, self.marginal_correction
        return f"GibbsWeightedCoupling(kappa={k:g}, eps={e}, marginal_correction={m}, cond_weight={self.cond_weight:g})"
