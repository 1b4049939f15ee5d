"""Secondary structure of backbones: DSSP (via pydssp) and P-SEA (via biotite), 3 states.

Both assign one label per residue in the three-state alphabet ``H`` (helix), ``E``
(strand) and ``-`` (coil / other):

* :func:`dssp_labels` — DSSP (Kabsch & Sander 1983, Biopolymers 22:2577) as pydssp
  implements it (Minami 2023): backbone N-H...O=C hydrogen bonds scored by the
  electrostatic energy ``E = 0.084 * 332 * (1/r_ON + 1/r_CH - 1/r_OH - 1/r_CN)`` kcal/mol,
  a bond where ``E < -0.5``; helices from ``i -> i+4`` bond ladders, strands from bridge
  pairs. It needs the carbonyl O: backbones given as N, CA, C get the ideal O of
  :func:`domains.proteins.nerf.place_oxygen` (pydssp agrees with the reference DSSP at
  99.7% on real chains, with real or with placed O).
* :func:`psea_labels` — P-SEA (Labesse et al. 1997, CABIOS 13:291) as
  :func:`biotite.structure.annotate_sse` implements it: CA distances ``d(i,i+2)``,
  ``d(i,i+3)``, ``d(i,i+4)`` and CA virtual angles/dihedrals only, so it is a cross-check
  that does not depend on the O placement. Biotite's ``a``/``b``/``c`` become ``H``/``E``/``-``.
  Its contact count builds a :class:`biotite.structure.CellList` over the CA bounding box,
  12 bytes per cube of 5.2 Å: memory grows with the volume of that box, not with the chain
  (one CA at 9999 Å asks for 80 GiB). The CA atoms are therefore first turned onto their
  principal axes (a proper rotation: distances, angles and dihedrals, all that P-SEA reads,
  stay), which shrinks the box of an elongated chain to about its length; a backbone whose
  grid would still exceed :data:`MAX_PSEA_GRID_BYTES` (1 GiB) is refused with a
  :class:`GensciError` before anything is allocated.

:func:`ss_fractions` gives a chain's composition ``(f_H, f_E, f_-) = (n_H, n_E, n_-) / L``;
:func:`ss_composition` averages the per-chain fractions over a set of backbones (each
chain weighs the same, whatever its length).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from domains.proteins.nerf import place_oxygen
from gensci.errors import GensciError

__all__ = ["SS_STATES", "SS_NAMES", "MAX_PSEA_GRID_BYTES", "psea_grid_bytes", "dssp_labels", "psea_labels",
           "ss_fractions", "ss_composition"]

#: the three states, in the order of :func:`ss_fractions`
SS_STATES = ("H", "E", "-")
#: their names as conditions and metric keys
SS_NAMES = ("helix", "strand", "coil")
_PSEA_TO_3 = {"a": "H", "b": "E", "c": "-"}
METHODS = ("dssp", "psea")
#: the fewest residues pydssp assigns without failing
_DSSP_MIN_RESIDUES = 6
#: the largest cell grid P-SEA may allocate (bytes)
MAX_PSEA_GRID_BYTES = 2**30
#: biotite's P-SEA contact radius, the cell size of its grid (Å), and the bytes per cell
_PSEA_CELL, _CELL_BYTES = 5.2, 12


def _full_backbone(backbone: np.ndarray) -> np.ndarray:
    """``(L, 4, 3)`` float64 N, CA, C, O; O placed ideally from ``(L, 3, 3)`` input or where NaN."""
    x = np.asarray(backbone, dtype=np.float64)
    if x.ndim != 3 or x.shape[1] not in (3, 4) or x.shape[2] != 3:
        raise GensciError(f"a backbone must be shaped (L, 3, 3) or (L, 4, 3) (N, CA, C[, O]), got {x.shape}")
    if not np.isfinite(x[:, :3]).all():
        raise GensciError("the backbone holds NaN or infinite N, CA or C coordinates")
    if x.shape[1] == 4 and np.isfinite(x[:, 3]).all():
        return x
    ideal = place_oxygen(torch.from_numpy(np.ascontiguousarray(x[:, :3]))).numpy() if len(x) else np.zeros((0, 3))
    if x.shape[1] == 4:
        ideal = np.where(np.isfinite(x[:, 3]), x[:, 3], ideal)
    return np.concatenate([x[:, :3], ideal[:, None]], axis=1)


def dssp_labels(backbone: np.ndarray, sequence: str | None = None) -> np.ndarray:
    """Three-state DSSP labels ``(L,)`` (``'H'``, ``'E'``, ``'-'``) of one backbone with pydssp.

    ``backbone`` is ``(L, 4, 3)`` N, CA, C, O (or ``(L, 3, 3)``: O is placed ideally).
    ``sequence`` (one-letter codes), when known, marks prolines as lacking the N-H donor,
    as DSSP does; without it every residue may donate (right for poly-glycine samples).
    pydssp fails on 3 to 5 residues (its i -> i+5 turn diagonal is empty), so such a chain is
    padded to 6 with residues 1000 Å away and apart, which bond with nothing.
    """
    import pydssp

    x = _full_backbone(backbone)
    n = len(x)
    if sequence is not None and len(sequence) != n:
        raise GensciError(f"the sequence has {len(sequence)} residues but the backbone {n}")
    if n < 3:
        return np.full(n, "-")
    donor = None if sequence is None else torch.tensor([aa != "P" for aa in sequence], dtype=torch.float32)
    pad = _DSSP_MIN_RESIDUES - n
    if pad > 0:
        x = np.concatenate([x, x[-1] + 1000.0 * np.arange(1, pad + 1)[:, None, None]])
        donor = None if donor is None else torch.cat([donor, torch.ones(pad)])
    labels = pydssp.assign(torch.from_numpy(x).float(), donor_mask=donor, out_type="c3")
    return np.asarray(labels, dtype="<U1")[:n]


def psea_grid_bytes(ca: np.ndarray) -> float:
    """Bytes of the cell grid biotite's P-SEA builds over CA atoms ``(L, 3)``: 12 per 5.2 Å cube
    of their bounding box (``floor(range / 5.2) + 1`` cells along each axis)."""
    ca = np.asarray(ca, dtype=np.float64).reshape(-1, 3)
    if len(ca) == 0:
        return 0.0
    cells = np.floor(np.ptp(ca, axis=0) / _PSEA_CELL) + 1
    return _CELL_BYTES * float(np.prod(cells))


def _principal_frame(points: np.ndarray) -> np.ndarray:
    """``points`` ``(L, 3)`` centred and turned onto their principal axes by a proper rotation."""
    centred = points - points.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=True)
    if np.linalg.det(vt) < 0:  # a reflection would flip the sign of every dihedral
        vt[-1] *= -1
    return centred @ vt.T


def psea_labels(backbone: np.ndarray) -> np.ndarray:
    """Three-state P-SEA labels ``(L,)`` of one backbone (CA atoms only), with biotite.

    Refuses, in one line, a backbone whose CA atoms, on their principal axes, would need a
    cell grid above :data:`MAX_PSEA_GRID_BYTES` (module docstring)."""
    import biotite.structure as struc

    x = _full_backbone(backbone)
    n = len(x)
    if n == 0:
        return np.zeros(0, dtype="<U1")
    ca = _principal_frame(x[:, 1])
    grid = psea_grid_bytes(ca)
    if grid > MAX_PSEA_GRID_BYTES:
        span = " x ".join(f"{v:.0f}" for v in np.ptp(ca, axis=0))
        raise GensciError(f"P-SEA refuses a backbone of {n} residues whose CA atoms span {span} Å: its contact "
                          f"grid would take {grid / 2**30:.3g} GiB (at most {MAX_PSEA_GRID_BYTES / 2**30:g}); "
                          "are its coordinates in Å and its chain unbroken?")
    atoms = struc.AtomArray(n)  # one CA per residue is all P-SEA reads
    atoms.coord = ca
    atoms.atom_name = np.full(n, "CA")
    atoms.element = np.full(n, "C")
    atoms.res_name = np.full(n, "GLY")
    atoms.res_id = np.arange(1, n + 1)
    atoms.chain_id = np.full(n, "A")
    sse = struc.annotate_sse(atoms)
    return np.array([_PSEA_TO_3.get(s, "-") for s in sse], dtype="<U1")


def ss_fractions(labels: Sequence[str] | np.ndarray | str) -> tuple[float, float, float]:
    """``(helix, strand, coil)`` fractions of one chain's labels (NaN for an empty chain)."""
    labels = np.asarray(list(labels) if isinstance(labels, str) else labels)
    if len(labels) == 0:
        return (float("nan"),) * 3
    h, e = float(np.mean(labels == "H")), float(np.mean(labels == "E"))
    return h, e, 1.0 - h - e


def ss_composition(backbones: Sequence[np.ndarray], method: str = "dssp") -> dict[str, float]:
    """Mean per-chain ``helix`` / ``strand`` / ``coil`` fractions, by ``"dssp"`` or ``"psea"``."""
    if method not in METHODS:
        raise GensciError(f"secondary-structure method must be one of {METHODS}, got {method!r}")
    assign = dssp_labels if method == "dssp" else psea_labels
    fractions = np.array([ss_fractions(assign(bb)) for bb in backbones if len(bb)]).reshape(-1, 3)
    if len(fractions) == 0:
        return {name: float("nan") for name in SS_NAMES}
    return {name: float(v) for name, v in zip(SS_NAMES, fractions.mean(0))}
