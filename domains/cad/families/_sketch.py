"""Closed 2D loops for the part families, as light curve records, with exact boxes and areas.

A loop is a list of curve records in a 2D canvas (millimetres):

* ``("line", p, q)``;
* ``("arc", p, q, sweep, ccw, center, radius)``, the circular arc from ``p`` to ``q`` turning
  through ``sweep`` radians about ``center``, counter-clockwise when ``ccw``;
* ``("circle", center, radius)``, a loop on its own.

Records are cheap to build and to check; :func:`to_loop` turns one into a
:class:`~domains.cad.sequence.Loop` once its sketch frame is known.

Fillets (:func:`polygon`). At a corner ``P`` reached along the unit direction ``d1`` and left
along ``d2``, turning by the signed angle ``τ`` (positive to the left), a fillet of radius ``r``
touches the two edges at ``P - t d1`` and ``P + t d2`` with ``t = r tan(|τ|/2)``; its centre lies
``r`` to the left of ``d1`` (right for a right turn) and it sweeps ``|τ|``.

Areas (:func:`area`). Green's theorem over the loop: the shoelace sum of the curves' chords plus,
for each arc, the circular segment ``r²/2 (α - sin α)`` between the arc and its chord, counted
positive for a counter-clockwise arc and negative for a clockwise one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from domains.cad.sequence import Arc, CADError, Circle, Line, Loop

__all__ = ["polygon", "rect", "slot", "circle", "bbox", "area", "to_loop", "point_segment_distance",
           "segment_distance", "disc_in_rounded_rect"]

Record = tuple
SketchLoop = list


def _left(d: np.ndarray) -> np.ndarray:
    return np.array([-d[1], d[0]])


def polygon(points: Sequence[Sequence[float]], radii: Sequence[float] | None = None) -> SketchLoop:
    """The closed polygon through ``points`` (in order), its corner ``i`` rounded by a fillet of
    radius ``radii[i]`` (0: sharp). Raises :class:`CADError` when fillets do not fit their edges."""
    pts = np.asarray(points, dtype=np.float64)
    n = len(pts)
    radii = [0.0] * n if radii is None else [float(r) for r in radii]
    if n < 3 or len(radii) != n:
        raise CADError(f"a polygon needs at least 3 corners and one radius per corner, got {n} and {len(radii)}")
    arrive, leave, arcs = [None] * n, [None] * n, [None] * n
    cut = np.zeros(n)  # how much of edge i (corner i -> i+1) the fillets use
    for i in range(n):
        p0, p, p1 = pts[i - 1], pts[i], pts[(i + 1) % n]
        d1, d2 = p - p0, p1 - p
        d1, d2 = d1 / np.linalg.norm(d1), d2 / np.linalg.norm(d2)
        r = radii[i]
        if r <= 0:
            arrive[i] = leave[i] = p
            continue
        turn = math.atan2(d1[0] * d2[1] - d1[1] * d2[0], float(d1 @ d2))
        if abs(turn) < 1e-9:
            raise CADError(f"corner {i} of the polygon is straight and cannot take a fillet")
        t = r * math.tan(abs(turn) / 2)
        arrive[i], leave[i] = p - d1 * t, p + d2 * t
        center = arrive[i] + _left(d1) * r * (1.0 if turn > 0 else -1.0)
        arcs[i] = ("arc", arrive[i], leave[i], abs(turn), turn > 0, center, r)
        cut[i - 1] += t
        cut[i] += t
    curves: SketchLoop = []
    for i in range(n):
        j = (i + 1) % n
        length = float(np.linalg.norm(pts[j] - pts[i]))
        if cut[i] > length * (1 - 1e-6):
            raise CADError(f"the fillets at corners {i} and {j} do not fit on their edge ({length:.3g} long)")
        if arcs[i] is not None:
            curves.append(arcs[i])
        curves.append(("line", leave[i], arrive[j]))
    return curves


def rect(x0: float, y0: float, x1: float, y1: float, r: float = 0.0) -> SketchLoop:
    """The rectangle ``[x0, x1] x [y0, y1]``, counter-clockwise from ``(x0, y0)``, corners rounded by ``r``."""
    return polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], [r] * 4)


def slot(p: Sequence[float], q: Sequence[float], r: float) -> SketchLoop:
    """The stadium around the segment ``p``-``q`` at distance ``r``: two lines and two half circles."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    d = q - p
    if float(np.linalg.norm(d)) < 1e-9 or r <= 0:
        raise CADError("a slot needs two distinct centres and a positive radius")
    n = _left(d / np.linalg.norm(d)) * r
    return [("line", p - n, q - n), ("arc", q - n, q + n, math.pi, True, q, r),
            ("line", q + n, p + n), ("arc", p + n, p - n, math.pi, True, p, r)]


