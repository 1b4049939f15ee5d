"""GEOM-Drugs: download once, keep each molecule's lowest-energy conformers as SDF shards.

GEOM (Axelrod & Gómez-Bombarelli, "GEOM, energy-annotated molecular conformations for
property prediction and molecular generation", Sci. Data 9:185, 2022) holds CREST conformer
ensembles (GFN2-xTB geometries, energies in Hartree, Boltzmann weights at 298.15 K) of QM9
molecules and of drug-like molecules (GEOM-Drugs: up to ~180 atoms with hydrogens; elements
:data:`GEOM_ELEMENTS`). Its RDKit archive ``rdkit_folder.tar.gz`` (Harvard Dataverse,
:data:`GEOM_URL`; ~50 GB unpacked) is laid out as::

    rdkit_folder/summary_drugs.json          # per-molecule summary (not needed here)
    rdkit_folder/drugs/<smiles>.pickle       # one pickled dict per molecule
    rdkit_folder/qm9/<smiles>.pickle         # skipped

Each pickle is a dict with ``"smiles"``, ``"uniqueconfs"``, … and ``"conformers"``: a list of
dicts with ``"rd_mol"`` (an RDKit Mol with hydrogens and one 3D conformer),
``"totalenergy"`` and ``"boltzmannweight"``.

:func:`fetch_geom` streams the tar (``tarfile`` mode ``r|*``: nothing is extracted to disk),
unpickles each ``drugs/*.pickle`` member with :class:`GeomUnpickler` (only RDKit's ``Mol`` and
plain value types are admitted; anything else is refused), sorts its conformers by total
energy and writes the ``conformers`` lowest as SD records tagged ``geom_smiles``,
``boltzmann_weight`` and ``total_energy``, 10,000 records per shard::

    <cache>/atoms/geom-drugs/part_0000.sdf, part_0001.sdf, …   # each written atomically
    <cache>/atoms/geom-drugs/.done                               # JSON, written last

``.done`` records the options and counts; without it (an interrupted run) the next call
clears the folder's shards and converts again. The folder is what ``domain.source=`` reads.
Conformers RDKit cannot write (kekulisation fails) are skipped and counted in ``.done``.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import tarfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any

from rdkit import Chem
from rdkit.rdBase import BlockLogs
from tqdm.auto import tqdm

from gensci.download import download
from gensci.errors import GensciError
from gensci.io import atomic_path, atomic_write, cache_root

__all__ = ["GEOM_URL", "ARCHIVE_NAME", "GEOM_ELEMENTS", "SHARD_SIZE", "GeomUnpickler", "load_pickle", "geom_folder",
           "lowest_conformers", "fetch_geom"]

#: the RDKit archive of GEOM on Harvard Dataverse
GEOM_URL = "https://dataverse.harvard.edu/api/access/datafile/4327252"
ARCHIVE_NAME = "rdkit_folder.tar.gz"
#: the elements of GEOM-Drugs (the ``domain.elements`` vocabulary that trains on it)
GEOM_ELEMENTS: tuple[str, ...] = ("H", "B", "C", "N", "O", "F", "Al", "Si", "P", "S", "Cl", "As", "Br", "I", "Hg", "Bi")
#: SD records per shard
SHARD_SIZE = 10_000
DONE = ".done"

#: the globals a GEOM pickle may name: RDKit's Mol (rebuilt from its binary form), the
#: constructors of plain value types, and numpy scalars (data only, in case a value is one)
_ALLOWED: frozenset[tuple[str, str]] = frozenset({
    ("rdkit.Chem.rdchem", "Mol"),
    ("_codecs", "encode"),  # how protocol-2 pickles carry bytes
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "complex"), ("builtins", "bytearray"),
    ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
})
_RENAMED = {"__builtin__": "builtins"}  # Python 2 names in old protocols


class GeomUnpickler(pickle.Unpickler):
    """An unpickler that builds only the objects GEOM's pickles hold (:data:`_ALLOWED`);
    any other global (a class or function from ``os``, ``subprocess``, …) raises
    :class:`GensciError` before it is looked up."""

    def __init__(self, file: IO[bytes], where: str = "pickle"):
        super().__init__(file)
        self.where = where

    def find_class(self, module: str, name: str) -> Any:
        module = _RENAMED.get(module, module)
        if (module, name) not in _ALLOWED:
            raise GensciError(f"{self.where}: refusing to unpickle {module}.{name}; a GEOM pickle holds only RDKit "
                              "molecules and plain values, so this file is not one (or has been tampered with)")
        return super().find_class(module, name)


def load_pickle(file: IO[bytes], where: str = "pickle") -> Any:
    """The object in ``file``, read by :class:`GeomUnpickler`."""
    try:
        return GeomUnpickler(file, where).load()
    except GensciError:
        raise
    except Exception as err:  # noqa: BLE001 - pickle raises many kinds on corrupt data
        raise GensciError(f"{where}: not a readable pickle ({type(err).__name__}: {err})") from None


def geom_folder(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the shards live: ``<cache>/atoms/geom-drugs``."""
    return cache_root(cache_dir) / "atoms" / "geom-drugs"


