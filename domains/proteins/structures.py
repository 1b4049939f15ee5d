"""Reading protein backbones from PDB, mmCIF and BinaryCIF files (or folders of them).

Each file (``.pdb``/``.ent``, ``.cif``/``.mmcif``, ``.bcif``, each optionally ``.gz``) is read
with biotite; only its first model is used. Files without an extension are read as PDB when
their first record is a PDB record (``ATOM``, ``HEADER``, ``REMARK`` ...): CATH's domain files
(``dompdb/1abcA00``) have no extension. Every protein chain (or the chains asked
for) becomes a :class:`BackboneChain` of N, CA, C coordinates, unless it is broken, in
which case it is skipped with one reason, recorded in a :class:`ReadReport`:

* ``unreadable`` — biotite cannot parse the file;
* ``no protein`` — the file has no amino-acid residues (or not in the chains asked for);
* ``chain not found`` — a requested chain ID is absent;
* ``non-standard residue`` — a residue outside the 20 canonical amino acids (e.g. MSE);
* ``missing backbone atoms`` — a residue lacks N, CA or C;
* ``non-finite coordinates`` — a NaN or infinite N, CA or C;
* ``chain break`` — a peptide bond C(i)-N(i+1) longer than ``max_peptide_bond`` (2 Å;
  a real one is 1.33 Å), e.g. unresolved residues, or CA(i)-CA(i+1) longer than 4.3 Å;
* ``bond length``, ``bond angle``, ``CA-CA distance``, ``coincident atoms`` — geometry no
  protein has (:mod:`domains.proteins.geometry_checks`: N-CA or CA-C outside [1.2, 1.8] Å,
  N-CA-C outside [80°, 140°], consecutive CAs closer than 2.7 Å, atoms on top of each other);
  ``geometry="bonds"`` keeps only the bond-length check of these (for generated backbones);
* ``too short`` / ``too long`` — outside ``[min_length, max_length]`` residues.

Hydrogens, waters and ligands are ignored. Models train on crops of long chains:
:func:`random_crop` picks a window with an explicit :class:`torch.Generator`.
"""

from __future__ import annotations

import gzip
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import torch

from domains.proteins.cif_limits import check_binary_cif, check_cif_text
from domains.proteins.geometry_checks import backbone_problem
from gensci.errors import GensciError

if TYPE_CHECKING:
    from biotite.structure import AtomArray

__all__ = [
    "STANDARD_RESIDUES",
    "STRUCTURE_SUFFIXES",
    "PDB_RECORDS",
    "GEOMETRY_LEVELS",
    "looks_like_pdb",
    "BackboneChain",
    "SkippedChain",
    "ReadReport",
    "structure_files",
    "read_structure",
    "extract_chains",
    "read_chains",
    "crop_start",
    "random_crop",
]

#: the 20 canonical amino acids (three-letter codes)
STANDARD_RESIDUES = frozenset(
    "ALA ARG ASN ASP CYS GLN GLU GLY HIS ILE LEU LYS MET PHE PRO SER THR TRP TYR VAL".split()
)
#: file suffixes read (each also with ".gz"); extensionless PDB files are read too
STRUCTURE_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif", ".bcif")
#: how much of the geometry :func:`extract_chains` checks
GEOMETRY_LEVELS = ("strict", "bonds")
#: record names (columns 1-6, stripped) that can open a PDB file
PDB_RECORDS = frozenset(
    "HEADER OBSLTE TITLE SPLIT CAVEAT COMPND SOURCE KEYWDS EXPDTA NUMMDL MDLTYP AUTHOR REVDAT SPRSDE "
    "JRNL REMARK DBREF SEQADV SEQRES HET HETNAM FORMUL HELIX SHEET SSBOND LINK CRYST1 ORIGX1 SCALE1 "
    "MODEL ATOM HETATM".split()
)


