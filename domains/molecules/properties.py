"""Molecular properties computed exactly by RDKit, the four that MOSES reports.

* ``sa``: synthetic accessibility, 1 (easy) … 10 (hard), from fragment contributions and a
  complexity penalty (Ertl & Schuffenhauer, J. Cheminform. 2009); RDKit's Contrib
  ``SA_Score/sascorer.py`` with its ``fpscores.pkl.gz``.
* ``qed``: quantitative estimate of drug-likeness, the weighted geometric mean of eight
  desirability functions (Bickerton et al., Nat. Chem. 2012); ``rdkit.Chem.QED.qed``.
* ``logp``: Crippen's atom-contribution octanol/water logP (Wildman & Crippen, J. Chem. Inf.
  Comput. Sci. 1999); ``Crippen.MolLogP``.
* ``mw``: average molecular weight including implicit hydrogens, ``Descriptors.MolWt``.

Invalid SMILES give NaN in every array.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
from collections.abc import Callable, Sequence
from types import ModuleType

import numpy as np
from rdkit import Chem, RDConfig
from rdkit.Chem import QED, Crippen, Descriptors
from tqdm.auto import tqdm

from domains.molecules.metrics import parse_smiles
from gensci.errors import GensciError

__all__ = ["PROPERTIES", "sa_score", "rdkit_properties"]


@functools.lru_cache(maxsize=1)
def _sascorer() -> ModuleType:
    """RDKit's Contrib SA scorer, loaded from its file without touching ``sys.path``."""
    path = os.path.join(RDConfig.RDContribDir, "SA_Score", "sascorer.py")
    if not os.path.exists(path):
        raise GensciError(f"RDKit's SA scorer is missing (looked for {path}); install an rdkit build that ships Contrib/SA_Score")
    spec = importlib.util.spec_from_file_location("_gensci_rdkit_sascorer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sa_score(mol: Chem.Mol) -> float:
    """Ertl–Schuffenhauer synthetic accessibility score of a molecule (NaN for no atoms)."""
    score = _sascorer().calculateScore(mol)
    return math.nan if score is None else float(score)


PROPERTIES: dict[str, Callable[[Chem.Mol], float]] = {
    "sa": sa_score,
    "qed": QED.qed,
    "logp": Crippen.MolLogP,
    "mw": Descriptors.MolWt,
}


def rdkit_properties(
    smiles_list: Sequence[str | None], names: Sequence[str] = tuple(PROPERTIES), progress: bool = False
) -> dict[str, np.ndarray]:
    """``{name: float64 array}`` of the requested properties, NaN where a SMILES is invalid."""
    unknown = [n for n in names if n not in PROPERTIES]
    if unknown:
        raise GensciError(f"unknown molecular properties {unknown}; known: {sorted(PROPERTIES)}")
    out = {n: np.full(len(smiles_list), np.nan) for n in names}
    mols = parse_smiles(smiles_list, progress)
    for i, mol in enumerate(tqdm(mols, desc="properties", disable=not progress, leave=False, delay=0.5)):
        if mol is not None:
            for n in names:
                out[n][i] = PROPERTIES[n](mol)
    return out
