"""Hand-built CAD histories with closed-form volumes, shared by the kernel tests."""

from __future__ import annotations

import math

import numpy as np

from domains.cad.sequence import Arc, CADSequence, Circle, Extrude, Line, Loop, Profile, SketchPlane

XY = SketchPlane(np.zeros(3), np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0]))


def rect(w: float, h: float, x: float = 0.0, y: float = 0.0) -> Loop:
    p = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    return Loop(tuple(Line(p[i], p[(i + 1) % 4]) for i in range(4)))


def circle(r: float, cx: float = 0.0, cy: float = 0.0) -> Loop:
    return Loop((Circle(np.array([cx, cy]), r),))


def rounded_rect(w: float, h: float, r: float) -> Loop:
    """A w x h rectangle at the origin with quarter-circle corners of radius r (area wh - (4-π)r²)."""
    q = math.pi / 2
    P = lambda x, y: np.array([x, y], dtype=float)  # noqa: E731
    return Loop((Line(P(r, 0), P(w - r, 0)), Arc(P(w - r, 0), P(w, r), q), Line(P(w, r), P(w, h - r)),
                 Arc(P(w, h - r), P(w - r, h), q), Line(P(w - r, h), P(r, h)), Arc(P(r, h), P(0, h - r), q),
                 Line(P(0, h - r), P(0, r)), Arc(P(0, r), P(r, 0), q)))


def extrude(loops: tuple[Loop, ...] | Loop, e1: float, plane: SketchPlane = XY, **kw) -> Extrude:
    loops = (loops,) if isinstance(loops, Loop) else loops
    return Extrude(Profile(loops), plane, e1, **kw)


def box(a: float = 2.0, b: float = 3.0, c: float = 4.0) -> CADSequence:
    return CADSequence([extrude(rect(a, b), c)])


def cylinder(r: float = 1.0, h: float = 2.0) -> CADSequence:
    return CADSequence([extrude(circle(r), h)])


def plate_with_hole(a: float = 4.0, b: float = 3.0, c: float = 1.0, r: float = 0.5) -> CADSequence:
    return CADSequence([extrude((rect(a, b), circle(r, a / 2, b / 2)), c)])


def emptied() -> CADSequence:
    """A box cut by a larger box: nothing is left."""
    return CADSequence([extrude(rect(2, 3), 1),
                        extrude(rect(5, 5, -1, -1), 3, plane=XY.moved(np.array([0, 0, -1.0])), operation="cut")])
