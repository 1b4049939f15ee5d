r"""Distributions of the training time ``t in [0, 1]`` (``t = 1`` is the data).

Uniform time spends as many steps near the source as near the data. Models whose samples are
judged on fine detail — bond lengths of a 3D molecule — train better with more time near the
data: SemlaFlow (Irwin et al. 2024, arXiv 2406.07266) draws ``t ~ Beta(2, 1)``, Stable
Diffusion 3 (Esser et al. 2024, arXiv 2403.03206) a logit-normal. A continuous-time process
given ``time_distribution=`` draws its training times from it
(:meth:`gensci.core.process.Process.sample_time`); sampling is unchanged.

Every distribution draws from a ``torch.Generator``, so seeded corruptions stay reproducible.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
from torch import Tensor

__all__ = ["TimeDistribution", "UniformTime", "BetaTime", "LogitNormalTime"]


class TimeDistribution(ABC):
    """``sample(n, generator, device) -> Tensor (n,)`` in ``[0, 1)``; ``density(t)`` its pdf."""

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator | None = None, device=None) -> Tensor:
        """``n`` training times drawn with ``generator``."""

    @abstractmethod
    def density(self, t: Tensor) -> Tensor:
        """The probability density at ``t`` (zero outside ``[0, 1]``)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class UniformTime(TimeDistribution):
    """``t ~ U[0, 1)``."""

    def sample(self, n: int, generator: torch.Generator | None = None, device=None) -> Tensor:
        return torch.rand(n, generator=generator, device=device)

    def density(self, t: Tensor) -> Tensor:
        return ((t >= 0) & (t <= 1)).to(torch.get_default_dtype() if not t.is_floating_point() else t.dtype)


class BetaTime(TimeDistribution):
    r"""``t ~ Beta(a, b)`` for whole ``a, b >= 1``, drawn exactly as the ``a``-th smallest of
    ``a + b - 1`` uniforms (the order-statistic construction, which needs only ``torch.rand``
    and so honours a generator). ``Beta(2, 1)`` (SemlaFlow's choice) has density ``2t``.

    .. math:: p(t) = \frac{t^{a-1} (1-t)^{b-1}}{B(a, b)}
    """

    def __init__(self, a: int = 2, b: int = 1):
        if int(a) != a or int(b) != b or a < 1 or b < 1:
            raise ValueError(f"BetaTime needs whole a, b >= 1 (drawn as an order statistic of uniforms), got a={a}, b={b}")
        self.a, self.b = int(a), int(b)

    def sample(self, n: int, generator: torch.Generator | None = None, device=None) -> Tensor:
        u = torch.rand(n, self.a + self.b - 1, generator=generator, device=device)
        return u.sort(dim=1).values[:, self.a - 1]

    def density(self, t: Tensor) -> Tensor:
        log_beta = math.lgamma(self.a) + math.lgamma(self.b) - math.lgamma(self.a + self.b)
        inside = (t >= 0) & (t <= 1)
        tc = t.clamp(0.0, 1.0)
        p = tc.pow(self.a - 1) * (1 - tc).pow(self.b - 1) / math.exp(log_beta)
        return torch.where(inside, p, torch.zeros_like(p))

    def __repr__(self) -> str:
        return f"BetaTime(a={self.a}, b={self.b})"


class LogitNormalTime(TimeDistribution):
    r"""``t = sigmoid(m + s z)``, ``z ~ N(0, 1)`` (Esser et al. 2024); ``m > 0`` leans to the data.

    .. math:: p(t) = \frac{1}{s\sqrt{2\pi}\, t (1-t)} \exp\Big(-\frac{(\mathrm{logit}\, t - m)^2}{2 s^2}\Big)
    """

    def __init__(self, mean: float = 0.0, std: float = 1.0):
        if not std > 0:
            raise ValueError(f"LogitNormalTime needs std > 0, got {std}")
        self.mean, self.std = float(mean), float(std)

    def sample(self, n: int, generator: torch.Generator | None = None, device=None) -> Tensor:
        z = torch.randn(n, generator=generator, device=device)
        return torch.sigmoid(self.mean + self.std * z).clamp(max=1.0 - 1e-6)

    def density(self, t: Tensor) -> Tensor:
        tc = t.clamp(1e-12, 1 - 1e-12)
        logit = torch.log(tc) - torch.log1p(-tc)
        p = torch.exp(-0.5 * ((logit - self.mean) / self.std) ** 2) / (self.std * math.sqrt(2 * math.pi) * tc * (1 - tc))
        return torch.where((t > 0) & (t < 1), p, torch.zeros_like(p))

    def __repr__(self) -> str:
        return f"LogitNormalTime(mean={self.mean:g}, std={self.std:g})"
