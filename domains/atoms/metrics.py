"""Quality metrics of generated 3D molecules (beyond stability, :mod:`domains.atoms.stability`).

Every metric takes a sequence of :class:`~domains.atoms.molecule.Molecule3D` (bonds of their
own, or inferred from distances by EDM's lookup when ``bonds`` is None) and returns plain
floats; a molecule that cannot be built or sanitised counts as failing, never raises.

- Validity (EDM, Hoogeboom et al., ICML 2022, arXiv 2203.17003): the RDKit molecule passes
  ``SanitizeMol``; its largest fragment is kept and written as canonical SMILES without
  hydrogens or stereo. validity = #valid / #molecules. As a cross-check,
  :func:`validity_determine_bonds` perceives bonds from the bare XYZ with RDKit's
  ``rdDetermineBonds`` (Kim & Kim's xyz2mol, Bull. Korean Chem. Soc. 2015; total charge = Σ
  formal charges) and counts the molecules it perceives and sanitises.
- Uniqueness = |set(valid SMILES)| / #valid; novelty = |unique ∖ training| / |unique| (EDM).
- PoseBusters (Buttenschoen, Morris & Deane, Chem. Sci. 2024): fraction of molecules passing
  all checks of a configuration (``mol_fast``: chemistry, distance-geometry bond lengths /
  angles / clashes, ring and double-bond flatness), and the pass rate of each check.
- Strain (SemlaFlow, Irwin et al., AISTATS 2025, arXiv 2406.07266): ΔE = E_MMFF94(pose) −
  E_MMFF94(pose relaxed, ≤ maxIters steps) in kcal/mol; its median and mean over the
  molecules where MMFF has parameters and converges, and that fraction.
- Geometry: W₁(P_gen, P_ref) = ∫ |F_gen(x) − F_ref(x)| dx (``scipy.stats.wasserstein_distance``)
  per bond type (Å) and per bond angle a–b–c (degrees, b the vertex), and their mean weighted
  by the reference counts of the types that both sides have.
- FCD (Preuer et al., J. Chem. Inf. Model. 2018): ‖μ_G − μ_R‖² + Tr(Σ_G + Σ_R − 2(Σ_G Σ_R)^½)
  over ChemNet activations, via ``fcd_torch`` (weights ship with the package).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import rdDetermineBonds, rdForceFieldHelpers
from scipy.stats import wasserstein_distance

from domains.atoms.molecule import Molecule3D, to_rdkit
from domains.atoms.stability import infer_bonds
from gensci.errors import GensciError

__all__ = ["ValidityResult", "rdkit_molecule", "canonical_smiles", "validity", "validity_determine_bonds",
           "uniqueness", "novelty", "posebusters_pass_rate", "strain_energies", "mmff_strain", "bond_lengths",
           "bond_angles", "bond_length_w1", "bond_angle_w1", "fcd"]

_BOND_SYMBOL = {1: "-", 2: "=", 3: "#", 4: ":"}


class ValidityResult(NamedTuple):
    """Fraction of valid molecules and each one's canonical SMILES (None when invalid)."""

    fraction: float
    smiles: list[str | None]


def _elements_known(molecule: Molecule3D) -> bool:
    return bool(np.all((molecule.numbers >= 1) & (molecule.numbers <= 118)))


def _symbols(molecule: Molecule3D) -> list[str]:
    """Element symbols; atomic numbers outside the periodic table are written as numbers (RDKit
    would print an invariant violation for them)."""
    if _elements_known(molecule):
        return molecule.symbols
    return [str(int(z)) for z in molecule.numbers]


def _with_bonds(molecule: Molecule3D) -> Molecule3D:
    if molecule.bonds is not None:
        return molecule
    bonds = infer_bonds(molecule.numbers, molecule.positions)  # orders 1-3 are classes 1-3
    return Molecule3D(molecule.numbers, molecule.positions, molecule.charges, bonds, molecule.properties)


