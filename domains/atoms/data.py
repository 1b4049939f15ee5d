"""3D molecules with hydrogens: QM9 from qm9pack, users' SDF / XYZ files, SMILES embedded by
ETKDG + MMFF, stored compactly and cached.

**QM9** (Ramakrishnan et al., Sci. Data 2014): ``qm9pack`` ships all 130,831 converged
molecules (B3LYP/6-31G(2df,p) geometries, Å) as CSV files read here through
:mod:`importlib.resources`-style package paths (its own loader needs ``pkg_resources``).
Bonds and formal charges are perceived once per molecule from its geometry:

1. :func:`rdkit.Chem.rdDetermineBonds.DetermineBonds` (xyz2mol, Kim & Kim 2015) with total
   charge 0, kept when its canonical SMILES equals the dataset's;
2. else connectivity from the geometry with bond orders and charges from the dataset's
   SMILES (``AssignBondOrdersFromTemplate``);
3. else DetermineBonds' answer if it sanitises (the relaxed geometry is a different molecule
   than its SMILES, a known trait of a few % of QM9);
4. else the molecule is dropped (counted in :attr:`Molecules3D.dropped`).

Measured on the first 3,000 molecules: 90.3 % / 5.5 % by rules 1 / 2, the rest by rule 3 or
dropped. Splits follow EDM (Hoogeboom et al. 2022): a seeded permutation of all 130,831
rows into 100,000 train / 17,748 val / 13,083 test, before dropping.

**Users' data**: a folder or file of SDF (hydrogens and coordinates as given; bonds and
charges as written) or XYZ (bonds perceived as above, rule 1 or 3), or SMILES (``.smi`` /
``.txt``, one per line) embedded by ETKDG v3 and optimised by MMFF94 — this models a force
field's conformers, not DFT geometries, and a warning says so.

Molecules are kept as flat arrays (CSR layout): atom fields one after another with offsets
``atom_ptr`` and bonds ``(i, j, class)``, ``i < j``, with offsets ``bond_ptr``; the cache
``<cache>/atoms/<key>.pt`` is keyed by the SHA-256 of the source files and the options and
read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rdkit import Chem
from rdkit.Chem import AllChem, rdDetermineBonds
from rdkit.rdBase import BlockLogs
from torch import Tensor
from tqdm.auto import tqdm

from domains.atoms.files import read_text
from domains.atoms.molecule import CHARGES, Molecule3D, from_rdkit
from gensci.errors import GensciError
from gensci.io import atomic_path, cache_root
from gensci.sd_files import sd_supplier

__all__ = ["Molecules3D", "QM9_PROPERTIES", "EDM_SPLIT", "qm9_files", "perceive", "load_molecules", "qm9_records",
           "split_indices"]

#: bump when the cached layout or the perception changes
CACHE_VERSION = 1
#: QM9 property -> (qm9pack column, unit)
QM9_PROPERTIES: dict[str, tuple[str, str]] = {
    "alpha": ("Polarizability_bohr3", "bohr^3"),
    "gap": ("HOMO_LUMO_gap_au", "Ha"),
    "homo": ("HOMO_au", "Ha"),
    "lumo": ("LUMO_au", "Ha"),
    "mu": ("Dipole_debye", "D"),
    "cv": ("Heatcapacity_Cv_cal_mol_K", "cal/(mol K)"),
}
#: EDM's QM9 split sizes (train, val, test) over 130,831 molecules
EDM_SPLIT = (100_000, 17_748, 13_083)
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_ELEMENT = re.compile(r"[A-Z][a-z]?")


@dataclass
class Molecules3D:
    """``M`` molecules as flat arrays (module docstring), row-aligned with ``smiles``,
    ``properties`` and ``split``."""

    numbers: Tensor  # (total atoms,) int8 atomic numbers
    positions: Tensor  # (total atoms, 3) float32, Å
    charges: Tensor  # (total atoms,) int8 formal charges
    atom_ptr: Tensor  # (M + 1,) int64
    bonds: Tensor  # (total bonds, 3) int8: i, j, class with i < j
    bond_ptr: Tensor  # (M + 1,) int64
    smiles: list[str]
    properties: dict[str, Tensor] = field(default_factory=dict)  # name -> (M,) float64, NaN = missing
    split: list[str] | None = None
    units: dict[str, str] = field(default_factory=dict)
    dropped: int = 0
    from_cache: bool = False

    def __len__(self) -> int:
        return len(self.smiles)

    @property
    def num_atoms(self) -> Tensor:
        return self.atom_ptr[1:] - self.atom_ptr[:-1]

    def molecule(self, i: int) -> Molecule3D:
        a0, a1 = int(self.atom_ptr[i]), int(self.atom_ptr[i + 1])
        n = a1 - a0
        bonds = np.zeros((n, n), dtype=np.int64)
        for a, b, k in self.bonds[int(self.bond_ptr[i]):int(self.bond_ptr[i + 1])].tolist():
            bonds[a, b] = bonds[b, a] = k
        props = {k: float(v[i]) for k, v in self.properties.items()}
        return Molecule3D(self.numbers[a0:a1].numpy(), self.positions[a0:a1].double().numpy(),
                          self.charges[a0:a1].numpy(), bonds, props)

    def subset(self, rows: Sequence[int] | Tensor) -> Molecules3D:
        rows = torch.as_tensor(rows, dtype=torch.long)
        counts, bond_counts = self.num_atoms[rows], (self.bond_ptr[1:] - self.bond_ptr[:-1])[rows]
        atoms = torch.cat([torch.arange(int(self.atom_ptr[r]), int(self.atom_ptr[r + 1])) for r in rows.tolist()]) \
            if len(rows) else torch.zeros(0, dtype=torch.long)
        bonds = torch.cat([torch.arange(int(self.bond_ptr[r]), int(self.bond_ptr[r + 1])) for r in rows.tolist()]) \
            if len(rows) else torch.zeros(0, dtype=torch.long)
        zero = torch.zeros(1, dtype=torch.long)
        return Molecules3D(
            self.numbers[atoms], self.positions[atoms], self.charges[atoms], torch.cat([zero, counts.cumsum(0)]),
            self.bonds[bonds], torch.cat([zero, bond_counts.cumsum(0)]), [self.smiles[r] for r in rows.tolist()],
            {k: v[rows] for k, v in self.properties.items()},
            None if self.split is None else [self.split[r] for r in rows.tolist()], dict(self.units))

    def to_dict(self) -> dict[str, Any]:
        return {"version": CACHE_VERSION, "numbers": self.numbers, "positions": self.positions, "charges": self.charges,
                "atom_ptr": self.atom_ptr, "bonds": self.bonds, "bond_ptr": self.bond_ptr, "smiles": self.smiles,
                "properties": self.properties, "split": self.split, "units": self.units, "dropped": self.dropped}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Molecules3D:
        keys = ("numbers", "positions", "charges", "atom_ptr", "bonds", "bond_ptr", "smiles", "properties", "split",
                "units", "dropped")
        return cls(**{k: d[k] for k in keys})

    @classmethod
    def from_molecules(cls, molecules: Sequence[Molecule3D], smiles: Sequence[str], properties: dict[str, np.ndarray],
                       split: list[str] | None = None, units: dict[str, str] | None = None, dropped: int = 0) -> Molecules3D:
        counts = torch.tensor([len(m) for m in molecules], dtype=torch.long)
        bond_lists = [m.bond_list() for m in molecules]
        zero = torch.zeros(1, dtype=torch.long)
        return cls(
            numbers=torch.from_numpy(np.concatenate([m.numbers for m in molecules])).to(torch.int8),
            positions=torch.from_numpy(np.concatenate([m.positions for m in molecules])).float(),
            charges=torch.from_numpy(np.concatenate([m.charges for m in molecules])).to(torch.int8),
            atom_ptr=torch.cat([zero, counts.cumsum(0)]),
            bonds=torch.tensor([b for bl in bond_lists for b in bl], dtype=torch.int8).reshape(-1, 3),
            bond_ptr=torch.cat([zero, torch.tensor([len(b) for b in bond_lists], dtype=torch.long).cumsum(0)]),
            smiles=list(smiles), properties={k: torch.as_tensor(v, dtype=torch.float64) for k, v in properties.items()},
            split=split, units=dict(units or {}), dropped=dropped)


# ------------------------------------------------------------------ perception
def _xyz_block(symbols: Sequence[str], positions: np.ndarray) -> str:
    return f"{len(symbols)}\n\n" + "\n".join(f"{s} {x:.10f} {y:.10f} {z:.10f}" for s, (x, y, z) in zip(symbols, positions))


def _canonical(mol) -> str:
    return Chem.MolToSmiles(Chem.RemoveHs(mol, sanitize=False), isomericSmiles=False)


def perceive(symbols: Sequence[str], positions: np.ndarray, smiles: str | None = None, kekulize: bool = True):
    """Bonds and formal charges of a geometry (module docstring, rules 1–3): an RDKit
    molecule with explicit hydrogens and the geometry as its conformer, or None (rule 4)."""
    block = _xyz_block(symbols, positions)
    reference = None
    if smiles:
        ref = Chem.MolFromSmiles(smiles)
        if ref is not None:
            reference = (ref, Chem.MolToSmiles(ref, isomericSmiles=False))
    determined = None
    with BlockLogs():
        mol = Chem.MolFromXYZBlock(block)
        try:
            rdDetermineBonds.DetermineBonds(mol, charge=0)
            Chem.SanitizeMol(mol)
            determined = mol
        except Exception:  # noqa: BLE001 - xyz2mol raises plain RuntimeErrors / ValueErrors
            determined = None
        chosen = None
        if determined is not None and (reference is None or _canonical(determined) == reference[1]):
            chosen = determined
        elif reference is not None:
            try:
                mol = Chem.MolFromXYZBlock(block)
                rdDetermineBonds.DetermineConnectivity(mol)
                templated = AllChem.AssignBondOrdersFromTemplate(reference[0], mol)
                Chem.SanitizeMol(templated)
                if _canonical(templated) == reference[1]:
                    chosen = templated
            except Exception:  # noqa: BLE001
                chosen = None
        if chosen is None:
            chosen = determined
        if chosen is not None and kekulize:
            Chem.Kekulize(chosen, clearAromaticFlags=True)
    return chosen


# ------------------------------------------------------------------ QM9
def qm9_files() -> list[Path]:
    """The qm9pack CSV files, in order (found without importing the package)."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise GensciError("QM9 needs the qm9pack package: pip install 'gensci[atoms]'")
    base = Path(next(iter(spec.submodule_search_locations))) / "data"
    return [base / f"qm9_part{i}.csv" for i in (1, 2, 3)]


