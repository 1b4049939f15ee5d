"""The verbs every generative process exposes, and the record passed from corruption to loss.

Time is continuous, ``t in [0, 1]``: ``t = 0`` is the source (noise, or a bridge's start),
``t = 1`` is the data. Discrete-step processes (a T-step DDPM, categorical diffusion) map
their grid onto this interval inside the process (:meth:`Process.time_grid`).

Training::

    c = process.corrupt(x1, generator=g, cond=cond, mask=mask)   # draws t, x0, x_t, target
    pred = model(c.x_t, c.t, cond=c.cond, mask=c.mask)
    loss, logs = process.loss(pred, c)

Sampling asks the process for what a step needs, and a process declares what it offers in
:attr:`Process.capabilities` (samplers check it; nothing is duck-typed):

* ``"velocity"`` — :meth:`Process.velocity`, the ODE drift (Euler, Heun);
* ``"sde"`` — :meth:`Process.sde`, drift and diffusion (Euler–Maruyama);
* ``"gaussian_posterior"`` — ``to_x0``, ``posterior``, ``coefficients``, ``noise`` (DDPM, DDIM);
* ``"categorical_posterior"`` — ``posterior_probs(x_t, p1_hat, t, s)`` (categorical jumps);
* ``"mixture_path"`` — ``kappa(t)`` and ``mixture_blocks(x_t, p1_hat)``: the noise is a
  mixture path of discrete flow matching (:mod:`gensci.core.mixture_path`; the CTMC sampler);
* ``"context"`` — a given field of a record, kept as it is (:class:`~gensci.core.context.Context`).

States are tensors, or :class:`~gensci.core.state.State` records of named fields for a
:class:`~gensci.core.product.ProductProcess`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from gensci.core.spaces import Space
from gensci.core.time_distributions import TimeDistribution

__all__ = ["Corruption", "Process", "Condition", "masked_mean", "broadcast_time", "CAPABILITIES"]

#: every capability a process may declare (see the module docstring)
CAPABILITIES = ("velocity", "sde", "gaussian_posterior", "categorical_posterior", "mixture_path", "context")

#: Conditions travel as named float tensors of shape ``(B,)``; NaN marks a missing or
#: dropped value. Categorical conditions hold class indices as floats.
Condition = dict[str, Tensor]


@dataclass
class Corruption:
    """One corrupted training batch: what the network sees and what it must predict."""

    t: Tensor = field(metadata={"help": "times, shape (B,)"})
    x_t: Any = field(metadata={"help": "noisy state at time t (indices for categorical; a State for products)"})
    target: Any = field(metadata={"help": "regression / classification target (a State for products)"})
    weight: Tensor | None = field(default=None, metadata={"help": "per-sample loss weights (B,)"})
    x0: Any = field(default=None, metadata={"help": "source sample at t = 0"})
    x1: Any = field(default=None, metadata={"help": "data sample at t = 1"})
    cond: Condition | None = field(default=None, metadata={"help": "conditions aligned with x1"})
    mask: Any = field(default=None, metadata={"help": "mask (B, N) / (B, N, N) / state-shaped; a dict per field"})
    extras: dict[str, Tensor] = field(default_factory=dict, metadata={"help": "extra targets"})
    logs: dict[str, Tensor] = field(default_factory=dict, metadata={"help": "diagnostics to log"})
    parts: dict[str, Corruption] = field(default_factory=dict, metadata={"help": "per-field corruptions (products)"})


def broadcast_time(t: Tensor, x: Tensor) -> Tensor:
    """Reshape times ``(B,)`` to broadcast against ``x`` of shape ``(B, ...)``."""
    return t.reshape(t.shape + (1,) * (x.ndim - t.ndim))


def masked_mean(values: Tensor, mask: Tensor | None = None, weight: Tensor | None = None) -> Tensor:
    """Mean of per-entry ``values`` ``(B, ...)`` over real entries, each sample weighted.

    ``sum_b w_b * mean_{real entries of b}(values_b) / B``: every sample counts once
    whatever its size, and ``weight`` (e.g. W-CFM's Gibbs weights) scales its share.
    """
    if mask is None and weight is None:
        return values.mean()  # every sample has the same size: the mean of the per-sample means
    b = values.shape[0]
    flat = values.reshape(b, -1)
    if mask is None:
        per_sample = flat.mean(dim=1)
    else:
        m = mask.to(values.dtype)
        while m.ndim < values.ndim:
            m = m.unsqueeze(-1)
        m = m.expand_as(values).reshape(b, -1)
        per_sample = (flat * m).sum(dim=1) / m.sum(dim=1).clamp_min(1.0)
    if weight is not None:
        per_sample = per_sample * weight
    return per_sample.mean()


class Process(ABC):
    """A generative process between a source (``t = 0``) and the data (``t = 1``)."""

    #: the space the states live in
    space: Space
    #: how guidance mixes predictions: "linear" (eps, x0, v, velocity) or "probability"
    guidance_space: str = "linear"
    #: how many state-sized outputs the network must produce (e.g. 2 for flow + score)
    heads: int = 1
    #: what samplers may ask of this process (names from :data:`CAPABILITIES`)
    capabilities: frozenset[str] = frozenset()

    def sample_time(self, n: int, generator: torch.Generator | None = None, device=None) -> Tensor:
        """Training times: uniform over the T-step grid ``{0, 1/T, ..., (T-1)/T}`` when the
        process has one (``self.timesteps``), else drawn from ``self.time_distribution``
        (:mod:`gensci.core.time_distributions`), by default ``t ~ U[0, 1)``."""
        if self.timesteps is not None:
            k = torch.randint(0, self.timesteps, (n,), generator=generator, device=device)
            return k.float() / self.timesteps
        if self.time_distribution is not None:
            return self.time_distribution.sample(n, generator=generator, device=device)
        return torch.rand(n, generator=generator, device=device)

    def prior(
        self,
        shape: tuple[int, ...],
        generator: torch.Generator | None = None,
        device=None,
        mask: Tensor | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Tensor:
        """A draw from the source distribution at ``t = 0``."""
        return self.space.noise(shape, generator=generator, device=device, mask=mask, dtype=dtype)

    #: a discrete-step process's number of steps T (None: continuous time)
    timesteps: int | None = None
    #: where a continuous-time process draws its training times (None: uniform)
    time_distribution: TimeDistribution | None = None

    def time_grid(self, steps: int, device=None) -> Tensor:
        """The ``steps + 1`` times a sampler visits, from 0 to 1.

        On a T-step grid (``self.timesteps``), ``steps <= T`` grid points
        ``round(linspace(0, T, steps + 1)) / T``, so samplers skip steps DDIM-style.
        """
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if self.timesteps is None:
            return torch.linspace(0.0, 1.0, steps + 1, device=device)
        if steps > self.timesteps:
            raise ValueError(f"steps={steps} exceeds the process's T={self.timesteps} grid points")
        k = torch.linspace(0, self.timesteps, steps + 1, dtype=torch.float64).round()
        return (k / self.timesteps).to(dtype=torch.float32, device=device)

    @abstractmethod
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
        """Draw (or take) ``t`` and a source sample and build the noisy state and target."""

    @abstractmethod
    def loss(self, prediction: Tensor, c: Corruption) -> tuple[Tensor, dict[str, Tensor]]:
        """Scalar training loss and a dict of detached diagnostics."""

    def velocity(self, prediction: Tensor, x_t: Tensor, t: Tensor) -> Tensor:
        """``dx/dt`` of the deterministic sampling ODE at ``(x_t, t)`` (capability ``"velocity"``)."""
        raise NotImplementedError(f"{type(self).__name__} has no ODE velocity")

    def clean_estimate(self, prediction: Tensor, x_t: Tensor, t: Tensor) -> Tensor:
        """The clean sample ``x̂_1`` the prediction at ``(x_t, t)`` points at (what a loss on
        the predicted data, :attr:`gensci.domain.Domain.clean_loss_weight`, is computed on)."""
        raise NotImplementedError(f"{type(self).__name__} gives no clean-sample estimate")

    def sde(self, prediction: Tensor, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Drift and diffusion coefficient ``(f, g)`` of the sampling SDE
        ``dx = f dt + g dW`` run forward in ``t`` from 0 to 1 (capability ``"sde"``)."""
        raise NotImplementedError(f"{type(self).__name__} has no sampling SDE")
