r"""Paired conformers: a force-field geometry and the DFT geometry of the same molecule.

For each QM9 molecule (B3LYP/6-31G(2df,p) geometry, bonds perceived once), the molecule is
embedded again by RDKit's ETKDG v3 (Riniker & Landrum 2015; Wang et al. 2020) with its
stereocentres and double-bond geometry taken from the DFT structure, then relaxed by MMFF94
(Halgren 1996). The atom order is the molecule's own, so atom ``i`` of the start is atom
``i`` of the target. Each pair is then put in register:

* **symmetry** — among the graph's automorphisms ``pi`` (RDKit substructure matches of the
  molecule on itself, e.g. the three hydrogens of a methyl), the one that brings the target
  closest is applied to the target's rows (the graph is unchanged by an automorphism);
* **rigid motion** — the start is centred and rotated onto the target by the Kabsch
  rotation (proper, ``det R = +1``: mirror images stay distinct, as stereochemistry needs):

.. math::
    \min_{\pi, R \in SO(3)} \sum_i \lVert R (s_i - \bar s) - (d_{\pi(i)} - \bar d) \rVert^2 .

The result is what a bridge model learns to undo: the displacement from the force field's
geometry to the DFT one with the trivial parts (translation, rotation, relabelling of
equivalent atoms) taken out. ETKDG's own geometry (before MMFF) is kept as a baseline.

Cost (one core): about 15-30 ms a molecule (ETKDG most of it). An embedding that fails is
tried again from random coordinates (``useRandomCoords``, which rescues most of QM9's
strained polycycles); molecules that still fail are counted and left out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from domains.atoms.data import Molecules3D
from domains.atoms.molecule import Molecule3D, to_rdkit
from gensci.errors import GensciError
from gensci.io import atomic_path, cache_root

__all__ = ["ConformerPairs", "kabsch_rotation", "align_pair", "graph_symmetries", "embed_force_field", "build_pairs",
           "load_pairs", "PAIRS_VERSION"]

#: bump when the pairs' construction changes (invalidates caches)
PAIRS_VERSION = 2
#: most automorphisms tried per molecule
MAX_SYMMETRIES = 2000


def kabsch_rotation(mobile: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The proper rotation ``R`` (3, 3) minimising ``sum ||R m_i - t_i||^2`` for centred
    ``mobile`` and ``target`` (..., n, 3); batched over leading axes."""
    h = np.swapaxes(mobile, -1, -2) @ target
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.swapaxes(vt, -1, -2) @ np.swapaxes(u, -1, -2)))
    fix = np.ones(h.shape[:-2] + (3,))
    fix[..., 2] = d
    return np.swapaxes(vt, -1, -2) @ (fix[..., :, None] * np.swapaxes(u, -1, -2))


def graph_symmetries(mol: Any, limit: int = MAX_SYMMETRIES) -> np.ndarray:
    """Automorphisms of the molecular graph as index arrays ``(P, n)`` (``p[i]`` is the atom
    that atom ``i`` may stand for), the identity first; at most ``limit`` of them."""
    n = mol.GetNumAtoms()
    matches = mol.GetSubstructMatches(mol, uniquify=False, useChirality=False, maxMatches=limit)
    identity = np.arange(n)
    perms = [identity] + [np.asarray(m) for m in matches if len(m) == n and not np.array_equal(m, identity)]
    return np.stack(perms)