def qm9_records(limit: int | None = None) -> Iterator[tuple[str, list[str], np.ndarray, dict[str, float]]]:
    """``(smiles, symbols, positions Å, properties)`` of the QM9 rows in qm9pack's order."""
    import pandas as pd  # a dependency of qm9pack

    columns = ["SMILES", "Elements", "XYZ_Ang"] + [c for c, _ in QM9_PROPERTIES.values()]
    left = limit
    for path in qm9_files():
        if left is not None and left <= 0:
            return
        frame = pd.read_csv(path, usecols=columns, nrows=left)
        if left is not None:
            left -= len(frame)
        props = {name: frame[col].to_numpy(np.float64) for name, (col, _) in QM9_PROPERTIES.items()}
        for r, (smiles, elements, xyz) in enumerate(zip(frame["SMILES"], frame["Elements"], frame["XYZ_Ang"])):
            symbols = _ELEMENT.findall(elements)
            pos = np.array(_NUMBER.findall(xyz.replace("*^", "e")), dtype=np.float64).reshape(-1, 3)
            yield smiles, symbols, pos, {k: float(v[r]) for k, v in props.items()}


def split_indices(n: int, sizes: tuple[int, int, int] = EDM_SPLIT, seed: int = 0) -> list[str]:
    """``"train"`` / ``"val"`` / ``"test"`` per row from a seeded permutation; ``sizes`` are
    scaled proportionally when ``n`` differs from their sum (so ``(8, 1, 1)`` means 80/10/10 %)."""
    total = sum(sizes)
    if n != total:
        sizes = (n - round(n * sizes[1] / total) - round(n * sizes[2] / total), round(n * sizes[1] / total),
                 round(n * sizes[2] / total))
    perm = np.random.default_rng(seed).permutation(n)
    split = np.empty(n, dtype=object)
    split[perm[:sizes[0]]] = "train"
    split[perm[sizes[0]:sizes[0] + sizes[1]]] = "val"
    split[perm[sizes[0] + sizes[1]:]] = "test"
    return split.tolist()


