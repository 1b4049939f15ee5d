"""Ramachandran and peptide-bond statistics of backbones on their own (no reference needed).

Each residue with both dihedrals defined falls in one region of the (phi, psi) plane, taken
as boxes in degrees (the populated basins of high-resolution structures, after Lovell et al.
2003, Proteins 50:437, and Hollingsworth & Karplus 2010, Biomol. Concepts 1:271):

* ``alpha`` (right-handed helix): -160 <= phi <= -20 and -120 <= psi <= 50;
* ``beta`` (strands, polyproline): -180 <= phi <= -45 and (psi >= 90 or psi <= -150);
* ``left`` (left-handed helix, mostly glycine): 20 <= phi <= 110 and -20 <= psi <= 100;
* ``other``: the rest (a real protein keeps it to a few per cent; uniform angles put about
  60% there).

:func:`ramachandran_metrics` reports the share of residues in each region
(``rama_<region>_fraction``) and the share of peptide bonds that are cis
(``omega_cis_fraction``, ``|omega| < 30°``; about 0.3% in real proteins, Jabs et al. 1999,
J. Mol. Biol. 286:291).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import Tensor

from domains.proteins.angles import ANGLE_NAMES

__all__ = ["REGIONS", "CIS_OMEGA", "ramachandran_regions", "ramachandran_metrics"]

#: region -> (phi range, psi ranges), degrees, inclusive; checked in this order
REGIONS: dict[str, tuple[tuple[float, float], tuple[tuple[float, float], ...]]] = {
    "alpha": ((-160.0, -20.0), ((-120.0, 50.0),)),
    "beta": ((-180.0, -45.0), ((90.0, 180.0), (-180.0, -150.0))),
    "left": ((20.0, 110.0), ((-20.0, 100.0),)),
}
#: a peptide bond with |omega| below this is cis (degrees)
CIS_OMEGA = 30.0


def _column(angles: Sequence[Tensor | np.ndarray], name: str) -> list[np.ndarray]:
    k = ANGLE_NAMES.index(name)
    return [np.degrees(np.asarray(a.detach().cpu() if isinstance(a, Tensor) else a, dtype=np.float64)[:, k])
            for a in angles]


def ramachandran_regions(phi: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """The region name of each (phi, psi) pair in degrees (``"other"`` outside every box)."""
    phi, psi = np.asarray(phi, dtype=np.float64), np.asarray(psi, dtype=np.float64)
    out = np.full(phi.shape, "other", dtype="<U5")
    free = np.ones(phi.shape, dtype=bool)
    for region, ((lo, hi), psi_ranges) in REGIONS.items():
        inside = (phi >= lo) & (phi <= hi) & np.any([(psi >= a) & (psi <= b) for a, b in psi_ranges], axis=0)
        out[inside & free] = region
        free &= ~inside
    return out


def ramachandran_metrics(angles: Sequence[Tensor | np.ndarray]) -> dict[str, float]:
    """Region shares of all residues with phi and psi defined, and the cis share of the
    defined omegas, over angle arrays ``(L_i, 6)`` (module docstring); empty when none."""
    phi = np.concatenate(_column(angles, "phi") or [np.zeros(0)])
    psi = np.concatenate(_column(angles, "psi") or [np.zeros(0)])
    omega = np.concatenate(_column(angles, "omega") or [np.zeros(0)])
    out: dict[str, float] = {}
    both = np.isfinite(phi) & np.isfinite(psi)
    if both.any():
        regions = ramachandran_regions(phi[both], psi[both])
        for region in (*REGIONS, "other"):
            out[f"rama_{region}_fraction"] = float(np.mean(regions == region))
    omega = omega[np.isfinite(omega)]
    if len(omega):
        out["omega_cis_fraction"] = float(np.mean(np.abs(omega) < CIS_OMEGA))
    return out
