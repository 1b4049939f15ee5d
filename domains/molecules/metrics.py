"""Metrics of generated molecules: the MOSES set (Polykovskiy et al., Front. Pharmacol. 2020),
atom-type coverage (Liu et al., "Graph Diffusion Transformers for Multi-Conditional Molecular
Generation", NeurIPS 2024) and the Fréchet ChemNet Distance (Preuer et al., J. Chem. Inf.
Model. 2018).

Let ``S`` be the generated SMILES (``None`` for a failed decode), ``V`` the valid ones and
``c(·)`` RDKit's canonical SMILES:

* ``validity = |V| / |S|``. Valid means MOSES's ``get_mol``: a non-empty string that RDKit
  parses and sanitises.
* ``uniqueness = |{c(v) : v ∈ V_k}| / |V_k|``, with ``V_k`` the first ``k`` valid molecules
  (MOSES ``unique@k``; ``k = None`` takes all of them).
* ``novelty = |{c(v)} \\ T| / |{c(v)}|`` over the unique valid molecules, ``T`` the training
  set. MOSES compares with the training strings as stored; we canonicalise them first
  (``train_is_canonical=True`` skips that when they already are), so a training molecule
  written differently still counts as seen.
* ``atom_type_coverage``: the share of the reference atom types (element and formal charge,
  e.g. ``C``, ``N+``, ``O-``) that appear in at least one valid generated molecule.
* ``intdiv``, ``intdiv2``, ``snn``, ``frag``, ``scaf``: see :mod:`domains.molecules.similarity`;
  they run on all valid molecules, duplicates included, as in MOSES.
* ``fcd``: see :mod:`domains.molecules.fcd`, on the canonical SMILES of ``V``.

Empty or all-invalid input never raises: the undefined metrics are NaN, with one warning.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable, Sequence

from rdkit import Chem, rdBase
from tqdm.auto import tqdm

from domains.molecules.similarity import (
    fragment_similarity,
    internal_diversity,
    nearest_neighbour_similarity,
    scaffold_similarity,
)

__all__ = [
    "parse_smiles",
    "canonical_smiles",
    "validity",
    "uniqueness",
    "novelty",
    "atom_type",
    "atom_types",
    "atom_type_coverage",
    "molecule_metrics",
]


def parse_smiles(smiles: Iterable[str | None], progress: bool = False, desc: str = "parsing SMILES") -> list[Chem.Mol | None]:
    """RDKit molecules, ``None`` where a SMILES is missing, empty, unparsable or fails sanitising."""
    out: list[Chem.Mol | None] = []
    with rdBase.BlockLogs():
        for s in tqdm(smiles, desc=desc, disable=not progress, leave=False, delay=0.5):
            mol = Chem.MolFromSmiles(s) if isinstance(s, str) and s else None
            if mol is not None:
                try:
                    Chem.SanitizeMol(mol)
                except (ValueError, RuntimeError):
                    mol = None
            out.append(mol)
    return out


def canonical_smiles(mols: Iterable[Chem.Mol | None]) -> list[str | None]:
    """RDKit canonical (isomeric) SMILES of each molecule, ``None`` stays ``None``."""
    return [None if m is None else Chem.MolToSmiles(m) for m in mols]


def _nan(message: str) -> float:
    warnings.warn(message + ": returning NaN", RuntimeWarning, stacklevel=3)
    return math.nan


def validity(smiles: Sequence[str | None]) -> float:
    """Fraction of inputs that are valid molecules; NaN with a warning for an empty list."""
    if len(smiles) == 0:
        return _nan("validity of an empty list is undefined")
    return sum(m is not None for m in parse_smiles(smiles)) / len(smiles)


def uniqueness(smiles: Sequence[str | None], k: int | None = None) -> float:
    """MOSES ``unique@k``: unique canonical SMILES among the first ``k`` valid inputs."""
    valid = [c for c in canonical_smiles(parse_smiles(smiles)) if c is not None]
    return _uniqueness(valid, k)


def _uniqueness(valid_canonical: list[str], k: int | None) -> float:
    if k is not None:
        if k < 1:
            raise ValueError(f"unique@k needs k >= 1, got {k}")
        if len(valid_canonical) < k:
            warnings.warn(f"unique@{k} on only {len(valid_canonical)} valid molecules", RuntimeWarning, stacklevel=3)
        valid_canonical = valid_canonical[:k]
    if not valid_canonical:
        return _nan("uniqueness needs at least one valid molecule")
    return len(set(valid_canonical)) / len(valid_canonical)


def _train_set(train_smiles: Iterable[str], is_canonical: bool, progress: bool) -> tuple[set[str], list[Chem.Mol | None] | None]:
    """The canonical training set, and the parsed training molecules when parsing was needed."""
    if is_canonical:
        return {s for s in train_smiles if s}, None
    mols = parse_smiles(train_smiles, progress, "parsing train")
    return {c for c in canonical_smiles(mols) if c is not None}, mols


def novelty(smiles: Sequence[str | None], train_smiles: Iterable[str], train_is_canonical: bool = False, progress: bool = False) -> float:
    """Fraction of the unique valid generated molecules that are not in the training set."""
    generated = {c for c in canonical_smiles(parse_smiles(smiles)) if c is not None}
    return _novelty(generated, _train_set(train_smiles, train_is_canonical, progress)[0])


def _novelty(generated: set[str], train: set[str]) -> float:
    if not generated:
        return _nan("novelty needs at least one valid molecule")
    return len(generated - train) / len(generated)


def atom_type(atom: Chem.Atom) -> str:
    """Element and formal charge: ``C``, ``N+``, ``O-``, ``Fe+2``."""
    q = atom.GetFormalCharge()
    if q == 0:
        return atom.GetSymbol()
    sign = "+" if q > 0 else "-"
    return f"{atom.GetSymbol()}{sign}{abs(q) if abs(q) > 1 else ''}"


def atom_types(mols: Iterable[Chem.Mol | None], progress: bool = False) -> set[str]:
    """The set of atom types over the (non-``None``) molecules."""
    return {atom_type(a) for m in tqdm(mols, desc="atom types", disable=not progress, leave=False, delay=0.5) if m is not None for a in m.GetAtoms()}


def atom_type_coverage(generated: Iterable[Chem.Mol | None], reference_types: Iterable[str]) -> float:
    """Share of the reference atom types present in the generated molecules."""
    reference = set(reference_types)
    if not reference:
        return _nan("atom-type coverage needs at least one reference atom type")
    return len(reference & atom_types(generated)) / len(reference)


def molecule_metrics(
    generated_smiles: Sequence[str | None],
    train_smiles: Sequence[str] | None,
    test_smiles: Sequence[str] | None,
    *,
    compute_fcd: bool = True,
    unique_at: Sequence[int] = (),
    train_is_canonical: bool = False,
    reference_atom_types: Iterable[str] | None = None,
    cache_dir: str | os.PathLike | None = None,
    device: str = "cpu",
    batch_size: int = 512,
    progress: bool = True,
) -> dict[str, float]:
    """All molecule metrics of ``generated_smiles`` as a flat ``{name: float}``.

    Keys: ``n_generated``, ``n_valid``, ``validity``, ``uniqueness``, ``unique@k`` for each
    ``k`` in ``unique_at``, ``intdiv``, ``intdiv2``; with ``train_smiles``: ``novelty`` and
    ``atom_type_coverage`` (reference types from the training set unless
    ``reference_atom_types`` is given); with ``test_smiles``: ``snn``, ``frag``, ``scaf`` and,
    unless ``compute_fcd=False``, ``fcd`` (reference statistics cached on disk, see
    :func:`domains.molecules.fcd.reference_statistics`).

    The training set is parsed once for novelty and atom types (about 2 minutes for the 1.6M
    MOSES SMILES); ``train_is_canonical=True`` with ``reference_atom_types`` skips that.
    """
    n = len(generated_smiles)
    mols = parse_smiles(generated_smiles, progress, "parsing generated")
    valid = [m for m in mols if m is not None]
    out: dict[str, float] = {"n_generated": float(n), "n_valid": float(len(valid))}
    keys = ["uniqueness", *(f"unique@{k}" for k in unique_at), "intdiv", "intdiv2"]
    if train_smiles is not None:
        keys += ["novelty", "atom_type_coverage"]
    if test_smiles is not None:
        keys += ["snn", "frag", "scaf"] + (["fcd"] if compute_fcd else [])
    if not valid:
        why = "no generated molecules" if n == 0 else f"none of the {n} generated SMILES is a valid molecule"
        warnings.warn(f"{why}: molecule metrics are NaN", RuntimeWarning, stacklevel=2)
        out["validity"] = math.nan if n == 0 else 0.0
        out.update({k: math.nan for k in keys})
        return out

    out["validity"] = len(valid) / n
    canonical = canonical_smiles(valid)
    out["uniqueness"] = _uniqueness(canonical, None)
    for k in unique_at:
        out[f"unique@{k}"] = _uniqueness(canonical, k)
    out["intdiv"] = internal_diversity(valid, p=1, progress=progress)
    out["intdiv2"] = internal_diversity(valid, p=2, progress=progress)

    if train_smiles is not None:
        train_set, train_mols = _train_set(train_smiles, train_is_canonical, progress)
        out["novelty"] = _novelty(set(canonical), train_set)
        if reference_atom_types is None:
            if train_mols is None:
                train_mols = parse_smiles(train_smiles, progress, "parsing train")
            reference_atom_types = atom_types(train_mols)
        out["atom_type_coverage"] = atom_type_coverage(valid, reference_atom_types)

    if test_smiles is not None:
        test_mols = [m for m in parse_smiles(test_smiles, progress, "parsing test") if m is not None]
        if len(test_mols) < len(test_smiles):
            warnings.warn(f"{len(test_smiles) - len(test_mols)} invalid test SMILES ignored", RuntimeWarning, stacklevel=2)
        out["snn"] = nearest_neighbour_similarity(valid, test_mols, progress=progress)
        out["frag"] = fragment_similarity(valid, test_mols, progress=progress)
        out["scaf"] = scaffold_similarity(valid, test_mols, progress=progress)
        if compute_fcd:
            from domains.molecules.fcd import frechet_chemnet_distance

            out["fcd"] = frechet_chemnet_distance(
                canonical, test_smiles, cache_dir=cache_dir, device=device, batch_size=batch_size, progress=progress
            )
    return out
