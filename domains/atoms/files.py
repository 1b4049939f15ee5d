"""3D molecules to SDF / XYZ files and back.

**SDF** (MDL CTfile, V2000 or V3000; BIOVIA "CTfile Formats"): one record per molecule,
written by RDKit's ``SDWriter`` on the unsanitised :func:`~domains.atoms.molecule.to_rdkit`
molecule, so a chemically invalid sample (a carbon with six bonds) is written as it is.

* title line ``sample_<i>`` (``i`` = index of the molecule in the call);
* atom block: element, x y z in Å (V2000: 4 decimals, V3000: 6), every hydrogen an explicit
  atom; formal charges as ``M  CHG`` lines (V2000) or ``CHG=`` fields (V3000). RDKit fills the
  valence field (V2000 column ``vvv``, V3000 ``VAL=``) where an atom's bonds differ from its
  default valence, telling readers that no implicit hydrogens are to be added;
* bond block: 1 single, 2 double, 3 triple, 4 aromatic (written unkekulised, as generated);
* SD data items: the molecule's ``properties`` (floats at full precision, ``repr``), then
  ``bonds_source`` — ``generated`` (the model's bonds), ``inferred (EDM lookup)`` (the caller
  inferred them from distances and says so with ``bonds_source=``) or ``none`` (no bond
  block) — then the caller's ``tags`` for that record, which may override any of them.

A molecule with zero atoms (a sample that did not decode) becomes an empty record tagged
``valid = 0``, so a file keeps one record per sample. V3000 is used for the whole file when
asked, or when a molecule has more than 999 atoms or bonds or coordinates that V2000's
fixed columns cannot hold (non-finite, or \\|x\\| ≥ 10⁴ Å).

**Trajectories** (:func:`write_trajectory_sdf`): one multi-conformer SDF per sample,
``<stem>_<iii>.sdf`` (the sample index, zero-padded to three digits), one record per kept time in the order given, all titled
``sample_<i>`` and tagged ``t`` (the process time, 0 = noise, 1 = data).

**XYZ** (multi-frame): per molecule a count line, a comment line of ``key=value`` pairs
(the properties; values with spaces in double quotes, as extended XYZ writes them) and one
``element x y z`` line per atom (8 decimals). XYZ holds no bonds and no charges.

Readers: :func:`read_sdf` (``SDMolSupplier(removeHs=False, sanitize=False)``; data items
become properties, numeric ones as floats; ``bonds_source = none`` gives ``bonds = None``),
:func:`read_xyz` and :func:`read_molecules` (by suffix, or a folder of ``.sdf`` / ``.xyz``
files in natural name order). Every file is written atomically (:mod:`gensci.io`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rdkit import Chem
from rdkit.rdBase import BlockLogs

from domains.atoms.molecule import Molecule3D, from_rdkit, to_rdkit
from gensci.errors import GensciError
from gensci.io import atomic_path, atomic_write
from gensci.progress import track
from gensci.skipped import skip
from gensci.sd_files import sd_supplier

__all__ = ["BONDS_GENERATED", "BONDS_INFERRED", "BONDS_NONE", "write_sdf", "write_xyz", "write_trajectory_sdf",
           "trajectory_paths", "read_text", "read_sdf", "read_xyz", "read_molecules", "MOLECULE_SUFFIXES"]

BONDS_GENERATED, BONDS_INFERRED, BONDS_NONE = "generated", "inferred (EDM lookup)", "none"
MOLECULE_SUFFIXES = (".sdf", ".xyz")
_V2000_ATOMS = 999  # the counts line's three-digit fields
_V2000_COORD = 1e4  # %10.4f with a separating space
_RDKIT_PROPS = {"_Name", "_MolFileInfo", "_MolFileComments", "_MolFileChiralFlag"}
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:nan|inf|infinity)", re.IGNORECASE)


def _format(value: Any) -> str:
    """A tag value as text: floats exactly (``repr``), bools as 1 / 0, sequences space-joined."""
    if hasattr(value, "tolist") and not isinstance(value, str):  # numpy / torch scalars and arrays
        value = value.tolist()
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return " ".join(_format(v) for v in value)
    return str(value)


def _parse(text: str) -> float | str:
    return float(text) if _NUMBER.fullmatch(text.strip()) else text


def _v2000_problem(m: Molecule3D) -> str | None:
    """Why V2000 cannot hold ``m`` (None if it can)."""
    if len(m) > _V2000_ATOMS or len(m.bond_list()) > _V2000_ATOMS:
        return f"{len(m)} atoms and {len(m.bond_list())} bonds (V2000 holds at most {_V2000_ATOMS} of each)"
    if not np.isfinite(m.positions).all():
        return "non-finite coordinates"
    if len(m) and np.abs(m.positions).max() >= _V2000_COORD:
        return f"a coordinate of {np.abs(m.positions).max():.4g} Å (V2000 columns hold |x| < {_V2000_COORD:g})"
    return None


def _use_v3000(molecules: Sequence[Molecule3D], v3000: bool | None) -> bool:
    if v3000:
        return True
    problems = [(i, p) for i, m in enumerate(molecules) if (p := _v2000_problem(m)) is not None]
    if problems and v3000 is False:
        i, p = problems[0]
        raise GensciError(f"v3000=False, but molecule {i} has {p}; write V3000 (v3000=True or None)")
    return bool(problems)


def _record_tags(m: Molecule3D, bonds_source: str | None, extra: Mapping[str, Any] | None) -> dict[str, str]:
    tags = {str(k): _format(v) for k, v in m.properties.items() if v is not None}
    if m.bonds is None:
        tags["bonds_source"] = BONDS_NONE
    else:
        label = m.properties.get("bonds_source")
        tags["bonds_source"] = bonds_source or (label if label and label != BONDS_NONE else BONDS_GENERATED)
    if len(m) == 0:
        tags["valid"] = "0"
    tags.update({str(k): _format(v) for k, v in (extra or {}).items() if v is not None})
    for k, v in tags.items():
        if not k or any(c in k for c in "<>\r\n"):
            raise GensciError(f"SD tag name {k!r} is empty or holds '<', '>' or a line break")
        lines = v.split("\n")
        if any(line.startswith("$$$$") for line in lines) or (len(lines) > 1 and any(not line.strip() for line in lines)):
            raise GensciError(f"SD tag {k!r} has a blank or '$$$$' line, which would end its data item: {v!r}")
    return tags


def _rdkit_record(m: Molecule3D, name: str, tags: Mapping[str, str]) -> Chem.Mol:
    """The unsanitised RDKit molecule of one record, with its title and data items."""
    if len(m) and (m.numbers.min() < 0 or m.numbers.max() > 118):
        raise GensciError(f"{name}: atomic numbers must lie in 0..118, got {sorted(set(m.numbers.tolist()))}")
    if len(m) and (m.charges > m.numbers).any():
        j = int(np.argmax(m.charges > m.numbers))
        raise GensciError(f"{name}, atom {j}: formal charge {int(m.charges[j]):+d} exceeds its atomic number")
    try:
        mol = to_rdkit(m, sanitize=False)
    except KeyError as e:
        raise GensciError(f"{name}: unknown bond class {e} (classes are 0 none .. 4 aromatic)") from None
    mol.SetProp("_Name", name)
    for k, v in tags.items():
        mol.SetProp(k, v)
    return mol


def _write_records(records: Sequence[tuple[Molecule3D, str, dict[str, str]]], path: Path, v3000: bool) -> None:
    writer = Chem.SDWriter(str(path))
    try:
        writer.SetForceV3000(v3000)
        writer.SetKekulize(False)  # aromatic bonds stay type 4; kekulising would fail on invalid rings
        for m, name, tags in records:
            mol = _rdkit_record(m, name, tags)
            try:
                writer.write(mol)
            except RuntimeError as e:  # an RDKit invariant: report the record, leave no file
                reason = " ".join(line.strip() for line in str(e).splitlines()[:2])
                raise GensciError(f"{name}: RDKit cannot write it: {reason}") from e
    finally:
        writer.close()


def write_sdf(
    molecules: Sequence[Molecule3D],
    path: str | os.PathLike,
    *,
    v3000: bool | None = None,
    tags: Sequence[Mapping[str, Any]] | None = None,
    bonds_source: str | None = None,
) -> Path:
    """One SD record per molecule (module docstring); atomic. ``bonds_source`` labels the bonds
    of molecules that have them (default: their ``bonds_source`` property, else ``generated``)."""
    if tags is not None and len(tags) != len(molecules):
        raise GensciError(f"{len(tags)} tag sets for {len(molecules)} molecules")
    records = [(m, f"sample_{i}", _record_tags(m, bonds_source, tags[i] if tags else None))
               for i, m in enumerate(molecules)]
    use_v3000 = _use_v3000(molecules, v3000)
    with atomic_path(path) as tmp, BlockLogs():
        _write_records(records, tmp, use_v3000)
    return Path(path)


def trajectory_paths(path: str | os.PathLike, n: int) -> list[Path]:
    """``<stem>_<iii>.sdf`` for ``i < n`` (zero-padded); ``path`` is a stem or a ``.sdf`` name."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix.lower() == ".sdf" else path
    return [stem.parent / f"{stem.name}_{i:03d}.sdf" for i in range(n)]


