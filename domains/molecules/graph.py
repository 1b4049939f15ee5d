"""Molecules as dense graphs of heavy atoms: RDKit molecule -> (atom types, bond classes, mask).

A molecule with ``n`` heavy atoms, padded to ``N = max_atoms``, becomes

    atoms (N,)    long   index into the vocabulary's atom types (0 where padded)
    bonds (N, N)  long   bond class of each pair, symmetric, 0 = none on the diagonal and padding
    mask  (N,)    bool   True for the ``n`` real atoms (always the first ``n`` positions)

as in DiGress (Vignac et al., ICLR 2023, arXiv 2209.14734) and Graph DiT (Liu et al.,
NeurIPS 2024, arXiv 2401.13858): hydrogens are implicit, atom types are the
``(element, formal charge)`` pairs that occur in the data (e.g. ``N`` and ``N+`` are two
types), and there are five bond classes: none, single, double, triple, aromatic.

Kekulised or aromatic
---------------------
A graph of heavy atoms does not say where the hydrogens sit. With aromatic bonds this is
ambiguous: the aromatic nitrogens of ``c1cc[nH]c1`` and ``c1ccnc1`` look alike, and the
tautomers of an asymmetric imidazole differ only in which ``n`` carries the H. So by
default (``kekulize=True``) molecules are kekulised before featurising: aromatic rings
are stored as alternating single/double bonds, every hydrogen count follows from the
default valences, and graph -> molecule -> canonical SMILES is exact (RDKit re-perceives
aromaticity when sanitising). The aromatic class is then never used by the data; it stays
in the vocabulary so every model has the same five bond classes. With ``kekulize=False``
aromatic bonds are kept as the aromatic class (Graph DiT's choice); decoding then places
pyrrole-type hydrogens by search (:mod:`domains.molecules.decode`), which is exact except
for such tautomers: 2.5 % of QM9 and 3.7 % of MOSES molecules come back as another
tautomer, against none of all 130,831 QM9 and 100,000 MOSES molecules when kekulised.

Not represented: stereochemistry, isotopes, radicals and non-default hydrogen counts
(e.g. carbenes); QM9 and MOSES contain none of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from rdkit import Chem
from torch import Tensor

from gensci.errors import GensciError

__all__ = [
    "BOND_CLASSES",
    "BOND_ORDERS",
    "NONE",
    "SINGLE",
    "DOUBLE",
    "TRIPLE",
    "AROMATIC",
    "AtomType",
    "DenseGraph",
    "MolecularVocabulary",
    "mol_to_graph",
    "mol_to_lists",
    "lists_to_graph",
    "smiles_to_graph",
    "atom_type_of",
    "edge_list",
]

#: the five bond classes, in index order
BOND_CLASSES: tuple[str, ...] = ("none", "single", "double", "triple", "aromatic")
NONE, SINGLE, DOUBLE, TRIPLE, AROMATIC = range(5)
#: bond order of each class (aromatic = 1.5, as RDKit counts valence)
BOND_ORDERS: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0, 1.5)

_RDKIT_BOND_CLASS = {
    Chem.BondType.SINGLE: SINGLE,
    Chem.BondType.DOUBLE: DOUBLE,
    Chem.BondType.TRIPLE: TRIPLE,
    Chem.BondType.AROMATIC: AROMATIC,
}

#: an atom type: (element symbol, formal charge)
AtomType = tuple[str, int]


def atom_type_of(atom: Chem.Atom) -> AtomType:
    """The ``(element, formal charge)`` type of an RDKit atom."""
    return atom.GetSymbol(), int(atom.GetFormalCharge())


def _label(atom_type: AtomType) -> str:
    element, charge = atom_type
    if charge == 0:
        return element
    sign = "+" if charge > 0 else "-"
    return element + sign * abs(charge) if abs(charge) <= 2 else f"{element}{sign}{abs(charge)}"


class DenseGraph(NamedTuple):
    """One padded molecular graph (see the module docstring)."""

    atoms: Tensor
    bonds: Tensor
    mask: Tensor


@dataclass(frozen=True)
class MolecularVocabulary:
    """Atom types and bond classes of a data set.

    Atom types are ``(element, formal charge)`` pairs sorted by atomic number, then charge,
    so a vocabulary built from the same molecules is always the same. It travels in
    checkpoints as :meth:`to_dict` (plain lists, strings, ints, a bool).
    """

    atom_types: tuple[AtomType, ...]
    kekulize: bool = True

    def __post_init__(self) -> None:
        types = tuple((str(e), int(c)) for e, c in self.atom_types)
        if not types:
            raise GensciError("a molecular vocabulary needs at least one atom type")
        if len(set(types)) != len(types):
            raise GensciError(f"the molecular vocabulary lists an atom type twice: {[_label(t) for t in types]}")
        table = Chem.GetPeriodicTable()
        for element, _ in types:
            try:
                ok = table.GetAtomicNumber(element) > 0 or element == "*"
            except RuntimeError:
                ok = False
            if not ok:
                raise GensciError(f"{element!r} in the molecular vocabulary is not an element symbol")
        object.__setattr__(self, "atom_types", types)
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(types)})

    # ------------------------------------------------------------------ sizes
    @property
    def num_atom_types(self) -> int:
        return len(self.atom_types)

    @property
    def num_bond_classes(self) -> int:
        return len(BOND_CLASSES)

    @property
    def bond_classes(self) -> tuple[str, ...]:
        return BOND_CLASSES

    @property
    def labels(self) -> list[str]:
        """Readable atom-type names, e.g. ``["C", "N", "N+", "O", "O-"]``."""
        return [_label(t) for t in self.atom_types]

    # ---------------------------------------------------------------- lookups
    def index(self, atom_type: AtomType) -> int:
        """Index of an ``(element, charge)`` pair; :class:`GensciError` if it is not known."""
        try:
            return self._index[(atom_type[0], int(atom_type[1]))]  # type: ignore[attr-defined]
        except KeyError:
            raise GensciError(
                f"atom type {_label(atom_type)} is not in the vocabulary ({', '.join(self.labels)})"
            ) from None

    def __contains__(self, atom_type: object) -> bool:
        return atom_type in self._index  # type: ignore[attr-defined]

    # ---------------------------------------------------------------- building
    @classmethod
    def from_molecules(cls, mols: Iterable[Chem.Mol], kekulize: bool = True) -> MolecularVocabulary:
        """Collect the atom types of heavy atoms that occur in ``mols``."""
        types: set[AtomType] = set()
        for mol in mols:
            if mol is None:
                continue
            types.update(atom_type_of(a) for a in mol.GetAtoms() if a.GetAtomicNum() != 1)
        if not types:
            raise GensciError("no heavy atoms found: cannot build a molecular vocabulary")
        return cls(tuple(sorted(types, key=_sort_key)), kekulize=kekulize)

    @classmethod
    def from_smiles(cls, smiles: Iterable[str], kekulize: bool = True) -> MolecularVocabulary:
        """Like :meth:`from_molecules`; unparsable SMILES are ignored."""
        return cls.from_molecules((Chem.MolFromSmiles(s) for s in smiles), kekulize=kekulize)

    def to_dict(self) -> dict[str, Any]:
        """Plain types, safe for ``torch.load(weights_only=True)``."""
        return {
            "atom_types": [[e, c] for e, c in self.atom_types],
            "bond_classes": list(BOND_CLASSES),
            "kekulize": bool(self.kekulize),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MolecularVocabulary:
        bonds = tuple(d.get("bond_classes", BOND_CLASSES))
        if bonds != BOND_CLASSES:
            raise GensciError(f"unsupported bond classes {list(bonds)}; expected {list(BOND_CLASSES)}")
        return cls(tuple((e, c) for e, c in d["atom_types"]), kekulize=bool(d.get("kekulize", True)))


def _sort_key(atom_type: AtomType) -> tuple[int, int]:
    element, charge = atom_type
    number = 0 if element == "*" else Chem.GetPeriodicTable().GetAtomicNumber(element)
    return number, charge


def mol_to_lists(mol: Chem.Mol, vocab: MolecularVocabulary, max_atoms: int) -> tuple[list[int], list[tuple[int, int, int]]]:
    """Atom-type indices and ``(i, j, class)`` bonds (``i < j``) of the heavy atoms of ``mol``.

    The compact form behind :func:`mol_to_graph` (and the on-disk cache). Explicit hydrogen
    atoms are removed first; the molecule is kekulised if the vocabulary says so. Raises
    :class:`GensciError` for more than ``max_atoms`` heavy atoms, an atom type outside the
    vocabulary, or a bond that is not single/double/triple/aromatic.
    """
    if mol is None:
        raise GensciError("no molecule to featurise (unparsable input)")
    if any(a.GetAtomicNum() == 1 for a in mol.GetAtoms()):
        mol = Chem.RemoveHs(mol, sanitize=False)
    n = mol.GetNumAtoms()
    if n > max_atoms:
        raise GensciError(f"the molecule has {n} heavy atoms, more than max_atoms={max_atoms}")
    if vocab.kekulize:
        mol = Chem.Mol(mol)
        try:
            Chem.Kekulize(mol, clearAromaticFlags=True)
        except Chem.KekulizeException as err:
            raise GensciError(f"cannot kekulise the molecule ({err})") from None
    types = [vocab.index(atom_type_of(a)) for a in mol.GetAtoms()]
    edges = []
    for bond in mol.GetBonds():
        cls = _RDKIT_BOND_CLASS.get(bond.GetBondType())
        if cls is None:
            raise GensciError(f"unsupported bond type {bond.GetBondType()} (only {', '.join(BOND_CLASSES[1:])})")
        i, j = sorted((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()))
        edges.append((i, j, cls))
    return types, edges


def lists_to_graph(types: Sequence[int], edges: Sequence[Sequence[int]], max_atoms: int) -> DenseGraph:
    """Pad the compact form of :func:`mol_to_lists` into a :class:`DenseGraph`."""
    n = len(types)
    atoms = torch.zeros(max_atoms, dtype=torch.long)
    atoms[:n] = torch.as_tensor(list(types), dtype=torch.long)
    bonds = torch.zeros(max_atoms, max_atoms, dtype=torch.long)
    if len(edges):
        e = torch.as_tensor([list(x) for x in edges], dtype=torch.long)
        bonds[e[:, 0], e[:, 1]] = e[:, 2]
        bonds[e[:, 1], e[:, 0]] = e[:, 2]
    mask = torch.zeros(max_atoms, dtype=torch.bool)
    mask[:n] = True
    return DenseGraph(atoms, bonds, mask)


def mol_to_graph(mol: Chem.Mol, vocab: MolecularVocabulary, max_atoms: int) -> DenseGraph:
    """Featurise the heavy atoms of ``mol`` into a dense graph padded to ``max_atoms``
    (errors as in :func:`mol_to_lists`)."""
    return lists_to_graph(*mol_to_lists(mol, vocab, max_atoms), max_atoms)


def smiles_to_graph(smiles: str, vocab: MolecularVocabulary, max_atoms: int) -> DenseGraph:
    """Parse ``smiles`` with RDKit and featurise it (:class:`GensciError` if it does not parse)."""
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise GensciError(f"RDKit cannot parse the SMILES {smiles!r}")
    return mol_to_graph(mol, vocab, max_atoms)


def edge_list(graph: DenseGraph | Sequence[Tensor]) -> list[tuple[int, int, int]]:
    """The ``(i, j, class)`` bonds with ``i < j`` and class > 0 of a dense graph."""
    _, bonds, _ = graph
    upper = torch.triu(bonds, diagonal=1)
    idx = upper.nonzero().tolist()
    return [(i, j, int(upper[i, j])) for i, j in idx]
