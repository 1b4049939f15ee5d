"""Bent-plate brackets: an L, Z or U cross-section sketched on the XZ plane, extruded along y
over the width, with mounting holes cut through the legs from their faces.

Sections have uniform thickness ``t``; an inner bend radius ``r_i`` goes with the concentric
outer one ``r_i + t`` (or a sharp outside). Holes are placed on a small grid inside each leg's
flat face (clear of the bends and edges by the margin of :func:`~._part.margin_for`); a hole
through a leg pierces one wall, a U bracket's side hole pierces both. Volume, checked against
the kernel: ``V = A_section W - π r² t (n_holes + n_side_holes)`` with ``A_section`` the exact
area of the section (:func:`~._sketch.area`, labelled ``section_area``).
"""

from __future__ import annotations

import numpy as np

from domains.cad.families._part import EX, EY, EZ, Canvas, Part, canvas, margin_for, overshoot_for
from domains.cad.families._sketch import area, circle, polygon
from domains.cad.sequence import CADError, CADSequence
from domains.cad.vector import MAX_EXTRUDES

__all__ = ["bracket_l", "bracket_z", "bracket_u"]

#: the section's canvas: (A, B) = (x, z), depth along -y, so the width fills -W <= C <= 0
XZ = canvas(EX, EZ)
XY = canvas(EX, EY)
#: a vertical leg's face: (A, B) = (y, z), depth along +x
YZ = canvas(EY, EZ)


