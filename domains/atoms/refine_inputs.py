"""Molecules to refine, read from what chemists have: an SDF of conformers or a list of SMILES.

* **SDF** (``.sdf`` / ``.mol``): every record in file order, its atom order kept, read with
  hydrogens (``removeHs=False``) and kekulised. A record without explicit hydrogens gets
  them placed by RDKit (``AddHs(addCoords=True)``), with a warning that names how many
  records needed it. A record RDKit cannot read is an error naming its number: one output
  per input record is the contract, so nothing is skipped silently.
* **SMILES** (``.smi`` / ``.txt``: one per line, an optional name after whitespace; or one
  SMILES string): embedded by ETKDG v3 and relaxed by MMFF94
  (:func:`domains.atoms.pairs.embed_force_field`), the start a conformer model expects.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from domains.atoms.molecule import Molecule3D, from_rdkit
from gensci.errors import GensciError
from gensci.sd_files import sd_supplier

__all__ = ["read_refine_inputs", "read_sdf_inputs", "embed_smiles"]

_SDF = (".sdf", ".mol")
_SMILES = (".smi", ".txt", ".smiles")


def read_refine_inputs(inputs: Any, seed: int = 0) -> list[Molecule3D]:
    """Molecules from a path (SDF or SMILES file) or a SMILES string (module docstring)."""
    path = Path(str(inputs)).expanduser()
    if path.suffix.lower() in _SDF + _SMILES:
        if not path.is_file():
            raise GensciError(f"input file {path} does not exist")
        if path.suffix.lower() in _SDF:
            return read_sdf_inputs(path)
        lines = [line.split()[0] for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
        return [embed_smiles(s, seed, where=f"{path.name} line {i + 1}") for i, s in enumerate(lines)]
    if path.exists():
        raise GensciError(f"input {path}: use an SDF (.sdf, .mol) or a SMILES file (.smi, .txt)")
    return [embed_smiles(str(inputs), seed, where="the SMILES given")]


def read_sdf_inputs(path: Path) -> list[Molecule3D]:
    """Every record of an SDF with its hydrogens, kekulised, in file order."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    out, placed = [], 0
    supplier = sd_supplier(path, removeHs=False, sanitize=True)
    try:
        records = list(supplier)
    except UnicodeDecodeError:
        raise GensciError(f"{path.name} is not text RDKit can read (it holds bytes that are not UTF-8)") from None
    for i, mol in enumerate(records):
        if mol is None:
            raise GensciError(f"{path.name}: record {i + 1} cannot be read by RDKit")
        if mol.GetNumConformers() == 0 or not mol.GetConformer().Is3D():
            raise GensciError(f"{path.name}: record {i + 1} has no 3D coordinates")
        if any(a.GetTotalNumHs() > 0 for a in mol.GetAtoms()):
            mol = Chem.AddHs(mol, addCoords=True)
            placed += 1
        try:
            Chem.Kekulize(mol, clearAromaticFlags=True)
            m = from_rdkit(mol)
        except (ValueError, RuntimeError) as err:  # RDKit's kekulisation errors, bond types we do not model
            raise GensciError(f"{path.name}: record {i + 1}: {str(err).splitlines()[0] if str(err) else 'unusable'}") from None
        m.properties = {"input_record": i + 1}
        try:
            name = mol.GetProp("_Name").strip() if mol.HasProp("_Name") else ""
        except UnicodeDecodeError:  # a title that is not UTF-8: the record reads, its name does not
            name = ""
        if name and name.isprintable():
            m.properties["input_name"] = name
        out.append(m)
    if not out:
        raise GensciError(f"{path.name} holds no molecule records")
    if placed:
        warnings.warn(f"{path.name}: {placed} record(s) had implicit hydrogens; RDKit placed them (their "
                      "geometry is rough, an ETKDG + MMFF start refines better)", stacklevel=2)
    return out


def embed_smiles(smiles: str, seed: int = 0, where: str = "SMILES") -> Molecule3D:
    """One ETKDG + MMFF conformer of ``smiles`` with all hydrogens, kekulised."""
    from rdkit import Chem, RDLogger

    from domains.atoms.pairs import embed_force_field

    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise GensciError(f"{where}: {smiles!r} is not a valid SMILES")
    mol = Chem.AddHs(mol)
    out = embed_force_field(mol, seed, stereo_from_3d=False)
    if isinstance(out, str):
        raise GensciError(f"{where}: {smiles!r}: {out}")
    from rdkit.Geometry import Point3D

    conf = Chem.Conformer(mol.GetNumAtoms())
    for i, p in enumerate(out[1]):
        conf.SetAtomPosition(i, Point3D(*map(float, p)))
    conf.Set3D(True)
    mol.AddConformer(conf, assignId=True)
    Chem.Kekulize(mol, clearAromaticFlags=True)
    m = from_rdkit(mol)
    m.properties = {"input_smiles": smiles}
    return m
