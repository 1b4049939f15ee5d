r"""Schrödinger bridge and bridge matching on Brownian-bridge paths, flow + score.

[SF]²M (Tong et al. 2023, arXiv 2307.03672): the Schrödinger bridge with reference
``sigma W`` is a mixture of Brownian bridges over the static entropic plan
``pi_{2 sigma^2}``. Draw pairs from a minibatch plan (Sinkhorn with ``reg = 2 sigma^2`` for
unpaired data, exact OT, or the given pairs for bridge matching — Shi et al. 2023,
arXiv 2303.16852; Liu et al. 2023, arXiv 2302.05872), then with ``t`` in
``[t_eps, 1 - t_eps]`` and ``z ~ N(0, I)``:

.. math::
    \mu_t = (1-t) x_0 + t x_1, \quad s_t = \sigma\sqrt{t(1-t)}, \quad x_t = \mu_t + s_t z,

    u_t = \frac{1-2t}{2t(1-t)} (x_t - \mu_t) + x_1 - x_0, \qquad \lambda_t = 2 s_t / \sigma^2.

The network has two heads, ``[v, s]`` concatenated on the last axis, trained with
``||v - u_t||^2 + ||lambda_t s + z||^2``; so ``s`` learns ``(sigma^2 / 2) grad log p_t``.
Sampling: the ODE ``dx = v dt`` (same marginals), or the SDE
``dx = (v + s) dt + sigma dW``, which also reproduces the bridge's coupling.

Closed form (Janati et al. 2020, arXiv 2006.02572; Bunne et al. 2023, arXiv 2202.05722):
between ``N(a, A)`` and ``N(b, B)`` the plan has cross-covariance
``C = (A^{1/2} D A^{-1/2} - sigma^2 I) / 2``, ``D = (4 A^{1/2} B A^{1/2} + sigma^4 I)^{1/2}``,
and the bridge's marginal covariance is
``Sigma_t = (1-t)^2 A + t^2 B + t(1-t)(C + C^T + sigma^2 I)``.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

from gensci.core.couplings import (
    Coupling,
    ExactOTCoupling,
    IndependentCoupling,
    PairedCoupling,
    SinkhornCoupling,
)
from gensci.core.flow import Source, draw_source, paired_batch
from gensci.core.process import Condition, Corruption, Process, broadcast_time, masked_mean
from gensci.core.spaces import Euclidean, Space, ZeroCoM

__all__ = ["SchrodingerBridge", "gaussian_sb_coupling", "gaussian_sb_marginal_cov"]


def _sym_sqrt(m: Tensor) -> Tensor:
    vals, vecs = torch.linalg.eigh(m)
    return (vecs * vals.clamp_min(0.0).sqrt()) @ vecs.T


def gaussian_sb_coupling(A: Tensor, B: Tensor, sigma: float) -> Tensor:
    """Cross-covariance ``C_sigma`` of the entropic plan (``reg = 2 sigma^2``) between
    ``N(., A)`` and ``N(., B)``: ``(A^{1/2} D A^{-1/2} - sigma^2 I) / 2`` with
    ``D = (4 A^{1/2} B A^{1/2} + sigma^4 I)^{1/2}``. For ``A = B = I``, ``sigma = 1``:
    ``(sqrt(5) - 1) / 2 ≈ 0.618`` on the diagonal. Float64."""
    A, B = torch.as_tensor(A, dtype=torch.float64), torch.as_tensor(B, dtype=torch.float64)
    eye = torch.eye(A.shape[0], dtype=torch.float64)
    a_half = _sym_sqrt(A)
    d = _sym_sqrt(4.0 * a_half @ B @ a_half + sigma**4 * eye)
    return 0.5 * (a_half @ d @ torch.linalg.inv(a_half) - sigma**2 * eye)


def gaussian_sb_marginal_cov(A: Tensor, B: Tensor, sigma: float, t: float) -> Tensor:
    """``Sigma_t = (1-t)^2 A + t^2 B + t(1-t)(C + C^T + sigma^2 I)`` of the Gaussian bridge."""
    A, B = torch.as_tensor(A, dtype=torch.float64), torch.as_tensor(B, dtype=torch.float64)
    c = gaussian_sb_coupling(A, B, sigma)
    eye = torch.eye(A.shape[0], dtype=torch.float64)
    return (1 - t) ** 2 * A + t**2 * B + t * (1 - t) * (c + c.T + sigma**2 * eye)


_COUPLINGS = {"sinkhorn", "exact", "paired", "independent"}


class SchrodingerBridge(Process):
    """Simulation-free Schrödinger bridge / bridge matching with flow and score heads.

    Args:
        sigma: reference noise level (> 0).
        space: Euclidean (default) or ZeroCoM.
        coupling: ``"sinkhorn"`` (default; ``SinkhornCoupling(reg=2 sigma^2)`` for unpaired
            data), ``"exact"`` (minibatch exact OT), ``"paired"`` (identity: pass x0 to
            :meth:`corrupt`), ``"independent"``, or any :class:`Coupling`.
        t_eps: training times are clamped to ``[t_eps, 1 - t_eps]``.
        source: optional sampler ``source(n, generator)`` of the t = 0 distribution for
            unpaired data; default the space's noise.
    """

    capabilities = frozenset({"velocity", "sde"})

    heads = 2

    def __init__(
        self,
        sigma: float = 1.0,
        space: Space | None = None,
        coupling: Coupling | str | None = None,
        t_eps: float = 1e-3,
        source: Source | None = None,
    ):
        if not sigma > 0:
            raise ValueError(f"SchrodingerBridge needs sigma > 0, got {sigma}")
        if sigma < 1e-3:
            warnings.warn(f"sigma={sigma:g} is tiny: the score target and the plan are ill-conditioned", stacklevel=2)
        if not 0 <= t_eps < 0.5:
            raise ValueError(f"t_eps must lie in [0, 0.5), got {t_eps}")
        self.sigma = float(sigma)
        self.space = space if space is not None else Euclidean()
        if not isinstance(self.space, (Euclidean, ZeroCoM)):
            raise TypeError(f"the Brownian-bridge path needs Euclidean or ZeroCoM states, got {self.space!r}")
        if coupling is None:
            coupling = "sinkhorn"
        if isinstance(coupling, str):
            if coupling not in _COUPLINGS:
                choices = ", ".join(sorted(_COUPLINGS))
                raise ValueError(f"unknown coupling {coupling!r}; choose one of {choices} or pass a Coupling")
            coupling = {
                "sinkhorn": lambda: SinkhornCoupling(reg=2.0 * self.sigma**2),
                "exact": ExactOTCoupling,
                "paired": PairedCoupling,
                "independent": IndependentCoupling,
            }[coupling]()
        self.coupling = coupling
        self.t_eps = float(t_eps)
        self.source = source

    def sample_time(self, n: int, generator: torch.Generator | None = None, device=None) -> Tensor:
        """``t ~ U[t_eps, 1 - t_eps]``."""
        u = torch.rand(n, generator=generator, device=device)
        return self.t_eps + (1.0 - 2.0 * self.t_eps) * u

    def prior(self, shape, generator=None, device=None, mask=None, dtype=torch.float32) -> Tensor:
        return draw_source(self.source, self.space, tuple(shape), generator, device, mask, dtype)

    def corrupt(
        self,
        x1: Tensor,
        *,
        generator: torch.Generator | None = None,
        cond: Condition | None = None,
        mask: Tensor | None = None,
        t: Tensor | None = None,
        x0: Tensor | None = None,
    ) -> Corruption:
        pairing, t = paired_batch(self, x1, generator=generator, cond=cond, mask=mask, t=t, x0=x0)
        t = t.clamp(self.t_eps, 1.0 - self.t_eps)
        x0p, x1p = pairing.x0, pairing.x1
        tt = broadcast_time(t, x1)
        mu = (1.0 - tt) * x0p + tt * x1p
        std = self.sigma * torch.sqrt(tt * (1.0 - tt))
        z = self.space.noise(tuple(x1.shape), generator=generator, device=x1.device, mask=mask, dtype=x1.dtype)
        x_t = self.space.project(mu + std * z, mask)
        u = (1.0 - 2.0 * tt) / (2.0 * tt * (1.0 - tt)) * (x_t - mu) + (x1p - x0p)
        lam = 2.0 * std / self.sigma**2
        return Corruption(
            t=t,
            x_t=x_t,
            target=u,
            weight=pairing.weight,
            x0=x0p,
            x1=x1p,
            cond=pairing.cond,
            mask=mask,
            extras={"noise": z, "lambda": lam},
            logs=dict(pairing.logs),
        )

    def split(self, prediction: Tensor) -> tuple[Tensor, Tensor]:
        """``[v, s]`` on the last axis → ``(v, s)``."""
        if prediction.shape[-1] % 2:
            raise ValueError(f"SchrodingerBridge needs [v, s] on the last axis (even size), got {prediction.shape[-1]}")
        v, s = prediction.chunk(2, dim=-1)
        return v, s

    def loss(self, prediction: Tensor, c: Corruption) -> tuple[Tensor, dict[str, Tensor]]:
        """``||v - u_t||^2 + ||lambda_t s + z||^2``, masked and weighted per pair."""
        v, s = self.split(prediction)
        flow = masked_mean((v - c.target).pow(2), c.mask, c.weight)
        score = masked_mean((c.extras["lambda"] * s + c.extras["noise"]).pow(2), c.mask, c.weight)
        loss = flow + score
        logs = {"loss": loss.detach(), "flow_loss": flow.detach(), "score_loss": score.detach()}
        logs.update({k: v.detach() for k, v in c.logs.items()})
        return loss, logs

    def velocity(self, prediction: Tensor, x_t: Tensor, t: Tensor) -> Tensor:
        """The probability-flow velocity ``v`` (same marginals as the SDE)."""
        return self.split(prediction)[0]

    def sde(self, prediction: Tensor, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Drift ``v + s`` and diffusion ``sigma`` of ``dx = (v + s) dt + sigma dW``."""
        v, s = self.split(prediction)
        return v + s, torch.full((), self.sigma, dtype=x_t.dtype, device=x_t.device)

    def __repr__(self) -> str:
        return f"SchrodingerBridge(sigma={self.sigma:g}, coupling={self.coupling!r}, t_eps={self.t_eps:g})"

