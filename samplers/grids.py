r"""Step grids bent by a time distortion: ``t_k = D(k / N)`` for any sampler.

A distortion ``D : [0, 1] -> [0, 1]`` is increasing with ``D(0) = 0`` and ``D(1) = 1``
(DeFoG, Qin et al. 2025, arXiv 2410.04263, section 4): where ``D`` is steep the steps are
long, where it is flat they are short.

* ``identity`` ``u``;
* ``polyinc`` ``u^2`` (short steps near the source, ``t = 0``);
* ``polydec`` ``2u - u^2 = 1 - (1 - u)^2`` (short steps near the data, ``t = 1``);
* ``power:P`` ``1 - (1 - u)^P`` for ``P > 0`` (``power:2`` is ``polydec``; larger ``P``, shorter
  steps near the data; ``P < 1`` shortens those near the source);
* ``cos`` ``(1 - cos(pi u)) / 2`` (short at both ends);
* ``revcos`` ``2u - (1 - cos(pi u)) / 2`` (short in the middle).

``process`` names the process's own grid (uniform in ``t``, or its ``T``-step grid). On a
process with a ``T``-step grid the distorted times are snapped onto it (duplicates merged,
so a grid may come out shorter than asked when ``N`` is close to ``T``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from gensci.core.process import Process
from gensci.errors import GensciError

__all__ = ["DISTORTIONS", "check_distortion", "distort", "distorted_grid"]

#: time distortions ``D : [0, 1] -> [0, 1]``, increasing, ``D(0) = 0``, ``D(1) = 1``
DISTORTIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "identity": lambda u: u,
    "polyinc": lambda u: u * u,
    "polydec": lambda u: 2 * u - u * u,
    "cos": lambda u: (1 - torch.cos(math.pi * u)) / 2,
    "revcos": lambda u: 2 * u - (1 - torch.cos(math.pi * u)) / 2,
}


def _power(name: str) -> float | None:
    """``P`` of a ``power:P`` distortion (None for any other name); raises on a bad ``P``."""
    if not isinstance(name, str) or not name.startswith("power:"):
        return None
    try:
        p = float(name.removeprefix("power:"))
    except ValueError:
        p = math.nan
    if not (p > 0 and math.isfinite(p)):
        raise GensciError(f"time distortion {name!r}: power:P needs a positive number P, e.g. power:3")
    return p


def check_distortion(name: str) -> None:
    """Raise unless ``name`` is a distortion of :data:`DISTORTIONS`, ``power:P`` or ``process``."""
    if name != "process" and name not in DISTORTIONS and _power(name) is None:
        raise GensciError(f"unknown time distortion {name!r}; choose one of {', '.join(DISTORTIONS)}, power:P "
                          "or process")


def distort(u: Tensor, name: str) -> Tensor:
    """``D(u)`` for a distortion of :data:`DISTORTIONS` or ``power:P``."""
    if name == "process":
        raise GensciError("the 'process' distortion is the process's own grid, not a function of u")
    check_distortion(name)
    p = _power(name)
    return DISTORTIONS[name](u) if p is None else 1 - (1 - u) ** p


def distorted_grid(process: Process, steps: int, distortion: str, device: torch.device | str | None = None,
                   to_time: Callable[[Tensor], Tensor] | None = None) -> Tensor:
    """The ``steps + 1`` times ``t_k = to_time(D(k / N))`` (``to_time`` maps the distorted
    clock to the process's time, identity by default), exactly 0 and 1 at the ends, snapped
    onto the process's ``T``-step grid when it has one; strictly increasing, float32."""
    if distortion == "process":
        return process.time_grid(steps, device=device)
    if steps < 1:
        raise GensciError(f"steps must be >= 1, got {steps}")
    u = torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64)
    t = distort(u, distortion)
    t = to_time(t) if to_time is not None else t
    t[0], t[-1] = 0.0, 1.0
    big_t = getattr(process, "timesteps", None)
    if big_t is not None:
        if steps > big_t:
            raise GensciError(f"steps={steps} exceeds the process's T={big_t} grid points")
        t = torch.unique((t * big_t).round() / big_t)  # sorted; a distortion flat at an end may merge two points
    return t.to(dtype=torch.float32, device=device)
