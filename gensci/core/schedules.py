"""Noise schedules for affine paths ``x_t = alpha(t) x1 + sigma(t) x0`` with t = 1 the data.

Every schedule gives ``alpha``, ``sigma`` and their time derivatives ``d_alpha``,
``d_sigma`` in continuous time ``t in [0, 1]``.

* :class:`CondOTSchedule` — the straight path of flow matching (Lipman et al. 2023,
  arXiv 2210.02747; Liu et al. 2023 rectified flow): ``alpha = t``, ``sigma = 1 - t``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor

__all__ = ["Schedule", "CondOTSchedule"]


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
