"""PDB files of generated backbones: poly-glycine N, CA, C, O on chain A, written atomically.

A file holds one structure (:func:`write_pdb`, :func:`write_pdbs` for a batch) or a
trajectory as models (:func:`write_pdb_models`). Records follow the wwPDB format v3.3:

* ``REMARK 250`` lines (free-text "other experimental details", columns 12-80), one per
  condition the structure was requested with: ``REMARK 250 REQUESTED CONDITION: helix =
  0.6`` (the value as the shortest text that reads back to the same float), read back by
  :func:`read_condition_remarks`;
* ``CRYST1`` with the unit cell 1 Å, 90 degrees, space group ``P 1``, Z = 1, as ESMFold
  and FoldingDiff outputs carry (placeholder: the structure is not crystalline);
* per model ``MODEL`` (serial in columns 11-14), the ``ATOM`` records written by biotite
  (atom name in columns 13-16, GLY, chain A, residues numbered from 1, element in
  columns 77-78), ``TER`` (serial, residue name, chain and number of the last residue),
  ``ENDMDL``; then ``END``. Every line is padded to 80 columns.

Oxygens are placed ideally (:func:`domains.proteins.nerf.place_oxygen`) when the input
holds only N, CA, C. Coordinates are centred on the CA centroid unless ``center=False``;
they must fit the ``8.3f`` columns (-999.999 to 9999.999 Å).
"""

from __future__ import annotations

import gzip
import io
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from domains.proteins.angles import mask_lengths
from domains.proteins.nerf import place_oxygen
from domains.proteins.structures import PDB_RECORDS
from gensci.errors import GensciError
from gensci.io import atomic_write

if TYPE_CHECKING:
    from biotite.structure import AtomArray

__all__ = ["CRYST1", "CONDITION_REMARK", "backbone_atoms", "condition_remarks", "read_condition_remarks", "pdb_text",
           "write_pdb", "write_pdb_models", "write_pdbs"]

#: the placeholder unit cell record (columns per the wwPDB CRYST1 specification)
CRYST1 = f"CRYST1{1.0:9.3f}{1.0:9.3f}{1.0:9.3f}{90.0:7.2f}{90.0:7.2f}{90.0:7.2f} {'P 1':<11s}{1:4d}"
#: the start of a requested-condition record (REMARK 250: other experimental details)
CONDITION_REMARK = "REMARK 250 REQUESTED CONDITION: "
_CONDITION_LINE = re.compile(r"^REMARK 250 REQUESTED CONDITION: (\S+) = (\S+)\s*$")
ATOM_NAMES = ("N", "CA", "C", "O")
ELEMENTS = ("N", "C", "C", "O")