def circle(c: Sequence[float], r: float) -> SketchLoop:
    return [("circle", np.asarray(c, dtype=np.float64), float(r))]


def _arc_extremes(rec: Record) -> list[np.ndarray]:
    _, p, q, sweep, ccw, c, r = rec
    a0 = math.atan2(p[1] - c[1], p[0] - c[0])
    out = [p, q]
    for k in range(4):
        a = k * math.pi / 2
        delta = ((a - a0) if ccw else (a0 - a)) % (2 * math.pi)
        if delta < sweep:
            out.append(c + r * np.array([math.cos(a), math.sin(a)]))
    return out


def bbox(loop: SketchLoop) -> tuple[np.ndarray, np.ndarray]:
    """The exact box ``(lo, hi)`` of a loop (arcs' extreme points included)."""
    if loop[0][0] == "circle":
        c, r = loop[0][1], loop[0][2]
        return c - r, c + r
    pts: list[np.ndarray] = []
    for rec in loop:
        pts += _arc_extremes(rec) if rec[0] == "arc" else [rec[1], rec[2]]
    arr = np.asarray(pts)
    return arr.min(axis=0), arr.max(axis=0)


def area(loop: SketchLoop) -> float:
    """The exact signed area (positive counter-clockwise; a circle's is ``π r²``)."""
    if loop[0][0] == "circle":
        return math.pi * loop[0][2] ** 2
    total = 0.0
    for rec in loop:
        p, q = rec[1], rec[2]
        total += 0.5 * (p[0] * q[1] - q[0] * p[1])
        if rec[0] == "arc":
            sweep, r = rec[3], rec[6]
            total += (1.0 if rec[4] else -1.0) * 0.5 * r * r * (sweep - math.sin(sweep))
    return total


def to_loop(loop: SketchLoop, m: np.ndarray, shift: np.ndarray | None = None) -> Loop:
    """The :class:`Loop` of a record loop mapped by ``x -> m x + shift`` (``m`` orthogonal; a
    reflection turns arcs the other way)."""
    shift = np.zeros(2) if shift is None else shift
    mirror = float(np.linalg.det(m)) < 0
    curves = []
    for rec in loop:
        if rec[0] == "line":
            curves.append(Line(m @ rec[1] + shift, m @ rec[2] + shift))
        elif rec[0] == "arc":
            curves.append(Arc(m @ rec[1] + shift, m @ rec[2] + shift, rec[3], rec[4] != mirror))
        else:
            curves.append(Circle(m @ rec[1] + shift, rec[2]))
    return Loop(tuple(curves))


def point_segment_distance(x: np.ndarray, p: np.ndarray, q: np.ndarray) -> float:
    d = q - p
    den = float(d @ d)
    w = 0.0 if den == 0 else min(1.0, max(0.0, float((x - p) @ d) / den))
    return float(np.linalg.norm(x - (p + w * d)))


def segment_distance(p1: np.ndarray, q1: np.ndarray, p2: np.ndarray, q2: np.ndarray) -> float:
    """The distance between two segments (points allowed: ``p == q``) in the plane."""
    d1, d2 = q1 - p1, q2 - p2
    cross = d1[0] * d2[1] - d1[1] * d2[0]
    if abs(cross) > 1e-12:  # crossing segments are at distance 0
        r = p2 - p1
        s = (r[0] * d2[1] - r[1] * d2[0]) / cross
        t = (r[0] * d1[1] - r[1] * d1[0]) / cross
        if 0 <= s <= 1 and 0 <= t <= 1:
            return 0.0
    return min(point_segment_distance(p1, p2, q2), point_segment_distance(q1, p2, q2),
               point_segment_distance(p2, p1, q1), point_segment_distance(q2, p1, q1))


def disc_in_rounded_rect(c: np.ndarray, r: float, x0: float, y0: float, x1: float, y1: float, rc: float) -> bool:
    """Whether the disc ``(c, r)`` lies inside the rectangle ``[x0, x1] x [y0, y1]`` with corners
    rounded by ``rc`` (touching allowed; add the margin to ``r``)."""
    if not (x0 + r <= c[0] <= x1 - r and y0 + r <= c[1] <= y1 - r):
        return False
    if rc <= r:
        return True
    cx = min(max(c[0], x0 + rc), x1 - rc)
    cy = min(max(c[1], y0 + rc), y1 - rc)
    return math.hypot(c[0] - cx, c[1] - cy) <= rc - r
