"""Generated molecules as the domain hands them around: both decodings, and what was asked.

A :class:`GeneratedMolecules` keeps, per sample, the strict decoding (no repair: validity
without correction) and the corrected one (valence repair, largest fragment: the molecule
that is written), with the requested conditions, the sampled atom counts and the writing
options they were drawn with (``three_d``: ETKDG + MMFF coordinates in SDF files;
``oracle``: ``"yes"``, ``"no"`` or ``"auto"``, whether the writer adds the property
oracle's predictions). Files: ``.sdf`` (one record per valid molecule, SD tags,
:mod:`domains.molecules.output`), ``.csv`` (SMILES and properties) or ``.smi`` (one SMILES
per line). Reading a file back gives SMILES only (both decodings are the molecules read)
and the requested conditions their ``requested_*`` tags hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rdkit import Chem

from domains.molecules.decode import Decoded
from domains.molecules.labels import derived_labels
from domains.molecules.output import MEASURED, REQUESTED, read_samples, write_csv, write_sdf
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
    three_d: bool = False
    oracle: str = "auto"

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
    def from_smiles(cls, smiles: Sequence[str | None], requested: dict[str, Any] | None = None,
                    corrected: Sequence[bool] | None = None) -> GeneratedMolecules:
        """Molecules read from a file: the parsed SMILES, and, where ``corrected`` says a record
        needed valence correction, no molecule for its strict decoding."""
        decoded, strict = [], []
        flags = list(corrected) if corrected is not None else [False] * len(smiles)
        for s, repaired in zip(smiles, flags):
            mol = Chem.MolFromSmiles(s) if s else None
            decoded.append(Decoded(mol, corrected=bool(repaired)))
            strict.append(Decoded(None if repaired else mol))
        return cls(strict=strict, corrected=decoded, requested=dict(requested or {}))

    @classmethod
    def from_mols(cls, mols: Sequence[Chem.Mol | None], requested: dict[str, Any] | None = None) -> GeneratedMolecules:
        """Molecules already built (e.g. design candidates): both decodings are the molecules."""
        decoded = [Decoded(m) for m in mols]
        return cls(strict=list(decoded), corrected=list(decoded), requested=dict(requested or {}))

    def write(self, path: str | Path, three_d: bool = False, oracle: Any = None, measured: Sequence[str] = ()) -> Path:
        """Write by suffix: ``.sdf`` (one record per sample, invalid ones flagged), ``.csv`` or
        ``.smi``, atomically; ``oracle`` adds ``predicted_*`` tags, and each requested label
        named in ``measured`` (labels RDKit computes, :mod:`domains.molecules.labels`) a
        ``measured_*`` tag with the label the molecule has."""
        path = Path(path)
        suffix = path.suffix.lower()
        conditions = {name: [value] * len(self) for name, value in self.requested.items()}
        # whether each record needed valence correction, so validity without correction can be
        # recomputed from the file
        repaired: list[dict[str, Any]] = [{"corrected": int(bool(d.corrected))} for d in self.corrected]
        for name in (m for m in measured if m in self.requested):
            for tags, label in zip(repaired, derived_labels(name, self.smiles)):
                tags[MEASURED + name] = label
        if suffix == ".sdf":
            return write_sdf(self.molecules, path, three_d=three_d, conditions=conditions, oracle=oracle,
                             tags_per_record=repaired).path
        if suffix == ".csv":
            return write_csv(self.molecules, path, conditions=conditions, oracle=oracle, tags_per_record=repaired).path
        if suffix in (".smi", ".txt"):
            with atomic_write(path) as handle:
                for s in self.smiles:
                    handle.write(f"{s or 'invalid'}\n")
            return path
        raise GensciError(f"{path.name}: unknown molecule file type {path.suffix!r}; use .sdf, .csv or .smi")

    @classmethod
    def read(cls, path: str | Path, categorical: Sequence[str] = ()) -> GeneratedMolecules:
        """Molecules from an ``.sdf``, ``.csv`` or ``.smi`` file (or a folder of them), with the
        conditions recorded in their ``requested_*`` tags when every record has the same:
        as floats where they parse as numbers, except the ``categorical`` names (class
        labels such as ``"1"`` stay strings)."""
        samples = read_samples(path)
        requested = {}
        for name, values in samples.conditions().items():
            if name in categorical:  # the labels as written, not as numbers
                values = [record.get(REQUESTED + name) or None for record in samples.tags]
            present = {str(v) for v in values if v is not None and not (isinstance(v, float) and v != v)}
            if len(present) == 1 and all(v is not None and not (isinstance(v, float) and v != v) for v in values):
                value = next(iter(present))
                if name in categorical:
                    requested[name] = value
                    continue
                try:
                    requested[name] = float(value)
                except ValueError:
                    requested[name] = value
        flags = [record.get("corrected") for record in samples.tags]
        corrected = [flag == "1" for flag in flags] if all(f in ("0", "1") for f in flags) else None
        return cls.from_smiles(samples.smiles, requested, corrected)