def rdkit_molecule(molecule: Molecule3D, sanitize: bool = True) -> Chem.Mol | None:
    """The RDKit molecule (own bonds, else inferred), sanitised when asked; None on failure."""
    if not _elements_known(molecule):
        return None
    with rdBase.BlockLogs():
        try:
            mol = to_rdkit(_with_bonds(molecule), sanitize=False)
            if sanitize:
                Chem.SanitizeMol(mol)
        except Exception:  # RDKit raises several types (valence, kekulisation, bad element)
            return None
    return mol


def canonical_smiles(mol: Chem.Mol | str | None) -> str | None:
    """Canonical SMILES without hydrogens or stereo of a molecule or SMILES; None if unparsable."""
    if mol is None:
        return None
    with rdBase.BlockLogs():
        try:
            if isinstance(mol, str):
                mol = Chem.MolFromSmiles(mol)
            else:
                mol = Chem.MolFromSmiles(Chem.MolToSmiles(Chem.RemoveHs(mol), isomericSmiles=False))
            return None if mol is None else Chem.MolToSmiles(mol, isomericSmiles=False)
        except Exception:
            return None


def _largest_fragment(mol: Chem.Mol) -> Chem.Mol:
    frags = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=True)
    return max(frags, key=lambda m: m.GetNumAtoms(), default=mol)


def validity(molecules: Sequence[Molecule3D]) -> ValidityResult:
    """Fraction that sanitise (largest fragment kept) and the canonical SMILES of each."""
    smiles: list[str | None] = []
    for molecule in molecules:
        mol = rdkit_molecule(molecule) if len(molecule) else None
        if mol is not None:
            with rdBase.BlockLogs():
                try:
                    mol = _largest_fragment(mol)
                except Exception:
                    mol = None
        smiles.append(canonical_smiles(mol))
    n_valid = sum(s is not None for s in smiles)
    return ValidityResult(n_valid / len(smiles) if smiles else math.nan, smiles)


def _xyz_block(molecule: Molecule3D) -> str:
    lines = [str(len(molecule)), ""]
    lines += [f"{s} {x:.6f} {y:.6f} {z:.6f}" for s, (x, y, z) in zip(_symbols(molecule), molecule.positions)]
    return "\n".join(lines) + "\n"


def validity_determine_bonds(molecules: Sequence[Molecule3D]) -> float:
    """Fraction whose bonds RDKit's ``DetermineBonds`` perceives from the XYZ and that sanitise."""
    ok = 0
    for molecule in molecules:
        if not len(molecule):
            continue
        with rdBase.BlockLogs():
            try:
                mol = Chem.MolFromXYZBlock(_xyz_block(molecule))
                rdDetermineBonds.DetermineBonds(mol, charge=int(molecule.charges.sum()))
                Chem.SanitizeMol(mol)
                ok += 1
            except Exception:
                pass
    return ok / len(molecules) if len(molecules) else math.nan


def uniqueness(smiles: Sequence[str | None]) -> float:
    """Distinct valid SMILES over valid SMILES (None entries are invalid); 0 when none is valid."""
    valid = [s for s in smiles if s is not None]
    return len(set(valid)) / len(valid) if valid else 0.0


def novelty(smiles: Sequence[str | None], training_smiles: Sequence[str] | set[str]) -> float:
    """Unique valid SMILES absent from the training set, over unique valid SMILES (0 if none).

    Both sides must be written the same way (e.g. :func:`canonical_smiles`)."""
    unique = {s for s in smiles if s is not None}
    training = training_smiles if isinstance(training_smiles, (set, frozenset)) else set(training_smiles)
    return len(unique - training) / len(unique) if unique else 0.0


@contextlib.contextmanager
def _quiet_rdkit() -> Iterator[None]:
    """RDKit's log channels (and the Python logger "rdkit" that PoseBusters routes them to)
    silenced, then restored as found: PoseBusters re-enables the channels inside its checks,
    which defeats ``BlockLogs``."""
    status = dict(line.split(":") for line in rdBase.LogStatus().splitlines() if ":" in line)
    logger = logging.getLogger("rdkit")
    disabled = logger.disabled
    logger.disabled = True
    rdBase.DisableLog("rdApp.*")
    try:
        yield
    finally:
        for channel, state in status.items():
            (rdBase.EnableLog if state == "enabled" else rdBase.DisableLog)(channel)
        logger.disabled = disabled


