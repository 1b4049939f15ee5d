"""Reading molecules with properties: QM9, MOSES, a user's CSV or SDF file.

Every reader returns a :class:`MoleculeTable`: SMILES, numeric properties (float, NaN =
missing), categorical properties (strings, None = missing) and, if the user gave one, a
split column. Rows whose SMILES RDKit cannot parse (or SDF records it cannot read) are
skipped and counted in one warning; nothing crashes on bad rows. Mistakes a user can fix
(a missing file or column, text in a numeric column) raise one clear
:class:`~gensci.errors.GensciError`.

Sources
-------
* **QM9** (Ramakrishnan et al., Sci. Data 2014, doi:10.1038/sdata.2014.22) from the CSV
  files inside the ``qm9pack`` package (130,831 molecules; B3LYP/6-31G(2df,p)). They are
  read directly: ``import qm9pack`` needs ``pkg_resources``, which new setuptools lack.
  Properties keep qm9pack's units: ``mu`` dipole moment in debye, ``alpha`` in bohr³,
  ``homo``/``lumo``/``gap`` (HOMO–LUMO gap) and ``zpve``/``u0``/``u298``/``h298``/``g298`` in
  hartree (``energy_unit="eV"`` converts these, 1 Ha = 27.211386 eV), ``r2`` in bohr²,
  ``cv`` in cal/(mol K). :data:`QM9_PROPERTIES` lists them with their units.
* **MOSES** (Polykovskiy et al., Front. Pharmacol. 2020) train / test / test_scaffolds
  SMILES from the ``molsets`` package data (``import moses`` also fails on
  ``pkg_resources``; the files are found without importing it). No properties.
* **CSV**: a header row, a SMILES column, numeric and categorical property columns.
* **SDF**: RDKit's ``SDMolSupplier``; properties are the records' data fields.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem
from rdkit.rdBase import BlockLogs

from gensci.errors import GensciError
from gensci.sd_files import sd_supplier

__all__ = [
    "MoleculeTable",
    "QM9_PROPERTIES",
    "MOSES_SPLITS",
    "HARTREE_TO_EV",
    "package_data_dir",
    "qm9_files",
    "moses_file",
    "read_qm9",
    "read_moses",
    "read_csv",
    "read_sdf",
    "split_indices",
    "table_splits",
]

HARTREE_TO_EV = 27.211386245988
#: QM9 property name -> (qm9pack column, unit as stored)
QM9_PROPERTIES: dict[str, tuple[str, str]] = {
    "mu": ("Dipole_debye", "D"),
    "alpha": ("Polarizability_bohr3", "bohr^3"),
    "homo": ("HOMO_au", "Ha"),
    "lumo": ("LUMO_au", "Ha"),
    "gap": ("HOMO_LUMO_gap_au", "Ha"),
    "r2": ("R2_bohr2", "bohr^2"),
    "zpve": ("ZPVE_au", "Ha"),
    "u0": ("InternalEnergy_0K_au", "Ha"),
    "u298": ("InternalEnergy_298K_au", "Ha"),
    "h298": ("Enthalphy_298K_au", "Ha"),  # sic: qm9pack's spelling
    "g298": ("GibbsFreeEnergy_298K_au", "Ha"),
    "cv": ("Heatcapacity_Cv_cal_mol_K", "cal/(mol K)"),
}
MOSES_SPLITS = ("train", "test", "test_scaffolds")
_MISSING = ("", "nan", "na", "n/a", "none", "null")
_SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


@dataclass
class MoleculeTable:
    """Molecules as SMILES with per-row properties, as read from one source."""

    smiles: list[str]
    numeric: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (n,) float64, NaN = missing
    categorical: dict[str, list[str | None]] = field(default_factory=dict)  # name -> n labels
    split: list[str] | None = None  # "train" / "val" / "test" per row, when the source gives one
    units: dict[str, str] = field(default_factory=dict)
    skipped: int = 0  # rows dropped because their SMILES / record could not be read

    def __len__(self) -> int:
        return len(self.smiles)


def package_data_dir(package: str) -> Path:
    """The folder of an installed package, found without importing it (its ``__init__`` may fail)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise GensciError(f"the package {package!r} is not installed (pip install gensci[molecules])")
    return Path(next(iter(spec.submodule_search_locations)))


def qm9_files() -> list[Path]:
    """The qm9pack CSV files, in order."""
    base = package_data_dir("qm9pack") / "data"
    return [base / f"qm9_part{i}.csv" for i in (1, 2, 3)]


def moses_file(split: str) -> Path:
    """The molsets (MOSES) SMILES file of ``split`` (train, test or test_scaffolds)."""
    if split not in MOSES_SPLITS:
        raise GensciError(f"unknown MOSES split {split!r}; choose one of {', '.join(MOSES_SPLITS)}")
    return package_data_dir("moses") / "dataset" / "data" / f"{split}.csv.gz"


