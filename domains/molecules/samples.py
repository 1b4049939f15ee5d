"""Generated molecules as the domain hands them around: both decodings, and what was asked.

A :class:`GeneratedMolecules` keeps, per sample, the strict decoding (no repair: validity
without correction) and the corrected one (valence repair, largest fragment: the molecule
that is written), with the requested conditions. Files: ``.sdf`` (one record per valid
molecule, SD tags, :mod:`domains.molecules.sdf`), ``.csv`` (SMILES and properties) or
``.smi`` (one SMILES per line). Reading a file back gives SMILES only (both decodings are
the molecules read).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rdkit import Chem

from domains.molecules.decode import Decoded, canonical_smiles
from gensci.errors import GensciError
from gensci.io import atomic_write

__all__ = ["GeneratedMolecules"]


@dataclass
class GeneratedMolecules:
    """Decoded samples (module docstring)."""

    strict: list[Decoded]
    corrected: list[Decoded]
    requested: dict[str, Any] = field(default_factory=dict)
    num_atoms: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.corrected)

    @property
    def molecules(self) -> list[Chem.Mol | None]:
        """The corrected molecules (None where even correction failed)."""
        return [d.mol for d in self.corrected]

    @property
    def smiles(self) -> list[str | None]:
        """Canonical SMILES of the corrected molecules (None where invalid)."""
        return [d.smiles for d in self.corrected]

    @property
    def strict_smiles(self) -> list[str | None]:
        """Canonical SMILES of the strict decodings (None where invalid without correction)."""
        return [d.smiles for d in self.strict]

    @classmethod
    def from_smiles(cls, smiles: Sequence[str | None], requested: dict[str, Any] | None = None) -> GeneratedMolecules:
        """Molecules read from a file: both decodings are the parsed SMILES."""
        decoded = []
        for s in smiles:
            mol = Chem.MolFromSmiles(s) if s else None
            decoded.append(Decoded(mol))
        return cls(strict=list(decoded), corrected=list(decoded), requested=dict(requested or {}))

    def write(self, path: str | Path, three_d: bool = False, conditions: Sequence[dict[str, Any]] = ()) -> Path:
        """Write by suffix: ``.sdf``, ``.csv`` or ``.smi`` (atomically)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".sdf":
            from domains.molecules.sdf import write_sdf

            tags = [{f"requested_{k}": v for k, v in self.requested.items()} for _ in self.corrected]
            return write_sdf(self.molecules, path, tags, three_d=three_d)
        if suffix == ".csv":
            from domains.molecules.sdf import write_csv

            tags = [{f"requested_{k}": v for k, v in self.requested.items()} for _ in self.corrected]
            return write_csv(self.molecules, path, tags)
        if suffix in (".smi", ".txt"):
            with atomic_write(path) as handle:
                for s in self.smiles:
                    handle.write(f"{s or ''}\n")
            return path
        raise GensciError(f"{path.name}: unknown molecule file type {path.suffix!r}; use .sdf, .csv or .smi")

    @classmethod
    def read(cls, path: str | Path) -> GeneratedMolecules:
        """SMILES from an ``.sdf``, ``.csv`` or ``.smi`` file written by :meth:`write` (or any such file)."""
        path = Path(path)
        if path.suffix.lower() in (".smi", ".txt"):
            lines = path.read_text().splitlines()
            return cls.from_smiles([line.split()[0] if line.strip() else None for line in lines])
        from domains.molecules.sdf import read_samples

        smiles = read_samples(path)
        smiles = smiles[0] if isinstance(smiles, tuple) else smiles
        return cls.from_smiles([canonical_smiles(s) if s else None for s in smiles])
