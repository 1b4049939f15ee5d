r"""Euler–Maruyama for the process's forward-time SDE ``dx = f(x, t) dt + g(t) dW``.

Kloeden & Platen 1992; used for the [SF]²M / Schrödinger-bridge sampler (Tong et al. 2023,
arXiv 2307.03672) with ``f = v + s``, ``g = sigma``:

.. math:: x_{k+1} = x_k + f(x_k, t_k)\, h + g(t_k) \sqrt{h}\, z_k, \qquad z_k \sim N(0, I),

with ``z_k`` drawn as the space's tangent noise (unwrapped on the torus) and the explicit generator, and the move made by
``process.space.add`` (projected). No noise is added on the final step (the one that lands
on ``t = 1``) unless ``final_noise=True``: the returned samples are then the drift's
estimate at the data end rather than carrying one more ``g sqrt(h)`` of noise that the
network would never see removed. Weak order 1, strong order 1/2.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gensci.core.process import Process, broadcast_time
from samplers.base import Sampler

__all__ = ["EulerMaruyamaSampler"]


class EulerMaruyamaSampler(Sampler):
    """Euler–Maruyama on :meth:`Process.sde` (drift ``f``, diffusion ``g``)."""

    name = "sde"
    default_steps = 100
    requires = "sde"

    def __init__(self, steps: int | None = None, progress: bool = True, final_noise: bool = False,
                 distortion: str = "process"):
        super().__init__(steps=steps, progress=progress, distortion=distortion)
        self.final_noise = final_noise

    def move(self, process: Process, x: Tensor, prediction: Tensor, t: Tensor, s: Tensor, *, mask, generator) -> Tensor:
        f, g = process.sde(prediction, x, t)
        h = broadcast_time((s - t).to(x.dtype), x)
        delta = h * f
        if self.final_noise or not bool((s >= 1.0).all()):
            g = torch.as_tensor(g, dtype=x.dtype, device=x.device)
            if g.ndim == 1 and x.ndim > 1 and g.shape[0] == x.shape[0]:
                g = broadcast_time(g, x)
            z = process.space.tangent_noise(tuple(x.shape), generator=generator, device=x.device, mask=mask, dtype=x.dtype)
            delta = delta + g * h.sqrt() * z
        return process.space.add(x, delta, mask)
