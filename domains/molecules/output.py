"""Generated molecules to files (SDF, CSV) and back.

Every record carries, as SD data fields or CSV columns:

* ``SMILES``: RDKit canonical SMILES (empty for an invalid molecule);
* ``valid``: 1, or 0 for a molecule that did not decode;
* ``requested_<name>``: the condition the molecule was sampled under (omitted if none);
* ``predicted_<name>``: the property oracle's prediction (:mod:`domains.molecules.oracle`);
* ``measured_<name>``: a label RDKit computes exactly from the structure
  (:mod:`domains.molecules.labels`), for a requested label of that kind;
* ``sa``, ``qed``, ``logp``, ``mw``: RDKit properties (:mod:`domains.molecules.properties`);
* ``coordinates`` (SDF only): ``2D``, ``3D (ETKDG+MMFF94)``, ``3D (ETKDG)`` or
  ``2D (3D embedding failed)``;
* any extra tags the caller passes per record.

**Invalid molecules are kept, not skipped**: each becomes an empty record (no atoms in SDF,
an empty SMILES in CSV) with ``valid = 0`` and its requested conditions, so a file keeps
one record per sample and validity can be read back from it.

Coordinates: 2D by default (``rdDepictor.Compute2DCoords``). ``three_d=True`` adds
hydrogens, embeds with ETKDG v3 (Riniker & Landrum, J. Chem. Inf. Model. 2015; seed
``seed + i`` for record ``i``, then random starting coordinates if that fails) and
optimises with MMFF94 (Halgren, J. Comput. Chem. 1996) where MMFF has parameters for every
atom. A molecule that does not embed falls back to 2D with a tag saying so.

:func:`read_samples` reads such files (or a folder of them, or plain SMILES lines) back
for ``gensci evaluate --samples``. Files are written atomically.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rdkit import Chem
from rdkit.Chem import AllChem, rdDepictor
from rdkit.rdBase import BlockLogs

from domains.molecules.properties import rdkit_properties
from gensci.errors import GensciError
from gensci.io import atomic_path, atomic_write
from gensci.sd_files import sd_supplier

__all__ = ["Written", "Samples", "as_molecules", "record_tags", "write_sdf", "write_csv", "read_samples", "SAMPLE_SUFFIXES"]

SAMPLE_SUFFIXES = (".sdf", ".csv", ".smi", ".txt")
REQUESTED, PREDICTED, MEASURED = "requested_", "predicted_", "measured_"


@dataclass
class Written:
    """What a writer did: records written, how many were invalid, how many fell back to 2D."""

    path: Path
    n_records: int
    n_invalid: int
    n_fallback_2d: int = 0


def as_molecules(molecules: Sequence[Any]) -> list[Chem.Mol | None]:
    """RDKit molecules from molecules, SMILES, :class:`~domains.molecules.decode.Decoded` or None."""
    out: list[Chem.Mol | None] = []
    with BlockLogs():
        for m in molecules:
            if hasattr(m, "mol") and not isinstance(m, Chem.Mol):  # a Decoded result
                m = m.mol
            if isinstance(m, str):
                m = Chem.MolFromSmiles(m) if m else None
            if m is not None and not isinstance(m, Chem.Mol):
                raise GensciError(f"cannot write {type(m).__name__} as a molecule; pass RDKit molecules, SMILES or None")
            out.append(None if m is None or m.GetNumAtoms() == 0 else m)
    return out


def _column(values: Any, n: int, name: str) -> list[Any]:
    """A per-record list from a sequence of length ``n`` or one value for all."""
    if isinstance(values, (str, bytes)) or np.ndim(values) == 0:
        return [values] * n
    values = values.tolist() if hasattr(values, "tolist") else list(values)  # arrays, tensors: Python scalars
    if len(values) != n:
        raise GensciError(f"condition {name!r} has {len(values)} values for {n} molecules")
    return values


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, (float, np.floating)) and math.isnan(v))


def _format(v: Any, exact: bool = False) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(int(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v)) if exact else f"{float(v):.6g}"
    return str(v)


def record_tags(
    molecules: Sequence[Any],
    conditions: Mapping[str, Any] | None = None,
    oracle: Any = None,
    rdkit: bool = True,
    tags_per_record: Sequence[Mapping[str, Any]] | None = None,
) -> list[dict[str, str]]:
    """The tags of each record (module docstring) as strings, in a fixed order.

    ``conditions[name]`` holds one value per molecule (or one for all); NaN / None means the
    molecule was not conditioned on it. ``oracle`` is a
    :class:`~domains.molecules.oracle.PropertyOracle` (its properties become ``predicted_*``).
    """
    mols = as_molecules(molecules)
    n = len(mols)
    if tags_per_record is not None and len(tags_per_record) != n:
        raise GensciError(f"{len(tags_per_record)} tag sets for {n} molecules")
    cond = {name: _column(v, n, name) for name, v in (conditions or {}).items()}
    smiles = [Chem.MolToSmiles(m) if m is not None else "" for m in mols]
    predicted = oracle.predict(mols) if oracle is not None else {}
    props = rdkit_properties(smiles) if rdkit else {}
    out = []
    for i in range(n):
        tags = {"SMILES": smiles[i], "valid": "1" if mols[i] is not None else "0"}
        tags.update({REQUESTED + k: _format(v[i], exact=True) for k, v in cond.items() if not _missing(v[i])})
        tags.update({PREDICTED + k: _format(v[i]) for k, v in predicted.items() if not _missing(v[i])})
        tags.update({k: _format(v[i]) for k, v in props.items() if not _missing(v[i])})
        if tags_per_record is not None:
            tags.update({str(k): _format(v) for k, v in tags_per_record[i].items() if not _missing(v)})
        out.append(tags)
    return out


def _coordinates(mol: Chem.Mol, three_d: bool, seed: int) -> tuple[Chem.Mol, str]:
    """The molecule with a conformer and the ``coordinates`` tag (module docstring)."""
    if three_d:
        with_h = Chem.AddHs(mol)
        params = AllChem.ETKDGv3()
        params.randomSeed = seed
        status = AllChem.EmbedMolecule(with_h, params)
        if status != 0:
            params.useRandomCoords = True
            status = AllChem.EmbedMolecule(with_h, params)
        if status == 0:
            if AllChem.MMFFHasAllMoleculeParams(with_h):
                AllChem.MMFFOptimizeMolecule(with_h, maxIters=1000)
                return with_h, "3D (ETKDG+MMFF94)"
            return with_h, "3D (ETKDG)"
    flat = Chem.Mol(mol)
    rdDepictor.Compute2DCoords(flat)
    return flat, "2D (3D embedding failed)" if three_d else "2D"


def write_sdf(
    molecules: Sequence[Any],
    path: str | os.PathLike,
    tags_per_record: Sequence[Mapping[str, Any]] | None = None,
    three_d: bool = False,
    *,
    conditions: Mapping[str, Any] | None = None,
    oracle: Any = None,
    rdkit: bool = True,
    seed: int = 0,
) -> Written:
    """Write one SD record per molecule with its tags (module docstring); atomic."""
    mols = as_molecules(molecules)
    tags = record_tags(mols, conditions, oracle, rdkit, tags_per_record)
    invalid = fallback = 0
    with atomic_path(path) as tmp, BlockLogs():
        writer = Chem.SDWriter(str(tmp))
        try:
            for i, (mol, record) in enumerate(zip(mols, tags)):
                if mol is None:
                    out, how = Chem.Mol(), ""
                    invalid += 1
                else:
                    out, how = _coordinates(mol, three_d, seed + i)
                    fallback += how.startswith("2D (")
                out.SetProp("_Name", record["SMILES"] or f"invalid sample {i}")
                for k, v in record.items():
                    out.SetProp(k, v)
                if how:
                    out.SetProp("coordinates", how)
                writer.write(out)
        finally:
            writer.close()
    return Written(Path(path), len(mols), invalid, fallback)


def write_csv(
    molecules: Sequence[Any],
    path: str | os.PathLike,
    tags_per_record: Sequence[Mapping[str, Any]] | None = None,
    *,
    conditions: Mapping[str, Any] | None = None,
    oracle: Any = None,
    rdkit: bool = True,
) -> Written:
    """One CSV row per molecule: SMILES, valid, requested / predicted / RDKit properties; atomic."""
    mols = as_molecules(molecules)
    tags = record_tags(mols, conditions, oracle, rdkit, tags_per_record)
    columns: list[str] = []
    for record in tags:
        columns.extend(k for k in record if k not in columns)
    with atomic_write(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(tags)
    return Written(Path(path), len(mols), sum(m is None for m in mols))


@dataclass
class Samples:
    """Molecules read from sample files: SMILES (None = invalid record) and each record's tags."""

    smiles: list[str | None]
    tags: list[dict[str, str]] = field(default_factory=list)
    sources: list[Path] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.smiles)

    def conditions(self) -> dict[str, np.ndarray | list[str | None]]:
        """The ``requested_*`` tags by condition name: float arrays (NaN = none) when every
        present value is a number, else lists of labels (None = none)."""
        return _tag_columns(self.tags, REQUESTED)

    def predicted(self) -> dict[str, np.ndarray | list[str | None]]:
        """The ``predicted_*`` tags, like :meth:`conditions`."""
        return _tag_columns(self.tags, PREDICTED)


