"""Gaussian diffusion on an affine path, with ε-, x0- or v-prediction.

Forward path (t = 0 noise, t = 1 data), for a schedule ``(alpha_t, sigma_t)``::

    x_t = project(alpha_t x1 + sigma_t x0),    x0 ~ N(0, I)

(Ho et al. 2020, arXiv 2006.11239; Kingma et al. 2021 "Variational Diffusion Models",
arXiv 2107.00630). ``project`` keeps states on the space: wrapped to ``[-pi, pi)`` on the
torus (FoldingDiff, arXiv 2209.15611), mean-free over real points on ZeroCoM (EDM for
molecules, arXiv 2203.17003). The noise ``x0`` is a tangent vector: ordinary (unwrapped)
Gaussian on the torus, mean-free on ZeroCoM.

Parameterisations, for fixed ``x_t`` (``r = alpha^2 + sigma^2``, 1 for VP schedules). The
name ``"x0"`` is DDPM's for the clean sample, which is ``x1`` in gensci's time convention
(``Corruption.x0`` is the noise)::

    eps: x0 = eps                 x1 = (x_t ⊖ sigma eps) / alpha
    x0 : x1 predicted            eps = (x_t ⊖ alpha x1) / sigma
    v  : v = alpha eps - sigma x1  (Salimans & Ho 2022, arXiv 2202.00512)
         x1 = (alpha x_t - sigma v) / r,   eps = (sigma x_t + alpha v) / r

``⊖`` is the space's difference: ``a - b``, wrapped to ``[-pi, pi)`` on the torus. There
the wrapped state hides how often ``alpha x1 + sigma eps`` wound round the circle, and the
wrapped differences pick the winding nearest the given estimate: eps <-> x0 are exact
whenever ``|sigma eps| < pi`` and ``x1`` lies in ``[-pi, pi)``. The v conversions read
``x_t`` in ``[-pi, pi)`` (the pair of least ``|x1|^2 + |eps|^2``), exact when
``alpha x1 + sigma eps`` itself lies in ``[-pi, pi)``.

Reverse-time verbs:

* :meth:`GaussianDiffusion.posterior` — ``q(x_s | x_t, x1)`` for ``s > t`` in closed form.
* :meth:`GaussianDiffusion.velocity` — the probability-flow ODE velocity
  ``d_alpha x1_hat + d_sigma eps_hat`` (the marginal velocity of the affine path).
* :meth:`GaussianDiffusion.sde` — a reverse SDE in forward ``t`` with the same marginals.

``timesteps = T`` gives a T-step DDPM: training times lie on the grid ``t_k = k / T``
(``k = 0..T-1``; ``k = T`` is the data) and samplers visit a subset of that grid.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from gensci.core.process import Condition, Corruption, Process, broadcast_time, masked_mean
from gensci.core.schedules import Schedule, make_schedule
from gensci.core.spaces import Categorical, Space

__all__ = ["GaussianDiffusion", "PREDICTIONS"]

#: what the network may predict
PREDICTIONS = ("eps", "x0", "v")


class GaussianDiffusion(Process):
    """Gaussian diffusion ``x_t = alpha_t x1 + sigma_t x0`` on a continuous space.

    Args:
        space: Euclidean, ZeroCoM or Torus.
        schedule: a :class:`Schedule` or its name (default ``"cosine"``).
        prediction: ``"eps"``, ``"x0"`` (the clean data x1) or ``"v"``.
        timesteps: ``None`` for continuous time, or T for a T-step DDPM grid ``k / T``.
        loss: ``"mse"`` or ``"smooth_l1"`` (Huber with threshold ``beta``; FoldingDiff uses
            the wrapped smooth L1 with ``beta = 0.1 pi``).
        beta: smooth-L1 threshold.
        t_min: schedule coefficients are evaluated at ``max(t, t_min)`` so that
            ``alpha > 0``; training times are drawn in ``[t_min, 1)``. Default ``1e-3`` in
            continuous time and ``0`` on a T-grid (the schedule's own floor keeps
            ``alpha(0) > 0`` there, as DDPM's beta clipping does).
        t_max: :meth:`velocity` and :meth:`sde` evaluate at ``min(t, t_max)``, because
            ``d_sigma`` is infinite where ``sigma = 0`` (``t = 1``).
    """

    capabilities = frozenset({"velocity", "sde", "gaussian_posterior"})

    def __init__(
        self,
        space: Space,
        schedule: Schedule | str = "cosine",
        prediction: str = "eps",
        timesteps: int | None = None,
        loss: str = "mse",
        beta: float = 0.1 * math.pi,
        t_min: float | None = None,
        t_max: float = 1.0 - 1e-4,
    ):
        if isinstance(space, Categorical) or not space.continuous:
            raise TypeError(f"GaussianDiffusion needs a continuous space, got {space!r}")
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")
        if loss not in ("mse", "smooth_l1"):
            raise ValueError(f"loss must be 'mse' or 'smooth_l1', got {loss!r}")
        if timesteps is not None and int(timesteps) < 1:
            raise ValueError(f"timesteps must be a positive integer or None, got {timesteps}")
        self.space = space
        self.schedule = make_schedule(schedule)
        self.prediction = prediction
        self.timesteps = None if timesteps is None else int(timesteps)
        self.loss_type = loss
        self.beta = float(beta)
        self.t_min = float(t_min) if t_min is not None else (1e-3 if self.timesteps is None else 0.0)
        self.t_max = float(t_max)
        if not 0.0 <= self.t_min < self.t_max <= 1.0:
            raise ValueError(f"need 0 <= t_min < t_max <= 1, got {self.t_min}, {self.t_max}")
        alpha_min = float(self.schedule.alpha(torch.tensor(self.t_min, dtype=torch.float64)))
        if not alpha_min > 0.0:
            raise ValueError(f"alpha(t_min) = {alpha_min}: raise t_min so that alpha stays positive")

    # ------------------------------------------------------------------ coefficients
    def coefficients(self, t: Tensor, x: Tensor, upper: float = 1.0) -> tuple[Tensor, Tensor]:
        """``(alpha_t, sigma_t)`` at ``clamp(t, t_min, upper)``, shaped to broadcast with ``x``."""
        tt = self._clamp(t, x, upper)
        return self.schedule.alpha(tt), self.schedule.sigma(tt)

    def _clamp(self, t: Tensor, x: Tensor, upper: float = 1.0) -> Tensor:
        t = torch.as_tensor(t, device=x.device)
        t = t.to(x.dtype) if x.is_floating_point() else t.float()
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        return broadcast_time(t.clamp(self.t_min, upper), x)

    def noise(
        self,
        shape: tuple[int, ...],
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device=None,
        mask: Tensor | None = None,
    ) -> Tensor:
        """Standard Gaussian noise as a tangent vector of the space.

        Plain N(0, I) on the torus (wrapping noise before scaling it by ``sigma`` would change
        the marginal), the space's own noise (mean-free, masked) elsewhere."""
        return self.space.tangent_noise(shape, generator=generator, dtype=dtype, device=device, mask=mask)

    # ------------------------------------------------------------------ training
    def sample_time(self, n: int, generator: torch.Generator | None = None, device=None) -> Tensor:
        """``t ~ U[t_min, 1)``, or uniform over the grid ``{0, 1/T, ..., (T-1)/T}``."""
        if self.timesteps is not None:
            return super().sample_time(n, generator=generator, device=device)
        u = torch.rand(n, generator=generator, device=device)
        return self.t_min + (1.0 - self.t_min) * u

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
        """``x_t = project(alpha_t x1 + sigma_t x0)`` and the target of ``self.prediction``:
        ``x0`` (eps), ``x1`` (x0) or ``v = alpha_t x0 - sigma_t x1``."""
        x1 = self.space.project(x1, mask)
        if t is None:
            t = self.sample_time(x1.shape[0], generator=generator, device=x1.device)
        if x0 is None:
            x0 = self.noise(tuple(x1.shape), generator=generator, dtype=x1.dtype, device=x1.device, mask=mask)
        alpha, sigma = self.coefficients(t, x1)
        x_t = self.space.project(alpha * x1 + sigma * x0, mask)
        if self.prediction == "eps":
            target = x0
        elif self.prediction == "x0":
            target = x1
        else:
            target = alpha * x0 - sigma * x1
        return Corruption(t=t, x_t=x_t, target=target, x0=x0, x1=x1, cond=cond, mask=mask)

    def loss(self, prediction: Tensor, c: Corruption) -> tuple[Tensor, dict[str, Tensor]]:
        """Masked mean of ``|d|^2`` or smooth-L1 of ``d = space.difference(pred, target)``
        (wrapped on the torus for every parameterisation, as FoldingDiff does)."""
        if prediction.shape != c.target.shape:
            raise ValueError(f"prediction shape {tuple(prediction.shape)} != target shape {tuple(c.target.shape)}")
        d = self.space.difference(prediction, c.target)
        if self.loss_type == "mse":
            per = d.square()
        else:
            per = F.smooth_l1_loss(d, torch.zeros_like(d), reduction="none", beta=self.beta)
        value = masked_mean(per, c.mask, c.weight)
        logs = {"loss": value.detach(), "mse": masked_mean(d.square(), c.mask).detach()}
        return value, logs

    # ------------------------------------------------------------------ conversions
    def _split(
        self, pred: Tensor, x_t: Tensor, t: Tensor, kind: str | None, upper: float = 1.0
    ) -> tuple[Tensor, Tensor]:
        """``(x1_hat, eps_hat)`` from a prediction of ``kind`` (default ``self.prediction``)."""
        kind = kind or self.prediction
        alpha, sigma = self.coefficients(t, x_t, upper)
        if kind == "eps":
            return self.space.difference(x_t, sigma * pred) / alpha, pred
        if kind == "x0":
            return pred, self.space.difference(x_t, alpha * pred) / sigma
        if kind == "v":
            r = alpha**2 + sigma**2
            return (alpha * x_t - sigma * pred) / r, (sigma * x_t + alpha * pred) / r
        raise ValueError(f"prediction must be one of {PREDICTIONS}, got {kind!r}")

    def to_x0(self, pred: Tensor, x_t: Tensor, t: Tensor, kind: str | None = None) -> Tensor:
        """The clean-data estimate ``x1_hat`` implied by a prediction of ``kind``."""
        return self._split(pred, x_t, t, kind)[0]

    def to_eps(self, pred: Tensor, x_t: Tensor, t: Tensor, kind: str | None = None) -> Tensor:
        """The noise estimate ``eps_hat`` implied by a prediction of ``kind``."""
        return self._split(pred, x_t, t, kind)[1]

    def to_v(self, pred: Tensor, x_t: Tensor, t: Tensor, kind: str | None = None) -> Tensor:
        """``v_hat = alpha eps_hat - sigma x1_hat`` implied by a prediction of ``kind``."""
        x1, eps = self._split(pred, x_t, t, kind)
        alpha, sigma = self.coefficients(t, x_t)
        return alpha * eps - sigma * x1

    def score(self, pred: Tensor, x_t: Tensor, t: Tensor, kind: str | None = None) -> Tensor:
        """``grad log p_t(x_t) = -eps_hat / sigma_t`` (Tweedie)."""
        _, sigma = self.coefficients(t, x_t)
        return -self.to_eps(pred, x_t, t, kind) / sigma

    # ------------------------------------------------------------------ reverse-time verbs
    def posterior(self, x_t: Tensor, x1_hat: Tensor, t: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and std of ``q(x_s | x_t, x1)`` for ``s > t`` (``s`` nearer the data).

        With ``alpha_{t|s} = alpha_t / alpha_s`` and
        ``sigma_{t|s}^2 = sigma_t^2 - alpha_{t|s}^2 sigma_s^2`` (the forward step s -> t):

            mean = (alpha_{t|s} sigma_s^2 / sigma_t^2) x_t + (alpha_s sigma_{t|s}^2 / sigma_t^2) x1
            var  = sigma_{t|s}^2 sigma_s^2 / sigma_t^2

        (Kingma et al. 2021, eq. 26); since ``c_t alpha_t + c_1 = alpha_s`` the mean is
        computed as ``alpha_s x1 + c_t (x_t ⊖ alpha_t x1)``. On the T-grid, with
        ``t = 1 - n/T`` and ``s = 1 - (n-1)/T``, this is DDPM's ``beta_n sqrt(abar_{n-1}) / (1 - abar_n) x1 +
        sqrt(1 - beta_n) (1 - abar_{n-1}) / (1 - abar_n) x_n`` with variance
        ``beta_n (1 - abar_{n-1}) / (1 - abar_n)``. The mean is a state in the ambient
        coordinates; callers project it after adding noise.
        """
        a_t, s_t = self.coefficients(t, x_t)
        a_s, s_s = self.coefficients(s, x_t)
        a_ts = a_t / a_s
        var_ts = (s_t**2 - a_ts**2 * s_s**2).clamp_min(0.0)
        # c_t x_t + c_1 x1 with c_t alpha_t + c_1 = alpha_s, written through the difference
        # x_t ⊖ alpha_t x1 so that the torus uses the winding nearest x1
        mean = a_s * x1_hat + (a_ts * s_s**2 / s_t**2) * self.space.difference(x_t, a_t * x1_hat)
        std = (var_ts * s_s**2 / s_t**2).sqrt()
        return mean, std

    def velocity(self, prediction: Tensor, x_t: Tensor, t: Tensor) -> Tensor:
        """Probability-flow velocity ``d_alpha x1_hat + d_sigma eps_hat``, evaluated at
        ``clamp(t, t_min, t_max)``. This is ``E[d x_t / dt | x_t]``, the marginal velocity of
        the affine path, so ODE samplers drive diffusion models with it."""
        x1, eps = self._split(prediction, x_t, t, None, self.t_max)
        tt = self._clamp(t, x_t, self.t_max)
        return self.schedule.d_alpha(tt) * x1 + self.schedule.d_sigma(tt) * eps

    def sde(self, prediction: Tensor, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Reverse SDE ``dx = f dt + g dW`` run forward in ``t``, with the path's marginals.

        In DDPM time ``tau = 1 - t`` the noising SDE of the path is
        ``dx = f_tau x dtau + g dW`` with ``f_tau = d log alpha / dtau`` and
        ``g^2 = d sigma^2/dtau - 2 f_tau sigma^2``; in ``t``:
        ``g^2 = 2 sigma^2 (d_alpha / alpha - d_sigma / sigma) = sigma^2 d log SNR / dt``
        (``= 2 d log alpha / dt = beta(tau)`` for VP). Its time reversal (Anderson 1982;
        Song et al. 2021, arXiv 2011.13456) is, forward in ``t``,

            f = v_pf + (g^2 / 2) score,   score = -eps_hat / sigma
              = d_alpha x1_hat + (2 d_sigma - sigma d_alpha / alpha) eps_hat.

        Evaluated at ``clamp(t, t_min, t_max)``. Returns ``(f, g)`` with ``g`` shaped
        ``(B, 1, ..., 1)``.
        """
        x1, eps = self._split(prediction, x_t, t, None, self.t_max)
        tt = self._clamp(t, x_t, self.t_max)
        alpha, sigma = self.schedule.alpha(tt), self.schedule.sigma(tt)
        d_alpha, d_sigma = self.schedule.d_alpha(tt), self.schedule.d_sigma(tt)
        g2 = (2.0 * sigma * (sigma * d_alpha / alpha - d_sigma)).clamp_min(0.0)
        drift = d_alpha * x1 + (2.0 * d_sigma - sigma * d_alpha / alpha) * eps
        return drift, g2.sqrt()

    def __repr__(self) -> str:
        return (
            f"GaussianDiffusion(space={self.space!r}, schedule={self.schedule!r}, "
            f"prediction={self.prediction!r}, timesteps={self.timesteps})"
        )
