"""The DeepCAD data set: about 178,000 sketch-and-extrude histories from Onshape, as JSON.

Wu, Xiao & Zheng 2021, "DeepCAD: A Deep Generative Network for Computer-Aided Design Models"
(ICCV). Its authors publish ``data.tar`` (about 200 MB) with ``data/cad_json/<4 digits>/<id>.json``
(some copies nest it again as ``data/cad_json.tar.gz``), the quantised vectors and
``train_val_test_split.json``; the README states no licence for the data, so gensci never ships
it and only fetches it on request.

:func:`fetch_deepcad` downloads and extracts it once into ``<cache>/cad/deepcad`` (progress
bars, atomic renames, a one-line message with what to do instead when offline) and returns the
``cad_json`` folder, which ``domain.source=FOLDER`` trains on (any folder of DeepCAD JSON is a
custom data set; :mod:`domains.cad.json_codec` reads it).
"""

from __future__ import annotations

import os
from pathlib import Path

from gensci.download import extract_archive, fetch_archive
from gensci.errors import GensciError
from gensci.io import cache_root

__all__ = ["DEEPCAD_URL", "ARCHIVE_NAME", "deepcad_folder", "fetch_deepcad"]

DEEPCAD_URL = "http://www.cs.columbia.edu/cg/deepcad/data.tar"
ARCHIVE_NAME = "deepcad-data.tar"


def deepcad_folder(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the extracted set lives: ``<cache>/cad/deepcad``."""
    return cache_root(cache_dir) / "cad" / "deepcad"


def _json_folder(root: Path) -> Path | None:
    found = sorted(p for p in root.rglob("cad_json") if p.is_dir())
    return found[0] if found else None


def fetch_deepcad(cache_dir: str | os.PathLike | None = None, archive: str | os.PathLike | None = None,
                  url: str = DEEPCAD_URL, force: bool = False, progress: bool = True) -> Path:
    """The ``cad_json`` folder of DeepCAD, downloading and extracting ``data.tar`` if needed.

    ``archive`` is a local copy of ``data.tar`` to extract instead of downloading (it is left
    alone); ``force`` fetches and extracts again.
    """
    hint = ("download data.tar on a machine with network access and run `gensci data deepcad --archive FILE`, "
            "or train on procedural parts (the default) or your own folder of DeepCAD JSON with domain.source=FOLDER")
    root = fetch_archive(url, ARCHIVE_NAME, deepcad_folder(cache_dir), archive=archive, force=force, progress=progress,
                         ready=lambda f: _json_folder(f) is not None, offline_hint=hint)
    folder = _json_folder(root)
    if folder is None:  # the JSON may be packed once more inside the archive
        nested = sorted(root.rglob("cad_json.tar*"))
        if not nested:
            raise GensciError(f"the archive holds no cad_json folder; is it DeepCAD's data.tar? (extracted to {root})")
        extract_archive(nested[0], nested[0].parent / "cad_json.unpacked", progress=progress)
        folder = _json_folder(nested[0].parent / "cad_json.unpacked") or nested[0].parent / "cad_json.unpacked"
    return folder