def _check_charges(mol) -> bool:
    """Formal charges within :data:`CHARGES` (the domain filters elements by its own vocabulary)."""
    return all(a.GetFormalCharge() in CHARGES for a in mol.GetAtoms())


def _read_qm9(limit: int | None, seed: int, kekulize: bool, progress: bool) -> Molecules3D:
    molecules, smiles_out, props, split_out = [], [], {k: [] for k in QM9_PROPERTIES}, []
    n_rows = 130_831 if limit is None else min(limit, 130_831)
    split = split_indices(n_rows, seed=seed)
    dropped = 0
    rows = qm9_records(limit)
    for r, (smiles, symbols, pos, values) in enumerate(tqdm(rows, total=n_rows, desc="QM9: perceiving bonds",
                                                              disable=not progress, leave=False)):
        mol = perceive(symbols, pos, smiles, kekulize=kekulize)
        if mol is None or not _check_charges(mol):
            dropped += 1
            continue
        molecules.append(from_rdkit(mol))
        smiles_out.append(_canonical(mol) if not kekulize else Chem.MolToSmiles(Chem.RemoveHs(mol), isomericSmiles=False))
        for k, v in values.items():
            props[k].append(v)
        split_out.append(split[r])
    units = {k: u for k, (_, u) in QM9_PROPERTIES.items()}
    return Molecules3D.from_molecules(molecules, smiles_out, {k: np.array(v) for k, v in props.items()},
                                      split_out, units, dropped)


