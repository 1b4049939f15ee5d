"""Ancestral DDPM sampling (Ho et al. 2020, arXiv 2006.11239) for arbitrary pairs of times.

Each step from ``t`` to the later time ``s`` draws from the Gaussian posterior
``q(x_s | x_t, x1 = x1_hat)`` of the process, with ``x1_hat`` the network's clean-data
estimate::

    x1_hat = process.to_x0(model(x_t, t), x_t, t)            (optionally clipped)
    mean, std = process.posterior(x_t, x1_hat, t, s)
    x_s = project(mean + std z),   z ~ N(0, I)              (z a tangent vector)

The step that reaches the data (``s = 1``) returns the mean, which is ``x1_hat`` there.
Visiting a subset of a T-grid gives the strided ancestral sampler of Nichol & Dhariwal
2021 (arXiv 2102.09672).
"""

from __future__ import annotations

import torch
from torch import Tensor

from gensci.core.process import Process
from samplers.base import Sampler

__all__ = ["DDPMSampler"]


class DDPMSampler(Sampler):
    """Ancestral sampling through the closed-form posterior.

    Args:
        steps: number of steps (on a T-grid at most T).
        clip_x1: clamp ``x1_hat`` to ``[-clip_x1, clip_x1]`` (image-style clipping); None = off.
    """

    name = "ddpm"
    default_steps = 100
    requires = "gaussian_posterior"

    def __init__(self, steps: int | None = None, clip_x1: float | None = None, progress: bool = True,
                 distortion: str = "process"):
        super().__init__(steps=steps, progress=progress, distortion=distortion)
        self.clip_x1 = clip_x1

    def move(self, process: Process, x: Tensor, pred: Tensor, t: Tensor, s: Tensor, *, mask: Tensor | None,
             generator: torch.Generator | None) -> Tensor:
        x1_hat = process.to_x0(pred, x, t)
        if self.clip_x1 is not None:
            x1_hat = x1_hat.clamp(-self.clip_x1, self.clip_x1)
        mean, std = process.posterior(x, x1_hat, t, s)
        if bool((s >= 1.0).all()):
            return process.space.project(mean, mask)
        z = process.noise(tuple(x.shape), generator=generator, dtype=x.dtype, device=x.device, mask=mask)
        return process.space.project(mean + std * z, mask)
