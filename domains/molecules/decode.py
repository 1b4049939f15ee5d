"""Dense graph -> RDKit molecule, strictly or with valence correction.

Two readings of a generated graph, so validity can be reported with and without help:

* :func:`decode_strict` builds the molecule exactly as the graph says and sanitises it;
  any valence or kekulisation problem gives ``None`` (``validity_nc`` in Graph DiT).
* :func:`decode_corrected` repairs over-valent atoms the way DiGress (Vignac et al. 2023,
  arXiv 2209.14734) and Graph DiT (Liu et al. 2024, arXiv 2401.13858) do conceptually,
  one problem at a time until RDKit accepts every valence:

  1. an over-valent neutral N, O or S gets formal charge +1 if that makes its valence
     legal (N with four bonds becomes N+, as in ``C[N+](C)(C)C``);
  2. otherwise one bond of the atom loses one order (triple -> double -> single -> none,
     aromatic -> single), the highest-order bond first, preferring a bond whose other
     atom is over-valent too.

  Aromatic rings that still cannot be kekulised are de-aromatised (their bonds become
  single). The largest fragment (most heavy atoms) is kept if asked. The result says
  whether anything had to change (``corrected``), so the corrected validity and the
  strict one come from the same call.

Both place hydrogens from the default valences (RDKit). Aromatic bonds need one more
reading: a graph does not say which aromatic N carries an H (pyrrole ``[nH]``) or not
(pyridine ``n``), so when an aromatic system does not kekulise as drawn, the fewest
neutral aromatic N/P atoms of degree two (first in index order) receive one hydrogen. This
is part of interpreting the graph, not a correction; it is exact except for tautomers
(see :mod:`domains.molecules.graph`, which kekulises by default and never needs it).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from rdkit import Chem
from rdkit.rdBase import BlockLogs

from domains.molecules.graph import AROMATIC, BOND_CLASSES, DOUBLE, NONE, SINGLE, TRIPLE, MolecularVocabulary
from gensci.errors import GensciError

__all__ = [
    "Decoded",
    "build_molecule",
    "decode_strict",
    "decode_corrected",
    "decode_graph",
    "decode_graphs",
    "canonical_smiles",
    "largest_fragment",
]

_RDKIT_BOND = {
    SINGLE: Chem.BondType.SINGLE,
    DOUBLE: Chem.BondType.DOUBLE,
    TRIPLE: Chem.BondType.TRIPLE,
    AROMATIC: Chem.BondType.AROMATIC,
}
_ORDER = {Chem.BondType.SINGLE: 1.0, Chem.BondType.DOUBLE: 2.0, Chem.BondType.TRIPLE: 3.0, Chem.BondType.AROMATIC: 1.5}
_LOWER = {
    Chem.BondType.TRIPLE: Chem.BondType.DOUBLE,
    Chem.BondType.DOUBLE: Chem.BondType.SINGLE,
    Chem.BondType.AROMATIC: Chem.BondType.SINGLE,
    Chem.BondType.SINGLE: None,
}
_CHARGEABLE = ("N", "O", "S")
_MAX_AROMATIC_H_TRIES = 256


@dataclass
class Decoded:
    """A decoded graph: the molecule (None if invalid), whether it needed correction, and
    how many fragments it had before the largest was kept."""

    mol: Chem.Mol | None
    corrected: bool = False
    fragments: int = 0

    @property
    def valid(self) -> bool:
        return self.mol is not None

    @property
    def smiles(self) -> str | None:
        return canonical_smiles(self.mol)


def canonical_smiles(mol: Chem.Mol | str | None) -> str | None:
    """RDKit canonical SMILES of a molecule (or of a SMILES string); None if invalid."""
    if mol is None:
        return None
    if isinstance(mol, str):
        mol = Chem.MolFromSmiles(mol)
        if mol is None:
            return None
    try:
        return Chem.MolToSmiles(mol)
    except (RuntimeError, ValueError):
        return None


def largest_fragment(mol: Chem.Mol) -> Chem.Mol:
    """The connected fragment with the most heavy atoms (the first one on ties).

    A fragment of a sanitised molecule is sanitised again, so that it carries ring
    information and valences like any parsed molecule (fingerprints need them)."""
    frags = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=False)
    if len(frags) == 1:
        return mol
    best = Chem.Mol(max(frags, key=lambda m: m.GetNumHeavyAtoms()))
    Chem.SanitizeMol(best)
    return best


def _as_list(x: Any) -> list:
    return torch.as_tensor(x).tolist()


def build_molecule(vocab: MolecularVocabulary, atoms: Any, bonds: Any, mask: Any = None) -> Chem.RWMol:
    """The unsanitised RDKit molecule a graph describes (bonds read from the upper triangle).

    ``atoms`` (N,), ``bonds`` (N, N) and ``mask`` (N,) may be tensors, arrays or lists;
    without a mask every position is an atom. ``build_molecule(vocab, *dense_graph)`` works.
    """
    types = _as_list(atoms)
    table = _as_list(bonds)
    keep = [bool(m) for m in _as_list(mask)] if mask is not None else [True] * len(types)
    if len(keep) != len(types) or len(table) != len(types):
        raise GensciError(f"graph shapes disagree: {len(types)} atoms, {len(table)} bond rows, {len(keep)} mask entries")
    positions = [i for i, k in enumerate(keep) if k]
    mol = Chem.RWMol()
    for i in positions:
        t = int(types[i])
        if not 0 <= t < vocab.num_atom_types:
            raise GensciError(f"atom type index {t} is outside the vocabulary (0..{vocab.num_atom_types - 1})")
        element, charge = vocab.atom_types[t]
        atom = Chem.Atom(element)
        atom.SetFormalCharge(charge)
        mol.AddAtom(atom)
    for a, i in enumerate(positions):
        for b in range(a + 1, len(positions)):
            c = int(table[i][positions[b]])
            if c == NONE:
                continue
            if c not in _RDKIT_BOND:
                raise GensciError(f"bond class index {c} is outside 0..{len(BOND_CLASSES) - 1}")
            mol.AddBond(a, b, _RDKIT_BOND[c])
            if c == AROMATIC:
                bond = mol.GetBondBetweenAtoms(a, b)
                bond.SetIsAromatic(True)
                mol.GetAtomWithIdx(a).SetIsAromatic(True)
                mol.GetAtomWithIdx(b).SetIsAromatic(True)
    return mol


def _sanitized(mol: Chem.Mol) -> Chem.Mol | None:
    copy = Chem.Mol(mol)
    try:
        Chem.SanitizeMol(copy)
    except (Chem.MolSanitizeException, RuntimeError, ValueError):
        return None
    return copy


def _sanitize_with_aromatic_h(mol: Chem.Mol) -> Chem.Mol | None:
    """Sanitise; if aromatic rings do not kekulise, give the fewest N/P one H (module doc)."""
    done = _sanitized(mol)
    if done is not None or not any(a.GetIsAromatic() for a in mol.GetAtoms()):
        return done
    candidates = [
        a.GetIdx()
        for a in mol.GetAtoms()
        if a.GetIsAromatic() and a.GetSymbol() in ("N", "P") and a.GetFormalCharge() == 0
        and a.GetDegree() == 2 and a.GetNumExplicitHs() == 0
    ]
    tries = 0
    for k in range(1, len(candidates) + 1):
        for subset in itertools.combinations(candidates, k):
            tries += 1
            if tries > _MAX_AROMATIC_H_TRIES:
                return None
            trial = Chem.RWMol(mol)
            for idx in subset:
                trial.GetAtomWithIdx(idx).SetNumExplicitHs(1)
            done = _sanitized(trial)
            if done is not None:
                return done
    return None


def _finish(mol: Chem.Mol | None, corrected: bool, keep_largest: bool) -> Decoded:
    if mol is None:
        return Decoded(None, corrected, 0)
    fragments = len(Chem.GetMolFrags(mol))
    return Decoded(largest_fragment(mol) if keep_largest else mol, corrected, fragments)


def decode_strict(vocab: MolecularVocabulary, atoms: Any, bonds: Any, mask: Any = None, keep_largest: bool = False) -> Decoded:
    """The molecule exactly as drawn, sanitised by RDKit; ``mol`` is None if it is invalid."""
    with BlockLogs():
        return _finish(_sanitize_with_aromatic_h(build_molecule(vocab, atoms, bonds, mask)), False, keep_largest)


def _overvalent(mol: Chem.RWMol) -> list[int]:
    """Indices of atoms whose valence RDKit rejects, in index order."""
    problems = Chem.DetectChemistryProblems(mol, sanitizeOps=Chem.SanitizeFlags.SANITIZE_PROPERTIES)
    return sorted({p.GetAtomIdx() for p in problems if p.GetType() == "AtomValenceException"})


def _lower_one_bond(mol: Chem.RWMol, idx: int, overvalent: set[int]) -> None:
    """Lower the order of the strongest bond of atom ``idx`` by one step (module doc)."""
    atom = mol.GetAtomWithIdx(idx)
    bond = max(
        atom.GetBonds(),
        key=lambda b: (_ORDER[b.GetBondType()], b.GetOtherAtomIdx(idx) in overvalent, -b.GetOtherAtomIdx(idx)),
    )
    i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
    lower = _LOWER[bond.GetBondType()]
    if lower is None:
        mol.RemoveBond(i, j)
    else:
        bond.SetBondType(lower)
        bond.SetIsAromatic(False)
    for k in (i, j):
        a = mol.GetAtomWithIdx(k)
        a.SetIsAromatic(any(b.GetIsAromatic() for b in a.GetBonds()))


def _dearomatise(mol: Chem.RWMol) -> None:
    for bond in mol.GetBonds():
        if bond.GetIsAromatic() or bond.GetBondType() == Chem.BondType.AROMATIC:
            bond.SetBondType(Chem.BondType.SINGLE)
            bond.SetIsAromatic(False)
    for atom in mol.GetAtoms():
        atom.SetIsAromatic(False)


def decode_corrected(vocab: MolecularVocabulary, atoms: Any, bonds: Any, mask: Any = None, keep_largest: bool = True) -> Decoded:
    """The molecule after valence correction (module doc); ``corrected`` says if it was needed."""
    with BlockLogs():
        return _correct(build_molecule(vocab, atoms, bonds, mask), keep_largest)


def _fix_valences(mol: Chem.RWMol) -> bool | None:
    """Repair over-valent atoms in place (module doc): whether anything changed, None if hopeless."""
    changed = False
    for _ in range(4 * mol.GetNumBonds() + mol.GetNumAtoms() + 1):
        bad = _overvalent(mol)
        if not bad:
            return changed
        changed = True
        idx = bad[0]
        atom = mol.GetAtomWithIdx(idx)
        if atom.GetSymbol() in _CHARGEABLE and atom.GetFormalCharge() == 0:
            atom.SetFormalCharge(1)
            if idx not in _overvalent(mol):
                continue
            atom.SetFormalCharge(0)
        if atom.GetDegree() == 0:  # nothing left to lower (an atom RDKit rejects on its own)
            return None
        _lower_one_bond(mol, idx, set(bad))
    return None


def _correct(mol: Chem.RWMol, keep_largest: bool) -> Decoded:
    changed = _fix_valences(mol)
    if changed is None:
        return Decoded(None, True, 0)
    done = _sanitize_with_aromatic_h(mol)
    if done is None and any(a.GetIsAromatic() for a in mol.GetAtoms()):
        _dearomatise(mol)  # valences are checked again: RDKit counts aromatic atoms leniently
        done = _sanitized(mol) if _fix_valences(mol) is not None else None
        changed = True
    return _finish(done, changed, keep_largest)


def decode_graph(
    vocab: MolecularVocabulary, atoms: Any, bonds: Any, mask: Any = None, correct: bool = True, keep_largest: bool | None = None
) -> Decoded:
    """:func:`decode_corrected` (default; keeps the largest fragment) or :func:`decode_strict`."""
    if correct:
        return decode_corrected(vocab, atoms, bonds, mask, keep_largest=True if keep_largest is None else keep_largest)
    return decode_strict(vocab, atoms, bonds, mask, keep_largest=bool(keep_largest))


def decode_graphs(
    vocab: MolecularVocabulary, atoms: Any, bonds: Any, mask: Any = None, correct: bool = True, keep_largest: bool | None = None
) -> list[Decoded]:
    """Decode a batch: ``atoms`` (B, N), ``bonds`` (B, N, N), ``mask`` (B, N) or None."""
    atoms_l: Sequence = _as_list(atoms)
    bonds_l: Sequence = _as_list(bonds)
    masks: Sequence = _as_list(mask) if mask is not None else [None] * len(atoms_l)
    return [decode_graph(vocab, a, b, m, correct, keep_largest) for a, b, m in zip(atoms_l, bonds_l, masks)]