# ------------------------------------------------------------------ users' files
def _read_files(path: Path, kekulize: bool, seed: int) -> tuple[list[Molecule3D], list[str], int]:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".sdf", ".xyz", ".smi", ".txt")) \
        if path.is_dir() else [path]
    if not files:
        raise GensciError(f"{path}: no .sdf, .xyz, .smi or .txt files")
    molecules, smiles, dropped = [], [], 0
    for f in files:
        suffix = f.suffix.lower()
        with BlockLogs():
            if suffix == ".sdf":
                mols = list(sd_supplier(f, removeHs=False, sanitize=True))
            elif suffix == ".xyz":
                mols = [_perceive_xyz(frame) for frame in _xyz_frames(f)]
            elif suffix in (".smi", ".txt"):
                warnings.warn(f"{f}: embedding SMILES with ETKDG + MMFF94; the model will learn force-field "
                              "conformers, not DFT geometries", stacklevel=3)
                mols = [_embed(line.split()[0], seed + i) for i, line in enumerate(read_text(f).splitlines())
                        if line.strip() and not line.lower().startswith("smiles")]
            else:
                raise GensciError(f"{f}: unknown suffix {f.suffix!r}; use .sdf, .xyz, .smi or .txt")
        for mol in mols:
            if mol is None or mol.GetNumConformers() == 0 or not _check_charges(mol):
                dropped += 1
                continue
            try:  # RDKit's kekulisation and bonds outside single..aromatic (dative, quadruple ...)
                if kekulize:
                    Chem.Kekulize(mol, clearAromaticFlags=True)
                molecule = from_rdkit(mol)
            except ValueError:
                dropped += 1
                continue
            molecules.append(molecule)
            smiles.append(Chem.MolToSmiles(Chem.RemoveHs(mol, sanitize=False), isomericSmiles=False))
    if not molecules:
        raise GensciError(f"{path}: no molecule could be read (3D coordinates and formal charges of -1, 0 or +1 "
                          "are needed)")
    return molecules, smiles, dropped