def _as_backbone(x: Tensor | np.ndarray) -> np.ndarray:
    """``(L, 4, 3)`` float64 N, CA, C, O from ``(L, 3, 3)`` (O placed) or ``(L, 4, 3)``."""
    t = torch.as_tensor(x).detach().cpu().to(torch.float64)
    if t.ndim != 3 or t.shape[-1] != 3 or t.shape[1] not in (3, 4):
        raise GensciError(f"a backbone must be shaped (L, 3, 3) or (L, 4, 3) (N, CA, C[, O]), got {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise GensciError("the backbone holds NaN or infinite coordinates; nothing written")
    if t.shape[1] == 3:
        t = torch.cat([t, place_oxygen(t).unsqueeze(1)], dim=1) if len(t) else t.new_zeros(0, 4, 3)
    return t.numpy()


def backbone_atoms(backbone: Tensor | np.ndarray, center: bool = True) -> AtomArray:
    """A biotite AtomArray of poly-glycine N, CA, C, O atoms on chain A (residues from 1)."""
    import biotite.structure as struc

    xyz = _as_backbone(backbone)
    n = len(xyz)
    if n == 0:
        raise GensciError("a backbone needs at least one residue; nothing written")
    if n > 9999:
        raise GensciError(f"PDB residue numbers stop at 9999, got a chain of {n} residues")
    if center:
        xyz = xyz - xyz[:, 1].mean(axis=0)
    if xyz.min() < -999.999 or xyz.max() > 9999.999:
        raise GensciError("coordinates exceed the PDB columns (-999.999 to 9999.999 Å); centre the backbone")
    atoms = struc.AtomArray(4 * n)
    atoms.coord = xyz.reshape(-1, 3)
    atoms.atom_name = np.tile(np.array(ATOM_NAMES), n)
    atoms.element = np.tile(np.array(ELEMENTS), n)
    atoms.res_name = np.full(4 * n, "GLY")
    atoms.res_id = np.repeat(np.arange(1, n + 1), 4)
    atoms.chain_id = np.full(4 * n, "A")
    atoms.hetero = np.zeros(4 * n, dtype=bool)
    return atoms


def _atom_lines(atoms: AtomArray) -> list[str]:
    from biotite.structure.io import pdb

    handle = io.StringIO()
    pdb_file = pdb.PDBFile()
    pdb_file.set_structure(atoms)
    pdb_file.write(handle)
    return [line for line in handle.getvalue().splitlines() if line.startswith("ATOM")]


def condition_remarks(conditions: Mapping[str, float] | None) -> list[str]:
    """``REMARK 250 REQUESTED CONDITION: name = value`` lines, one per condition, in order."""
    lines = []
    for name, value in (conditions or {}).items():
        if not name or any(c.isspace() for c in name):
            raise GensciError(f"condition name {name!r} cannot be written to a PDB remark (it must be one word)")
        line = f"{CONDITION_REMARK}{name} = {float(value)!r}"
        if len(line) > 80:
            raise GensciError(f"condition {name!r} is too long for an 80-column PDB remark")
        lines.append(line)
    return lines


def read_condition_remarks(path: str | Path) -> dict[str, float]:
    """The requested conditions the ``REMARK 250`` lines of a PDB file (or ``.gz``) record,
    ``{name: value}``; empty for a file without them (or not in PDB format)."""
    path = Path(path)
    out: dict[str, float] = {}
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rt", errors="replace") as handle:
            for line in handle:
                record = line[:6].strip()
                if record in ("CRYST1", "MODEL", "ATOM", "HETATM") or (record and record not in PDB_RECORDS):
                    break  # remarks precede the coordinate section; other formats have none
                match = _CONDITION_LINE.match(line.rstrip("\n"))
                if match:
                    try:
                        out[match.group(1)] = float(match.group(2))
                    except ValueError:
                        continue
    except (OSError, EOFError):
        return {}
    return out


def pdb_text(models: Sequence[AtomArray], conditions: Mapping[str, float] | None = None) -> str:
    """PDB text of one or more models: the condition remarks, CRYST1, then MODEL / ATOM /
    TER / ENDMDL per model, END."""
    lines = condition_remarks(conditions) + [CRYST1]
    for k, atoms in enumerate(models, start=1):
        lines.append(f"MODEL     {k:4d}")
        lines += _atom_lines(atoms)
        last = atoms[-1]
        lines.append(f"TER   {len(atoms) + 1:5d}      {last.res_name:>3s} {last.chain_id:1s}{last.res_id:4d}")
        lines.append("ENDMDL")
    lines.append("END")
    return "".join(line.ljust(80) + "\n" for line in lines)


def write_pdb(backbone: Tensor | np.ndarray, path: str | Path, center: bool = True,
              conditions: Mapping[str, float] | None = None) -> Path:
    """Write one backbone ``(L, 3, 3)`` or ``(L, 4, 3)`` to ``path`` (one model), with the
    requested ``conditions`` as remarks."""
    path = Path(path)
    text = pdb_text([backbone_atoms(backbone, center)], conditions)
    with atomic_write(path) as handle:
        handle.write(text)
    return path


def write_pdb_models(frames: Tensor | np.ndarray | Sequence, path: str | Path, center: bool = True,
                     conditions: Mapping[str, float] | None = None) -> Path:
    """Write a trajectory ``(T, L, 3 or 4, 3)`` as T models of one file (e.g. sampling
    steps), with the requested ``conditions`` as remarks."""
    if len(frames) == 0:
        raise GensciError("a trajectory needs at least one frame; nothing written")
    models = [backbone_atoms(frame, center) for frame in frames]
    if len({len(m) for m in models}) != 1:
        raise GensciError("all frames of a trajectory must have the same number of residues")
    path = Path(path)
    text = pdb_text(models, conditions)
    with atomic_write(path) as handle:
        handle.write(text)
    return path


def write_pdbs(
    backbones: Tensor | np.ndarray,
    directory: str | Path,
    mask: Tensor | np.ndarray | None = None,
    stem: str = "sample",
    center: bool = True,
) -> list[Path]:
    """Write a batch ``(B, L, 3 or 4, 3)`` as one file per structure: ``stem_000.pdb``, ...

    ``mask`` ``(B, L)`` marks real residues (padding at the end); padded ones are dropped.
    """
    batch = torch.as_tensor(backbones)
    if batch.ndim != 4:
        raise GensciError(f"a batch of backbones must be shaped (B, L, 3 or 4, 3), got {tuple(batch.shape)}")
    b, n = batch.shape[:2]
    lengths = [n] * b if mask is None else mask_lengths(torch.as_tensor(mask).reshape(b, n)).tolist()
    width = max(3, int(math.log10(max(b - 1, 1))) + 1)
    directory = Path(directory)
    return [
        write_pdb(batch[i, : lengths[i]], directory / f"{stem}_{i:0{width}d}.pdb", center) for i in range(b)
    ]
