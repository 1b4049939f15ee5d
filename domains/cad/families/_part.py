"""Placing sketches in 3D: canvases on world planes, prisms by the slab they fill, whole parts.

A :class:`Canvas` is a 2D drawing frame on a world plane: its point ``(A, B)`` sits at
``origin + A a + B b``, and ``c = a x b`` is the canvas' depth axis. A family draws loops on a
canvas (:mod:`._sketch`) and asks :meth:`Part.add` for the prism that fills the slab
``lo <= C <= hi``; the extrude that makes it is drawn at random among the equivalent ones:

* ``one_side``: the sketch plane on one face of the slab, its normal into the slab, extent
  ``hi - lo``;
* ``symmetric``: the plane on the slab's middle, extent ``(hi - lo)/2`` each way;
* ``two_sides``: the plane inside the slab, ``extent_one`` to the face ``+normal`` points at and
  ``extent_two`` to the other;

with the normal flipped (``±c``) where the type allows. The profile is mapped to the sketch
frame by the orthogonal ``M = [[a·x, b·x], [a·y, b·y]]``, so the solid does not depend on the
draw.

The sketch's x axis is not drawn: as a CAD tool orients a sketch placed on a plane or a face, it
follows from the normal alone, ``x = r_x(θ, φ)`` (``γ = 0``, :class:`SketchPlane`'s reference
axis), fixed once the part has its final orientation. A family may instead turn its sketch by
a ``γ`` of its own (free-form parts align the sketch with a rotated rectangle). A sketch axis
drawn at random among ``±a, ±b`` (generator version 2 and before; ``sketch_axes("drawn")``
still draws it) made ``γ``, and with it the profile's start point ``(px, py, pz)``, two bits of
noise per extrude that no shape reveals. Both rules draw the same numbers, so a seed gives the
same solids under either.

A finished part is turned as a whole by one of the 24 rotations of the cube (the identity half
of the time) and labelled with its exact box: ``width``, ``depth``, ``height`` are its extents
along x, y, z in millimetres.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace

import numpy as np

from domains.cad.families._sketch import SketchLoop, bbox, to_loop
from domains.cad.sequence import EXTENT_TYPES, CADError, CADSequence, Extrude, Profile, SketchPlane
from domains.cad.vector import MAX_CURVES, MAX_EXTRUDES, MAX_LOOPS, MAX_ROWS

__all__ = ["Canvas", "Part", "ROTATIONS", "SKETCH_AXES", "sketch_axes", "EX", "EY", "EZ", "margin_for", "overshoot_for"]

EX, EY, EZ = np.eye(3)


def _rotations() -> list[np.ndarray]:
    out = [np.eye(3)]
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            m = np.zeros((3, 3))
            m[range(3), perm] = signs
            if np.linalg.det(m) > 0 and not np.allclose(m, np.eye(3)):
                out.append(m)
    return out


#: the 24 proper rotations of the cube, the identity first
ROTATIONS = _rotations()


def margin_for(size: float) -> float:
    """The least gap (mm) between a feature and an edge or another feature, for a part of
    largest side ``size``: 2.5% of it (about 2.4 steps of the 8-bit sketch grid), at least 0.5 mm."""
    return max(0.5, 0.025 * size)


def overshoot_for(size: float) -> float:
    """How far a through cut reaches past the faces it pierces (2% of the part, at least 0.5 mm),
    so the hole stays through after the extents are quantised."""
    return max(0.5, 0.02 * size)


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.array([u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]])


@dataclass(frozen=True)
class Canvas:
    """A 2D frame on a world plane: ``(A, B) -> origin + A a + B b``; depth axis ``c = a x b``."""

    origin: np.ndarray
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "c", _cross(self.a, self.b))

    def box(self, loops: Sequence[SketchLoop], lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
        """The world box of the prism of ``loops`` (the outer one bounds it) over ``lo <= C <= hi``."""
        p, q = bbox(loops[0])
        axes = np.stack([self.a, self.b, self.c])
        ends = np.array([[p[0], q[0]], [p[1], q[1]], [lo, hi]])
        low = self.origin + np.minimum(axes * ends[:, :1], axes * ends[:, 1:]).sum(axis=0)
        high = self.origin + np.maximum(axes * ends[:, :1], axes * ends[:, 1:]).sum(axis=0)
        return low, high


#: how a sketch's x axis is set: ``"normal"`` (from the normal, γ = 0) or ``"drawn"`` (at random
#: among ``±a, ±b``, generator version 2); :func:`sketch_axes` sets it for the parts built inside
_SKETCH_AXES: ContextVar[str] = ContextVar("sketch_axes", default="normal")
SKETCH_AXES = ("normal", "drawn")


@contextmanager
def sketch_axes(rule: str) -> Iterator[None]:
    """Parts built inside take their sketch axes by ``rule``, one of :data:`SKETCH_AXES`."""
    if rule not in SKETCH_AXES:
        raise CADError(f"sketch_axes must be one of {', '.join(SKETCH_AXES)}, got {rule!r}")
    token = _SKETCH_AXES.set(rule)
    try:
        yield
    finally:
        _SKETCH_AXES.reset(token)


def _sketch_frame(cv: Canvas, loops: Sequence[SketchLoop], origin: np.ndarray,
                  normal: np.ndarray) -> tuple[SketchPlane, Profile]:
    """The sketch plane at ``origin`` with ``normal`` and the x axis a CAD tool gives it,
    ``r_x(θ, φ)`` (``γ = 0``), and ``loops`` of ``cv`` drawn in that frame."""
    plane = SketchPlane.from_normal(origin, normal)
    x, y = plane.x_axis, plane.y_axis
    m = np.array([[cv.a @ x, cv.b @ x], [cv.a @ y, cv.b @ y]])
    return plane, Profile(tuple(to_loop(loop, m) for loop in loops))


def canvas(a: np.ndarray, b: np.ndarray, origin: Sequence[float] = (0.0, 0.0, 0.0)) -> Canvas:
    return Canvas(np.asarray(origin, dtype=np.float64), np.asarray(a, dtype=np.float64),
                  np.asarray(b, dtype=np.float64))


class Part:
    """A part under construction: extrudes, the exact box of its solid, and a row count."""

    def __init__(self, rng: np.random.Generator, family: str) -> None:
        self.rng, self.family = rng, family
        self.axes = _SKETCH_AXES.get()
        self.extrudes: list[Extrude] = []
        self.lo = np.full(3, np.inf)
        self.hi = np.full(3, -np.inf)
        self.rows = 1  # the final EOS
        #: extrude index -> (canvas, loops) of the sketches whose x axis follows the normal
        self._free_axis: dict[int, tuple[Canvas, Sequence[SketchLoop]]] = {}

    def add(self, cv: Canvas, loops: Sequence[SketchLoop], lo: float, hi: float, operation: str, *,
            at: float | None = None, kinds: Sequence[str] = EXTENT_TYPES, gamma: float | None = None,
            bound: bool | None = None) -> Extrude:
        """Append the extrude whose prism is ``loops`` (outer first) over ``lo <= C <= hi`` on
        ``cv``, combined by ``operation``. ``at`` pins the sketch plane (a face, the middle, or
        inside the slab); otherwise the extent type is drawn from ``kinds``. New bodies and joins
        grow the part's box unless ``bound`` is False; cuts and intersects never do."""
        if not hi > lo:
            raise CADError(f"a prism needs hi > lo, got [{lo:g}, {hi:g}]")
        rng = self.rng
        c = cv.c
        if at is None:
            kind = kinds[int(rng.integers(len(kinds)))]
            at = {"one_side": lo if rng.random() < 0.5 else hi, "symmetric": 0.5 * (lo + hi),
                  "two_sides": lo + rng.uniform(0.25, 0.75) * (hi - lo)}[kind]
        tol = 1e-9 * max(1.0, hi - lo)
        if abs(at - lo) < tol or abs(at - hi) < tol:
            kind, sign = "one_side", (1.0 if abs(at - lo) < tol else -1.0)
            e1, e2 = hi - lo, 0.0
        elif lo < at < hi:
            kind = "symmetric" if abs(at - 0.5 * (lo + hi)) < tol else "two_sides"
            sign = 1.0 if rng.random() < 0.5 else -1.0
            e1, e2 = (hi - at, at - lo) if sign > 0 else (at - lo, hi - at)
        else:
            raise CADError(f"the sketch plane at {at:g} lies outside its prism [{lo:g}, {hi:g}]")
        normal = sign * c
        # without a gamma of the family's own, an axis is drawn under either rule (one seed, the same solids)
        drawn = None if gamma is not None else (cv.a, cv.b, -cv.a, -cv.b)[int(rng.integers(4))]
        if drawn is not None and self.axes == "normal":
            plane, profile = _sketch_frame(cv, loops, cv.origin + at * c, normal)
            self._free_axis[len(self.extrudes)] = (cv, loops)
        else:
            x = drawn if drawn is not None else math.cos(gamma) * cv.a + math.sin(gamma) * cv.b
            y = _cross(normal, x)
            m = np.array([[cv.a @ x, cv.b @ x], [cv.a @ y, cv.b @ y]])
            profile = Profile(tuple(to_loop(loop, m) for loop in loops))
            plane = SketchPlane(cv.origin + at * c, x, normal)
        ext = Extrude(profile, plane, e1, e2 if kind == "two_sides" else 0.0, operation, kind)
        self.extrudes.append(ext)
        self.rows += 1 + sum(1 + len(loop) for loop in loops)
        if bound if bound is not None else operation in ("new", "join"):
            p, q = cv.box(loops, lo, hi)
            self.lo, self.hi = np.minimum(self.lo, p), np.maximum(self.hi, q)
        return ext

    def cut_through(self, cv: Canvas, loops: Sequence[SketchLoop], lo: float, hi: float, delta: float,
                    gamma: float | None = None) -> Extrude:
        """A cut through the wall ``lo <= C <= hi``, sketched on one of its faces (reaching
        ``delta`` past the other, or past both) or on its middle (symmetric, ``delta`` past both)."""
        k = int(self.rng.integers(4))
        if k == 0:
            lo, at = lo - delta, hi
        elif k == 1:
            hi, at = hi + delta, lo
        elif k == 2:
            lo, hi, at = lo - delta, hi + delta, (hi if self.rng.random() < 0.5 else lo)
        else:
            lo, hi, at = lo - delta, hi + delta, 0.5 * (lo + hi)
        return self.add(cv, loops, lo, hi, "cut", at=at, gamma=gamma)

    def pocket(self, cv: Canvas, loops: Sequence[SketchLoop], face: float, depth: float, delta: float) -> Extrude:
        """A blind cut ``depth`` into the material below the face at ``C = face`` (material on
        the ``-c`` side), sketched on the face, flush or reaching ``delta`` out of it."""
        top = face if self.rng.random() < 0.5 else face + delta
        return self.add(cv, loops, face - depth, top, "cut", at=face)

    def fits(self, loops: Sequence[Sequence[SketchLoop]]) -> bool:
        """Whether extrudes of these profiles would still fit DeepCAD's caps."""
        rows = self.rows + sum(1 + sum(1 + len(loop) for loop in prof) for prof in loops)
        return rows <= MAX_ROWS and len(self.extrudes) + len(loops) <= MAX_EXTRUDES

    def finish(self, dims: dict, box: tuple[np.ndarray, np.ndarray] | None = None) -> CADSequence:
        """The sequence, turned by a random cube rotation, labelled with the family, the exact box
        (``box`` where cuts or intersects shape it, else the grown one) and ``dims``."""
        lo, hi = box if box is not None else (self.lo, self.hi)
        if {"family", "width", "depth", "height"} & set(dims):
            raise CADError(f"the {self.family} family's dimensions reuse a reserved label: {sorted(dims)}")
        if not np.all(hi > lo):
            raise CADError(f"the {self.family} part has an empty box")
        self._check_caps()
        extrudes = self.extrudes
        if self.rng.random() >= 0.5:
            rot = ROTATIONS[1 + int(self.rng.integers(len(ROTATIONS) - 1))]
            turned = []
            for i, e in enumerate(extrudes):
                if i in self._free_axis:  # the axis follows the turned normal
                    cv, loops = self._free_axis[i]
                    plane, profile = _sketch_frame(Canvas(rot @ cv.origin, rot @ cv.a, rot @ cv.b), loops,
                                                   rot @ e.plane.origin, rot @ e.plane.normal)
                    turned.append(replace(e, plane=plane, profile=profile))
                else:
                    turned.append(replace(e, plane=SketchPlane(rot @ e.plane.origin, rot @ e.plane.x_axis,
                                                               rot @ e.plane.normal)))
            extrudes = turned
            corners = np.array([rot @ np.where([i, j, k], hi, lo) for i in (0, 1) for j in (0, 1) for k in (0, 1)])
            lo, hi = corners.min(axis=0), corners.max(axis=0)
        size = hi - lo
        labels = {"family": self.family, "width": float(size[0]), "depth": float(size[1]), "height": float(size[2])}
        labels.update({k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in dims.items()})
        return CADSequence(extrudes, labels)

    def _check_caps(self) -> None:
        if len(self.extrudes) > MAX_EXTRUDES or self.rows > MAX_ROWS:
            raise CADError(f"the {self.family} part takes {len(self.extrudes)} extrudes and {self.rows} rows; "
                           f"the caps are {MAX_EXTRUDES} and {MAX_ROWS}")
        for e in self.extrudes:
            if len(e.profile.loops) > MAX_LOOPS or any(len(lp.curves) > MAX_CURVES for lp in e.profile.loops):
                raise CADError(f"a {self.family} profile exceeds {MAX_LOOPS} loops or {MAX_CURVES} curves per loop")