def write_trajectory_sdf(
    frames: Sequence[Sequence[Molecule3D]],
    path: str | os.PathLike,
    *,
    times: Sequence[float] | None = None,
    v3000: bool | None = None,
) -> list[Path]:
    """The sampling path as one multi-conformer SDF per sample (module docstring).

    ``frames[k][i]`` is sample ``i`` at the ``k``-th kept time, ``times[k]`` (default: each
    molecule's ``t`` property). A sample keeps its number of atoms along the path. Either
    every file is written or none is.
    """
    if times is not None and len(times) != len(frames):
        raise GensciError(f"{len(times)} times for {len(frames)} frames")
    n = len(frames[0]) if frames else 0
    for k, frame in enumerate(frames):
        if len(frame) != n:
            raise GensciError(f"frame {k} has {len(frame)} samples, frame 0 has {n}")
    paths = trajectory_paths(path, n)
    with contextlib.ExitStack() as stack, BlockLogs():
        for i, target in enumerate(paths):
            path_i = [frame[i] for frame in frames]
            records = []
            for k, m in enumerate(path_i):
                if len(m) != len(path_i[0]):
                    raise GensciError(f"sample {i} has {len(path_i[0])} atoms in frame 0 but {len(m)} in frame {k}")
                t = times[k] if times is not None else m.properties.get("t")
                if t is None:
                    raise GensciError(f"frame {k} has no time: pass times= or give the molecules a 't' property")
                records.append((m, f"sample_{i}", _record_tags(m, None, {"t": float(t)})))
            _write_records(records, stack.enter_context(atomic_path(target)), _use_v3000(path_i, v3000))
    return paths


