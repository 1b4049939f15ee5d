"""Parts to train on: procedural families (the default) or a folder of DeepCAD JSON, as vectors.

A :class:`PartSet` holds every part as its DeepCAD vector (:mod:`domains.cad.vector`, the part
centred and scaled to a unit box), the part's real size (the largest side of its box, in the
file's units: millimetres for the procedural families), its box sides ``width, depth, height``
(x, y, z) and, for procedural parts, its family. Parts the codec cannot represent (a spline, a
taper, more loops than the format holds) are skipped and counted by reason, never silently.

Splits are a seeded permutation of the parts, 90 / 5 / 5 %, after deduplication on the vector.
The procedural set is generated once per ``(n, seed, families)`` and cached as ``.npz`` under
``<cache>/cad/procedural``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from domains.cad.sequence import CADError, CADSequence
from domains.cad.vector import encode
from gensci.errors import GensciError
from gensci.io import atomic_path, cache_root

__all__ = ["PartSet", "procedural_parts", "json_parts", "split_indices", "part_dims", "SPLITS", "GENERATOR_VERSION"]

SPLITS = ("train", "val", "test")
#: bump when the procedural families change, so cached sets are regenerated
GENERATOR_VERSION = 3


@dataclass
class PartSet:
    """Vectors ``(N, 60, 17)``, real sizes ``(N,)``, box sides ``(N, 3)``, families (or None), names."""

    vectors: np.ndarray
    size: np.ndarray
    dims: np.ndarray
    family: np.ndarray | None
    names: list[str]
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.vectors)

    def take(self, rows: np.ndarray) -> PartSet:
        return PartSet(self.vectors[rows], self.size[rows], self.dims[rows],
                       None if self.family is None else self.family[rows], [self.names[i] for i in rows], dict(self.skipped))


def part_dims(seq: CADSequence) -> np.ndarray:
    """The box sides ``(width, depth, height)``: the labels ``width``/``depth``/``height`` when
    the part carries them, else its (loose) box."""
    if all(k in seq.labels for k in ("width", "depth", "height")):
        return np.array([float(seq.labels[k]) for k in ("width", "depth", "height")])
    lo, hi = seq.bbox()
    return hi - lo


def _collect(seqs: Sequence[tuple[str, CADSequence]], skipped: Counter, progress: bool) -> PartSet:
    vectors, sizes, dims, families, names, seen = [], [], [], [], [], set()
    for name, seq in tqdm(seqs, desc="encoding parts", unit="part", disable=not progress):
        try:
            vec = encode(seq)
        except CADError as err:
            skipped[_reason(err)] += 1
            continue
        key = hashlib.sha1(vec.tobytes()).hexdigest()
        if key in seen:
            skipped["duplicate vector"] += 1
            continue
        seen.add(key)
        d = part_dims(seq)
        vectors.append(vec)
        dims.append(d)
        sizes.append(float(np.max(d)))
        families.append(str(seq.labels.get("family", "")))
        names.append(name)
    if not vectors:
        reasons = "; ".join(f"{k} ({v})" for k, v in skipped.most_common(3)) or "no parts"
        raise GensciError(f"no part could be encoded: {reasons}")
    family = np.array(families, dtype=object) if any(families) else None
    return PartSet(np.stack(vectors), np.asarray(sizes), np.stack(dims), family, names, dict(skipped))


def procedural_parts(n: int, seed: int = 0, families: Sequence[str] | None = None, cache_dir=None,
                     progress: bool = True, axes: str = "normal") -> PartSet:
    """``n`` procedural parts (:mod:`domains.cad.families`, sketch axes by ``axes``), generated
    once and cached."""
    from domains.cad.families import generate

    tag = (f"v{GENERATOR_VERSION}-n{n}-s{seed}-" + ("all" if not families else "-".join(sorted(families)))
           + ("" if axes == "normal" else f"-axes-{axes}"))
    path = cache_root(cache_dir) / "cad" / "procedural" / f"{tag}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            family = z["family"].astype(object) if z["family"].size else None
            return PartSet(z["vectors"], z["size"], z["dims"], family, [str(s) for s in z["names"]],
                           json.loads(str(z["skipped"])))
    seqs = generate(n, seed=seed, families=families, progress=progress, axes=axes)
    parts = _collect([(f"part{i:06d}", s) for i, s in enumerate(seqs)], Counter(), progress)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, vectors=parts.vectors, size=parts.size, dims=parts.dims,
                                family=np.array([] if parts.family is None else parts.family, dtype=str),
                                names=np.array(parts.names, dtype=str), skipped=json.dumps(parts.skipped))
    return parts


def json_parts(folder: str | Path, progress: bool = True, limit: int | None = None) -> PartSet:
    """Every ``*.json`` under ``folder`` read as a DeepCAD history; unreadable or unrepresentable
    files are skipped and counted by reason (:attr:`PartSet.skipped`)."""
    from domains.cad.json_codec import read_json

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise GensciError(f"domain.source={folder} is not a folder of DeepCAD JSON files")
    files = sorted(folder.rglob("*.json"))[:limit]
    if not files:
        raise GensciError(f"{folder} holds no .json files")
    skipped: Counter = Counter()
    seqs = []
    for f in tqdm(files, desc=f"reading {folder.name}", unit="file", disable=not progress):
        try:
            seqs.append((str(f.relative_to(folder)), read_json(f)))
        except CADError as err:
            skipped[_reason(err)] += 1
    return _collect(seqs, skipped, progress)


def _reason(err: Exception) -> str:
    """The kind of a codec error, for counting: its last clause with numbers as N
    ("curve N ends N away from where curve N starts")."""
    return re.sub(r"(?<![A-Za-z])-?\d+(\.\d+)?(e-?\d+)?", "N", str(err).split(": ")[-1].strip())[:80]


def split_indices(n: int, seed: int = 0, fractions: tuple[float, float] = (0.05, 0.05)) -> dict[str, np.ndarray]:
    """A seeded permutation of ``range(n)`` cut into train / val / test (val and test each at
    least one part)."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(fractions[0] * n)))
    n_test = max(1, int(round(fractions[1] * n)))
    if n - n_val - n_test < 1:
        raise GensciError(f"{n} parts are too few to split into train, val and test")
    return {"val": np.sort(order[:n_val]), "test": np.sort(order[n_val:n_val + n_test]),
            "train": np.sort(order[n_val + n_test:])}