def _tag_columns(tags: list[dict[str, str]], prefix: str) -> dict[str, np.ndarray | list[str | None]]:
    names: list[str] = []
    for record in tags:
        names.extend(k[len(prefix):] for k in record if k.startswith(prefix) and k[len(prefix):] not in names)
    out: dict[str, np.ndarray | list[str | None]] = {}
    for name in names:
        raw = [record.get(prefix + name) or None for record in tags]
        try:
            out[name] = np.asarray([math.nan if v is None else float(v) for v in raw], dtype=np.float64)
        except ValueError:
            out[name] = raw
    return out


def _sdf_records(path: Path) -> tuple[list[str | None], list[dict[str, str]]]:
    try:
        with open(path, "rb") as handle:
            text = handle.read()
    except OSError as err:
        raise GensciError(f"{path}: cannot be read ({err.strerror or err})") from None
    if not text.strip():
        raise GensciError(f"{path} is empty: no molecule records")
    if b"M  END" not in text:  # every V2000 / V3000 molecule block ends with this line
        raise GensciError(f"{path} is not an SDF: no record ends with an 'M  END' line")
    smiles, tags = [], []
    with BlockLogs():
        for mol in sd_supplier(path, sanitize=False, removeHs=False):
            if mol is None:  # a record RDKit cannot parse at all
                smiles.append(None)
                tags.append({})
                continue
            try:
                record = {k: mol.GetProp(k) for k in mol.GetPropNames(includePrivate=False, includeComputed=False)}
            except UnicodeDecodeError:
                raise GensciError(f"{path}: record {len(smiles) + 1}: a data item is not UTF-8 text") from None
            tags.append(record)
            smiles.append(_record_smiles(mol, record))
    return smiles, tags