def write_xyz(molecules: Sequence[Molecule3D], path: str | os.PathLike) -> Path:
    """Multi-frame XYZ: count, ``key=value`` comment, ``element x y z`` lines; atomic."""
    lines: list[str] = []
    for i, m in enumerate(molecules):
        pairs = []
        for k, v in m.properties.items():
            text = _format(v)
            if not k or any(c in str(k) for c in " \t=\"'\r\n") or any(c in text for c in "\r\n"):
                raise GensciError(f"molecule {i}: property {k!r} = {text!r} cannot go on an XYZ comment line")
            needs_quotes = not text or any(c in text for c in " \t=\"'\\")
            pairs.append(f"{k}=" + ('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"' if needs_quotes else text))
        lines += [str(len(m)), " ".join(pairs)]
        lines += [f"{s:<2} {x:16.8f} {y:16.8f} {z:16.8f}" for s, (x, y, z) in zip(m.symbols, m.positions)]
    with atomic_write(path, "w") as handle:
        handle.write("\n".join(lines) + ("\n" if lines else ""))
    return Path(path)


def _check_file(path: str | os.PathLike, suffix: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise GensciError(f"molecule file {str(path)!r} does not exist")
    if path.suffix.lower() != suffix:
        raise GensciError(f"{path}: expected a {suffix} file")
    return path


def read_text(path: Path) -> str:
    """The text of ``path``; a file that is not UTF-8 is a one-line :class:`GensciError`."""
    try:
        return path.read_text()
    except UnicodeDecodeError as err:
        raise GensciError(f"{path}: not a text file (byte {err.start} is not UTF-8)") from None


def read_sdf(path: str | os.PathLike) -> list[Molecule3D]:
    """The molecules of an SD file, data items as properties (module docstring)."""
    path = _check_file(path, ".sdf")
    starts = [1] + [n + 2 for n, line in enumerate(path.read_text(errors="replace").splitlines())
                    if line.startswith("$$$$")]
    out = []
    with BlockLogs():
        for i, mol in enumerate(sd_supplier(path, removeHs=False, sanitize=False)):
            where = f"{path}: record {i + 1} (from line {starts[min(i, len(starts) - 1)]})"
            if mol is None:
                raise GensciError(f"{where} is not a readable CTfile molecule")
            try:
                names = mol.GetPropNames(includePrivate=True, includeComputed=False)
                props = {k: _parse(mol.GetProp(k)) for k in names if k not in _RDKIT_PROPS}
            except UnicodeDecodeError:
                raise GensciError(f"{where}: a data item is not UTF-8 text") from None
            try:
                m = from_rdkit(mol, properties=props) if mol.GetNumConformers() else None
            except ValueError as e:
                raise GensciError(f"{where}: {e}") from None
            if m is None:
                raise GensciError(f"{where} has no coordinates")
            if props.get("bonds_source") == BONDS_NONE:
                m.bonds = None
            out.append(m)
    return out


_SYMBOLS = {Chem.GetPeriodicTable().GetElementSymbol(z).lower(): z for z in range(119)} | {"x": 0}


def _xyz_comment(line: str) -> dict[str, Any]:
    try:
        tokens = shlex.split(line)
    except ValueError:
        tokens = []
    if tokens and all("=" in t and not t.startswith("=") for t in tokens):
        return {k: _parse(v) for k, v in (t.split("=", 1) for t in tokens)}
    return {"comment": line.strip()} if line.strip() else {}


def read_xyz(path: str | os.PathLike) -> list[Molecule3D]:
    """The frames of a (multi-frame) XYZ file; ``bonds`` None, charges 0."""
    path = _check_file(path, ".xyz")
    lines = read_text(path).splitlines()
    out, n = [], 0
    while n < len(lines):
        if not lines[n].strip() and not any(line.strip() for line in lines[n:]):
            break  # trailing blank lines
        count = lines[n].strip()
        if not (count.isascii() and count.isdigit()):  # "²".isdigit() is true, but int() refuses it
            raise GensciError(f"{path}: line {n + 1} (frame {len(out)}) should be an atom count, got {count!r}")
        natoms = int(count)
        if n + 2 + natoms > len(lines):
            raise GensciError(f"{path}: frame {len(out)} (line {n + 1}) promises {natoms} atoms; the file ends first")
        numbers, positions = [], []
        for k in range(n + 2, n + 2 + natoms):
            parts = lines[k].split()
            try:
                z = int(parts[0]) if parts[0].isdigit() else _SYMBOLS[parts[0].lower()]
                positions.append([float(v) for v in parts[1:4]])
                if len(positions[-1]) != 3 or not 0 <= z <= 118:
                    raise ValueError
            except (IndexError, KeyError, ValueError):
                raise GensciError(f"{path}: line {k + 1} should read 'element x y z', got {lines[k]!r}") from None
            numbers.append(z)
        out.append(Molecule3D(np.array(numbers, dtype=np.int64), np.array(positions).reshape(-1, 3),
                              properties=_xyz_comment(lines[n + 1])))
        n += 2 + natoms
    return out


def _natural(path: Path) -> list[Any]:
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", path.name)]


def read_molecules(path: str | os.PathLike) -> list[Molecule3D]:
    """Molecules from an ``.sdf`` or ``.xyz`` file, or from a folder of them (natural order).

    A file that cannot be read is a one-line :class:`GensciError`; in a folder it is left out
    with that reason (:func:`gensci.skipped.skip`, listed by ``gensci evaluate``), unless no
    file there can be read."""
    path = Path(path)
    if path.is_dir():
        files = sorted((p for p in path.iterdir() if p.is_file() and p.suffix.lower() in MOLECULE_SUFFIXES), key=_natural)
        if not files:
            raise GensciError(f"{path}: no molecule files ({', '.join(MOLECULE_SUFFIXES)}) in this folder")
    elif not path.exists():
        raise GensciError(f"molecule file or folder {str(path)!r} does not exist")
    elif path.suffix.lower() not in MOLECULE_SUFFIXES:
        raise GensciError(f"{path}: unknown molecule file type {path.suffix!r}; use one of {', '.join(MOLECULE_SUFFIXES)}")
    else:
        files = [path]
    readers = {".sdf": read_sdf, ".xyz": read_xyz}
    if not path.is_dir():
        return readers[path.suffix.lower()](path)
    out: list[Molecule3D] = []
    failed: list[str] = []
    for f in track(files, "reading", unit="file"):
        try:
            out += readers[f.suffix.lower()](f)
        except GensciError as err:
            failed.append(str(err))
            skip(f.name, str(err).removeprefix(f"{f}: "))
    if len(failed) == len(files):
        raise GensciError(f"{path}: none of its {len(files)} molecule files can be read; first: {failed[0]}")
    return out