def _xyz_frames(path: Path) -> Iterator[tuple[list[str], np.ndarray]]:
    """Each frame's element symbols and positions; a malformed frame is a one-line error."""
    lines = read_text(path).splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        try:
            n = int(lines[i].split()[0])
            if n < 0:
                raise ValueError
        except ValueError:
            raise GensciError(f"{path}:{i + 1}: expected an atom count, got {lines[i]!r}") from None
        if i + n + 2 > len(lines):
            raise GensciError(f"{path}:{i + 1}: the frame promises {n} atoms; the file ends first")
        rows = [line.split() for line in lines[i + 2:i + n + 2]]
        try:
            positions = np.array([[float(v) for v in r[1:4]] for r in rows], dtype=np.float64).reshape(n, 3)
        except ValueError:
            k = next(k for k, r in enumerate(rows) if len(r) < 4 or not all(_is_float(v) for v in r[1:4]))
            raise GensciError(f"{path}:{i + 3 + k}: expected 'element x y z', got {lines[i + 2 + k]!r}") from None
        yield [r[0] for r in rows], positions
        i += n + 2


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _perceive_xyz(frame: tuple[list[str], np.ndarray]):
    symbols, positions = frame
    if not np.isfinite(positions).all():
        return None
    return perceive(symbols, positions, kekulize=False)


def _embed(smiles: str, seed: int):
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    if AllChem.EmbedMolecule(mol, params) != 0:
        return None
    if AllChem.MMFFHasAllMoleculeParams(mol):
        AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
    return mol


# ------------------------------------------------------------------ cache
def _digest(files: Sequence[Path], options: dict[str, Any]) -> str:
    h = hashlib.sha256(repr(sorted(options.items())).encode())
    for f in files:
        h.update(f.name.encode())
        h.update(str(f.stat().st_size).encode())
        with open(f, "rb") as handle:
            h.update(handle.read(1 << 20))  # the first MiB and the size identify a release
    return h.hexdigest()[:16]


def load_molecules(source: str = "qm9", limit: int | None = None, seed: int = 0, kekulize: bool = True,
                   cache_dir: str | None = None, progress: bool = True) -> Molecules3D:
    """Molecules of ``source`` (``"qm9"`` or a path to a file / folder of SDF, XYZ, SMILES),
    perceived once and cached (module docstring). ``limit`` keeps the first rows of QM9."""
    if source == "qm9":
        files = qm9_files()
    else:
        path = Path(source).expanduser()
        if not path.exists():
            raise GensciError(f"atoms data source {source!r} is neither 'qm9' nor an existing file or folder")
        files = sorted(path.iterdir()) if path.is_dir() else [path]
    options = {"v": CACHE_VERSION, "source": source, "limit": limit, "seed": seed, "kekulize": kekulize}
    cache = cache_root(cache_dir) / "atoms" / f"{_digest(files, options)}.pt"
    if cache.exists():
        data = Molecules3D.from_dict(torch.load(cache, weights_only=True))
        data.from_cache = True
        return data
    if source == "qm9":
        data = _read_qm9(limit, seed, kekulize, progress)
    else:
        molecules, smiles, dropped = _read_files(Path(source).expanduser(), kekulize, seed)
        if limit is not None:
            molecules, smiles = molecules[:limit], smiles[:limit]
        # conformers of one molecule share a split (by SMILES), so no molecule is in two splits
        groups = {s: i for i, s in enumerate(dict.fromkeys(smiles))}
        by_group = split_indices(len(groups), (8, 1, 1), seed)
        data = Molecules3D.from_molecules(molecules, smiles, {}, [by_group[groups[s]] for s in smiles], dropped=dropped)
    if data.dropped:
        warnings.warn(f"atoms data {source!r}: dropped {data.dropped} molecules whose bonds could not be perceived "
                      "or whose formal charges are outside -1..+1", stacklevel=2)
    with atomic_path(cache) as tmp:
        torch.save(data.to_dict(), tmp)
    return data
