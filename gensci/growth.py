r"""The growth exponent of a cost against a size.

For measured costs ``t_i`` at sizes ``n_i`` (atoms, residues, batch), the exponent ``k`` of
the power law ``t = c n^k`` is the least-squares slope on logarithms,

.. math::
    k = \frac{\sum_i (\log n_i - \overline{\log n})(\log t_i - \overline{\log t})}
             {\sum_i (\log n_i - \overline{\log n})^2},

so ``k = 1`` is linear growth and ``k = 2`` quadratic (all pairs of atoms). Fixed costs
(Python overhead, a sampler's set-up) pull ``k`` below the compute's own exponent at small
sizes, which is why the benchmarks report the local exponents between neighbouring sizes too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from gensci.errors import GensciError

__all__ = ["growth_exponent", "local_exponents"]


def _logs(sizes: Sequence[float], costs: Sequence[float]) -> tuple[list[float], list[float]]:
    if len(sizes) != len(costs):
        raise GensciError(f"{len(sizes)} sizes for {len(costs)} costs")
    if any(not (v > 0 and math.isfinite(v)) for v in [*sizes, *costs]):
        raise GensciError("sizes and costs must be positive and finite")
    return [math.log(v) for v in sizes], [math.log(v) for v in costs]


def growth_exponent(sizes: Sequence[float], costs: Sequence[float]) -> float:
    """The least-squares exponent ``k`` of ``costs ∝ sizes^k`` (module docstring)."""
    x, y = _logs(sizes, costs)
    if len(set(x)) < 2:
        raise GensciError("a growth exponent needs at least two different sizes")
    mx, my = sum(x) / len(x), sum(y) / len(y)
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / sum((a - mx) ** 2 for a in x)


def local_exponents(sizes: Sequence[float], costs: Sequence[float]) -> list[float]:
    """``log(t_{i+1} / t_i) / log(n_{i+1} / n_i)`` between neighbouring sizes (sorted by size)."""
    x, y = _logs(sizes, costs)
    pairs = sorted(zip(x, y))
    if any(a == b for (a, _), (b, _) in zip(pairs, pairs[1:])):
        raise GensciError("local exponents need distinct sizes")
    return [(y2 - y1) / (x2 - x1) for (x1, y1), (x2, y2) in zip(pairs, pairs[1:])]
