"""DDIM sampling (Song, Meng & Ermon 2021, arXiv 2010.02502) between arbitrary times.

From ``(x1_hat, eps_hat)`` at time ``t``, the step to the later time ``s`` is::

    c   = eta * std(q(x_s | x_t, x1))
    x_s = project(alpha_s x1_hat + sqrt(sigma_s^2 - c^2) eps_hat + c z)

``eta = 0`` is the deterministic DDIM (a first-order solver of the probability-flow ODE in
the SNR variable); ``eta = 1`` has the ancestral DDPM's variance. At ``s = 1`` the step
returns ``alpha_1 x1_hat + sigma_1 eps_hat`` with no noise.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gensci.core.process import Process
from samplers.base import Sampler

__all__ = ["DDIMSampler"]


class DDIMSampler(Sampler):
    """Generalised DDIM step; ``eta`` scales the injected noise.

    Args:
        steps: number of steps (on a T-grid at most T).
        eta: 0 for deterministic sampling, 1 for DDPM-like variance.
        clip_x1: clamp ``x1_hat`` to ``[-clip_x1, clip_x1]``; None = off.
    """

    name = "ddim"
    default_steps = 50
    requires = "gaussian_posterior"

    def __init__(
        self, steps: int | None = None, eta: float = 0.0, clip_x1: float | None = None, progress: bool = True,
        distortion: str = "process",
    ):
        super().__init__(steps=steps, progress=progress, distortion=distortion)
        if eta < 0:
            raise ValueError(f"eta must be >= 0, got {eta}")
        self.eta = float(eta)
        self.clip_x1 = clip_x1

    def move(self, process: Process, x: Tensor, pred: Tensor, t: Tensor, s: Tensor, *, mask: Tensor | None,
             generator: torch.Generator | None) -> Tensor:
        x1_hat = process.to_x0(pred, x, t)
        eps_hat = process.to_eps(pred, x, t)
        if self.clip_x1 is not None:
            x1_hat = x1_hat.clamp(-self.clip_x1, self.clip_x1)
            eps_hat = process.to_eps(x1_hat, x, t, kind="x0")
        alpha_s, sigma_s = process.coefficients(s, x)
        last = bool((s >= 1.0).all())
        if self.eta == 0.0 or last:
            return process.space.project(alpha_s * x1_hat + sigma_s * eps_hat, mask)
        _, std = process.posterior(x, x1_hat, t, s)
        c = (self.eta * std).minimum(sigma_s)
        z = process.noise(tuple(x.shape), generator=generator, dtype=x.dtype, device=x.device, mask=mask)
        x_s = alpha_s * x1_hat + (sigma_s**2 - c**2).clamp_min(0.0).sqrt() * eps_hat + c * z
        return process.space.project(x_s, mask)
