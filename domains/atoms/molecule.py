"""A 3D molecule as plain arrays, and its RDKit form.

:class:`Molecule3D` is what the atoms domain decodes samples into, writes to SDF / XYZ and
evaluates: atomic numbers, Cartesian positions in Å, formal charges and, for models that
generate bonds, a symmetric matrix of bond classes. A model that does not generate bonds
(EDM-style) leaves ``bonds`` as None and bonds are inferred from distances
(:mod:`domains.atoms.stability`).

Bond classes (the ``bonds`` field's categories): 0 none, 1 single, 2 double, 3 triple,
4 aromatic. Formal charges are the ``charges`` field's categories :data:`CHARGES` by index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["ELEMENTS", "ATOMIC_NUMBERS", "CHARGES", "BOND_CLASSES", "BOND_ORDER", "Molecule3D", "to_rdkit",
           "from_rdkit"]

#: element symbols of the QM9 atom-type field, by class index
ELEMENTS: tuple[str, ...] = ("H", "C", "N", "O", "F")
#: atomic number of each :data:`ELEMENTS` entry
ATOMIC_NUMBERS: tuple[int, ...] = (1, 6, 7, 8, 9)
#: formal charges of the charge field, by class index
CHARGES: tuple[int, ...] = (-1, 0, 1)
#: bond class names, by class index
BOND_CLASSES: tuple[str, ...] = ("none", "single", "double", "triple", "aromatic")
#: bond order of each class (aromatic counts 1.5 toward valence)
BOND_ORDER: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0, 1.5)


@dataclass
class Molecule3D:
    """One molecule: ``numbers`` (n,) atomic numbers, ``positions`` (n, 3) in Å, ``charges``
    (n,) formal charges, ``bonds`` (n, n) bond classes (symmetric, zero diagonal) or None when
    the model did not generate bonds, ``properties`` name -> value (written as SD tags)."""

    numbers: np.ndarray
    positions: np.ndarray
    charges: np.ndarray | None = None
    bonds: np.ndarray | None = None
    properties: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.numbers = np.asarray(self.numbers, dtype=np.int64).reshape(-1)
        self.positions = np.asarray(self.positions, dtype=np.float64).reshape(-1, 3)
        n = len(self.numbers)
        if len(self.positions) != n:
            raise ValueError(f"{n} atoms but {len(self.positions)} positions")
        self.charges = np.zeros(n, dtype=np.int64) if self.charges is None else np.asarray(self.charges, dtype=np.int64)
        if self.charges.shape != (n,):
            raise ValueError(f"{n} atoms but charges shaped {self.charges.shape}")
        if self.bonds is not None:
            self.bonds = np.asarray(self.bonds, dtype=np.int64)
            if self.bonds.shape != (n, n):
                raise ValueError(f"{n} atoms but a bond matrix shaped {self.bonds.shape}")

    def __len__(self) -> int:
        return len(self.numbers)

    @property
    def symbols(self) -> list[str]:
        from rdkit import Chem

        table = Chem.GetPeriodicTable()
        return [table.GetElementSymbol(int(z)) for z in self.numbers]

    def bond_list(self) -> list[tuple[int, int, int]]:
        """``(i, j, class)`` for every bond with ``i < j`` (empty when bonds are not known)."""
        if self.bonds is None:
            return []
        i, j = np.nonzero(np.triu(self.bonds, 1))
        return [(int(a), int(b), int(self.bonds[a, b])) for a, b in zip(i, j)]


_RDKIT_BOND = {1: "SINGLE", 2: "DOUBLE", 3: "TRIPLE", 4: "AROMATIC"}


def to_rdkit(molecule: Molecule3D, sanitize: bool = False):
    """An RDKit molecule with one 3D conformer, the atoms' formal charges and the bonds
    (none when ``molecule.bonds`` is None). With ``sanitize`` RDKit's sanitisation runs and may
    raise; without it the molecule is returned as built (explicit hydrogens, no implicit ones)."""
    from rdkit import Chem
    from rdkit.Geometry import Point3D

    rw = Chem.RWMol()
    for z, q in zip(molecule.numbers, molecule.charges):
        atom = Chem.Atom(int(z))
        atom.SetFormalCharge(int(q))
        atom.SetNoImplicit(True)
        rw.AddAtom(atom)
    for i, j, k in molecule.bond_list():
        rw.AddBond(i, j, getattr(Chem.BondType, _RDKIT_BOND[k]))
        if k == 4:
            rw.GetBondBetweenAtoms(i, j).SetIsAromatic(True)
            rw.GetAtomWithIdx(i).SetIsAromatic(True)
            rw.GetAtomWithIdx(j).SetIsAromatic(True)
    conf = Chem.Conformer(len(molecule))
    for i, p in enumerate(molecule.positions):
        conf.SetAtomPosition(i, Point3D(*map(float, p)))
    conf.Set3D(True)
    mol = rw.GetMol()
    mol.AddConformer(conf, assignId=True)
    if sanitize:
        Chem.SanitizeMol(mol)
    else:
        mol.UpdatePropertyCache(strict=False)
    return mol


def from_rdkit(mol, conformer: int = -1, properties: dict[str, Any] | None = None) -> Molecule3D:
    """The arrays of an RDKit molecule with a 3D conformer (its hydrogens must be explicit
    atoms). Aromatic bonds keep class 4 unless the molecule is kekulised first."""
    if mol.GetNumConformers() == 0:
        raise ValueError("the molecule has no conformer (3D coordinates)")
    n = mol.GetNumAtoms()
    bonds = np.zeros((n, n), dtype=np.int64)
    for b in mol.GetBonds():
        order = b.GetBondTypeAsDouble()
        k = 4 if b.GetIsAromatic() and order == 1.5 else {1.0: 1, 2.0: 2, 3.0: 3}.get(order)
        if k is None:
            raise ValueError(f"bond {b.GetBeginAtomIdx()}-{b.GetEndAtomIdx()} has an unsupported type {b.GetBondType()}")
        bonds[b.GetBeginAtomIdx(), b.GetEndAtomIdx()] = bonds[b.GetEndAtomIdx(), b.GetBeginAtomIdx()] = k
    return Molecule3D(
        numbers=np.array([a.GetAtomicNum() for a in mol.GetAtoms()]),
        positions=mol.GetConformer(conformer).GetPositions(),
        charges=np.array([a.GetFormalCharge() for a in mol.GetAtoms()]),
        bonds=bonds,
        properties=dict(properties or {}),
    )