@dataclass(frozen=True)
class BackboneChain:
    """One continuous protein chain: N, CA, C coordinates ``(L, 3, 3)`` (float64, Å)."""

    source: str
    chain_id: str
    coords: np.ndarray
    #: carbonyl O ``(L, 3)``, NaN where the file has none
    oxygen: np.ndarray
    #: one-letter amino-acid sequence
    sequence: str
    #: residue numbers from the file
    res_ids: np.ndarray

    @property
    def name(self) -> str:
        return f"{Path(self.source).name}:{self.chain_id}"

    def __len__(self) -> int:
        return len(self.coords)


@dataclass(frozen=True)
class SkippedChain:
    """A file or chain left out, with the reason (one of the module's list) and details."""

    source: str
    chain_id: str | None
    reason: str
    detail: str = ""

    @property
    def where(self) -> str:
        """The file's name, with ``:chain`` when one chain was left out."""
        return Path(self.source).name + (f":{self.chain_id}" if self.chain_id else "")

    @property
    def why(self) -> str:
        """The reason, with its details in parentheses."""
        return self.reason + (f" ({self.detail})" if self.detail else "")

    def __str__(self) -> str:
        return f"{self.where}: {self.why}"


@dataclass
class ReadReport:
    """What a read kept and what it skipped."""

    files: int = 0
    kept: int = 0
    skipped: list[SkippedChain] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Skipped files/chains per reason."""
        return dict(Counter(s.reason for s in self.skipped))

    def summary(self) -> str:
        """One line, e.g. ``read 6 files: kept 5 chains, skipped 2 (chain break 1, too short 1)``."""
        line = f"read {self.files} files: kept {self.kept} chains, skipped {len(self.skipped)}"
        if self.skipped:
            line += " (" + ", ".join(f"{k} {v}" for k, v in sorted(self.counts().items())) + ")"
        return line


def _suffix(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    return Path(name).suffix


def looks_like_pdb(path: Path) -> bool:
    """True if the first non-blank line of ``path`` (optionally gzipped) starts a PDB record."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", errors="replace") as handle:
            for _, line in zip(range(100), handle):
                if line.strip():
                    return line[:6].strip() in PDB_RECORDS
    except (OSError, EOFError):
        return False
    return False


def _format(path: Path) -> str | None:
    """The suffix a structure file is read by (``.pdb`` for extensionless PDB files), else None."""
    suffix = _suffix(path)
    if suffix in STRUCTURE_SUFFIXES:
        return suffix
    if suffix == "" and not path.name.startswith(".") and looks_like_pdb(path):
        return ".pdb"
    return None


def structure_files(path: str | Path) -> list[Path]:
    """The structure files at ``path``: the file itself, or a folder's files (recursively, sorted).

    In a folder, files with a structure suffix count, and extensionless files whose first
    record is a PDB record (hidden files are ignored).
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise GensciError(f"no such file or folder: {path}")
    files = sorted(p for p in path.rglob("*") if p.is_file() and _format(p) is not None)
    if not files:
        raise GensciError(f"no structure files ({', '.join(STRUCTURE_SUFFIXES)}, optionally .gz, "
                          f"or extensionless PDB files) under {path}")
    return files


def read_structure(path: str | Path) -> AtomArray:
    """The first model of a PDB / mmCIF / BinaryCIF file (optionally gzipped) as an AtomArray.

    mmCIF and BinaryCIF files whose columns would decode past the bounds of
    :mod:`domains.proteins.cif_limits` are refused before biotite builds them."""
    import msgpack
    from biotite.structure.io import pdb, pdbx

    path = Path(path)
    suffix = _format(path)
    if suffix is None:
        raise GensciError(f"{path.name}: unknown structure format; use {', '.join(STRUCTURE_SUFFIXES)} "
                          "(optionally .gz) or a PDB file without extension")
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. elements guessed from atom names
            if suffix in (".pdb", ".ent"):
                with opener(path, "rt") as handle:
                    return pdb.PDBFile.read(handle).get_structure(model=1)
            if suffix == ".bcif":
                with opener(path, "rb") as handle:
                    content = msgpack.unpackb(handle.read(), use_list=True, raw=False)
                check_binary_cif(content)  # declared sizes, before anything is decoded
                return pdbx.get_structure(pdbx.BinaryCIFFile.deserialize(content), model=1)
            with opener(path, "rt") as handle:
                cif = pdbx.CIFFile.read(handle)
            atom_site = getattr(cif.block, "_categories", {}).get("atom_site")  # its raw text, not yet parsed
            if isinstance(atom_site, str):
                check_cif_text(atom_site)
            return pdbx.get_structure(cif, model=1)
    except Exception as exc:  # biotite raises several types for malformed files
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GensciError(f"cannot read {path.name}: {message}") from exc


def _residue_table(atoms: AtomArray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per residue: res_id, res_name, N, CA, C, O coordinates ``(R, 4, 3)`` (NaN if missing)
    and which of the four atoms the file has ``(R, 4)`` (a NaN coordinate is present)."""
    import biotite.structure as struc

    starts = struc.get_residue_starts(atoms)
    position = np.searchsorted(starts, np.arange(len(atoms)), side="right") - 1
    coords = np.full((len(starts), 4, 3), np.nan)
    present = np.zeros((len(starts), 4), dtype=bool)
    for k, name in enumerate(("N", "CA", "C", "O")):
        sel = np.flatnonzero(atoms.atom_name == name)[::-1]  # the first copy of an atom wins
        coords[position[sel], k] = atoms.coord[sel]
        present[position[sel], k] = True
    return atoms.res_id[starts], atoms.res_name[starts], coords, present


