"""Samples of the atoms domain to files and back.

* ``.sdf`` (default): one record per sample with 3D coordinates, every hydrogen, formal
  charges and bonds — generated ones, or for an EDM-style model those inferred from distances
  by EDM's lookup (:func:`domains.atoms.stability.infer_bonds`), said by the ``bonds_source``
  tag — and the requested conditions as ``requested_<name>`` tags;
* ``.xyz``: elements and coordinates only, the tags on each frame's comment line.

Trajectories are one multi-conformer SDF per sample (:func:`domains.atoms.files.write_trajectory_sdf`).
Every file is written atomically (:mod:`domains.atoms.files`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from domains.atoms.domain import AtomSamples
from domains.atoms.files import BONDS_INFERRED, read_molecules, write_sdf, write_trajectory_sdf, write_xyz
from domains.atoms.molecule import Molecule3D
from gensci.errors import GensciError

__all__ = ["write_samples", "write_trajectory", "read_samples", "with_bonds"]

REQUESTED = "requested_"


def with_bonds(molecules: Sequence[Molecule3D]) -> list[Molecule3D]:
    """Each molecule with bonds: its own, or inferred from distances when it has none."""
    from domains.atoms.stability import infer_bonds

    out = []
    for m in molecules:
        if m.bonds is None:
            m = replace(m, bonds=infer_bonds(m.numbers, m.positions) if len(m) else None,
                        properties={**m.properties, "bonds_source": BONDS_INFERRED})
        out.append(m)
    return out


def write_samples(samples: AtomSamples, path: str | Path) -> Path:
    """``samples`` to ``path`` (``.sdf`` or ``.xyz``, by suffix)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".sdf":
        return write_sdf(with_bonds(samples.molecules), path)
    if suffix == ".xyz":
        return write_xyz(samples.molecules, path)
    raise GensciError(f"the atoms domain writes .sdf or .xyz files, not {path.suffix or 'files without a suffix'!r}")


def write_trajectory(trajectory: Sequence[AtomSamples], path: str | Path) -> list[Path]:
    """The denoising path: one multi-conformer SDF per sample, ``<stem>_000.sdf`` ..."""
    frames = [with_bonds(step.molecules) for step in trajectory]
    times = [k / max(len(frames) - 1, 1) for k in range(len(frames))]
    return write_trajectory_sdf(frames, Path(path).with_suffix(".sdf"), times=times)


def read_samples(path: str | Path) -> AtomSamples:
    """Molecules of an ``.sdf`` / ``.xyz`` file or folder, with the conditions they were
    sampled under (``requested_<name>`` tags, when all records agree)."""
    molecules = read_molecules(path)
    requested: dict[str, float] = {}
    if molecules:
        names = {k for k in molecules[0].properties if k.startswith(REQUESTED)}
        for k in names:
            values = {m.properties.get(k) for m in molecules}
            if len(values) == 1:
                requested[k[len(REQUESTED):]] = values.pop()
    sources = {m.properties.get("bonds_source", "generated") for m in molecules}
    return AtomSamples(molecules, requested, sources.pop() if len(sources) == 1 else "mixed")