def _holes(part: Part, cv: Canvas, a_range: tuple, b_range: tuple, wall: tuple, r: float, m: float,
           delta: float, most: int) -> int:
    """Cut a grid of up to ``most`` holes of radius ``r`` inside the face region ``a_range x
    b_range`` through the wall ``wall`` (a range along the canvas depth); the count cut."""
    rng = part.rng
    most = min(most, MAX_EXTRUDES - len(part.extrudes))
    counts, spans = [], []
    for lo, hi in (a_range, b_range):
        room = (hi - lo) - 2 * (r + m)
        if room < 0 or most < 1:
            return 0
        counts.append(min(3, 1 + int(room // (2 * r + m))))
        spans.append((lo, hi, room))
    n_a = int(rng.integers(1, min(counts[0], most) + 1))
    n_b = int(rng.integers(1, min(counts[1], most // n_a) + 1))
    grid = []
    for n, (lo, hi, room) in zip((n_a, n_b), spans):
        e = rng.uniform(0, 0.5) * (room - (n - 1) * (2 * r + m))
        grid.append([0.5 * (lo + hi)] if n == 1 else list(np.linspace(lo + r + m + e, hi - r - m - e, n)))
    holes = [[circle((u, v), r)] for u in grid[0] for v in grid[1]]
    if not part.fits(holes):
        return 0
    for hole in holes:
        part.cut_through(cv, hole, wall[0], wall[1], delta)
    return len(holes)


def _thickness(rng: np.random.Generator, size: float, cap: float) -> float:
    lo = max(1.5, 0.02 * size)
    if cap <= lo:
        raise CADError("the bracket is too small for its thickness")
    return rng.uniform(lo, cap)


def _bend(rng: np.random.Generator, t: float, room: float) -> tuple[float, float]:
    """Inner and outer bend radii (both 0 for a sharp bend)."""
    if rng.random() < 0.5 or room <= 0.5 * t:
        return 0.0, 0.0
    ri = min(rng.uniform(0.5, 2.0) * t, 0.45 * room)
    return ri, (ri + t if rng.random() < 0.7 else 0.0)


def bracket_l(rng: np.random.Generator) -> CADSequence:
    """An angle bracket: a horizontal leg along x and a vertical leg along z.

    Ranges (mm): legs 25-150 long; width 15-150; thickness from max(1.5, 2% of the largest
    side) to min(12, 20% of the shorter leg); inner bend radius 0 or 0.5-2 t. Holes Ø 3-14 on a
    grid of up to 3 x 3 per leg (at most 6 holes), at most 9 in all. Labels: ``bracket_width``
    (along the bend), ``leg_length`` (x), ``leg_height`` (z), ``thickness``, ``bend_radius``,
    ``section_area``, ``hole_diameter``, ``n_holes``.
    """
    l1, l2, w = rng.uniform(25, 150), rng.uniform(25, 150), rng.uniform(15, 150)
    size = max(l1, l2, w)
    t = _thickness(rng, size, min(12.0, 0.2 * min(l1, l2)))
    ri, ro = _bend(rng, t, min(l1, l2) - t)
    section = polygon([(0, 0), (l1, 0), (l1, t), (t, t), (t, l2), (0, l2)], [ro, 0, 0, ri, 0, 0])
    part = Part(rng, "bracket_l")
    part.add(XZ, [section], -w, 0.0, "new")
    m, delta, r = margin_for(size), overshoot_for(size), rng.uniform(1.5, 7.0)
    n = _holes(part, XY, (t + ri, l1), (0.0, w), (0.0, t), r, m, delta, int(rng.integers(0, 7)))
    n += _holes(part, YZ, (0.0, w), (t + ri, l2), (0.0, t), r, m, delta, int(rng.integers(0 if n else 1, 7)))
    return part.finish({"bracket_width": w, "leg_length": l1, "leg_height": l2, "thickness": t, "bend_radius": ri,
                        "section_area": area(section), "hole_diameter": 2 * r if n else 0.0, "n_holes": n},
                       box=(np.zeros(3), np.array([l1, w, l2])))


def bracket_z(rng: np.random.Generator) -> CADSequence:
    """A Z bracket: a bottom flange reaching -x from a vertical web and a top flange reaching +x.

    Ranges (mm): flanges 20-100 (web included); web height 25-150; width 15-150; thickness from
    max(1.5, 2% of the largest side) to min(12, 20% of the shortest of them); bend radii as for
    the L bracket. Holes Ø 3-14 on a grid of up to 3 x 3 per flange (at most 5 holes), at most 9
    in all. Labels: ``bracket_width``, ``bottom_flange``, ``top_flange``, ``web_height``,
    ``thickness``, ``bend_radius``, ``section_area``, ``hole_diameter``, ``n_holes``.
    """
    a, b, h, w = rng.uniform(20, 100), rng.uniform(20, 100), rng.uniform(25, 150), rng.uniform(15, 150)
    size = max(a + b, h, w)
    t = _thickness(rng, size, min(12.0, 0.2 * min(a, b, h)))
    ri, ro = _bend(rng, t, min(a - t, b - t, 0.5 * (h - 2 * t)))
    pts = [(0, 0), (a, 0), (a, h - t), (a - t + b, h - t), (a - t + b, h), (a - t, h), (a - t, t), (0, t)]
    section = polygon(pts, [0, ro, ri, 0, 0, ro, ri, 0])
    part = Part(rng, "bracket_z")
    part.add(XZ, [section], -w, 0.0, "new")
    m, delta, r = margin_for(size), overshoot_for(size), rng.uniform(1.5, 7.0)
    n = _holes(part, XY, (0.0, a - t - ri), (0.0, w), (0.0, t), r, m, delta, int(rng.integers(0, 6)))
    n += _holes(part, XY, (a + ri, a - t + b), (0.0, w), (h - t, h), r, m, delta, int(rng.integers(0 if n else 1, 6)))
    return part.finish({"bracket_width": w, "bottom_flange": a, "top_flange": b, "web_height": h, "thickness": t,
                        "bend_radius": ri, "section_area": area(section), "hole_diameter": 2 * r if n else 0.0,
                        "n_holes": n},
                       box=(np.zeros(3), np.array([a - t + b, w, h])))


def bracket_u(rng: np.random.Generator) -> CADSequence:
    """A U bracket (a clevis): a base along x with two legs up along z; holes through the base,
    and side holes through both legs at once (one cut across the U).

    Ranges (mm): base span 30-150; legs 20-120 high; width 15-150; thickness from max(1.5, 2%
    of the largest side) to min(12, 20% of the smaller of span and height); bend radii as for the
    L bracket. Holes Ø 3-14 on grids of up to 3 x 3 in the base (at most 5) and across the legs
    (at most 4), at most 9 in all. Labels: ``bracket_width``, ``base_width`` (the span),
    ``leg_height``, ``thickness``, ``bend_radius``, ``section_area``, ``hole_diameter``,
    ``n_holes`` (in the base), ``n_side_holes``.
    """
    span, h, w = rng.uniform(30, 150), rng.uniform(20, 120), rng.uniform(15, 150)
    size = max(span, h, w)
    t = _thickness(rng, size, min(12.0, 0.2 * min(span, h)))
    ri, ro = _bend(rng, t, min(0.5 * span - t, h - t))
    pts = [(0, 0), (span, 0), (span, h), (span - t, h), (span - t, t), (t, t), (t, h), (0, h)]
    section = polygon(pts, [ro, ro, 0, 0, ri, ri, 0, 0])
    part = Part(rng, "bracket_u")
    part.add(XZ, [section], -w, 0.0, "new")
    m, delta, r = margin_for(size), overshoot_for(size), rng.uniform(1.5, 7.0)
    n = _holes(part, XY, (t + ri, span - t - ri), (0.0, w), (0.0, t), r, m, delta, int(rng.integers(0, 6)))
    n_side = _holes(part, YZ, (0.0, w), (t + ri, h), (0.0, span), r, m, delta, int(rng.integers(0 if n else 1, 5)))
    return part.finish({"bracket_width": w, "base_width": span, "leg_height": h, "thickness": t, "bend_radius": ri,
                        "section_area": area(section), "hole_diameter": 2 * r if n + n_side else 0.0,
                        "n_holes": n, "n_side_holes": n_side}, box=(np.zeros(3), np.array([span, w, h])))
