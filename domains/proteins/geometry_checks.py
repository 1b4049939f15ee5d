"""Geometry sanity of backbones read from files: is a chain physically possible at all?

A file can hold coordinates that no protein has (a CA at (9999, 9999, 9999), at infinity, every
atom at the origin, a CA on top of its own N); such a chain is skipped with one reason rather
than passed on to training or evaluation. The bounds are generous windows around the ideal
values, so that every real chain passes and only garbage is caught:

* bond lengths N-CA 1.458 Å and CA-C 1.525 Å (Engh & Huber 1991, Acta Cryst. A47:392,
  σ ≈ 0.02 Å): accepted in :data:`BOND_LENGTH_RANGE` = [1.2, 1.8] Å;
* the bond angle N-CA-C (τ) 111.2° (Engh & Huber 1991, σ ≈ 2.8°; strained real residues
  reach about 100° and 125°): accepted in :data:`BOND_ANGLE_RANGE` = [80°, 140°];
* consecutive CA-CA 3.80 Å across a trans peptide and about 2.9 Å across a cis one (Engh &
  Huber's peptide unit gives 3.80 Å with ω = 180° and 2.77 Å with ω = 0°; real cis peptides
  open their angles a little): accepted in :data:`CA_CA_RANGE` = [2.7, 4.3] Å; a longer step
  between residues whose peptide bond the reader accepts is a chain break, as a long C-N
  bond is;
* coincident atoms: two backbone atoms of one residue closer than
  :data:`MIN_ATOM_SEPARATION` (0.5 Å; N-C, the closest pair not bonded, is 2.46 Å), or the CAs of
  two residues closer than :data:`MIN_CA_SEPARATION` (1.0 Å; two real CAs are at least
  2.9 Å apart).

:func:`backbone_problem` runs the checks in that spirit and returns the first problem as
``(reason, detail)``. ``strict=False`` keeps only what is impossible whatever the angles
(non-finite coordinates and bond lengths): the level for generated backbones, whose angles
and contacts are what their evaluation measures.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "BOND_LENGTH_RANGE",
    "BOND_ANGLE_RANGE",
    "CA_CA_RANGE",
    "MIN_ATOM_SEPARATION",
    "MIN_CA_SEPARATION",
    "backbone_problem",
]

#: accepted N-CA and CA-C bond lengths (Å)
BOND_LENGTH_RANGE = (1.2, 1.8)
#: accepted N-CA-C bond angles (degrees)
BOND_ANGLE_RANGE = (80.0, 140.0)
#: accepted distances between the CAs of consecutive, peptide-bonded residues (Å)
CA_CA_RANGE = (2.7, 4.3)
#: two backbone atoms of one residue closer than this coincide (Å)
MIN_ATOM_SEPARATION = 0.5
#: the CAs of two residues closer than this coincide (Å)
MIN_CA_SEPARATION = 1.0

_ATOMS = ("N", "CA", "C")
Problem = tuple[str, str]


def _outside(values: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    lo, hi = bounds
    return ~((values >= lo) & (values <= hi))


def _non_finite(coords: np.ndarray, names: Sequence[str]) -> Problem | None:
    bad = ~np.isfinite(coords).all(axis=-1)
    if not bad.any():
        return None
    i, k = np.argwhere(bad)[0]
    return "non-finite coordinates", f"{_ATOMS[k]} of residue {names[i]}"


def _bond_lengths(coords: np.ndarray, names: Sequence[str]) -> Problem | None:
    for a, b in ((0, 1), (1, 2)):
        d = np.linalg.norm(coords[:, b] - coords[:, a], axis=-1)
        bad = _outside(d, BOND_LENGTH_RANGE)
        if bad.any():
            i = int(np.argmax(bad))
            lo, hi = BOND_LENGTH_RANGE
            return "bond length", f"{_ATOMS[a]}-{_ATOMS[b]} {d[i]:.2f} Å in residue {names[i]} (allowed {lo}-{hi} Å)"
    return None


def _coincident_in_residue(coords: np.ndarray, names: Sequence[str]) -> Problem | None:
    for a, b in ((0, 1), (1, 2), (0, 2)):
        d = np.linalg.norm(coords[:, b] - coords[:, a], axis=-1)
        if (d < MIN_ATOM_SEPARATION).any():
            i = int(np.argmax(d < MIN_ATOM_SEPARATION))
            return "coincident atoms", f"{_ATOMS[a]} and {_ATOMS[b]} of residue {names[i]} {d[i]:.2f} Å apart"
    return None


def _bond_angles(coords: np.ndarray, names: Sequence[str]) -> Problem | None:
    u, v = coords[:, 0] - coords[:, 1], coords[:, 2] - coords[:, 1]
    cos = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
    tau = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    bad = _outside(tau, BOND_ANGLE_RANGE)
    if not bad.any():
        return None
    i = int(np.argmax(bad))
    lo, hi = BOND_ANGLE_RANGE
    return "bond angle", f"N-CA-C {tau[i]:.1f}° in residue {names[i]} (allowed {lo:g}-{hi:g}°)"


def _ca_steps(coords: np.ndarray, names: Sequence[str], bonded: np.ndarray) -> Problem | None:
    d = np.linalg.norm(np.diff(coords[:, 1], axis=0), axis=-1)
    lo, hi = CA_CA_RANGE
    for reason, bad in (("chain break", bonded & (d > hi)), ("CA-CA distance", bonded & (d < lo))):
        if bad.any():
            i = int(np.argmax(bad))
            return reason, f"CA-CA {d[i]:.2f} Å between residues {names[i]} and {names[i + 1]} (allowed {lo}-{hi} Å)"
    return None


def _coincident_cas(coords: np.ndarray, names: Sequence[str]) -> Problem | None:
    """The first CA with another CA closer than MIN_CA_SEPARATION (O(L log L) time, O(L) memory)."""
    from scipy.spatial import cKDTree

    ca = coords[:, 1]
    if len(ca) < 2:
        return None
    dist, index = cKDTree(ca).query(ca, k=2)
    close = dist[:, 1] < MIN_CA_SEPARATION
    if not close.any():
        return None
    i = int(np.argmax(close))
    j = int(index[i, 1] if index[i, 1] != i else index[i, 0])
    i, j = sorted((i, j))
    return "coincident atoms", f"CA of residues {names[i]} and {names[j]} {dist[i, 1]:.2f} Å apart"


def backbone_problem(
    coords: np.ndarray,
    names: Sequence[str],
    bonded: np.ndarray | None = None,
    strict: bool = True,
) -> Problem | None:
    """The first geometry problem of one chain's N, CA, C ``(L, 3, 3)`` as ``(reason, detail)``,
    or None when the chain is physically possible.

    ``names`` labels each residue in the details (e.g. ``"12 ALA"``); ``bonded`` ``(L - 1,)``
    marks the consecutive pairs joined by a peptide bond (all of them when None), which are
    the pairs whose CA-CA step is checked. Reasons: ``non-finite coordinates``,
    ``bond length``, and with ``strict``: ``coincident atoms``, ``bond angle``,
    ``chain break`` (a CA-CA step above the range), ``CA-CA distance`` (below it).
    """
    coords = np.asarray(coords, dtype=np.float64)
    bonded = np.ones(max(len(coords) - 1, 0), dtype=bool) if bonded is None else np.asarray(bonded, dtype=bool)
    problem = _non_finite(coords, names)
    if problem is None and strict:
        problem = _coincident_in_residue(coords, names)
    if problem is None:
        problem = _bond_lengths(coords, names)
    if problem is None and strict:
        problem = _ca_steps(coords, names, bonded) or _coincident_cas(coords, names) or _bond_angles(coords, names)
    return problem