def lowest_conformers(record: dict[str, Any], k: int) -> list[dict[str, Any]]:
    """The ``k`` conformers of a GEOM record with the lowest total energy (those with a
    3D ``rd_mol`` and an energy), lowest first."""
    confs = [c for c in record.get("conformers") or [] if isinstance(c, dict)
             and isinstance(c.get("rd_mol"), Chem.Mol) and c["rd_mol"].GetNumConformers() > 0
             and isinstance(c.get("totalenergy"), (int, float))]
    return sorted(confs, key=lambda c: float(c["totalenergy"]))[:k]


class _Counting(io.RawIOBase):
    """A read-only file that reports every byte read to a progress bar."""

    def __init__(self, raw: IO[bytes], bar: tqdm):
        self.raw, self.bar = raw, bar

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.bar.update(len(data))
        return data


def _drug_pickles(archive: Path, progress: bool) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(member name, record)`` of every ``drugs/*.pickle`` member, streamed in archive order."""
    with open(archive, "rb") as raw, tqdm(total=archive.stat().st_size, unit="B", unit_scale=True, unit_divisor=1024,
                                          desc=f"GEOM-Drugs from {archive.name}", disable=not progress) as bar:
        try:
            with tarfile.open(fileobj=_Counting(raw, bar), mode="r|*") as tar:
                molecules = 0
                for member in tar:
                    parts = PurePosixPath(member.name).parts
                    wanted = len(parts) >= 2 and parts[-2] == "drugs" and parts[-1].endswith(".pickle")
                    if not member.isfile() or not wanted:
                        continue  # qm9/, summaries, folders: the stream skips past their bytes
                    handle = tar.extractfile(member)
                    record = load_pickle(handle, member.name) if handle is not None else None
                    if not isinstance(record, dict):
                        kind = type(record).__name__
                        raise GensciError(f"{member.name}: expected a GEOM record (a dict), got {kind}")
                    molecules += 1
                    bar.set_postfix(molecules=molecules, refresh=False)
                    yield member.name, record
        except (tarfile.TarError, EOFError, OSError) as err:
            raise GensciError(f"cannot read {archive.name}: {err}; is it GEOM's {ARCHIVE_NAME}? "
                              "(delete a partial download and fetch it again)") from None


def _write_shard(mols: list[Chem.Mol], path: Path) -> None:
    with atomic_path(path) as tmp:
        writer = Chem.SDWriter(str(tmp))
        try:
            for mol in mols:
                writer.write(mol)
        finally:
            writer.close()


def _record(mol: Chem.Mol, name: str, smiles: str, conf: dict[str, Any]) -> Chem.Mol | None:
    """A copy of ``mol`` titled and tagged for the SD file, or None if RDKit cannot write it."""
    mol = Chem.Mol(mol)
    mol.SetProp("_Name", name)
    mol.SetProp("geom_smiles", smiles)
    mol.SetProp("boltzmann_weight", repr(float(conf.get("boltzmannweight", float("nan")))))
    mol.SetProp("total_energy", repr(float(conf["totalenergy"])))
    try:
        Chem.MolToMolBlock(mol)  # kekulises: fails on the rare record whose aromaticity RDKit cannot resolve
    except Exception:  # noqa: BLE001 - RDKit raises plain RuntimeErrors / KekulizeExceptions
        return None
    return mol


def _clear(folder: Path) -> None:
    for p in folder.iterdir():
        if p.name == DONE or (p.name.startswith(("part_", ".part_")) and p.is_file()):
            p.unlink()


def _convert(archive: Path, folder: Path, conformers: int, progress: bool) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    _clear(folder)
    buffer: list[Chem.Mol] = []
    counts = {"molecules": 0, "records": 0, "skipped": 0, "shards": 0}
    with BlockLogs():
        for i, (name, record) in enumerate(_drug_pickles(archive, progress)):
            smiles = str(record.get("smiles") or PurePosixPath(name).stem)
            counts["molecules"] += 1
            for rank, conf in enumerate(lowest_conformers(record, conformers)):
                mol = _record(conf["rd_mol"], f"geom_{i}_{rank}", smiles, conf)
                if mol is None:
                    counts["skipped"] += 1
                    continue
                buffer.append(mol)
                if len(buffer) == SHARD_SIZE:
                    _write_shard(buffer, folder / f"part_{counts['shards']:04d}.sdf")
                    counts["records"] += len(buffer)
                    counts["shards"] += 1
                    buffer = []
        if buffer:
            _write_shard(buffer, folder / f"part_{counts['shards']:04d}.sdf")
            counts["records"] += len(buffer)
            counts["shards"] += 1
    if counts["records"] == 0:
        _clear(folder)
        raise GensciError(f"{archive} holds no rdkit_folder/drugs/*.pickle conformers; is it GEOM's {ARCHIVE_NAME}?")
    return counts


def _done(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / DONE).read_text())
    except (OSError, ValueError):
        return None


def fetch_geom(cache_dir: str | os.PathLike | None = None, archive: str | os.PathLike | None = None,
               force: bool = False, progress: bool = True, conformers: int = 5, url: str = GEOM_URL) -> Path:
    """The folder of GEOM-Drugs SDF shards, downloading and converting the archive if needed.

    Args:
        cache_dir: cache root (default ``$GENSCI_CACHE`` or ``~/.cache/gensci``).
        archive: a local copy of ``rdkit_folder.tar.gz`` to convert instead of downloading.
        force: convert again (and download again, unless ``archive`` is given).
        progress: show progress bars.
        conformers: how many lowest-energy conformers of each molecule to keep.
        url: where to download from.

    A finished conversion with the same ``conformers`` is returned at once. A downloaded
    archive is deleted after a successful conversion; a given ``archive`` is left alone.
    """
    if conformers < 1:
        raise GensciError(f"conformers must be at least 1, got {conformers}")
    folder = geom_folder(cache_dir)
    done = _done(folder)
    if done is not None and done.get("conformers") == conformers and not force:
        return folder
    downloaded = archive is None
    if archive is None:
        archive = folder.parent / ARCHIVE_NAME
        if force or not archive.is_file():
            hint = ("download it on a machine with network access and run `gensci data geom --archive FILE`, "
                    "or train on your own SDF files with domain.source=PATH")
            download(url, archive, progress=progress, offline_hint=hint)
    archive = Path(archive)
    if not archive.is_file():
        raise GensciError(f"no such archive: {archive}")
    counts = _convert(archive, folder, conformers, progress)
    with atomic_write(folder / DONE) as handle:
        json.dump({"conformers": conformers, "source": url if downloaded else str(archive), **counts}, handle)
    if downloaded:
        archive.unlink()
    return folder
