"""CATH S40, FoldingDiff's training set: download once, extract into the gensci cache.

CATH (Sillitoe et al. 2021, Nucleic Acids Res. 49:D266) cuts PDB chains into structural
domains; its S40 set keeps one representative per cluster of domains that share at most
40% sequence identity (about 31,000 domains in v4.3/v4.4). FoldingDiff (Wu et al. 2024,
Nat. Commun. 15:1059) trains on ``cath-dataset-nonredundant-S40.pdb.tgz`` from the
current release. The archive holds ``dompdb/<domain id>`` files in PDB format without an
extension (e.g. ``dompdb/1oaiA00``), which :mod:`domains.proteins.structures` reads as PDB.

:func:`fetch_cath` downloads and extracts the archive with
:func:`gensci.download.fetch_archive` (progress bars, atomic rename of the file and of the
extracted folder), so an interrupted run never leaves a half-extracted set under the final name. It returns the ``dompdb`` folder to pass as ``domain.paths=[FOLDER]``.
"""

from __future__ import annotations

import os
from pathlib import Path

from gensci.download import fetch_archive
from gensci.errors import GensciError
from gensci.io import cache_root

__all__ = ["CATH_S40_URL", "ARCHIVE_NAME", "cath_folder", "fetch_cath"]

#: the S40 PDB archive of CATH's current release
CATH_S40_URL = ("https://download.cathdb.info/cath/releases/latest-release/non-redundant-data-sets/"
                "cath-dataset-nonredundant-S40.pdb.tgz")
ARCHIVE_NAME = "cath-dataset-nonredundant-S40.pdb.tgz"


def cath_folder(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the extracted set lives: ``<cache>/proteins/cath-s40`` (its files under ``dompdb/``)."""
    return cache_root(cache_dir) / "proteins" / "cath-s40"


def fetch_cath(cache_dir: str | os.PathLike | None = None, archive: str | os.PathLike | None = None,
               url: str = CATH_S40_URL, force: bool = False, progress: bool = True) -> Path:
    """The extracted CATH S40 domain files, downloading and extracting it if needed.

    Args:
        cache_dir: cache root (default ``$GENSCI_CACHE`` or ``~/.cache/gensci``).
        archive: a local copy of the ``.pdb.tgz`` to extract instead of downloading.
        url: where to download from (default the current CATH release).
        force: download and extract again even if the folder exists.
        progress: show progress bars.

    Returns the ``dompdb`` folder of domain files. The downloaded archive is deleted after a
    successful extraction; a given ``archive`` is left alone.
    """
    folder = fetch_archive(url, ARCHIVE_NAME, cath_folder(cache_dir), archive=archive, force=force, progress=progress,
                           ready=lambda f: (f / "dompdb").is_dir(),
                           offline_hint=("download it on a machine with network access and run `gensci data cath "
                                         "--archive FILE`, or train on your own structures with domain.paths=[FOLDER]"))
    if not (folder / "dompdb").is_dir():
        raise GensciError(f"the archive holds no dompdb/ folder; is it {ARCHIVE_NAME}? (extracted to {folder})")
    return folder / "dompdb"