def align_pair(start: np.ndarray, target: np.ndarray, symmetries: np.ndarray | None = None,
               heavy: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """``(start aligned, target permuted, rmsd)``: both centred, the target's rows permuted by
    the automorphism and the start rotated by the Kabsch rotation that minimise the all-atom
    RMSD (module docstring). ``heavy`` (bool mask) restricts the fit to those atoms."""
    start = np.asarray(start, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    perms = symmetries if symmetries is not None else np.arange(len(start))[None]
    w = np.ones(len(start)) if heavy is None else np.asarray(heavy, dtype=np.float64)
    s = start - (w[:, None] * start).sum(0) / w.sum()
    candidates = target[perms]  # (P, n, 3)
    candidates = candidates - (w[None, :, None] * candidates).sum(1, keepdims=True) / w.sum()
    rot = kabsch_rotation((w[:, None] * s)[None], w[None, :, None] * candidates)  # (P, 3, 3)
    moved = np.einsum("pij,nj->pni", rot, s)
    msd = (w[None, :, None] * (moved - candidates) ** 2).sum((1, 2)) / w.sum()
    best = int(np.argmin(msd))
    return moved[best], candidates[best], float(np.sqrt(msd[best]))


def embed_force_field(mol: Any, seed: int, stereo_from_3d: bool = True) -> tuple[np.ndarray, np.ndarray] | str:
    """``(ETKDG positions, ETKDG + MMFF positions)`` of an RDKit molecule with explicit
    hydrogens, in its own atom order, or the reason it failed. With ``stereo_from_3d`` the
    stereochemistry is read from the molecule's conformer first."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    m = Chem.Mol(mol)
    if stereo_from_3d and m.GetNumConformers():
        Chem.AssignStereochemistryFrom3D(m)
    m.RemoveAllConformers()
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed)
    if AllChem.EmbedMolecule(m, params) != 0:
        params.useRandomCoords = True  # strained polycycles often embed from random coordinates
        if AllChem.EmbedMolecule(m, params) != 0:
            return "ETKDG embedding failed"
    raw = m.GetConformer().GetPositions()
    if not AllChem.MMFFHasAllMoleculeParams(m):
        return "MMFF has no parameters for this molecule"
    AllChem.MMFFOptimizeMolecule(m, maxIters=2000)
    return raw, m.GetConformer().GetPositions()


@dataclass
class ConformerPairs:
    """Aligned pairs: ``target`` holds the DFT molecules (rows permuted by their best
    automorphism, centred), ``start`` the ETKDG + MMFF positions aligned onto them and ``raw``
    the ETKDG positions aligned likewise, both (total atoms, 3) on ``target.atom_ptr``;
    ``rows`` the QM9 row of each pair and ``failed`` the reasons of the molecules left out."""

    target: Molecules3D
    start: Tensor
    raw: Tensor
    rows: list[int]
    failed: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.target)

    def molecule(self, i: int, which: str = "target") -> Molecule3D:
        """Pair ``i``'s DFT molecule, or the same molecule at its ``"start"`` / ``"raw"`` positions."""
        m = self.target.molecule(i)
        if which != "target":
            a0, a1 = int(self.target.atom_ptr[i]), int(self.target.atom_ptr[i + 1])
            m.positions = getattr(self, which)[a0:a1].double().numpy()
        return m

    def to_dict(self) -> dict[str, Any]:
        return {"version": PAIRS_VERSION, "target": self.target.to_dict(), "start": self.start, "raw": self.raw,
                "rows": self.rows, "failed": self.failed}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConformerPairs:
        return cls(Molecules3D.from_dict(d["target"]), d["start"], d["raw"], list(d["rows"]), dict(d["failed"]))


def build_pairs(data: Molecules3D, rows: list[int], seed: int = 0, progress: bool = True) -> ConformerPairs:
    """Embed, relax and align the molecules ``rows`` of ``data`` (module docstring); the
    embedding seed of row ``r`` is ``seed + r``, so a pair does not depend on its neighbours."""
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")
    molecules, starts, raws, kept, failed = [], [], [], [], {}
    for r in tqdm(rows, desc="conformer pairs: ETKDG + MMFF", disable=not progress, leave=False):
        dft = data.molecule(r)
        try:
            mol = to_rdkit(dft, sanitize=True)
        except Exception:  # noqa: BLE001 - RDKit sanitisation raises several types
            failed["RDKit cannot sanitise the molecule"] = failed.get("RDKit cannot sanitise the molecule", 0) + 1
            continue
        out = embed_force_field(mol, seed + r)
        if isinstance(out, str):
            failed[out] = failed.get(out, 0) + 1
            continue
        raw, relaxed = out
        symmetries = graph_symmetries(mol)
        start, target, _ = align_pair(relaxed, dft.positions, symmetries)
        raw_aligned, _, _ = align_pair(raw, target)
        dft.positions = target
        molecules.append(dft)
        starts.append(start)
        raws.append(raw_aligned)
        kept.append(r)
    if not molecules:
        raise GensciError(f"no conformer pair could be built from {len(rows)} molecules: {failed}")
    target = Molecules3D.from_molecules(molecules, [data.smiles[r] for r in kept],
                                        {k: v[kept].numpy() for k, v in data.properties.items()},
                                        [data.split[r] for r in kept] if data.split else None, dict(data.units))
    return ConformerPairs(target, torch.from_numpy(np.concatenate(starts)).float(),
                          torch.from_numpy(np.concatenate(raws)).float(), kept, failed)


def load_pairs(data: Molecules3D, rows: list[int], seed: int = 0, cache_dir: str | None = None,
               progress: bool = True) -> ConformerPairs:
    """:func:`build_pairs`, cached under ``<cache>/atoms/pairs/`` by the rows, the seed and a
    digest of the molecules they come from."""
    h = hashlib.sha256(repr((PAIRS_VERSION, seed, list(rows))).encode())
    for r in rows[:: max(1, len(rows) // 256)]:
        a0, a1 = int(data.atom_ptr[r]), int(data.atom_ptr[r + 1])
        h.update(data.positions[a0:a1].numpy().tobytes())
    path = Path(cache_root(cache_dir)) / "atoms" / "pairs" / f"{h.hexdigest()[:16]}.pt"
    if path.exists():
        d = torch.load(path, weights_only=True)
        if d.get("version") == PAIRS_VERSION:
            return ConformerPairs.from_dict(d)
    pairs = build_pairs(data, rows, seed=seed, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(pairs.to_dict(), tmp)
    return pairs
