"""A seeded random slice of QM9's DFT geometries, read from the ``qm9pack`` wheel's CSVs.

qm9pack (R. Ramakrishnan, MIT) ships the 130,831 converged QM9 molecules (Ramakrishnan et al.,
Sci. Data 2014) with B3LYP/6-31G(2df,p) coordinates in Å. Only the chosen rows are parsed;
the module is not imported (its loader uses the deprecated ``pkg_resources``).
"""

from __future__ import annotations

import ast
import csv
import functools
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from domains.atoms.molecule import Molecule3D

_Z = {"H": 1, "C": 6, "N": 7, "O": 8, "F": 9}
N_QM9PACK = 130_831


def qm9pack_dir() -> Path | None:
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "data"
    return path if (path / "qm9_part1.csv").exists() else None


def qm9pack_molecules(n: int, seed: int = 0) -> list[Molecule3D]:
    """``n`` molecules drawn without replacement (seeded) from all of qm9pack, in file order;
    each has ``properties["smiles"]`` (GDB SMILES) and ``properties["index"]``. Skips the
    calling test when qm9pack is not installed. Cached: callers must not modify them."""
    root = qm9pack_dir()
    if root is None:
        pytest.skip("qm9pack (QM9 DFT geometries) is not installed")
    return list(_read(root, n, seed))


def _literal(text: str):
    try:
        return json.loads(text.replace("'", '"'))  # fast path
    except ValueError:  # a few rows write numbers as "1." (not JSON)
        return ast.literal_eval(text)


@functools.lru_cache(maxsize=8)
def _read(root: Path, n: int, seed: int) -> tuple[Molecule3D, ...]:
    lines: list[bytes] = []
    for part in (1, 2, 3):
        with open(root / f"qm9_part{part}.csv", "rb") as handle:
            header = next(handle).decode().strip().split(",")
            lines.extend(handle)
    assert len(lines) == N_QM9PACK
    rows = np.sort(np.random.default_rng(seed).choice(len(lines), size=n, replace=False))
    col = {name: i for i, name in enumerate(header)}
    out = []
    for row in csv.reader(lines[i].decode() for i in rows):
        symbols = _literal(row[col["Elements"]])
        out.append(Molecule3D(
            numbers=np.array([_Z[s] for s in symbols]),
            positions=np.array(_literal(row[col["XYZ_Ang"]]), dtype=float),
            properties={"smiles": row[col["SMILES"]], "index": int(row[col["Index"]])},
        ))
    return tuple(out)
