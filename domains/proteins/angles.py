"""Protein backbones (N, CA, C) as six internal angles per residue, measured with biotite.

FoldingDiff (Wu et al., 2022, arXiv 2209.15611; Nat. Commun. 15:1059, 2024) describes a
backbone of ``L`` residues by three dihedrals and three bond angles per residue, all on the
torus ``[-pi, pi)``. Row ``i`` of the ``(L, 6)`` array holds, in this column order:

====  ============  ==========================================  ==================
col   name          atoms                                       undefined at
====  ============  ==========================================  ==================
0     ``phi``       dihedral C(i-1) - N(i) - CA(i) - C(i)       first row (i = 0)
1     ``psi``       dihedral N(i) - CA(i) - C(i) - N(i+1)       last row (i = L-1)
2     ``omega``     dihedral CA(i) - C(i) - N(i+1) - CA(i+1)    last row
3     ``tau``       angle N(i) - CA(i) - C(i)                   never
4     ``CA:C:1N``   angle CA(i) - C(i) - N(i+1)                 last row
5     ``C:1N:1CA``  angle C(i) - N(i+1) - CA(i+1)               last row
====  ============  ==========================================  ==================

The dihedrals are biotite's :func:`biotite.structure.dihedral_backbone` (IUPAC sign
convention, ``phi[0]``, ``psi[-1]`` and ``omega[-1]`` NaN); the bond angles are
:func:`biotite.structure.index_angle` on the N, CA, C atom array. Undefined entries are
returned as NaN (:func:`defined_mask` says which); a model's data pipeline fills them
with 0 and :func:`domains.proteins.nerf.angles_to_backbone` never reads them.

Difference to FoldingDiff's layout: FoldingDiff stores ``tau`` one row early (its row ``i``
holds the N-CA-C angle of residue ``i+1``, its last row is NaN) and fixes the first
residue's N, CA, C to those of 1CRN. Here each residue owns its ``tau`` and the first
residue is built from its own ``tau``, so the representation loses nothing but the rigid
placement. Converting: ``foldingdiff_tau[i] = tau[i+1]``. Column names are FoldingDiff's.

Values are wrapped to ``[-pi, pi)`` with ``wrap(x) = (x + pi) mod 2pi - pi`` (the
:class:`gensci.core.spaces.Torus` convention), so a measured ``pi`` becomes ``-pi``.
Biotite computes in float32: angles agree with a float64 calculation to about 1e-5 rad.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from gensci.core.spaces import wrap_angle
from gensci.errors import GensciError

if TYPE_CHECKING:
    from biotite.structure import AtomArrayStack

__all__ = [
    "ANGLE_NAMES",
    "DIHEDRALS",
    "BOND_ANGLES",
    "backbone_to_angles",
    "defined_mask",
    "mask_lengths",
    "backbone_atom_array",
]

#: column names of the (L, 6) angle array (FoldingDiff's names)
ANGLE_NAMES: tuple[str, ...] = ("phi", "psi", "omega", "tau", "CA:C:1N", "C:1N:1CA")
#: column indices of the dihedrals and of the bond angles
DIHEDRALS: tuple[int, ...] = (0, 1, 2)
BOND_ANGLES: tuple[int, ...] = (3, 4, 5)


def defined_mask(length: int | Tensor, max_length: int | None = None) -> Tensor:
    """Which entries of the angle array are defined: ``(L, 6)``, or ``(B, L, 6)`` for lengths ``(B,)``.

    ``phi`` is undefined in the first row; ``psi``, ``omega``, ``CA:C:1N`` and ``C:1N:1CA``
    are undefined in the last row of each chain; padding rows (beyond a chain's length) are
    undefined everywhere.
    """
    lengths = torch.as_tensor(length).long()
    single = lengths.ndim == 0
    lengths = lengths.reshape(-1)
    n = int(max_length if max_length is not None else (lengths.max() if len(lengths) else 0))
    i = torch.arange(n).unsqueeze(0)  # (1, L)
    real = i < lengths.unsqueeze(1)
    has_next = i < (lengths.unsqueeze(1) - 1)
    mask = real.unsqueeze(-1).repeat(1, 1, 6)
    mask[..., 0] &= i > 0
    for col in (1, 2, 4, 5):
        mask[..., col] &= has_next
    return mask[0] if single else mask


def mask_lengths(mask: Tensor) -> Tensor:
    """Chain lengths ``(B,)`` from a residue mask ``(B, L)`` that marks a prefix of each row.

    Padding must sit at the end of a chain: a hole would join two pieces with no peptide
    bond between them, which the angle representation cannot express.
    """
    mask = torch.as_tensor(mask).bool()
    if mask.ndim != 2:
        raise GensciError(f"a residue mask must be shaped (B, L), got {tuple(mask.shape)}")
    as_int = mask.long()
    if mask.shape[1] and not torch.equal(as_int, as_int.cummin(dim=1).values):
        raise GensciError("the residue mask must mark a prefix of each chain (padding only at the end)")
    return mask.sum(dim=1)


def backbone_atom_array(coords: np.ndarray) -> AtomArrayStack:
    """A biotite AtomArrayStack of poly-glycine N, CA, C atoms from coordinates ``(B, L, 3, 3)``."""
    import biotite.structure as struc

    b, n = coords.shape[:2]
    stack = struc.AtomArrayStack(b, 3 * n)
    stack.coord = coords.reshape(b, 3 * n, 3)
    stack.atom_name = np.tile(np.array(["N", "CA", "C"]), n)
    stack.element = np.tile(np.array(["N", "C", "C"]), n)
    stack.res_name = np.full(3 * n, "GLY")
    stack.res_id = np.repeat(np.arange(1, n + 1), 3)
    stack.chain_id = np.full(3 * n, "A")
    return stack


def backbone_to_angles(coords: Tensor | np.ndarray, mask: Tensor | np.ndarray | None = None) -> Tensor:
    """Six angles per residue from N, CA, C coordinates.

    Args:
        coords: ``(L, 3, 3)`` or ``(B, L, 3, 3)``, atoms in the order N, CA, C; one
            continuous chain per sample (no breaks: the inter-residue angles assume a
            peptide bond between consecutive rows).
        mask: optional ``(L,)`` / ``(B, L)`` boolean, ``True`` for real residues, padding
            at the end of each chain.

    Returns:
        float64 tensor ``(..., L, 6)`` in ``[-pi, pi)``, NaN where :func:`defined_mask` is False.
    """
    import biotite.structure as struc

    x = coords.detach().cpu().numpy() if isinstance(coords, Tensor) else np.asarray(coords)
    single = x.ndim == 3
    if single:
        x = x[None]
    if x.ndim != 4 or x.shape[-2:] != (3, 3):
        raise GensciError(f"backbone coordinates must be shaped (L, 3, 3) or (B, L, 3, 3), got {tuple(np.shape(coords))}")
    b, n = x.shape[:2]
    if n == 0:
        return torch.zeros((n, 6) if single else (b, n, 6), dtype=torch.float64)
    stack = backbone_atom_array(x.astype(np.float64))
    starts = 3 * np.arange(n - 1)
    last = np.zeros((1, 3), dtype=int)  # dummy triple for the last row, NaN'd below
    triples = {
        "tau": np.stack([3 * np.arange(n), 3 * np.arange(n) + 1, 3 * np.arange(n) + 2], -1),
        "CA:C:1N": np.concatenate([np.stack([starts + 1, starts + 2, starts + 3], -1), last]),
        "C:1N:1CA": np.concatenate([np.stack([starts + 2, starts + 3, starts + 4], -1), last]),
    }
    with np.errstate(invalid="ignore", divide="ignore"):  # undefined entries divide 0 by 0
        phi, psi, omega = struc.dihedral_backbone(stack)  # (B, L) each
        tau, ca_c_n, c_n_ca = (struc.index_angle(stack, idx) for idx in triples.values())
    out = torch.from_numpy(np.stack([phi, psi, omega, tau, ca_c_n, c_n_ca], -1).astype(np.float64))
    out = wrap_angle(out)
    if mask is None:
        lengths = torch.full((b,), n)
    else:
        m = mask.cpu() if isinstance(mask, Tensor) else torch.from_numpy(np.asarray(mask))
        lengths = mask_lengths(m.bool().reshape(b, n))
    out = torch.where(defined_mask(lengths, n), out, torch.full_like(out, math.nan))
    return out[0] if single else out
