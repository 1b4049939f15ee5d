"""Seeded 2D toy distributions and Gaussian mixtures for flow / bridge benchmarks.

Every function draws from the explicit ``torch.Generator`` only (same seed, same points)
and returns float32 points ``(n, dim)``; labels are long tensors ``(n,)``.

* :func:`eight_gaussians` — 8 isotropic Gaussians on a circle of radius ``scale``
  (the usual source of the 8-gaussians → moons benchmark; Tong et al. 2023,
  arXiv 2302.00482, and C2OT, arXiv 2503.10636).
* :func:`moons` / :func:`labelled_moons` — two interleaving half circles (upper arc of
  the unit circle, and the lower arc centred at ``(1, 0.5)``), centred at the origin,
  scaled by ``scale`` and jittered by Gaussian ``noise``.
* :func:`checkerboard` — uniform on the 8 dark squares of a 4 × 4 board of side ``4·cell``.
* :func:`gaussian_mixture` — ``components`` Gaussians in ``R^dim`` (d = 2..64 benchmarks)
  whose means lie on a sphere of radius ``radius``; the layout is fixed by ``layout_seed``,
  the points by the generator.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["eight_gaussians", "moons", "labelled_moons", "checkerboard", "gaussian_mixture", "TOYS"]


def eight_gaussians(
    n: int,
    generator: torch.Generator | None = None,
    scale: float = 4.0,
    std: float = 0.5,
) -> Tensor:
    """``x = scale (cos θ_k, sin θ_k) + std z`` with ``θ_k = 2πk/8``, ``k`` uniform."""
    k = torch.randint(0, 8, (n,), generator=generator)
    theta = k.double() * (2 * math.pi / 8)
    centres = scale * torch.stack([theta.cos(), theta.sin()], dim=1)
    z = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    return (centres + std * z).float()


def labelled_moons(
    n: int,
    generator: torch.Generator | None = None,
    noise: float = 0.1,
    scale: float = 3.0,
) -> tuple[Tensor, Tensor]:
    """Two interleaving half circles with their labels (0 = upper arc, 1 = lower arc).

    Upper: ``(cos u, sin u)``; lower: ``(1 - cos u, 0.5 - sin u)``, ``u ~ U[0, π]``. The set
    is centred (subtract ``(0.5, 0.25)``), scaled by ``scale``, plus ``noise`` Gaussian jitter.
    """
    labels = torch.randint(0, 2, (n,), generator=generator)
    u = math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
    upper = torch.stack([u.cos(), u.sin()], dim=1)
    lower = torch.stack([1.0 - u.cos(), 0.5 - u.sin()], dim=1)
    x = torch.where(labels[:, None].bool(), lower, upper) - torch.tensor([0.5, 0.25], dtype=torch.float64)
    x = scale * x + noise * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    return x.float(), labels.long()


def moons(n: int, generator: torch.Generator | None = None, noise: float = 0.1, scale: float = 3.0) -> Tensor:
    """The points of :func:`labelled_moons` without labels."""
    return labelled_moons(n, generator=generator, noise=noise, scale=scale)[0]


def checkerboard(n: int, generator: torch.Generator | None = None, cell: float = 1.0) -> Tensor:
    """Uniform on the 8 squares ``(i, j)`` with ``i + j`` even of a 4 × 4 board centred at 0."""
    dark = torch.tensor([(i, j) for i in range(4) for j in range(4) if (i + j) % 2 == 0], dtype=torch.float64)
    k = torch.randint(0, 8, (n,), generator=generator)
    offset = torch.rand(n, 2, generator=generator, dtype=torch.float64)
    return (cell * (dark[k] + offset - 2.0)).float()


def gaussian_mixture(
    n: int,
    dim: int = 2,
    generator: torch.Generator | None = None,
    components: int = 8,
    radius: float = 4.0,
    std: float = 0.5,
    layout_seed: int = 0,
    return_labels: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """``x = m_k + std z`` with ``k`` uniform over ``components`` means on a sphere.

    In 2D the means sit evenly on the circle of radius ``radius``; in higher dimension
    they are ``radius · g / ||g||`` with ``g ~ N(0, I)`` from a private generator seeded
    by ``layout_seed``, so every call shares one layout.
    """
    if dim < 1 or components < 1:
        raise ValueError(f"gaussian_mixture needs dim >= 1 and components >= 1, got {dim}, {components}")
    if dim == 2:
        theta = torch.arange(components, dtype=torch.float64) * (2 * math.pi / components)
        means = radius * torch.stack([theta.cos(), theta.sin()], dim=1)
    else:
        g = torch.randn(components, dim, generator=torch.Generator().manual_seed(layout_seed), dtype=torch.float64)
        means = radius * g / g.norm(dim=1, keepdim=True)
    k = torch.randint(0, components, (n,), generator=generator)
    x = (means[k] + std * torch.randn(n, dim, generator=generator, dtype=torch.float64)).float()
    return (x, k.long()) if return_labels else x


#: name -> sampler ``f(n, generator) -> Tensor | (Tensor, labels)``
TOYS = {
    "eight_gaussians": eight_gaussians,
    "moons": moons,
    "labelled_moons": labelled_moons,
    "checkerboard": checkerboard,
    "gaussian_mixture": gaussian_mixture,
}
