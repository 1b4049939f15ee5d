"""Procedural mechanical parts as sketch-and-extrude histories, with their dimensions as labels.

The data idea of DeepCAD's successors that train on synthetic parts (CAD-Recode, Rukhovich et
al. 2025: procedural data beat the same amount of real DeepCAD data), for engineers' parts:
each family is a function ``(rng: numpy.random.Generator) -> CADSequence`` drawing its
dimensions in millimetres from the ranges its docstring states, building only valid closed
loops (holes strictly inside the outline and apart, by a margin that survives the 8-bit
quantisation of :mod:`domains.cad.vector`), and labelling the part with ``family``, its exact
bounding box (``width``, ``depth``, ``height`` along x, y, z; cuts and intersections accounted
for) and its own dimensions (``hole_diameter``, ``n_holes``, ``bolt_circle_diameter``, ...).

Every part fits DeepCAD's caps (10 extrudes, 6 loops per profile, 15 curves per loop, 60
rows) and is turned as a whole by one of the cube's rotations, so sketch planes take every
axis-aligned orientation (θ, φ in multiples of π/2). A sketch's x axis follows its normal, as a
CAD tool sets it (γ = 0), except in free-form parts, whose sketches turn with their rectangles
by a continuous γ. :func:`generate` draws families round-robin from one seeded generator and drops
duplicates: two parts are the same when their quantised vectors
(:func:`domains.cad.vector.encode`) are; a draw the vector cannot hold is redrawn.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from domains.cad.families._part import SKETCH_AXES, sketch_axes
from domains.cad.families.brackets import bracket_l, bracket_u, bracket_z
from domains.cad.families.freeform import freeform
from domains.cad.families.plates import boss_pocket, plate
from domains.cad.families.sections import channel, i_section, t_section
from domains.cad.families.turned import flange, shaft, washer
from domains.cad.sequence import CADError, CADSequence
from domains.cad.vector import encode

__all__ = ["FAMILIES", "SKETCH_AXES", "generate", "fingerprint"]

#: family name -> ``(rng) -> CADSequence``
FAMILIES: dict[str, Callable[[np.random.Generator], CADSequence]] = {
    "plate": plate, "bracket_l": bracket_l, "bracket_z": bracket_z, "bracket_u": bracket_u, "flange": flange,
    "shaft": shaft, "washer": washer, "channel": channel, "t_section": t_section, "i_section": i_section,
    "boss_pocket": boss_pocket, "freeform": freeform,
}

#: a family that fails this many draws in a row (caps, no room for its features, duplicates) is an error
MAX_FAILURES = 1000


def fingerprint(seq: CADSequence) -> bytes:
    """A 16-byte hash of the part's quantised DeepCAD vector (raises :class:`CADError` if the
    vector cannot hold the part)."""
    return hashlib.blake2b(encode(seq).tobytes(), digest_size=16).digest()


def generate(n: int, seed: int = 0, families: Sequence[str] | None = None,
             progress: bool = True, axes: str = "normal") -> list[CADSequence]:
    """``n`` distinct parts, the families (default: all of :data:`FAMILIES`) taking turns.

    Deterministic for a seed: one ``numpy.random.Generator(PCG64(seed))`` feeds every draw. A
    draw that raises :class:`CADError` (its features did not fit, or the vector cannot hold it)
    or repeats an earlier part's vector is drawn again; a family failing
    :data:`MAX_FAILURES` draws in a row raises :class:`CADError` with the last reason. ``axes``
    sets the sketch axes: ``"normal"`` (from the normal, as a CAD tool does) or ``"drawn"`` (at
    random, generator version 2), :mod:`._part`.
    """
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise CADError(f"n must be a non-negative integer, got {n!r}")
    names = list(FAMILIES) if families is None else list(families)
    unknown = [f for f in names if f not in FAMILIES]
    if unknown or not names:
        raise CADError(f"unknown part families {unknown or names}; choose from {', '.join(FAMILIES)}")
    rng = np.random.default_rng(seed)
    seen: set[bytes] = set()
    out: list[CADSequence] = []
    redrawn = 0
    with sketch_axes(axes), tqdm(total=int(n), disable=not progress, desc="generating CAD parts", unit="part") as bar:
        while len(out) < n:
            name = names[len(out) % len(names)]
            failures, reason = 0, ""
            while True:
                try:
                    seq = FAMILIES[name](rng)
                    key = fingerprint(seq)
                    if key not in seen:
                        break
                    reason = "it repeated an earlier part"
                except CADError as e:
                    reason = str(e)
                failures += 1
                redrawn += 1
                if failures >= MAX_FAILURES:
                    raise CADError(f"the {name} family failed {failures} draws in a row; last: {reason}")
            seen.add(key)
            out.append(seq)
            bar.update(1)
            if redrawn:
                bar.set_postfix(redrawn=redrawn, refresh=False)
    return out