def _check_chain(res_ids, res_names, coords, present, max_peptide_bond: float, strict: bool) -> tuple[str, str] | None:
    odd = [i for i, r in enumerate(res_names) if r not in STANDARD_RESIDUES]
    if odd:
        return "non-standard residue", f"{res_names[odd[0]]} {res_ids[odd[0]]}" + (f" and {len(odd) - 1} more" if len(odd) > 1 else "")
    missing = ~present[:, :3]
    if missing.any():
        i, k = np.argwhere(missing)[0]
        return "missing backbone atoms", f"residue {res_ids[i]} {res_names[i]} lacks {('N', 'CA', 'C')[k]}"
    names = [f"{i} {n}" for i, n in zip(res_ids, res_names)]
    backbone = coords[:, :3]
    if not np.isfinite(backbone).all():  # before any distance: a NaN compares as neither short nor long
        return backbone_problem(backbone, names)
    bonds = np.linalg.norm(coords[1:, 0] - coords[:-1, 2], axis=-1)
    if len(bonds) and bonds.max() > max_peptide_bond:
        i = int(np.argmax(bonds > max_peptide_bond))
        return "chain break", f"C-N {bonds[i]:.2f} Å between residues {res_ids[i]} and {res_ids[i + 1]}"
    return backbone_problem(backbone, names, bonds <= max_peptide_bond, strict=strict)


def _check_level(geometry: str) -> None:
    if geometry not in GEOMETRY_LEVELS:
        raise GensciError(f"geometry must be one of {', '.join(GEOMETRY_LEVELS)}, got {geometry!r}")


def extract_chains(
    atoms: AtomArray,
    source: str,
    chains: Sequence[str] | None = None,
    min_length: int = 1,
    max_length: int | None = None,
    max_peptide_bond: float = 2.0,
    geometry: str = "strict",
) -> tuple[list[BackboneChain], list[SkippedChain]]:
    """Split one structure into backbone chains; return the kept ones and the skipped ones.

    ``geometry`` is ``"strict"`` (every check of the module docstring) or ``"bonds"``
    (non-finite coordinates and bond lengths only, for generated backbones)."""
    import biotite.structure as struc
    from biotite.sequence import ProteinSequence

    _check_level(geometry)
    atoms = atoms[~np.isin(np.char.upper(atoms.element.astype(str)), ["H", "D"])]
    protein = atoms[struc.filter_amino_acids(atoms)]
    present = list(dict.fromkeys(protein.chain_id.tolist()))
    kept: list[BackboneChain] = []
    skipped = [SkippedChain(source, c, "chain not found") for c in (chains or []) if c not in present]
    wanted = [c for c in present if chains is None or c in chains]
    if not present:
        skipped.append(SkippedChain(source, None, "no protein"))
    for chain_id in wanted:
        res_ids, res_names, coords, present = _residue_table(protein[protein.chain_id == chain_id])
        problem = _check_chain(res_ids, res_names, coords, present, max_peptide_bond, geometry == "strict")
        n = len(res_ids)
        if problem is None and n < min_length:
            problem = ("too short", f"{n} < {min_length} residues")
        if problem is None and max_length is not None and n > max_length:
            problem = ("too long", f"{n} > {max_length} residues")
        if problem is not None:
            skipped.append(SkippedChain(source, chain_id, *problem))
            continue
        sequence = "".join(ProteinSequence.convert_letter_3to1(r) for r in res_names)
        kept.append(BackboneChain(source, chain_id, coords[:, :3].copy(), coords[:, 3].copy(), sequence, res_ids.copy()))
    return kept, skipped


