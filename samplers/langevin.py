r"""Euler steps on a flow's ODE with a Langevin correction: a stochastic sampler of the same marginals.

For an affine Gaussian path ``x_t = alpha_t x_1 + sigma_t x_0`` (``x_0 ~ N(0, I)``) the marginal
score is ``grad log p_t(x) = (alpha_t E[x_1 | x_t = x] - x) / sigma_t^2`` (Tweedie), and for any
``g(t)`` the SDE

.. math:: dx = \Big[v(x, t) + \tfrac{g(t)^2}{2} \nabla \log p_t(x)\Big] dt + g(t)\, dW

has the ODE's marginals (Song et al. 2021, "Score-Based Generative Modeling through SDEs", ICLR,
§4.3; Albergo, Boffi & Vanden-Eijnden 2023, "Stochastic Interpolants", arXiv 2303.08797, §2.3).
With ``g(t)^2 = 2 eta sigma_t^2`` the correction needs no division by ``sigma_t``:

.. math:: dx = \big[v - \eta\,(x - \alpha_t \hat x_1)\big] dt + \sigma_t \sqrt{2 \eta}\, dW,

an Ornstein–Uhlenbeck pull toward the path's mean given the predicted clean sample ``x̂_1``, with
noise that vanishes at the data end. ``eta`` (``noise``) is Langevin time per unit of flow time:
``0`` is the Euler ODE step. The stochastic term lets the chain forget part of an early error,
as DDPM's ancestral sampler (the one EDM uses) does; with a coupled source (e.g. the aligned
coupling of :mod:`gensci.core.alignment`) ``x_0`` is not independent of ``x_1`` and the score
above is an approximation that the sampler's benefit must be measured against.
A path smoothed by ``sigma_min > 0`` is treated as unsmoothed.

Each step is Euler–Maruyama, ``x_s = x_t + h f + sigma_t sqrt(2 eta h) z`` with ``z`` the space's
tangent noise (zero centre of mass where the space is ``ZeroCoM``); the step that lands on
``t = 1`` adds no noise. Categorical fields beside the flow move by the posterior jump, as with
every sampler (:mod:`samplers.base`).
"""

from __future__ import annotations

from torch import Tensor

from gensci.core.flow import FlowMatching
from gensci.core.process import Process, broadcast_time
from samplers.ode import EulerSampler

__all__ = ["LangevinEulerSampler"]


class LangevinEulerSampler(EulerSampler):
    """Euler–Maruyama on a flow's velocity plus the Langevin correction ``eta`` (``noise``)."""

    name = "langevin"
    needs = "flow matching on an affine path off the torus (the score needs alpha_t, sigma_t)"

    def __init__(self, steps: int | None = None, progress: bool = True, distortion: str = "process",
                 noise: float = 1.0):
        super().__init__(steps=steps, progress=progress, distortion=distortion)
        if not noise >= 0.0:
            raise ValueError(f"noise (eta) must be >= 0, got {noise}")
        self.noise = float(noise)

    @classmethod
    def drives(cls, process: Process) -> bool:
        """Flow matching on a Euclidean (or zero-CoM) affine path: the score needs ``alpha, sigma``."""
        return isinstance(process, FlowMatching) and not process.geodesic and process.space.continuous

    def move(self, process: Process, x: Tensor, prediction: Tensor, t: Tensor, s: Tensor, *, mask, generator) -> Tensor:
        if self.noise == 0.0 or bool((s >= 1.0).all()):  # the plain Euler step
            return super().move(process, x, prediction, t, s, mask=mask, generator=generator)
        v = process.velocity(prediction, x, t)
        h = broadcast_time((s - t).to(x.dtype), x)
        tb = broadcast_time(t.to(x.dtype), x)
        alpha, sigma = process.schedule.alpha(tb), process.schedule.sigma(tb)
        x1 = process.clean_estimate(prediction, x, t)
        drift = v - self.noise * (x - alpha * x1)
        z = process.space.tangent_noise(tuple(x.shape), generator=generator, device=x.device, mask=mask, dtype=x.dtype)
        last = broadcast_time((s >= 1.0).to(x.dtype), x)  # rows landing on t = 1 take no noise
        return process.space.add(x, h * drift + (1.0 - last) * sigma * (2.0 * self.noise * h).sqrt() * z, mask)
