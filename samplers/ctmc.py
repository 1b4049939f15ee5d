"""Discrete flow matching sampling of mixing-transition processes (DeFoG's CTMC sampler).

A process with the ``"mixture_path"`` capability (:mod:`gensci.core.mixture_path`) is a
mixture path in flow time ``tau = kappa_t``, so its network's ``p(x1 | x_t)`` drives the
flow's continuous-time Markov chain (Campbell et al. 2024, arXiv 2402.04997; DeFoG, Qin et
al. 2025, arXiv 2410.04263). One step from ``t`` to ``s``::

    R(x -> j) = E_{x1 ~ p1_hat} [R*(x -> j | x1) + eta R^DB + omega R^omega]   (at tau_t)
    x_s ~ onehot(x) + R(x -> .) (tau_s - tau_t)       (Euler, clamped to a distribution)

and the step that reaches the data draws ``x1 ~ p1_hat`` (the chain's exact limit: given
``x1`` every slot ends on it).

DeFoG's sampling-time choices are options: ``distortion`` of the step grid in flow time
(``tau_k = D(k / N)``, :mod:`samplers.grids`; ``process`` keeps the process's own grid), ``eta`` (stochasticity) and ``omega`` (target guidance). Classifier-free guidance
comes from the engine (the guided model's probabilities are ``p1_hat``).

``rule="posterior"`` keeps the distorted grid but moves each step by the exact categorical
posterior ``p(x_s | x_t)`` of a process that also offers ``"categorical_posterior"`` (what
:class:`~samplers.categorical.CategoricalSampler` does on the process's own grid): it
separates the effect of the grid from that of the Euler CTMC step (``eta`` and ``omega``
apply to the CTMC rule only).
"""

from __future__ import annotations


import torch
from torch import Tensor

from gensci.core.categorical import sample_categorical
from gensci.core.mixture_path import euler_jump_probs, mixture_rates
from gensci.core.process import Process
from gensci.core.product import ProductProcess
from gensci.errors import GensciError
from samplers.base import Sampler
from samplers.grids import distorted_grid

__all__ = ["DiscreteFlowSampler"]

def invert_kappa(process: Process, tau: Tensor, iters: int = 60) -> Tensor:
    """The smallest ``t`` in ``[0, 1]`` with ``kappa(t) >= tau`` (bisection; ``kappa`` increasing)."""
    lo = torch.zeros_like(tau)
    hi = torch.ones_like(tau)
    for _ in range(iters):
        mid = (lo + hi) / 2
        above = process.kappa(mid) >= tau
        hi = torch.where(above, mid, hi)
        lo = torch.where(above, lo, mid)
    return hi


class DiscreteFlowSampler(Sampler):
    """The CTMC sampler of discrete flow matching on mixture-path fields.

    Args:
        steps: number of steps (network calls).
        distortion: step grid in flow time (module docstring), default ``polydec``.
        eta: stochasticity (detailed-balance rate weight, >= 0).
        omega: target guidance (>= 0).
        temperature: logits are divided by it before the softmax.
        rule: ``"ctmc"`` (the Euler step of the chain) or ``"posterior"`` (the exact
            categorical posterior jump on the same grid).
    """

    name = "ctmc"
    default_steps = 50
    requires = "mixture_path"

    def __init__(self, steps: int | None = None, distortion: str = "polydec", eta: float = 0.0, omega: float = 0.0,
                 temperature: float = 1.0, rule: str = "ctmc", progress: bool = True):
        super().__init__(steps=steps, progress=progress, distortion=distortion)
        if rule not in ("ctmc", "posterior"):
            raise GensciError(f"unknown step rule {rule!r}; choose ctmc or posterior")
        if eta < 0 or omega < 0:
            raise GensciError(f"eta and omega must be non-negative, got eta={eta}, omega={omega}")
        if temperature <= 0:
            raise GensciError(f"temperature must be positive, got {temperature}")
        self.eta = float(eta)
        self.omega = float(omega)
        self.temperature = float(temperature)
        self.rule_name = rule

    @classmethod
    def drives(cls, process: Process) -> bool:
        return cls.requires in process.capabilities and not process.space.continuous

    def time_grid(self, process: Process, device=None) -> Tensor:
        """``t_k = kappa^{-1}(kappa_0 + (1 - kappa_0) D(k / N))`` (for a product process, whose
        fields may run on their own clocks, ``t_k = D(k / N)``), snapped onto the process's
        T-step grid when it has one; strictly increasing from 0 to 1."""
        if isinstance(process, ProductProcess):
            return distorted_grid(process, self.steps, self.distortion, device=device)
        k0 = float(process.kappa(torch.zeros((), dtype=torch.float64)))
        return distorted_grid(process, self.steps, self.distortion, device=device,
                              to_time=lambda d: invert_kappa(process, k0 + (1.0 - k0) * d))

    def move(self, process: Process, x: Tensor, logits: Tensor, t: Tensor, s: Tensor, *, mask: Tensor | None,
             generator: torch.Generator | None) -> Tensor:
        p1 = torch.softmax(logits.float() / self.temperature, dim=-1)
        if bool((s >= 1.0).all()):
            return process.space.project(sample_categorical(p1, generator), mask)
        if self.rule_name == "posterior":
            if "categorical_posterior" not in process.capabilities:
                raise GensciError(f"rule='posterior' needs a process with 'categorical_posterior'; {type(process).__name__} has not")
            return process.space.project(sample_categorical(process.posterior_probs(x, p1, t, s), generator), mask)
        shape = (x.shape[0],) + (1,) * (x.ndim - 1) + (1,)  # against (B, ..., K)
        tau_t = process.kappa(t.float()).reshape(shape)
        dtau = (process.kappa(s.float()).reshape(shape) - tau_t).clamp_min(0.0)
        out = x.clone()
        for block in process.mixture_blocks(x, p1):
            xb = x[..., block.columns]
            onehot = torch.nn.functional.one_hot(xb.long(), block.num_classes).to(p1.dtype)
            rates = mixture_rates(onehot, block.weights, block.clean, block.laws, tau_t, self.eta, self.omega)
            probs = euler_jump_probs(onehot, rates, dtau)
            out[..., block.columns] = sample_categorical(probs, generator).to(x.dtype)
        return process.space.project(out, mask)