def read_chains(
    paths: str | Path | Iterable[str | Path],
    chains: str | Sequence[str] | None = None,
    min_length: int = 40,
    max_length: int | None = None,
    max_peptide_bond: float = 2.0,
    allow_empty: bool = False,
    geometry: str = "strict",
) -> tuple[list[BackboneChain], ReadReport]:
    """Backbone chains from files and folders, with a :class:`ReadReport` of what was skipped.

    ``chains`` selects chain IDs (``"A"``, ``"A,B"`` or a list; None keeps every protein
    chain). ``geometry="bonds"`` checks non-finite coordinates and bond lengths only (for
    generated backbones, whose angles and contacts their evaluation judges). Raises
    :class:`GensciError` when nothing is kept, unless ``allow_empty``.
    """
    if isinstance(chains, str):
        chains = [c.strip() for c in chains.split(",") if c.strip()]
    if min_length < 1 or (max_length is not None and max_length < min_length):
        raise GensciError(f"length filter needs 1 <= min_length <= max_length, got {min_length} and {max_length}")
    _check_level(geometry)
    sources = [paths] if isinstance(paths, (str, Path)) else list(paths)
    files = [f for p in sources for f in structure_files(p)]
    report = ReadReport(files=len(files))
    out: list[BackboneChain] = []
    for path in files:
        try:
            atoms = read_structure(path)
        except GensciError as exc:
            report.skipped.append(SkippedChain(str(path), None, "unreadable", str(exc).split(": ", 1)[-1]))
            continue
        kept, skipped = extract_chains(atoms, str(path), chains, min_length, max_length, max_peptide_bond, geometry)
        out += kept
        report.skipped += skipped
    report.kept = len(out)
    if not out and not allow_empty:
        where = ", ".join(str(s) for s in sources)
        raise GensciError(f"no usable protein chains in {where}: {report.summary()}")
    return out, report


T = TypeVar("T")


def crop_start(length: int, crop_length: int, generator: torch.Generator) -> int:
    """A uniform start in ``[0, length - crop_length]`` (0 when the chain already fits)."""
    if crop_length < 1:
        raise GensciError(f"crop length must be at least 1, got {crop_length}")
    if length <= crop_length:
        return 0
    return int(torch.randint(0, length - crop_length + 1, (1,), generator=generator))


def random_crop(x: T, crop_length: int, generator: torch.Generator) -> T:
    """A random window of at most ``crop_length`` residues along the first axis of ``x``.

    Works on arrays and tensors (coordinates ``(L, 3, 3)`` or angles ``(L, 6)``) and on
    :class:`BackboneChain`. Cropping angle rows keeps every value: the first row's ``phi``
    and the last row's inter-residue angles stay real but are unused by NeRF.
    """
    if isinstance(x, BackboneChain):
        s = crop_start(len(x), crop_length, generator)
        w = slice(s, s + crop_length)
        return BackboneChain(x.source, x.chain_id, x.coords[w], x.oxygen[w], x.sequence[w], x.res_ids[w])
    s = crop_start(len(x), crop_length, generator)
    return x[s : s + crop_length]