def _keep_parsable(smiles: Iterable[str], where: str) -> tuple[list[int], list[str]]:
    """Indices and SMILES of the rows RDKit parses; one warning counts the others."""
    keep, kept, bad = [], [], []
    with BlockLogs():
        for i, s in enumerate(smiles):
            if isinstance(s, str) and s.strip() and Chem.MolFromSmiles(s.strip()) is not None:
                keep.append(i)
                kept.append(s.strip())
            else:
                bad.append(i)
    if bad:
        warnings.warn(f"{where}: skipped {len(bad)} of {len(bad) + len(keep)} rows whose SMILES RDKit cannot parse", stacklevel=3)
    return keep, kept


def read_qm9(properties: Sequence[str] | None = None, limit: int | None = None, energy_unit: str = "Ha") -> MoleculeTable:
    """QM9 from qm9pack: SMILES and ``properties`` (default all of :data:`QM9_PROPERTIES`).

    ``limit`` reads only the first rows (in qm9pack's order, i.e. by QM9 index).
    """
    import pandas as pd  # a dependency of qm9pack

    names = list(QM9_PROPERTIES) if properties is None else list(properties)
    unknown = [p for p in names if p not in QM9_PROPERTIES]
    if unknown:
        raise GensciError(f"unknown QM9 properties {unknown}; choose from {', '.join(QM9_PROPERTIES)}")
    if energy_unit not in ("Ha", "eV"):
        raise GensciError(f"energy_unit must be 'Ha' or 'eV', got {energy_unit!r}")
    columns = ["SMILES"] + [QM9_PROPERTIES[p][0] for p in names]
    frames, left = [], limit
    for path in qm9_files():
        if left is not None and left <= 0:
            break
        frames.append(pd.read_csv(path, usecols=columns, nrows=left))
        left = None if left is None else left - len(frames[-1])
    frame = pd.concat(frames, ignore_index=True)
    keep, smiles = _keep_parsable(frame["SMILES"].tolist(), "QM9")
    table = MoleculeTable(smiles=smiles, skipped=len(frame) - len(keep))
    for p in names:
        values = frame[QM9_PROPERTIES[p][0]].to_numpy(dtype=np.float64)[keep]
        unit = QM9_PROPERTIES[p][1]
        if unit == "Ha" and energy_unit == "eV":
            values, unit = values * HARTREE_TO_EV, "eV"
        table.numeric[p] = values
        table.units[p] = unit
    return table


def read_moses(split: str = "train", limit: int | None = None) -> MoleculeTable:
    """MOSES SMILES of ``split`` from the molsets package data (first ``limit`` rows)."""
    path = moses_file(split)
    with gzip.open(path, "rt") as handle:
        lines = handle.read().split()
    if not lines or lines[0].strip() != "SMILES":
        raise GensciError(f"{path}: expected a 'SMILES' header")
    rows = lines[1:] if limit is None else lines[1 : limit + 1]
    keep, smiles = _keep_parsable(rows, f"MOSES {split}")
    return MoleculeTable(smiles=smiles, skipped=len(rows) - len(keep))


def _to_float(text: object, where: str, column: str) -> float:
    if text is None:
        return math.nan
    text = str(text).strip()
    if text.lower() in _MISSING:
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise GensciError(f"{where}: property {column!r} holds {text!r}, which is not a number") from None


def _to_label(text: object) -> str | None:
    if text is None:
        return None
    text = str(text).strip()
    return None if text.lower() in _MISSING else text


def _is_number(text: object) -> bool:
    try:
        float(str(text))
        return True
    except ValueError:
        return False


def _fill(table: MoleculeTable, records: list[dict[str, object]], where: list[str], numeric: Sequence[str],
          categorical: Sequence[str], split_column: str | None) -> MoleculeTable:
    """Parse the property fields of the kept ``records`` into ``table``."""
    for c in numeric:
        table.numeric[c] = np.asarray([_to_float(r.get(c), w, c) for r, w in zip(records, where)], dtype=np.float64)
    for c in categorical:
        table.categorical[c] = [_to_label(r.get(c)) for r in records]
    if split_column:
        split = []
        for r, w in zip(records, where):
            value = (_to_label(r.get(split_column)) or "").lower()
            if value not in _SPLIT_NAMES:
                raise GensciError(f"{w}: split column {split_column!r} holds {value!r}; use train, val or test")
            split.append(_SPLIT_NAMES[value])
        table.split = split
    return table


def _guess_kinds(names: Sequence[str], records: list[dict[str, object]]) -> tuple[list[str], list[str]]:
    """Columns whose present values are all numbers are numeric; the others categorical."""
    numeric, categorical = [], []
    for c in names:
        present = [r.get(c) for r in records if _to_label(r.get(c)) is not None]
        (numeric if all(_is_number(v) for v in present) else categorical).append(c)
    return numeric, categorical


def _names(header: Sequence[str]) -> str:
    """Column names for a one-line message (a quoted name may hold a line break)."""
    return ", ".join(" ".join(str(h).split()) for h in header)


