"""Mixing-transition noise read as discrete flow matching's mixture path, and its CTMC rates.

A mixing transition (D3PM, DiGress, Graph DiT's graph-dependent bond noise) keeps a slot's
clean class with probability ``kappa_t`` and otherwise draws a noise law ``u``::

    q(x_t | x1) = kappa_t onehot(x1) + (1 - kappa_t) u(x1)

which is discrete flow matching's *mixture path* ``p_tau(. | x1) = tau delta_{x1} + (1 - tau) u``
at the flow time ``tau = kappa_t`` (Campbell et al. 2024, "Generative Flows on Discrete
State-Spaces", arXiv 2402.04997; Gat et al. 2024). So a network trained on the diffusion
predicts ``p(x1 | x_t)``, which drives the flow's continuous-time Markov chain without
retraining (DeFoG, Qin et al. 2025, arXiv 2410.04263).

A process exposes the path as :class:`MixtureBlock` s: groups of slots (columns of the
state's last axis), each a finite mixture over *clean contexts* ``c`` with the network's
weights ``w_c`` per slot, a clean class ``clean_c`` and a noise law ``u_c`` (for DiGress,
``c = x1`` and ``u_c = m``; for Graph DiT's bonds, ``c = (a_i, a_j, e1_ij)`` and
``u_c = P(e | a_i, a_j)``).

Rates in flow time (``d/dtau p_c(j) = delta_{j, clean_c} - u_c(j)``), averaged over the contexts,
``R(x -> j) = sum_c w_c [R*_c + R^DB_c + R^omega_c](x -> j)`` for ``j != x``:

* Campbell's minimal rate ``R*_c(x -> j) = ReLU(dp_c(j) - dp_c(x)) / (Z_c p_c(x))`` with
  ``Z_c = |{j : p_c(j) > 0}|`` (it solves the Kolmogorov equation of ``p_c`` exactly);
* stochasticity ``R^DB_c(x -> j) = eta [delta_{x, clean_c} p_c(j) + delta_{j, clean_c} p_c(clean_c)]``,
  which satisfies detailed balance ``p_c(x) R^DB_c(x -> j) = p_c(j) R^DB_c(j -> x)`` and so
  leaves the path unchanged (DeFoG's ``eta``; this is one valid choice of ``R^DB``);
* target guidance ``R^omega_c(x -> j) = omega delta_{j, clean_c} / (Z_c p_c(x))`` for
  ``x != clean_c`` (DeFoG's ``omega``: an extra pull toward the predicted clean class; it
  biases the path, by design).

Contexts that cannot have produced ``x`` (``p_c(x) = 0``) contribute no rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["MixtureBlock", "mixture_rates", "euler_jump_probs"]


@dataclass
class MixtureBlock:
    """Slots ``x[..., columns]`` whose law is a mixture over clean contexts.

    ``weights`` ``(..., C)``: the contexts' probabilities per slot (the slots' shape plus C);
    ``clean`` ``(C,)``: each context's clean class; ``laws`` ``(C, K)``: each context's noise law
    over the block's ``K`` classes."""

    columns: slice
    weights: Tensor
    clean: Tensor
    laws: Tensor

    @property
    def num_classes(self) -> int:
        return int(self.laws.shape[-1])


def mixture_rates(onehot_x: Tensor, weights: Tensor, clean: Tensor, laws: Tensor, tau: Tensor,
                  eta: float = 0.0, omega: float = 0.0) -> Tensor:
    """``R(x -> j)`` of the module docstring, shape ``(..., K)``, zero on ``j = x``.

    ``onehot_x`` ``(..., K)`` the current classes; ``weights`` ``(..., C)``; ``clean`` ``(C,)``
    long; ``laws`` ``(C, K)``; ``tau`` in ``[0, 1)`` broadcasting against ``(..., 1)``.
    Every term is a ``(..., C) @ (C, K)`` product (the ``(..., C, K)`` tensor is never built):
    ``R*`` depends on ``x`` through ``dp_c(x)`` only, so it is summed once per current class."""
    k = laws.shape[-1]
    dtype = onehot_x.dtype
    laws = laws.to(dtype)
    clean_oh = torch.nn.functional.one_hot(clean.long(), k).to(dtype)  # (C, K)
    dp = clean_oh - laws  # d/dtau p_c(j), (C, K)
    p_x = tau * (onehot_x @ clean_oh.T) + (1.0 - tau) * (onehot_x @ laws.T)  # p_c(x), (..., C)
    z = ((clean_oh + laws) > 0).sum(-1).to(dtype)  # support size of p_c for 0 <= tau < 1, (C,)
    inv = torch.where(p_x > 0, 1.0 / (z * p_x).clamp_min(1e-30), torch.zeros_like(p_x))
    wi = weights.to(dtype) * inv  # (..., C)
    rates = torch.zeros_like(onehot_x)
    for x in range(k):  # R* for the slots currently in class x
        numer = torch.relu(dp - dp[:, x:x + 1])  # (C, K)
        rates = rates + onehot_x[..., x:x + 1] * (wi @ numer)
    is_clean = onehot_x @ clean_oh.T  # delta_{x, clean_c}, (..., C)
    if omega:
        rates = rates + omega * ((wi * (1.0 - is_clean)) @ clean_oh)
    if eta:
        w = weights.to(dtype)
        from_clean = w * is_clean
        p_clean = tau + (1.0 - tau) * (clean_oh * laws).sum(-1)  # p_c(clean_c), (..., C) by broadcasting
        to_clean = w * (1.0 - is_clean) * (p_x > 0) * p_clean
        rates = rates + eta * (tau * (from_clean @ clean_oh) + (1.0 - tau) * (from_clean @ laws) + to_clean @ clean_oh)
    return rates * (1.0 - onehot_x)


def euler_jump_probs(onehot_x: Tensor, rates: Tensor, dtau: Tensor) -> Tensor:
    """One Euler step of the chain: ``P(j) = R(x -> j) dtau`` for ``j != x`` and the rest on
    ``x``; where the jump mass exceeds 1 it is rescaled to 1 (no stay). ``dtau`` broadcasts
    against ``(..., 1)``."""
    jump = rates * dtau
    total = jump.sum(-1, keepdim=True)
    jump = jump / total.clamp_min(1.0)
    return jump + onehot_x * (1.0 - total.clamp(max=1.0))
