r"""Fixed-step ODE samplers for ``dx/dt = v(x, t)`` from ``t = 0`` to ``t = 1``.

Both ask the process for the velocity (:meth:`Process.velocity`) and move states with
``process.space.add(x, dt * v)``, so torus states stay wrapped and ZeroCoM states centred.

* :class:`EulerSampler` — ``x_{k+1} = x_k + h v(x_k, t_k)``; global error ``O(h)``.
* :class:`HeunSampler` — Heun's second-order (explicit trapezoid) method,
  ``x̃ = x_k + h v(x_k, t_k)``, ``x_{k+1} = x_k + h (v(x_k, t_k) + v(x̃, t_{k+1})) / 2``;
  global error ``O(h^2)`` at two network calls per step. When the velocity is singular at
  the end of the grid (e.g. a data prediction turned into a velocity divides by
  ``1 - t``), the last step falls back to Euler: always with ``final_euler=True``, and per
  sample whenever the corrector's velocity is not finite.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gensci.core.process import Process, broadcast_time
from samplers.base import Denoiser, Sampler

__all__ = ["EulerSampler", "HeunSampler", "check_velocity"]


def check_velocity(sampler: Sampler, process: Process) -> None:
    """Raise ``TypeError`` unless ``process`` overrides :meth:`Process.velocity`."""
    if type(process).velocity is Process.velocity:
        raise TypeError(f"{sampler.name} needs a process with an ODE velocity; {type(process).__name__} has none")
    if not process.space.continuous:
        raise TypeError(f"{sampler.name} integrates continuous states; {process.space!r} is discrete")


class EulerSampler(Sampler):
    """Explicit Euler on the process's velocity."""

    name = "euler"
    default_steps = 100

    def check(self, process: Process) -> None:
        check_velocity(self, process)

    def step(
        self, denoise: Denoiser, process: Process, x: Tensor, t: Tensor, s: Tensor, *, cond, mask, generator
    ) -> Tensor:
        v = process.velocity(denoise(x, t, cond=cond, mask=mask), x, t)
        h = broadcast_time((s - t).to(x.dtype), x)
        return process.space.add(x, h * v, mask)


class HeunSampler(Sampler):
    """Heun's second-order method on the process's velocity (Euler predictor, trapezoid corrector)."""

    name = "heun"
    default_steps = 50

    def __init__(self, steps: int | None = None, progress: bool = True, final_euler: bool = False):
        super().__init__(steps=steps, progress=progress)
        self.final_euler = final_euler

    def check(self, process: Process) -> None:
        check_velocity(self, process)

    def step(
        self, denoise: Denoiser, process: Process, x: Tensor, t: Tensor, s: Tensor, *, cond, mask, generator
    ) -> Tensor:
        space = process.space
        h = broadcast_time((s - t).to(x.dtype), x)
        v1 = process.velocity(denoise(x, t, cond=cond, mask=mask), x, t)
        x_euler = space.add(x, h * v1, mask)
        if self.final_euler and bool((s >= 1.0).all()):
            return x_euler
        v2 = process.velocity(denoise(x_euler, s, cond=cond, mask=mask), x_euler, s)
        finite = torch.isfinite(v2.reshape(v2.shape[0], -1)).all(dim=1)
        x_heun = space.add(x, h * 0.5 * (v1 + torch.nan_to_num(v2)), mask)
        return torch.where(broadcast_time(finite, x), x_heun, x_euler)
