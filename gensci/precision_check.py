"""Is a model's quality unchanged when its network runs in bfloat16? The rule of the check.

``scripts/check_precision.py`` draws the same plan twice with the same seed, once with the
network in float32 and once in bfloat16 (:class:`~gensci.nn.precision.Bfloat16Network`),
computes the domain's own metrics on both, and judges each metric the domain reports of
:data:`CHECKED` by the rule below. The verdict ``unchanged`` (every checked metric within noise)
is what lets ``precision="auto"`` pick bf16 (:mod:`gensci.precision_auto`).

The rule, per metric, with ``a`` the float32 figure, ``b`` the bfloat16 one and ``n`` the
number of samples:

* a rate (a fraction of the samples: strict validity, uniqueness, clash-free fraction) is within
  noise when ``|b - a| <= 2 sqrt(a (1 - a) / n) + 0.005``: two binomial standard errors of the
  float32 rate, plus half a point for rates near 0 or 1, whose standard error vanishes;
* a distance to the reference set (FCD, the angle KL divergences, W2) is within noise when
  ``|b - a| <= 0.1 |a|``: a 10 % relative band.

A metric must be finite in both runs to be judged; a NaN in one run only is a change.
"""

from __future__ import annotations

import math
from typing import Any

from gensci.errors import GensciError

__all__ = ["CHECKED", "RATE_SIGMAS", "RATE_FLOOR", "RELATIVE", "band", "compare", "within_noise"]

#: the metrics the check judges, by name as the domains report them, and their kind
CHECKED: dict[str, str] = {
    "validity_nc": "rate",  # molecules: strict validity (no valence correction)
    "uniqueness": "rate",
    "fcd": "relative",
    "clash_free_fraction": "rate",  # proteins
    "kl_ramachandran": "relative",
    "kl_angles_mean": "relative",
    "kl_psi_phi_next": "relative",
    "w2": "relative",  # points
}

RATE_SIGMAS = 2.0  #: binomial standard errors a rate may move
RATE_FLOOR = 0.005  #: what a rate may move beyond them
RELATIVE = 0.10  #: what a distance may move, relative to its float32 figure


def band(kind: str, fp32: float, n: int) -> float:
    """How far the bfloat16 figure may lie from the float32 figure ``fp32`` of a ``kind``
    ("rate" or "relative") metric over ``n`` samples and still count as unchanged."""
    if kind == "rate":
        if n < 1:
            raise GensciError(f"a rate's band needs at least one sample, got n={n}")
        p = min(max(float(fp32), 0.0), 1.0)
        return RATE_SIGMAS * math.sqrt(p * (1.0 - p) / n) + RATE_FLOOR
    if kind == "relative":
        return RELATIVE * abs(float(fp32))
    raise GensciError(f"a checked metric is a 'rate' or 'relative', got {kind!r}")


def within_noise(kind: str, fp32: float, bf16: float, n: int) -> bool:
    """Whether ``bf16`` lies within :func:`band` of ``fp32`` (both finite)."""
    a, b = float(fp32), float(bf16)
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    return abs(b - a) <= band(kind, a, n) + 1e-12  # a figure on the band's edge counts as inside


def compare(fp32: dict[str, Any], bf16: dict[str, Any], n: int) -> tuple[bool, dict[str, dict[str, Any]]]:
    """The verdict (every judged metric within noise) and, per metric of :data:`CHECKED` present
    in both metric dicts, ``{fp32, bf16, delta, band, within}``."""
    per_metric: dict[str, dict[str, Any]] = {}
    for name, kind in CHECKED.items():
        if name not in fp32 or name not in bf16:
            continue
        a, b = float(fp32[name]), float(bf16[name])
        per_metric[name] = {"kind": kind, "fp32": a, "bf16": b, "delta": b - a,
                            "band": band(kind, a, n) if math.isfinite(a) else float("nan"),
                            "within": within_noise(kind, a, b, n)}
    if not per_metric:
        raise GensciError(f"none of the checked metrics ({', '.join(CHECKED)}) is among the domain's: "
                          f"{', '.join(fp32) or 'none'}")
    return all(m["within"] for m in per_metric.values()), per_metric
