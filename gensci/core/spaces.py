"""State spaces: how a field lives, how noise is drawn on it, and how differences are taken.

Processes and samplers ask the space; they never special-case a domain.

* :class:`Euclidean` — plain R^d.
* :class:`ZeroCoM` — point clouds ``(..., N, D)`` with zero centre of mass, the
  translation-free subspace used by E(n)-equivariant diffusion (Hoogeboom et al., 2022,
  arXiv 2203.17003): noise is projected by ``x - mean_N(x)`` over the unmasked points.
* :class:`Torus` — angles, always wrapped to ``[-pi, pi)``: ``wrap(x) = (x + pi) mod 2pi - pi``;
  the difference ``a ⊖ b = wrap(a - b)`` is the shortest signed arc (FoldingDiff,
  Wu et al., 2022, arXiv 2209.15611).
* :class:`Categorical` — K classes held as integer indices; noise is uniform over the classes.

Masks are boolean tensors over the leading token axes (``x.shape[:mask.ndim]``); ``True``
marks a real entry. Padded entries are set to zero by :meth:`Space.project`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
from torch import Tensor

__all__ = ["Space", "Euclidean", "ZeroCoM", "Torus", "Categorical", "wrap_angle", "expand_mask"]


def wrap_angle(x: Tensor) -> Tensor:
    """Wrap angles to ``[-pi, pi)``: ``(x + pi) mod 2pi - pi``."""
    return torch.remainder(x + math.pi, 2 * math.pi) - math.pi


def expand_mask(mask: Tensor | None, x: Tensor) -> Tensor | None:
    """Broadcast a token mask ``(B, N)`` against a state ``(B, N, ...)`` as a float tensor."""
    if mask is None:
        return None
    m = mask.to(x.dtype)
    while m.ndim < x.ndim:
        m = m.unsqueeze(-1)
    return m


class Space(ABC):
    """A continuous or discrete state space.

    Subclasses implement :meth:`noise`, :meth:`project` and :meth:`difference`.
    """

    #: whether states are real vectors (True) or class indices (False)
    continuous: bool = True

    @abstractmethod
    def noise(
        self,
        shape: tuple[int, ...],
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
        mask: Tensor | None = None,
    ) -> Tensor:
        """Draw reference noise of ``shape`` on the space (already projected)."""

    @abstractmethod
    def project(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Map an ambient tensor onto the space (wrap, remove the centre of mass, zero pads)."""

    def tangent_noise(
        self,
        shape: tuple[int, ...],
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
        mask: Tensor | None = None,
    ) -> Tensor:
        """Standard Gaussian noise as a tangent vector, to be scaled and then added with :meth:`add`.

        Equal to :meth:`noise` except on the torus, where noise must stay unwrapped until it
        has been scaled (wrapping first would change the distribution of ``sigma * z``)."""
        return self.noise(shape, generator=generator, dtype=dtype, device=device, mask=mask)

    def difference(self, a: Tensor, b: Tensor) -> Tensor:
        """The tangent vector from ``b`` to ``a`` (``a - b``; wrapped on the torus)."""
        return a - b

    def add(self, x: Tensor, delta: Tensor, mask: Tensor | None = None) -> Tensor:
        """Move ``x`` by the tangent vector ``delta`` and return to the space."""
        return self.project(x + delta, mask)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Euclidean(Space):
    """R^d with standard Gaussian noise."""

    def noise(self, shape, generator=None, dtype=torch.float32, device=None, mask=None) -> Tensor:
        x = torch.randn(shape, generator=generator, dtype=dtype, device=device)
        return self.project(x, mask)

    def project(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        m = expand_mask(mask, x)
        return x if m is None else x * m


class ZeroCoM(Space):
    """Point clouds ``(B, N, D)`` with zero centre of mass over the (unmasked) points.

    ``project(x) = x - (1/|N|) sum_i x_i`` with the sum over real points only.
    """

    def noise(self, shape, generator=None, dtype=torch.float32, device=None, mask=None) -> Tensor:
        if len(shape) < 2:
            raise ValueError(f"ZeroCoM needs states shaped (..., N, D), got {tuple(shape)}")
        x = torch.randn(shape, generator=generator, dtype=dtype, device=device)
        return self.project(x, mask)

    def project(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        m = expand_mask(mask, x)
        if m is None:
            return x - x.mean(dim=-2, keepdim=True)
        x = x * m
        count = m.sum(dim=-2, keepdim=True).clamp_min(1.0)
        com = x.sum(dim=-2, keepdim=True) / count
        return (x - com) * m


class Torus(Space):
    """The flat torus [-pi, pi)^d: angles with wrapped noise and wrapped differences.

    Noise is a standard normal wrapped onto the circle (the wrapped-normal reference of
    FoldingDiff); ``difference(a, b) = wrap(a - b)``.
    """

    def noise(self, shape, generator=None, dtype=torch.float32, device=None, mask=None) -> Tensor:
        x = torch.randn(shape, generator=generator, dtype=dtype, device=device)
        return self.project(x, mask)

    def tangent_noise(self, shape, generator=None, dtype=torch.float32, device=None, mask=None) -> Tensor:
        z = torch.randn(shape, generator=generator, dtype=dtype, device=device)
        return Euclidean().project(z, mask)

    def project(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        x = wrap_angle(x)
        m = expand_mask(mask, x)
        return x if m is None else x * m

    def difference(self, a: Tensor, b: Tensor) -> Tensor:
        return wrap_angle(a - b)


class Categorical(Space):
    """K classes as integer indices ``0..K-1``; noise is uniform over the classes."""

    continuous = False

    def __init__(self, num_classes: int):
        if num_classes < 2:
            raise ValueError(f"Categorical needs at least 2 classes, got {num_classes}")
        self.num_classes = int(num_classes)

    def noise(self, shape, generator=None, dtype=torch.long, device=None, mask=None) -> Tensor:
        x = torch.randint(0, self.num_classes, shape, generator=generator, device=device)
        return self.project(x, mask)

    def project(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        x = x.clamp(0, self.num_classes - 1)
        if mask is not None:
            x = torch.where(mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim)), x, torch.zeros_like(x))
        return x

    def difference(self, a: Tensor, b: Tensor) -> Tensor:
        raise TypeError("Categorical states have no tangent difference")

    def one_hot(self, x: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
        """One-hot encode class indices ``(...,) -> (..., K)``."""
        return torch.nn.functional.one_hot(x.long(), self.num_classes).to(dtype)

    def __repr__(self) -> str:
        return f"Categorical({self.num_classes})"
