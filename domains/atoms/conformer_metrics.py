r"""How close refined conformers come to their reference (DFT) geometries.

Per molecule, against the reference of the same graph and atom order:

* **RMSD** after the best rigid superposition over the graph's symmetries — heavy atoms
  (RDKit's ``rdMolAlign.GetBestRMS`` on hydrogen-free copies, stereo flags cleared, as the
  issue's baseline measures it) and all atoms (:func:`domains.atoms.pairs.align_pair` over
  the automorphisms of the full graph, proper rotations only);
* **bond-length MAE** (Å) over the bonds, and **bond-angle MAE** (degrees) over every pair of
  bonds sharing an atom, by index — internal coordinates, so no alignment is involved;
* **EDM stability** (Hoogeboom et al. 2022): bonds inferred from the coordinates alone by
  EDM's length lookup (:func:`domains.atoms.stability.infer_bonds`), an atom stable when its
  summed order is an allowed valence; a molecule when all its atoms are.

Summaries: median, mean and 90th percentile of the RMSDs, means of the rest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from domains.atoms.molecule import Molecule3D, to_rdkit
from domains.atoms.pairs import align_pair, graph_symmetries
from domains.atoms.stability import infer_bonds, stability

__all__ = ["heavy_atom_rmsd", "all_atom_rmsd", "reference_symmetries", "internal_errors", "stability_rates", "compare_geometries"]


def _stripped(m: Molecule3D):
    from rdkit import Chem

    mol = to_rdkit(m, sanitize=False)
    Chem.RemoveStereochemistry(mol)
    return Chem.RemoveHs(mol, sanitize=False)


def heavy_atom_rmsd(probe: Molecule3D, reference: Molecule3D) -> float:
    """Symmetry-aware heavy-atom RMSD (Å) after the best superposition (``GetBestRMS``); 0 for
    fewer than three heavy atoms, where any two placements superpose."""
    from rdkit.Chem import rdMolAlign

    if int((reference.numbers > 1).sum()) < 3:
        return 0.0
    return float(rdMolAlign.GetBestRMS(_stripped(probe), _stripped(reference), maxMatches=10000))


def reference_symmetries(reference: Molecule3D) -> np.ndarray:
    """The reference graph's automorphisms (atom permutations) that :func:`all_atom_rmsd` tries."""
    return graph_symmetries(to_rdkit(reference, sanitize=False))


def all_atom_rmsd(probe: Molecule3D, reference: Molecule3D, symmetries: np.ndarray | None = None) -> float:
    """Symmetry-aware all-atom RMSD (Å), hydrogens included (``symmetries``: the reference's,
    from :func:`reference_symmetries`, when already known)."""
    if symmetries is None:
        symmetries = reference_symmetries(reference)
    return align_pair(probe.positions, reference.positions, symmetries)[2]


def _angles(positions: np.ndarray, bonds: np.ndarray) -> np.ndarray:
    out = []
    for j in range(len(positions)):
        partners = np.nonzero(bonds[j])[0]
        for a in range(len(partners)):
            for b in range(a + 1, len(partners)):
                u = positions[partners[a]] - positions[j]
                v = positions[partners[b]] - positions[j]
                cos = np.dot(u, v) / max(np.linalg.norm(u) * np.linalg.norm(v), 1e-12)
                out.append(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
    return np.asarray(out)


def internal_errors(probe: Molecule3D, reference: Molecule3D) -> tuple[float, float]:
    """``(bond-length MAE in Å, bond-angle MAE in degrees)`` over the reference's bonds."""
    bonds = reference.bonds if reference.bonds is not None else infer_bonds(reference.numbers, reference.positions)
    i, j = np.nonzero(np.triu(bonds, 1))
    if not len(i):
        return 0.0, 0.0
    d_p = np.linalg.norm(probe.positions[i] - probe.positions[j], axis=1)
    d_r = np.linalg.norm(reference.positions[i] - reference.positions[j], axis=1)
    a_p, a_r = _angles(probe.positions, bonds), _angles(reference.positions, bonds)
    angle = float(np.abs(a_p - a_r).mean()) if len(a_r) else 0.0
    return float(np.abs(d_p - d_r).mean()), angle


def stability_rates(molecules: Sequence[Molecule3D]) -> dict[str, float]:
    """EDM atom and molecule stability on bonds inferred from the coordinates alone."""
    return stability(molecules, use_bonds="inferred")


def compare_geometries(probes: Sequence[Molecule3D], references: Sequence[Molecule3D],
                       symmetries: Sequence[np.ndarray] | None = None) -> dict[str, float]:
    """Every metric of the module docstring over matched lists (same graph, same atom order);
    ``symmetries``: the references' automorphisms, when one list of references is compared with
    several lists of probes."""
    if len(probes) != len(references):
        raise ValueError(f"{len(probes)} conformers against {len(references)} references")
    if symmetries is None:
        symmetries = [reference_symmetries(r) for r in references]
    heavy = np.array([heavy_atom_rmsd(p, r) for p, r in zip(probes, references)])
    every = np.array([all_atom_rmsd(p, r, g) for p, r, g in zip(probes, references, symmetries)])
    internal = np.array([internal_errors(p, r) for p, r in zip(probes, references)]).reshape(-1, 2)
    out = {
        "heavy_rmsd_median": float(np.median(heavy)), "heavy_rmsd_mean": float(heavy.mean()),
        "heavy_rmsd_p90": float(np.quantile(heavy, 0.9)),
        "all_rmsd_median": float(np.median(every)), "all_rmsd_mean": float(every.mean()),
        "all_rmsd_p90": float(np.quantile(every, 0.9)),
        "bond_length_mae": float(internal[:, 0].mean()), "bond_angle_mae": float(internal[:, 1].mean()),
    }
    out.update(stability_rates(probes))
    return out
