"""Categorical labels computed from a molecule's structure by RDKit.

Data sets such as QM9 carry numeric DFT properties only; these labels give them a
categorical condition whose achieved value can be checked exactly on generated molecules:

* ``aromatic``: ``"yes"`` when the molecule has an aromatic ring (RDKit's aromaticity
  model after sanitisation), else ``"no"``.
* ``rings``: the number of SSSR rings as a class, ``"0"``, ``"1"``, ``"2"`` or ``"3+"``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rdkit import Chem
from rdkit.rdBase import BlockLogs

from gensci.errors import GensciError

__all__ = ["DERIVED_LABELS", "derived_labels"]


def _aromatic(mol: Chem.Mol) -> str:
    return "yes" if any(a.GetIsAromatic() for a in mol.GetAtoms()) else "no"


def _rings(mol: Chem.Mol) -> str:
    n = mol.GetRingInfo().NumRings()
    return str(n) if n < 3 else "3+"


#: label name -> function of a sanitised RDKit molecule
DERIVED_LABELS: dict[str, Callable[[Chem.Mol], str]] = {"aromatic": _aromatic, "rings": _rings}


def derived_labels(name: str, smiles: Sequence[str | None]) -> list[str | None]:
    """The label ``name`` of each SMILES (None where RDKit cannot parse it)."""
    if name not in DERIVED_LABELS:
        raise GensciError(f"unknown derived label {name!r}; choose one of {', '.join(DERIVED_LABELS)}")
    fn = DERIVED_LABELS[name]
    out: list[str | None] = []
    with BlockLogs():
        for s in smiles:
            mol = Chem.MolFromSmiles(s) if s else None
            out.append(None if mol is None else fn(mol))
    return out
