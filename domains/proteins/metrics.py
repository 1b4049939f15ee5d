"""Geometric sanity metrics of generated backbones (no structure prediction needed).

For backbones ``(L, 4, 3)`` (N, CA, C, O) with CA positions ``r_i``:

* ``ca_ca_mean`` — mean distance ``|r_{i+1} - r_i|`` of consecutive CA atoms (trans peptides
  give 3.80 Å; FoldingDiff's round trip measured 3.825 Å).
* ``ca_ca_ideal_fraction`` — fraction of consecutive pairs with ``3.75 <= d <= 3.85`` Å.
* ``clash_free_fraction`` — fraction of structures with no CA pair ``|i - j| >= 2`` closer
  than ``3.0`` Å. Real chains keep non-adjacent CA atoms about 3.8 Å apart or more
  (helix i, i+2 is 5.4 Å); only CA atoms are used so that genuine contacts such as
  helix N-H...O=C (2.9 Å) are not counted.
* ``radius_of_gyration`` — mean CA radius of gyration ``sqrt(mean_i |r_i - r_mean|^2)`` (Å), and
  ``rg_ratio``, its mean ratio to the compact-protein law ``2.2 L^0.38`` Å (Skolnick et al.
  1997, J. Mol. Biol. 265:217): about 1 for folded domains, larger for extended chains.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["CA_CA_RANGE", "CLASH_DISTANCE", "backbone_metrics"]

#: consecutive CA-CA distances counted as ideal (Å)
CA_CA_RANGE = (3.75, 3.85)
#: non-adjacent CA atoms closer than this clash (Å)
CLASH_DISTANCE = 3.0


def _ca(backbone: np.ndarray) -> np.ndarray:
    return np.asarray(backbone, dtype=np.float64)[:, 1]


def backbone_metrics(backbones: Sequence[np.ndarray]) -> dict[str, float]:
    """The module's metrics over a list of backbones ``(L_i, 3 or 4, 3)``."""
    steps, clash_free, rg, ratio = [], [], [], []
    for bb in backbones:
        ca = _ca(bb)
        n = len(ca)
        if n == 0:
            continue
        steps.append(np.linalg.norm(np.diff(ca, axis=0), axis=-1))
        d = np.linalg.norm(ca[:, None] - ca[None], axis=-1)
        far = np.abs(np.arange(n)[:, None] - np.arange(n)[None]) >= 2
        clash_free.append(not bool((d[far] < CLASH_DISTANCE).any()))
        g = float(np.sqrt(((ca - ca.mean(0)) ** 2).sum(-1).mean()))
        rg.append(g)
        ratio.append(g / (2.2 * n**0.38))
    if not rg:
        return {"count": 0.0}
    pairs = np.concatenate(steps)
    lo, hi = CA_CA_RANGE
    return {
        "count": float(len(rg)),
        "ca_ca_mean": float(pairs.mean()) if len(pairs) else float("nan"),
        "ca_ca_ideal_fraction": float(((pairs >= lo) & (pairs <= hi)).mean()) if len(pairs) else float("nan"),
        "clash_free_fraction": float(np.mean(clash_free)),
        "radius_of_gyration": float(np.mean(rg)),
        "rg_ratio": float(np.mean(ratio)),
    }