def read_csv(path: str | Path, smiles_column: str = "smiles", numeric: Sequence[str] | None = None,
             categorical: Sequence[str] | None = None, split_column: str | None = None) -> MoleculeTable:
    """A CSV file with a SMILES column (matched case-insensitively if unique) and properties.

    Without ``numeric`` and ``categorical`` every other column is a property, numeric when
    all its present values are numbers. Empty cells and NaN/NA/None are missing values.
    """
    path = Path(path)
    if not path.is_file():
        raise GensciError(f"data file {str(path)!r} does not exist")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", newline="") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in (reader.fieldnames or [])]
            rows = [{(k or "").strip(): v for k, v in row.items()} for row in reader]
    except csv.Error as err:
        raise GensciError(f"{path}: not a readable CSV file ({' '.join(str(err).split())})") from None
    except UnicodeDecodeError as err:
        raise GensciError(f"{path}: not a text file (byte {err.start} is not UTF-8)") from None
    except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
        raise GensciError(f"{path}: cannot be read ({' '.join(str(err).split())})") from None
    if not header:
        raise GensciError(f"{path}: the file is empty; it needs a header row")
    if smiles_column not in header:
        matches = [h for h in header if h.lower() == smiles_column.lower()]
        if len(matches) != 1:
            raise GensciError(f"{path}: no SMILES column {smiles_column!r}; the header has {_names(header)}")
        smiles_column = matches[0]
    for c in list(numeric or []) + list(categorical or []) + ([split_column] if split_column else []):
        if c not in header:
            raise GensciError(f"{path}: no column {c!r}; the header has {_names(header)}")
    if numeric is None and categorical is None:
        others = [h for h in header if h not in (smiles_column, split_column)]
        numeric, categorical = _guess_kinds(others, rows)
    keep, smiles = _keep_parsable([r.get(smiles_column) for r in rows], str(path))
    if not smiles:
        raise GensciError(f"{path}: no rows with a SMILES that RDKit can parse")
    table = MoleculeTable(smiles=smiles, skipped=len(rows) - len(keep))
    # line numbers assume one line per record (a header on line 1)
    return _fill(table, [rows[i] for i in keep], [f"{path} line {i + 2}" for i in keep], numeric or [], categorical or [], split_column)


def read_sdf(path: str | Path, numeric: Sequence[str] | None = None, categorical: Sequence[str] | None = None,
             split_column: str | None = None) -> MoleculeTable:
    """An SD file: molecules (written as canonical SMILES) and their data fields as properties.

    Records RDKit cannot read are skipped and counted in one warning. Without ``numeric``
    and ``categorical`` every data field is a property (kinds guessed as in :func:`read_csv`).
    """
    path = Path(path)
    if not path.is_file():
        raise GensciError(f"data file {str(path)!r} does not exist")
    smiles, records, where, bad = [], [], [], 0
    with BlockLogs():
        supplier = sd_supplier(path)
        for i, mol in enumerate(supplier):
            if mol is None or mol.GetNumAtoms() == 0:
                bad += 1
                continue
            try:
                records.append(dict(mol.GetPropsAsDict(includePrivate=False, includeComputed=False)))
            except UnicodeDecodeError:
                raise GensciError(f"{path} record {i + 1}: a data item is not UTF-8 text") from None
            smiles.append(Chem.MolToSmiles(mol))
            where.append(f"{path} record {i + 1}")
    if bad:
        warnings.warn(f"{path}: skipped {bad} of {bad + len(smiles)} records RDKit cannot read", stacklevel=2)
    if not smiles:
        raise GensciError(f"{path}: no molecule RDKit can read")
    fields = sorted({k for r in records for k in r})
    for c in list(numeric or []) + list(categorical or []) + ([split_column] if split_column else []):
        if c not in fields:
            raise GensciError(f"{path}: no data field {c!r}; the records have {', '.join(fields) or 'none'}")
    if numeric is None and categorical is None:
        numeric, categorical = _guess_kinds([f for f in fields if f != split_column], records)
    table = MoleculeTable(smiles=smiles, skipped=bad)
    return _fill(table, records, where, numeric or [], categorical or [], split_column)


def split_indices(n: int, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0) -> dict[str, np.ndarray]:
    """A seeded random split of ``range(n)`` into train / val / test by ``fractions``."""
    if len(fractions) != 3 or min(fractions) < 0 or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise GensciError(f"split fractions must be three non-negative numbers summing to 1, got {list(fractions)}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    n_val, n_test = int(round(fractions[1] * n)), int(round(fractions[2] * n))
    n_train = n - n_val - n_test
    if n_train < 1:
        raise GensciError(f"{n} molecules are too few to split {list(fractions)}")
    return {"train": np.sort(perm[:n_train]), "val": np.sort(perm[n_train : n_train + n_val]), "test": np.sort(perm[n_train + n_val :])}


def table_splits(split: Sequence[str] | None, n: int, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0) -> dict[str, np.ndarray]:
    """Row indices per split: the user's split column if given, else :func:`split_indices`."""
    if split is None:
        return split_indices(n, fractions, seed)
    labels = np.asarray(list(split), dtype=object)
    return {name: np.flatnonzero(labels == name) for name in ("train", "val", "test")}
