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
* :class:`MidpointSampler` — the explicit midpoint method (Runge's RK2),
  ``x̃ = x_k + (h/2) v(x_k, t_k)``, ``x_{k+1} = x_k + h v(x̃, t_k + h/2)``; global error
  ``O(h^2)`` at two network calls per step, none of them at ``t = 1``, where a velocity
  computed from a data prediction is singular and a network is least trained.

Both second-order rules take ``final_euler=True``: the step that reaches ``t = 1`` is then
one Euler step.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gensci.core.process import Process, broadcast_time
from gensci.core.product import ProductProcess
from gensci.core.state import State, field_mask
from samplers.base import Denoiser, Sampler

__all__ = ["EulerSampler", "HeunSampler", "MidpointSampler", "TwoStageSampler"]


class EulerSampler(Sampler):
    """Explicit Euler on the process's velocity."""

    name = "euler"
    default_steps = 100
    requires = "velocity"

    def move(self, process: Process, x: Tensor, prediction: Tensor, t: Tensor, s: Tensor, *, mask, generator) -> Tensor:
        v = process.velocity(prediction, x, t)
        h = broadcast_time((s - t).to(x.dtype), x)
        return process.space.add(x, h * v, mask)


class TwoStageSampler(EulerSampler):
    """A second-order rule of two network calls per step; ``final_euler=True`` makes the step
    that reaches ``t = 1`` a plain Euler step (one call), so the state the last prediction
    points at is the state returned."""

    default_steps = 50

    def __init__(self, steps: int | None = None, progress: bool = True, final_euler: bool = False,
                 distortion: str = "process"):
        super().__init__(steps=steps, progress=progress, distortion=distortion)
        self.final_euler = final_euler

    def last_is_euler(self, s: Tensor) -> bool:
        """Whether the step to ``s`` is the one ``final_euler`` makes Euler."""
        return self.final_euler and bool((s >= 1.0).all())


class HeunSampler(TwoStageSampler):
    """Heun's second-order method on the process's velocity (Euler predictor, trapezoid corrector).

    In a record of several fields, categorical fields jump once per step from the first
    prediction and the corrector sees them at ``s`` beside the continuous fields' Euler
    predictor; only the continuous fields take the trapezoid.
    """

    name = "heun"

    def correct(self, process: Process, x: Tensor, x_euler: Tensor, pred1: Tensor, pred2: Tensor, t: Tensor, s: Tensor,
                mask) -> Tensor:
        """The trapezoid from both velocities; per sample, Euler where the second is not finite."""
        h = broadcast_time((s - t).to(x.dtype), x)
        v1 = process.velocity(pred1, x, t)
        v2 = process.velocity(pred2, x_euler, s)
        finite = torch.isfinite(v2.reshape(v2.shape[0], -1)).all(dim=1)
        x_heun = process.space.add(x, h * 0.5 * (v1 + torch.nan_to_num(v2)), mask)
        return torch.where(broadcast_time(finite, x), x_heun, x_euler)

    def step(self, denoise: Denoiser, process: Process, x, t: Tensor, s: Tensor, *, cond, mask, generator):
        pred1 = denoise(x, t, cond=cond, mask=mask)
        x_euler = self.move_all(process, x, pred1, t, s, mask=mask, generator=generator)
        if self.last_is_euler(s):
            return x_euler
        pred2 = denoise(x_euler, s, cond=cond, mask=mask)
        if not isinstance(process, ProductProcess):
            return self.correct(process, x, x_euler, pred1, pred2, t, s, mask)
        out = {}
        for name, p in process.fields.items():
            if self.rule(p) != "own":
                out[name] = x_euler[name]
                continue
            out[name] = self.correct(p, x[name], x_euler[name], pred1[name], pred2[name], process.field_time(name, t),
                                     process.field_time(name, s), field_mask(mask, name))
        return State(out)


class MidpointSampler(TwoStageSampler):
    r"""The explicit midpoint method on the process's velocity (two network calls per step).

    Each step evaluates the network at ``t`` and at the half step ``m = (t + s) / 2``, never
    at the grid's end. In a record of several fields each field moves in its own clock
    ``tau_f``: ``x_s = x_t + (tau_f(s) - tau_f(t)) v(x̃, tau_f(m))``. For a smooth clock
    ``tau_f(m)`` is the midpoint of ``tau_f(t)`` and ``tau_f(s)`` up to ``O(h^2)``, so the rule
    stays second order. Categorical fields jump twice per step by the categorical posterior,
    ``t -> m`` from the first prediction and ``m -> s`` from the second: they walk a grid
    twice as fine.
    """

    name = "midpoint"

    @staticmethod
    def full_step(process: Process, x: Tensor, x_half: Tensor, pred_half: Tensor, t: Tensor, m: Tensor, s: Tensor,
                  mask) -> Tensor:
        """``x_s = x_t + (s - t) v(x̃, m)``; ``t, m, s`` in the field's own clock."""
        h = broadcast_time((s - t).to(x.dtype), x)
        return process.space.add(x, h * process.velocity(pred_half, x_half, m), mask)

    def step(self, denoise: Denoiser, process: Process, x, t: Tensor, s: Tensor, *, cond, mask, generator):
        pred1 = denoise(x, t, cond=cond, mask=mask)
        if self.last_is_euler(s):
            return self.move_all(process, x, pred1, t, s, mask=mask, generator=generator)
        m = 0.5 * (t + s)
        x_half = self.move_all(process, x, pred1, t, m, mask=mask, generator=generator)
        pred = denoise(x_half, m, cond=cond, mask=mask)
        if not isinstance(process, ProductProcess):
            return self.full_step(process, x, x_half, pred, t, m, s, mask)
        out = {}
        for name, p in process.fields.items():
            rule = self.rule(p)
            tf, mf, sf = (process.field_time(name, u) for u in (t, m, s))
            fmask = field_mask(mask, name)
            if rule == "keep":
                out[name] = x[name]
            elif rule == "own":
                out[name] = self.full_step(p, x[name], x_half[name], pred[name], tf, mf, sf, fmask)
            else:
                out[name] = self.jump(p, x_half[name], pred[name], mf, sf, mask=fmask, generator=generator)
        return State(out)
