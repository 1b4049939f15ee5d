"""Noise schedules for affine paths ``x_t = alpha(t) x1 + sigma(t) x0`` with t = 1 the data.

Every schedule gives ``alpha``, ``sigma`` and their time derivatives ``d_alpha``,
``d_sigma`` in continuous time ``t in [0, 1]``, plus ``alpha_bar = alpha^2``.

* :class:`CondOTSchedule` — the straight path of flow matching (Lipman et al. 2023,
  arXiv 2210.02747; Liu et al. 2023 rectified flow): ``alpha = t``, ``sigma = 1 - t``.
* Variance-preserving schedules (``alpha^2 + sigma^2 = 1``), written through
  ``alpha_bar(t)`` in the DDPM time ``tau = 1 - t`` (``tau = 0`` data, ``tau = 1`` noise),
  so ``d/dt = -d/dtau``:

  - :class:`CosineSchedule` (Nichol & Dhariwal 2021, arXiv 2102.09672),
  - :class:`LinearSchedule` (the continuous VP SDE of Song et al. 2021, arXiv 2011.13456),
  - :class:`PolynomialSchedule` (EDM's noise levels, Karras et al. 2022, arXiv 2206.00364),
  - :class:`MoleculePolynomialSchedule` (the "polynomial_2" schedule of E(3) equivariant
    diffusion for molecules, Hoogeboom et al. 2022, arXiv 2203.17003).

:func:`make_schedule` builds one by name.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
from torch import Tensor

__all__ = [
    "Schedule",
    "CondOTSchedule",
    "VPSchedule",
    "CosineSchedule",
    "LinearSchedule",
    "PolynomialSchedule",
    "MoleculePolynomialSchedule",
    "make_schedule",
    "SCHEDULES",
]


class Schedule(ABC):
    """``alpha(t)``, ``sigma(t)`` and their derivatives; ``t = 1`` is the data."""

    @abstractmethod
    def alpha(self, t: Tensor) -> Tensor:
        """Signal coefficient, increasing, ``alpha(1) = 1``."""

    @abstractmethod
    def sigma(self, t: Tensor) -> Tensor:
        """Noise coefficient, decreasing, ``sigma(1) = 0`` (or nearly)."""

    @abstractmethod
    def d_alpha(self, t: Tensor) -> Tensor:
        """``d alpha / dt``."""

    @abstractmethod
    def d_sigma(self, t: Tensor) -> Tensor:
        """``d sigma / dt``."""

    def alpha_bar(self, t: Tensor) -> Tensor:
        """``alpha(t)^2``: DDPM's cumulative signal fraction (the keep probability of
        categorical diffusion)."""
        return self.alpha(t) ** 2

    def log_snr(self, t: Tensor) -> Tensor:
        """``log(alpha^2 / sigma^2)``."""
        return 2.0 * (torch.log(self.alpha(t)) - torch.log(self.sigma(t)))


class CondOTSchedule(Schedule):
    """``alpha = t``, ``sigma = 1 - t``: straight lines from source to data."""

    def alpha(self, t: Tensor) -> Tensor:
        return t

    def sigma(self, t: Tensor) -> Tensor:
        return 1.0 - t

    def d_alpha(self, t: Tensor) -> Tensor:
        return torch.ones_like(t)

    def d_sigma(self, t: Tensor) -> Tensor:
        return -torch.ones_like(t)


class VPSchedule(Schedule):
    """A variance-preserving schedule given by ``alpha_bar(t)``:

    ``alpha = sqrt(alpha_bar)``, ``sigma = sqrt(1 - alpha_bar)``,
    ``d_alpha = alpha_bar' / (2 alpha)``, ``d_sigma = -alpha_bar' / (2 sigma)``.

    Subclasses give ``alpha_bar``, a cancellation-free ``one_minus_alpha_bar`` (so that
    ``sigma`` is accurate near the data in float32) and ``d_alpha_bar = d alpha_bar / dt``.
    ``d_sigma`` is infinite where ``sigma = 0`` (``t = 1`` for cosine and linear):
    callers that need the velocity at the data end clamp ``t`` first.
    """

    @abstractmethod
    def alpha_bar(self, t: Tensor) -> Tensor: ...

    @abstractmethod
    def one_minus_alpha_bar(self, t: Tensor) -> Tensor:
        """``1 - alpha_bar(t)``, computed without cancellation."""

    @abstractmethod
    def d_alpha_bar(self, t: Tensor) -> Tensor:
        """``d alpha_bar / dt``."""

    def alpha(self, t: Tensor) -> Tensor:
        return self.alpha_bar(t).sqrt()

    def sigma(self, t: Tensor) -> Tensor:
        return self.one_minus_alpha_bar(t).sqrt()

    def d_alpha(self, t: Tensor) -> Tensor:
        return self.d_alpha_bar(t) / (2.0 * self.alpha(t))

    def d_sigma(self, t: Tensor) -> Tensor:
        return -self.d_alpha_bar(t) / (2.0 * self.sigma(t))

    def log_snr(self, t: Tensor) -> Tensor:
        return torch.log(self.alpha_bar(t)) - torch.log(self.one_minus_alpha_bar(t))


class CosineSchedule(VPSchedule):
    """Cosine schedule (Nichol & Dhariwal 2021, arXiv 2102.09672), ``tau = 1 - t``:

    ``f(tau) = (tau + s)/(1 + s) * pi/2``,
    ``alpha_bar(tau) = cos^2 f(tau) / cos^2 f(0)``,
    ``1 - alpha_bar = sin(f - f(0)) sin(f + f(0)) / cos^2 f(0)``,
    ``d alpha_bar / dt = +sin(2 f) f' / cos^2 f(0)`` with ``f' = pi / (2 (1 + s))``.

    Clamp: ``alpha_bar`` reaches exactly 0 at ``t = 0``, which would make ``1/alpha`` and
    ``log alpha`` infinite. It is floored at ``min_alpha_bar`` (default 1e-8, i.e.
    ``alpha >= 1e-4``; the continuous analogue of clipping ``beta <= 0.999``). On the
    floor (``t`` below about ``6e-5``) the schedule is constant, so its derivatives are 0.
    """

    def __init__(self, s: float = 0.008, min_alpha_bar: float = 1e-8):
        if s < 0:
            raise ValueError(f"cosine offset s must be >= 0, got {s}")
        if not 0.0 < min_alpha_bar < 1.0:
            raise ValueError(f"min_alpha_bar must lie in (0, 1), got {min_alpha_bar}")
        self.s = float(s)
        self.min_alpha_bar = float(min_alpha_bar)
        self._slope = 0.5 * math.pi / (1.0 + self.s)
        self._f0 = self.s * self._slope
        self._cos2_f0 = math.cos(self._f0) ** 2

    def _f(self, t: Tensor) -> Tensor:
        tau = (1.0 - t).clamp(0.0, 1.0)
        return (tau + self.s) * self._slope

    def _raw(self, t: Tensor) -> Tensor:
        return torch.cos(self._f(t)) ** 2 / self._cos2_f0

    def alpha_bar(self, t: Tensor) -> Tensor:
        raw = self._raw(t)
        # near the data take 1 - (1 - alpha_bar), which is exactly 1 at t = 1 in any dtype
        return torch.where(raw > 0.5, 1.0 - self.one_minus_alpha_bar(t), raw).clamp_min(self.min_alpha_bar)

    def one_minus_alpha_bar(self, t: Tensor) -> Tensor:
        f = self._f(t)
        value = torch.sin(f - self._f0) * torch.sin(f + self._f0) / self._cos2_f0
        return value.clamp(0.0, 1.0 - self.min_alpha_bar)

    def d_alpha_bar(self, t: Tensor) -> Tensor:
        f = self._f(t)
        d = torch.sin(2.0 * f) * self._slope / self._cos2_f0
        return torch.where(self._raw(t) > self.min_alpha_bar, d, torch.zeros_like(d))

    def __repr__(self) -> str:
        return f"CosineSchedule(s={self.s})"


class LinearSchedule(VPSchedule):
    """Continuous VP schedule with linear ``beta`` (Song et al. 2021, arXiv 2011.13456):

    ``beta(tau) = beta_min + (beta_max - beta_min) tau`` and
    ``log alpha_bar(tau) = -(beta_min tau + (beta_max - beta_min) tau^2 / 2)``, ``tau = 1 - t``,
    so ``d alpha_bar / dt = alpha_bar * beta(tau)``. ``alpha_bar(t = 0) = exp(-10.05)`` with
    the defaults, never 0.
    """

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0):
        if not 0.0 <= beta_min < beta_max:
            raise ValueError(f"need 0 <= beta_min < beta_max, got {beta_min}, {beta_max}")
        self.beta_min = float(beta_min)
        self.beta_max = float(beta_max)

    def _tau(self, t: Tensor) -> Tensor:
        return (1.0 - t).clamp(0.0, 1.0)

    def log_alpha_bar(self, t: Tensor) -> Tensor:
        tau = self._tau(t)
        return -(self.beta_min * tau + 0.5 * (self.beta_max - self.beta_min) * tau**2)

    def beta(self, t: Tensor) -> Tensor:
        """``beta(tau) = -d log alpha_bar / dtau`` at ``tau = 1 - t``."""
        return self.beta_min + (self.beta_max - self.beta_min) * self._tau(t)

    def alpha_bar(self, t: Tensor) -> Tensor:
        return torch.exp(self.log_alpha_bar(t))

    def one_minus_alpha_bar(self, t: Tensor) -> Tensor:
        return -torch.expm1(self.log_alpha_bar(t))

    def d_alpha_bar(self, t: Tensor) -> Tensor:
        return self.alpha_bar(t) * self.beta(t)

    def __repr__(self) -> str:
        return f"LinearSchedule(beta_min={self.beta_min}, beta_max={self.beta_max})"


class PolynomialSchedule(VPSchedule):
    """EDM's noise levels (Karras et al. 2022, arXiv 2206.00364) as a VP schedule:

    ``sigma_edm(t) = (a + t (b - a))^rho`` with ``a = sigma_max^(1/rho)``,
    ``b = sigma_min^(1/rho)``; ``alpha = 1/sqrt(1 + sigma_edm^2)``,
    ``sigma = sigma_edm/sqrt(1 + sigma_edm^2)`` (so ``x_t / alpha = x1 + sigma_edm x0`` is the
    EDM state). Derivatives: ``d_alpha = -sigma_edm sigma_edm' / (1 + sigma_edm^2)^(3/2)``,
    ``d_sigma = sigma_edm' / (1 + sigma_edm^2)^(3/2)``. Both ends are strictly inside (0, 1).
    """

    def __init__(self, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0):
        if not 0.0 < sigma_min < sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
        if rho <= 0:
            raise ValueError(f"rho must be positive, got {rho}")
        self.sigma_min, self.sigma_max, self.rho = float(sigma_min), float(sigma_max), float(rho)
        self._a = self.sigma_max ** (1.0 / self.rho)
        self._b = self.sigma_min ** (1.0 / self.rho)

    def sigma_edm(self, t: Tensor) -> Tensor:
        """EDM noise level ``sigma_edm(t)``: ``sigma_max`` at ``t = 0``, ``sigma_min`` at 1."""
        return (self._a + t.clamp(0.0, 1.0) * (self._b - self._a)) ** self.rho

    def d_sigma_edm(self, t: Tensor) -> Tensor:
        """``d sigma_edm / dt = rho (a + t (b - a))^(rho - 1) (b - a)``."""
        base = self._a + t.clamp(0.0, 1.0) * (self._b - self._a)
        return self.rho * base ** (self.rho - 1.0) * (self._b - self._a)

    def alpha_bar(self, t: Tensor) -> Tensor:
        return 1.0 / (1.0 + self.sigma_edm(t) ** 2)

    def one_minus_alpha_bar(self, t: Tensor) -> Tensor:
        s2 = self.sigma_edm(t) ** 2
        return s2 / (1.0 + s2)

    def d_alpha_bar(self, t: Tensor) -> Tensor:
        se = self.sigma_edm(t)
        return -2.0 * se * self.d_sigma_edm(t) / (1.0 + se**2) ** 2

    def alpha(self, t: Tensor) -> Tensor:
        return torch.rsqrt(1.0 + self.sigma_edm(t) ** 2)

    def sigma(self, t: Tensor) -> Tensor:
        se = self.sigma_edm(t)
        return se * torch.rsqrt(1.0 + se**2)

    def d_alpha(self, t: Tensor) -> Tensor:
        se = self.sigma_edm(t)
        return -se * self.d_sigma_edm(t) / (1.0 + se**2) ** 1.5

    def d_sigma(self, t: Tensor) -> Tensor:
        se = self.sigma_edm(t)
        return self.d_sigma_edm(t) / (1.0 + se**2) ** 1.5

    def __repr__(self) -> str:
        return f"PolynomialSchedule(sigma_min={self.sigma_min}, sigma_max={self.sigma_max}, rho={self.rho})"


class MoleculePolynomialSchedule(VPSchedule):
    """Hoogeboom et al.'s polynomial schedule for 3D molecules (arXiv 2203.17003, App. B):

    ``alpha_bar(tau) = (1 - 2 s) (1 - tau^p)^2 + s`` in DDPM time ``tau = 1 - t``, with
    ``p = 2`` and the precision floor ``s = 1e-5`` (so ``alpha_bar(1) = 1 - s`` at the data and
    ``s`` at the noise end). ``d alpha_bar / dt = (1 - 2 s) 2 (1 - tau^p) p tau^(p - 1)``.
    (Their discrete version also clips per-step ratios at 0.001, which only matters on
    their T-grid's last steps.)
    """

    def __init__(self, power: float = 2.0, precision: float = 1e-5):
        if power <= 0:
            raise ValueError(f"power must be positive, got {power}")
        if not 0.0 < precision < 0.5:
            raise ValueError(f"precision must lie in (0, 0.5), got {precision}")
        self.power, self.precision = float(power), float(precision)

    def _base(self, t: Tensor) -> Tensor:
        return 1.0 - (1.0 - t.clamp(0.0, 1.0)) ** self.power

    def alpha_bar(self, t: Tensor) -> Tensor:
        return (1.0 - 2.0 * self.precision) * self._base(t) ** 2 + self.precision

    def one_minus_alpha_bar(self, t: Tensor) -> Tensor:
        # 1 - base^2 = tau^p (2 - tau^p), free of cancellation near the data
        tau_p = (1.0 - t.clamp(0.0, 1.0)) ** self.power
        return (1.0 - 2.0 * self.precision) * tau_p * (2.0 - tau_p) + self.precision

    def d_alpha_bar(self, t: Tensor) -> Tensor:
        tau = 1.0 - t.clamp(0.0, 1.0)
        return (1.0 - 2.0 * self.precision) * 2.0 * self._base(t) * self.power * tau ** (self.power - 1.0)

    def __repr__(self) -> str:
        return f"MoleculePolynomialSchedule(power={self.power:g}, precision={self.precision:g})"


#: schedule names accepted by :func:`make_schedule`
SCHEDULES: dict[str, type[Schedule]] = {
    "cosine": CosineSchedule,
    "linear": LinearSchedule,
    "polynomial": PolynomialSchedule,
    "molecule_polynomial": MoleculePolynomialSchedule,
    "condot": CondOTSchedule,
}


def make_schedule(name: str | Schedule, **kwargs) -> Schedule:
    """Build a schedule by name (``"cosine"``, ``"linear"``, ``"polynomial"``, ``"condot"``);
    a :class:`Schedule` instance is returned unchanged."""
    if isinstance(name, Schedule):
        if kwargs:
            raise ValueError("keyword arguments given together with a Schedule instance")
        return name
    key = str(name).lower()
    if key not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; choose one of {sorted(SCHEDULES)}")
    return SCHEDULES[key](**kwargs)