def _record_smiles(mol: Chem.Mol, record: dict[str, str]) -> str | None:
    """The structure's SMILES; the ``SMILES`` tag instead when both describe the same graph
    (3D coordinates would otherwise add stereo the sample never had)."""
    if mol.GetNumAtoms() == 0 or record.get("valid") == "0":
        return None
    try:
        Chem.SanitizeMol(mol)
        mol = Chem.RemoveHs(mol)
        if mol.GetNumConformers() and mol.GetConformer().Is3D():
            Chem.AssignStereochemistryFrom3D(mol)
        structure = Chem.MolToSmiles(mol)
    except (ValueError, RuntimeError):
        return None
    tagged = Chem.MolFromSmiles(record.get("SMILES", "")) if record.get("SMILES") else None
    if tagged is not None and Chem.MolToSmiles(tagged, isomericSmiles=False) == Chem.MolToSmiles(mol, isomericSmiles=False):
        return Chem.MolToSmiles(tagged)
    return structure


def _csv_records(path: Path) -> tuple[list[str | None], list[dict[str, str]]]:
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        matches = [h for h in header if h.strip().lower() == "smiles"]
        if len(matches) != 1:
            names = ", ".join(" ".join(h.split()) for h in header)  # a quoted name may hold a line break
            raise GensciError(f"{path}: needs one SMILES column; the header has {names or 'nothing'}")
        rows = []
        for row in reader:
            if None in row:  # cells beyond the header's columns
                raise GensciError(f"{path}: line {reader.line_num} has {len(header) + len(row[None])} cells; "
                                  f"the header has {len(header)}")
            rows.append(row)
    smiles = [(r.get(matches[0]) or "").strip() or None for r in rows]
    smiles = [None if (r.get("valid") or "").strip() == "0" else s for s, r in zip(smiles, rows)]
    return smiles, [{k: (v or "") for k, v in r.items() if k != matches[0]} for r in rows]


def _smi_records(path: Path) -> tuple[list[str | None], list[dict[str, str]]]:
    lines = [line.split() for line in Path(path).read_text().splitlines()]
    smiles = [parts[0] for parts in lines if parts and parts[0].lower() != "smiles"]
    return [None if s.lower() in ("none", "nan", "invalid") else s for s in smiles], [{} for _ in smiles]


def read_samples(path: str | os.PathLike) -> Samples:
    """SMILES and tags from an SDF, CSV or SMILES-per-line file, or a folder of them (sorted).

    Invalid records (``valid = 0``, no atoms, or a structure RDKit rejects) give ``None``,
    so ``len(samples)`` is the number of samples drawn and validity can be recomputed.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in SAMPLE_SUFFIXES)
        if not files:
            raise GensciError(f"{path}: no sample files ({', '.join(SAMPLE_SUFFIXES)}) in this folder")
    elif path.is_file():
        if path.suffix.lower() not in SAMPLE_SUFFIXES:
            raise GensciError(f"{path}: unknown sample file type; use one of {', '.join(SAMPLE_SUFFIXES)}")
        files = [path]
    else:
        raise GensciError(f"sample file or folder {str(path)!r} does not exist")
    readers = {".sdf": _sdf_records, ".csv": _csv_records, ".smi": _smi_records, ".txt": _smi_records}
    samples = Samples([], [], files)
    for f in files:
        try:
            smiles, tags = readers[f.suffix.lower()](f)
        except UnicodeDecodeError as err:
            raise GensciError(f"{f}: not a text file (byte {err.start} is not UTF-8)") from None
        except csv.Error as err:
            raise GensciError(f"{f}: not a readable CSV file ({' '.join(str(err).split())})") from None
        samples.smiles.extend(smiles)
        samples.tags.extend(tags)
    if not samples.smiles:
        raise GensciError(f"{path} holds no molecule records")
    return samples