def posebusters_pass_rate(molecules: Sequence[Molecule3D], config: str | dict = "mol_fast") -> dict[str, float]:
    """``{"all": fraction passing every check, <check>: fraction passing it, ...}`` from
    ``posebusters.PoseBusters(config).bust``; a molecule it cannot read fails every check.
    ``config``: "mol_fast" (no energy check), "mol" (adds the ETKDG/UFF energy ratio) or a
    PoseBusters configuration dictionary; the other presets need a protein."""
    if not (isinstance(config, dict) or config in ("mol", "mol_fast")):
        raise GensciError(f"PoseBusters config for molecules without a protein: 'mol' or 'mol_fast' (or a dict), got {config!r}")
    from posebusters import PoseBusters

    n = len(molecules)
    mols = [rdkit_molecule(m, sanitize=False) if len(m) else None for m in molecules]
    index = [i for i, mol in enumerate(mols) if mol is not None]
    passed = np.zeros((n, 0), dtype=bool)
    names: list[str] = []
    if index:
        with _quiet_rdkit():
            table = PoseBusters(config=config, max_workers=0).bust(mol_pred=[mols[i] for i in index])
        if len(table) != len(index):  # one row per pose: every molecule has one conformer
            raise RuntimeError(f"PoseBusters returned {len(table)} rows for {len(index)} molecules")
        names = [str(c) for c in table.columns]
        passed = np.zeros((n, len(names)), dtype=bool)
        # a check that could not run is NaN (and turns its column's True into 1.0): a failure
        passed[index] = table.astype(float).fillna(0.0).to_numpy() > 0.5
    out = {"all": float(passed.all(axis=1).mean()) if n and names else (0.0 if n else math.nan)}
    out.update({name: float(passed[:, k].mean()) for k, name in enumerate(names)})
    return out


def strain_energies(molecules: Sequence[Molecule3D], max_iters: int = 1000) -> np.ndarray:
    """(n,) MMFF94 strain in kcal/mol, NaN where the molecule does not sanitise, lacks MMFF
    parameters or does not converge within ``max_iters``."""
    out = np.full(len(molecules), np.nan)
    for k, molecule in enumerate(molecules):
        mol = rdkit_molecule(molecule) if len(molecule) else None
        if mol is None:
            continue
        with rdBase.BlockLogs():
            try:
                if not rdForceFieldHelpers.MMFFHasAllMoleculeParams(mol):
                    continue
                props = rdForceFieldHelpers.MMFFGetMoleculeProperties(mol, mmffVariant="MMFF94")
                field = rdForceFieldHelpers.MMFFGetMoleculeForceField(mol, props)
                before = field.CalcEnergy()
                if field.Minimize(maxIts=max_iters) != 0:
                    continue
                out[k] = before - field.CalcEnergy()
            except Exception:
                continue
    return out


def mmff_strain(molecules: Sequence[Molecule3D], max_iters: int = 1000) -> dict[str, float]:
    """``median`` and ``mean`` MMFF94 strain (kcal/mol) and the ``fraction`` computed."""
    strain = strain_energies(molecules, max_iters)
    done = strain[np.isfinite(strain)]
    return {
        "median": float(np.median(done)) if len(done) else math.nan,
        "mean": float(done.mean()) if len(done) else math.nan,
        "fraction": len(done) / len(strain) if len(strain) else math.nan,
    }


def _hill(symbols: Sequence[str]) -> list[str]:
    return sorted(symbols, key=lambda s: (s != "C", s != "H", s))


