"""Geometric sanity metrics of generated backbones (no structure prediction needed).

For backbones ``(L, 4, 3)`` (N, CA, C, O) with CA positions ``r_i``:

* ``ca_ca_mean`` — mean distance ``|r_{i+1} - r_i|`` of consecutive CA atoms (trans peptides
  give 3.80 Å; FoldingDiff's round trip measured 3.825 Å).
* ``ca_ca_ideal_fraction`` — fraction of consecutive pairs with ``3.75 <= d <= 3.85`` Å.
* ``clash_free_fraction`` — fraction of structures with no CA pair ``|i - j| >= 2`` closer
  than ``3.0`` Å. Real chains keep non-adjacent CA atoms about 3.8 Å apart or more
  (helix i, i+2 is 5.4 Å); only CA atoms are used so that genuine contacts such as
  helix N-H...O=C (2.9 Å) are not counted. Found with a k-d tree: each CA's four nearest
  neighbours (itself, at most two chain neighbours, so at least one other if any is within
  reach), so memory stays O(L) (an all-pairs distance matrix took 1 GB at 4,000 residues).
* ``geometry_ok_fraction`` — fraction of structures that pass the reader's strict geometry
  checks (:func:`domains.proteins.geometry_checks.backbone_problem`: bond lengths, N-CA-C
  angles, consecutive CA steps, coincident atoms), i.e. that a training set would accept.
* ``radius_of_gyration`` — mean CA radius of gyration ``sqrt(mean_i |r_i - r_mean|^2)`` (Å), and
  ``rg_ratio``, its mean ratio to the compact-protein law ``2.2 L^0.38`` Å (Skolnick et al.
  1997, J. Mol. Biol. 265:217): about 1 for folded domains, larger for extended chains.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from domains.proteins.geometry_checks import backbone_problem

__all__ = ["CA_CA_RANGE", "CLASH_DISTANCE", "has_clash", "backbone_metrics"]

#: consecutive CA-CA distances counted as ideal (Å)
CA_CA_RANGE = (3.75, 3.85)
#: non-adjacent CA atoms closer than this clash (Å)
CLASH_DISTANCE = 3.0


def _ca(backbone: np.ndarray) -> np.ndarray:
    return np.asarray(backbone, dtype=np.float64)[:, 1]


def has_clash(ca: np.ndarray, distance: float = CLASH_DISTANCE) -> bool:
    """Whether two CA atoms ``(L, 3)`` at least two apart along the chain are closer than
    ``distance`` (O(L log L) time, O(L) memory; module docstring)."""
    from scipy.spatial import cKDTree

    n = len(ca)
    if n < 3:
        return False
    dist, index = cKDTree(ca).query(ca, k=min(4, n), distance_upper_bound=distance)
    close = (dist < distance) & (np.abs(index - np.arange(n)[:, None]) >= 2)
    return bool(close.any())


def backbone_metrics(backbones: Sequence[np.ndarray]) -> dict[str, float]:
    """The module's metrics over a list of backbones ``(L_i, 3 or 4, 3)``."""
    steps, clash_free, sound, rg, ratio = [], [], [], [], []
    for bb in backbones:
        ca = _ca(bb)
        n = len(ca)
        if n == 0:
            continue
        steps.append(np.linalg.norm(np.diff(ca, axis=0), axis=-1))
        clash_free.append(not has_clash(ca))
        sound.append(backbone_problem(np.asarray(bb, dtype=np.float64)[:, :3], [str(i + 1) for i in range(n)]) is None)
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
        "geometry_ok_fraction": float(np.mean(sound)),
        "radius_of_gyration": float(np.mean(rg)),
        "rg_ratio": float(np.mean(ratio)),
    }
