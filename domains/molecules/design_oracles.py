"""Design oracles for molecules: RDKit descriptors, the property forests, similarity, novelty.

Each oracle is a batched callable on candidates (RDKit molecules, None where a sample did
not decode) returning one float per molecule (NaN where it cannot be computed):

* :class:`Descriptor` — computed exactly by RDKit: ``qed`` (Bickerton et al. 2012),
  ``logp`` (Crippen), ``sa`` (Ertl & Schuffenhauer 2009), ``mw``, ``tpsa`` (Ertl et al.
  2000), ``rings``, ``aromatic_rings``, ``heavy_atoms``, ``hbd``, ``hba``;
* :class:`ForestProperty` — the model's random-forest oracle on ECFP4 for a trained
  condition (``gap``, ``mu`` on QM9: :mod:`domains.molecules.oracle`), fit on the train
  split once and cached, shared with ``gensci evaluate``;
* :class:`Similarity` — Tanimoto similarity of ECFP4 (radius 2, 2048 bits) to a reference;
* :class:`~domains.molecules.guacamol_oracles.GuacaMolTask` — a GuacaMol goal-directed task
  (Osimertinib MPO, ...; needs the guacamol package), registered here as ``guacamol``;
* constraints :class:`Valid` (the molecule sanitises) and :class:`Novel` (its canonical
  SMILES is not in the model's training split).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import QED, Crippen, Descriptors, Lipinski, rdFingerprintGenerator, rdMolDescriptors

from domains.molecules.guacamol_oracles import GuacaMolTask
from domains.molecules.properties import sa_score
from gensci.errors import GensciError

__all__ = ["DESCRIPTORS", "Descriptor", "ForestProperty", "Similarity", "Valid", "Novel", "ORACLES"]

#: descriptor name -> RDKit function of a sanitised molecule
DESCRIPTORS: dict[str, Callable[[Chem.Mol], float]] = {
    "qed": QED.qed,
    "logp": Crippen.MolLogP,
    "sa": sa_score,
    "mw": Descriptors.MolWt,
    "tpsa": rdMolDescriptors.CalcTPSA,
    "rings": rdMolDescriptors.CalcNumRings,
    "aromatic_rings": rdMolDescriptors.CalcNumAromaticRings,
    "heavy_atoms": lambda m: m.GetNumHeavyAtoms(),
    "hbd": Lipinski.NumHDonors,
    "hba": Lipinski.NumHAcceptors,
}


def _mols(items: Sequence[Any]) -> list[Chem.Mol | None]:
    out = []
    for m in items:
        if isinstance(m, str):
            m = Chem.MolFromSmiles(m)
        out.append(m)
    return out


class Descriptor:
    """An RDKit descriptor by name (module docstring)."""

    def __init__(self, name: str):
        if name not in DESCRIPTORS:
            raise GensciError(f"unknown descriptor {name!r}; choose one of {', '.join(DESCRIPTORS)}")
        self.name = name

    def __call__(self, items: Sequence[Any]) -> list[float]:
        fn = DESCRIPTORS[self.name]
        out = []
        for m in _mols(items):
            try:
                out.append(float(fn(m)) if m is not None else float("nan"))
            except Exception:  # noqa: BLE001 - a descriptor that fails on one molecule is NaN there
                out.append(float("nan"))
        return out

    def __repr__(self) -> str:
        return f"Descriptor({self.name!r})"


class ForestProperty:
    """The model's ECFP4 random-forest prediction of ``property`` (module docstring)."""

    def __init__(self, property: str):
        self.property = str(property)
        self._oracle = None

    def bind(self, ctx: Any) -> None:
        domain = ctx.model.domain
        oracle = domain.oracle() if hasattr(domain, "oracle") else None
        if oracle is None or self.property not in oracle:
            have = ", ".join(oracle.properties) if oracle is not None else "none"
            raise GensciError(f"the model has no property oracle for {self.property!r} (it has: {have})")
        self._oracle = oracle

    def __call__(self, items: Sequence[Any]) -> np.ndarray:
        if self._oracle is None:
            raise GensciError(f"the {self.property} forest oracle is not bound to a model; use it inside gensci.design")
        mols = _mols(items)
        return np.asarray(self._oracle.predict(mols, [self.property])[self.property], dtype=np.float64)

    def __repr__(self) -> str:
        return f"ForestProperty({self.property!r})"


class Similarity:
    """Tanimoto similarity of ECFP4 fingerprints to ``reference`` (a SMILES)."""

    def __init__(self, reference: str, radius: int = 2, n_bits: int = 2048):
        ref = Chem.MolFromSmiles(reference)
        if ref is None:
            raise GensciError(f"RDKit cannot parse the reference SMILES {reference!r}")
        self.generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
        self.reference = self.generator.GetFingerprint(ref)

    def __call__(self, items: Sequence[Any]) -> list[float]:
        return [float(DataStructs.TanimotoSimilarity(self.generator.GetFingerprint(m), self.reference)) if m is not None
                else float("nan") for m in _mols(items)]


class Valid:
    """1 where the candidate is a molecule RDKit sanitises, else 0."""

    def __call__(self, items: Sequence[Any]) -> list[float]:
        out = []
        for m in _mols(items):
            ok = m is not None and Chem.SanitizeMol(Chem.Mol(m), catchErrors=True) == Chem.SanitizeFlags.SANITIZE_NONE
            out.append(float(ok))
        return out


class Novel:
    """1 where the candidate's canonical SMILES is not in the model's training split."""

    def __init__(self) -> None:
        self._train: set[str] | None = None

    def bind(self, ctx: Any) -> None:
        self._train = set(ctx.model.domain.smiles("train"))

    def __call__(self, items: Sequence[Any]) -> list[float]:
        if self._train is None:
            raise GensciError("the novelty constraint is not bound to a model; use it inside gensci.design")
        return [float(m is not None and Chem.MolToSmiles(m) not in self._train) for m in _mols(items)]


#: built-in oracle factories by name
ORACLES: dict[str, Any] = {"descriptor": Descriptor, "forest": ForestProperty, "similarity": Similarity,
                           "valid": Valid, "novel": Novel, "guacamol": GuacaMolTask}