def bond_lengths(molecules: Sequence[Molecule3D]) -> dict[str, np.ndarray]:
    """Bond lengths in Å by type, e.g. ``"C-H"``, ``"C=O"``, ``"C#N"``, ``"C:C"`` (aromatic)."""
    out: dict[str, list[float]] = defaultdict(list)
    for molecule in molecules:
        molecule = _with_bonds(molecule)
        symbols = _symbols(molecule)
        for i, j, k in molecule.bond_list():
            a, b = _hill([symbols[i], symbols[j]])
            out[f"{a}{_BOND_SYMBOL.get(k, '?')}{b}"].append(float(np.linalg.norm(molecule.positions[i] - molecule.positions[j])))
    return {key: np.asarray(v) for key, v in sorted(out.items())}


def bond_angles(molecules: Sequence[Molecule3D]) -> dict[str, np.ndarray]:
    """Angles a–b–c in degrees between bonded neighbours a, c of b, keyed ``"a-b-c"``."""
    out: dict[str, list[float]] = defaultdict(list)
    for molecule in molecules:
        molecule = _with_bonds(molecule)
        symbols = _symbols(molecule)
        for b in range(len(molecule)):
            neighbours = np.nonzero(molecule.bonds[b])[0]
            for p in range(len(neighbours)):
                for q in range(p + 1, len(neighbours)):
                    a, c = neighbours[p], neighbours[q]
                    u, v = molecule.positions[a] - molecule.positions[b], molecule.positions[c] - molecule.positions[b]
                    norm = np.linalg.norm(u) * np.linalg.norm(v)
                    if norm == 0:
                        continue
                    ends = _hill([symbols[a], symbols[c]])
                    angle = math.degrees(math.acos(float(np.clip(np.dot(u, v) / norm, -1.0, 1.0))))
                    out[f"{ends[0]}-{symbols[b]}-{ends[1]}"].append(angle)
    return {key: np.asarray(v) for key, v in sorted(out.items())}


Distributions = Mapping[str, np.ndarray]


def _w1(generated: Distributions, reference: Distributions) -> dict[str, float]:
    shared = [key for key in reference if len(reference[key]) and len(generated.get(key, ()))]
    out = {key: float(wasserstein_distance(generated[key], reference[key])) for key in shared}
    weights = np.array([len(reference[key]) for key in shared], dtype=float)
    out["mean"] = float(np.dot(weights, [out[k] for k in shared]) / weights.sum()) if shared else math.nan
    return out


def bond_length_w1(molecules: Sequence[Molecule3D] | Distributions,
                   reference: Sequence[Molecule3D] | Distributions) -> dict[str, float]:
    """W₁ in Å per bond type present on both sides, and ``"mean"`` weighted by reference counts.
    Either side may be molecules or precomputed :func:`bond_lengths`."""
    as_dist = lambda x: x if isinstance(x, Mapping) else bond_lengths(x)  # noqa: E731
    return _w1(as_dist(molecules), as_dist(reference))


def bond_angle_w1(molecules: Sequence[Molecule3D] | Distributions,
                  reference: Sequence[Molecule3D] | Distributions) -> dict[str, float]:
    """W₁ in degrees per angle type present on both sides, and the reference-weighted ``"mean"``."""
    as_dist = lambda x: x if isinstance(x, Mapping) else bond_angles(x)  # noqa: E731
    return _w1(as_dist(molecules), as_dist(reference))


def fcd(smiles: Sequence[str | None], reference_smiles: Sequence[str | None]) -> float:
    """Fréchet ChemNet Distance (``fcd_torch`` on CPU) between the parsable SMILES of each side;
    NaN when either side has fewer than two."""
    gen = [s for s in smiles if canonical_smiles(s) is not None]
    ref = [s for s in reference_smiles if canonical_smiles(s) is not None]
    if len(gen) < 2 or len(ref) < 2:
        return math.nan
    with rdBase.BlockLogs():
        return float(_chemnet()(gen=gen, ref=ref))


@functools.lru_cache(maxsize=1)
def _chemnet():
    from fcd_torch import FCD

    return FCD(device="cpu", n_jobs=1)
