"""Sketch-and-extrude CAD histories: curves, loops, profiles, sketch planes, extrudes.

The representation of DeepCAD (Wu, Xiao & Zheng 2021, "DeepCAD: A Deep Generative Network for
Computer-Aided Design Models", ICCV) and GenCAD (Alam & Ahmed 2025): a part is a sequence of
extrudes; each extrude pushes a planar *profile* (an outer loop and up to five holes, each loop
a closed chain of lines and arcs or a single circle) along its sketch plane's normal, and
combines the prism with the part built so far by a boolean (new body, join, cut, intersect).

Coordinates. A profile lives in its sketch plane's 2D frame ``(u, v)``; the plane maps it to 3D
by ``X = origin + u x_axis + v y_axis``, with ``y_axis = normal x x_axis``. The plane's
orientation is also given as three angles (DeepCAD's polar parameterisation): the normal
``n = (sin θ cos φ, sin θ sin φ, cos θ)`` and the in-plane rotation ``γ`` of the x axis from the
reference ``r_x = (cos θ cos φ, cos θ sin φ, -sin θ)``, ``x_axis = cos γ r_x + sin γ (n x r_x)``.

Extents. ``extent_one`` goes along ``+normal``; ``symmetric`` extrudes ``extent_one`` to both
sides (DeepCAD's reading of the JSON); ``two_sides`` extrudes ``extent_one`` along ``+normal``
and ``extent_two`` along ``-normal``.

Canonical form (:meth:`Profile.canonical`), as DeepCAD orders its sequences: every loop is
counter-clockwise and starts at its left-most (then lowest) point; the outer loop comes first,
the holes follow in order of their start points. The profile's start point is the outer loop's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Union

import numpy as np

from gensci.errors import GensciError

__all__ = ["CADError", "Line", "Arc", "Circle", "Curve", "Loop", "Profile", "SketchPlane", "Extrude", "CADSequence",
           "OPERATIONS", "EXTENT_TYPES", "wrap_angle"]

#: boolean operations, in the order of the vector's ``b`` column
OPERATIONS = ("new", "join", "cut", "intersect")
#: extent types, in the order of the vector's ``u`` column
EXTENT_TYPES = ("one_side", "symmetric", "two_sides")

#: two points closer than this (in the units of the profile) are the same point
TOLERANCE = 1e-6


class CADError(GensciError):
    """A CAD history that cannot be represented, encoded, decoded or built; the message says why."""


def wrap_angle(a: float) -> float:
    """``a`` wrapped into ``[-π, π)``."""
    return (a + math.pi) % (2 * math.pi) - math.pi


def _point(p: Iterable[float]) -> np.ndarray:
    out = np.asarray(list(p) if not isinstance(p, np.ndarray) else p, dtype=np.float64).reshape(-1)
    if out.shape != (2,) or not np.all(np.isfinite(out)):
        raise CADError(f"a sketch point must be two finite numbers, got {p!r}")
    return out


def _rotate(v: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


@dataclass(frozen=True, eq=False)
class Line:
    """A segment from ``start`` to ``end`` (2D, in the sketch frame)."""

    start: np.ndarray
    end: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _point(self.start))
        object.__setattr__(self, "end", _point(self.end))

    def reversed(self) -> Line:
        return Line(self.end, self.start)

    def transformed(self, scale: float, shift: np.ndarray) -> Line:
        return Line(self.start * scale + shift, self.end * scale + shift)

    def points(self, n: int = 2) -> np.ndarray:
        """``n`` points from start to end."""
        w = np.linspace(0.0, 1.0, n)[:, None]
        return (1 - w) * self.start + w * self.end


@dataclass(frozen=True, eq=False)
class Arc:
    """A circular arc from ``start`` to ``end`` turning through ``sweep`` radians
    (``0 < sweep < 2π``), counter-clockwise when ``ccw``.

    Its centre lies on the chord's bisector at ``(d/2) / tan(sweep/2)`` from the chord's middle
    (``d`` the chord length), on the chord's left for a counter-clockwise arc; its radius is
    ``d / (2 sin(sweep/2))``.
    """

    start: np.ndarray
    end: np.ndarray
    sweep: float
    ccw: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _point(self.start))
        object.__setattr__(self, "end", _point(self.end))
        object.__setattr__(self, "sweep", float(self.sweep))
        object.__setattr__(self, "ccw", bool(self.ccw))
        if not 0.0 < self.sweep < 2 * math.pi or not math.isfinite(self.sweep):
            raise CADError(f"an arc's sweep must lie in (0, 2π), got {self.sweep!r}")
        if np.linalg.norm(self.end - self.start) < TOLERANCE:
            raise CADError("an arc's start and end coincide (a full circle is a Circle)")

    @classmethod
    def through(cls, start: Iterable[float], mid: Iterable[float], end: Iterable[float]) -> Arc:
        """The arc from ``start`` through ``mid`` to ``end``."""
        a, m, b = _point(start), _point(mid), _point(end)
        turn = (m[0] - a[0]) * (b[1] - m[1]) - (m[1] - a[1]) * (b[0] - m[0])
        if abs(turn) < TOLERANCE ** 2:
            raise CADError("an arc's three points are collinear")
        ccw = turn > 0
        center = _circumcenter(a, m, b)
        ang = lambda p: math.atan2(p[1] - center[1], p[0] - center[0])  # noqa: E731
        sweep = (ang(b) - ang(a)) % (2 * math.pi)
        if not ccw:
            sweep = (2 * math.pi - sweep) % (2 * math.pi)
        return cls(a, b, sweep, ccw)

    @property
    def radius(self) -> float:
        return float(np.linalg.norm(self.end - self.start) / (2 * math.sin(self.sweep / 2)))

    @property
    def center(self) -> np.ndarray:
        chord = self.end - self.start
        d = float(np.linalg.norm(chord))
        left = np.array([-chord[1], chord[0]]) / d
        offset = (d / 2) / math.tan(self.sweep / 2)
        return (self.start + self.end) / 2 + (left if self.ccw else -left) * offset

    @property
    def mid(self) -> np.ndarray:
        c = self.center
        return c + _rotate(self.start - c, (self.sweep if self.ccw else -self.sweep) / 2)

    def reversed(self) -> Arc:
        return Arc(self.end, self.start, self.sweep, not self.ccw)

    def transformed(self, scale: float, shift: np.ndarray) -> Arc:
        return Arc(self.start * scale + shift, self.end * scale + shift, self.sweep, self.ccw)

    def points(self, n: int = 9) -> np.ndarray:
        """``n`` points along the arc from start to end."""
        c = self.center
        r = self.start - c
        sign = 1.0 if self.ccw else -1.0
        return np.stack([c + _rotate(r, sign * self.sweep * w) for w in np.linspace(0.0, 1.0, n)])


@dataclass(frozen=True, eq=False)
class Circle:
    """A full circle; as a loop it starts at its left-most point ``center - (radius, 0)``."""

    center: np.ndarray
    radius: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "center", _point(self.center))
        object.__setattr__(self, "radius", float(self.radius))
        if not (self.radius > 0 and math.isfinite(self.radius)):
            raise CADError(f"a circle's radius must be positive, got {self.radius!r}")

    @property
    def start(self) -> np.ndarray:
        return self.center - np.array([self.radius, 0.0])

    @property
    def end(self) -> np.ndarray:
        return self.start

    def reversed(self) -> Circle:
        return self

    def transformed(self, scale: float, shift: np.ndarray) -> Circle:
        return Circle(self.center * scale + shift, self.radius * scale)

    def points(self, n: int = 33) -> np.ndarray:
        """``n`` points counter-clockwise around the circle from its start (the last is the first)."""
        a = math.pi + np.linspace(0.0, 2 * math.pi, n)
        return self.center + self.radius * np.stack([np.cos(a), np.sin(a)], axis=1)


Curve = Union[Line, Arc, Circle]


def _circumcenter(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    d = 2 * (a[0] * (b[1] - c[1]) + b[0] * (c[1] - a[1]) + c[0] * (a[1] - b[1]))
    sa, sb, sc = a @ a, b @ b, c @ c
    return np.array([sa * (b[1] - c[1]) + sb * (c[1] - a[1]) + sc * (a[1] - b[1]),
                     sa * (c[0] - b[0]) + sb * (a[0] - c[0]) + sc * (b[0] - a[0])]) / d


@dataclass(frozen=True, eq=False)
class Loop:
    """A closed chain of curves (each starts where the previous ends, the last ends at the
    first's start), or one circle."""

    curves: tuple[Curve, ...]

    def __post_init__(self) -> None:
        curves = tuple(self.curves)
        object.__setattr__(self, "curves", curves)
        if not curves:
            raise CADError("a loop needs at least one curve")
        circles = sum(isinstance(c, Circle) for c in curves)
        if circles and len(curves) > 1:
            raise CADError("a circle must be a loop of its own")
        if not circles:
            if len(curves) < 2 or (len(curves) == 2 and all(isinstance(c, Line) for c in curves)):
                raise CADError(f"a loop of {len(curves)} {'line' if len(curves) == 1 else 'curves'} encloses no area")
            scale = max(1.0, float(np.abs(np.concatenate([c.points(2) for c in curves])).max()))
            for i, c in enumerate(curves):
                gap = float(np.linalg.norm(c.end - curves[(i + 1) % len(curves)].start))
                if gap > 1e-4 * scale:
                    raise CADError(f"the loop is open: curve {i} ends {gap:.3g} away from where curve "
                                   f"{(i + 1) % len(curves)} starts")

    @classmethod
    def chain(cls, curves: Sequence[Curve], tol: float = 1e-4) -> Loop:
        """A loop from curves given in any order and direction (as CAD files list them):
        each next curve is the one that starts (or, reversed, ends) where the chain ends."""
        todo = list(curves)
        if len(todo) == 1:
            return cls(tuple(todo))
        scale = max(1.0, float(np.abs(np.concatenate([c.points(2) for c in todo])).max()))
        out = [todo.pop(0)]
        while todo:
            end = out[-1].end
            gaps = [(float(np.linalg.norm(c.start - end)), i, False) for i, c in enumerate(todo)]
            gaps += [(float(np.linalg.norm(c.end - end)), i, True) for i, c in enumerate(todo)]
            gap, i, flip = min(gaps)
            if gap > tol * scale:
                raise CADError(f"the loop's curves do not join: the nearest curve starts {gap:.3g} from the chain's end")
            c = todo.pop(i)
            out.append(c.reversed() if flip else c)
        return cls(tuple(out))

    def points(self) -> np.ndarray:
        """A closed polyline along the loop (arcs and circles sampled)."""
        return np.concatenate([c.points()[:-1] for c in self.curves] + [self.curves[0].start[None]])

    @property
    def signed_area(self) -> float:
        """Shoelace area of :meth:`points` (positive when counter-clockwise)."""
        p = self.points()
        return 0.5 * float(np.sum(p[:-1, 0] * p[1:, 1] - p[1:, 0] * p[:-1, 1]))

    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        p = self.points()
        if isinstance(self.curves[0], Circle):
            c, r = self.curves[0].center, self.curves[0].radius
            return c - r, c + r
        return p.min(axis=0), p.max(axis=0)

    def reversed(self) -> Loop:
        return Loop(tuple(c.reversed() for c in reversed(self.curves)))

    def canonical(self) -> Loop:
        """Counter-clockwise, starting at the left-most (then lowest) curve start."""
        loop = self if isinstance(self.curves[0], Circle) or self.signed_area > 0 else self.reversed()
        starts = np.array([c.start for c in loop.curves])
        key = np.round(starts / max(1e-12, float(np.abs(starts).max() or 1.0)), 9)
        first = min(range(len(loop.curves)), key=lambda i: (key[i, 0], key[i, 1]))
        return Loop(loop.curves[first:] + loop.curves[:first])

    def transformed(self, scale: float, shift: np.ndarray) -> Loop:
        return Loop(tuple(c.transformed(scale, shift) for c in self.curves))

    @property
    def start(self) -> np.ndarray:
        return self.curves[0].start


@dataclass(frozen=True, eq=False)
class Profile:
    """A planar region: the outer loop first, then its holes."""

    loops: tuple[Loop, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "loops", tuple(self.loops))
        if not self.loops:
            raise CADError("a profile needs at least one loop")

    def canonical(self) -> Profile:
        """Loops canonical (:meth:`Loop.canonical`), the outer (largest) loop first, holes by start point."""
        loops = [loop.canonical() for loop in self.loops]
        areas = [abs(loop.signed_area) for loop in loops]
        outer = loops.pop(int(np.argmax(areas)))
        holes = sorted(loops, key=lambda loop: (round(float(loop.start[0]), 9), round(float(loop.start[1]), 9)))
        return Profile((outer, *holes))

    @property
    def start(self) -> np.ndarray:
        return self.loops[0].start

    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = zip(*(loop.bbox() for loop in self.loops))
        return np.min(lo, axis=0), np.max(hi, axis=0)

    @property
    def size(self) -> float:
        """The larger side of the bounding box."""
        lo, hi = self.bbox()
        return float(np.max(hi - lo))

    def transformed(self, scale: float, shift: np.ndarray) -> Profile:
        return Profile(tuple(loop.transformed(scale, shift) for loop in self.loops))

    @property
    def n_curves(self) -> int:
        return sum(len(loop.curves) for loop in self.loops)


def _unit(v: Iterable[float], what: str) -> np.ndarray:
    a = np.asarray(list(v) if not isinstance(v, np.ndarray) else v, dtype=np.float64).reshape(-1)
    n = float(np.linalg.norm(a)) if a.shape == (3,) and np.all(np.isfinite(a)) else 0.0
    if n < 1e-9:
        raise CADError(f"the sketch plane's {what} must be a non-zero 3-vector, got {v!r}")
    return a / n


@dataclass(frozen=True, eq=False)
class SketchPlane:
    """A sketch frame in 3D: ``origin`` and orthonormal ``x_axis``, ``normal``
    (``y_axis = normal x x_axis``)."""

    origin: np.ndarray
    x_axis: np.ndarray
    normal: np.ndarray

    def __post_init__(self) -> None:
        origin = np.asarray(self.origin, dtype=np.float64).reshape(-1)
        if origin.shape != (3,) or not np.all(np.isfinite(origin)):
            raise CADError(f"the sketch plane's origin must be three finite numbers, got {self.origin!r}")
        normal = _unit(self.normal, "normal")
        x = _unit(self.x_axis, "x axis")
        x = x - (x @ normal) * normal  # orthogonalise
        x = _unit(x, "x axis (it is parallel to the normal)")
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "normal", normal)
        object.__setattr__(self, "x_axis", x)

    @property
    def y_axis(self) -> np.ndarray:
        return np.cross(self.normal, self.x_axis)

    def to_world(self, uv: np.ndarray) -> np.ndarray:
        """Sketch points ``(..., 2)`` in 3D ``(..., 3)``."""
        uv = np.asarray(uv, dtype=np.float64)
        return self.origin + uv[..., :1] * self.x_axis + uv[..., 1:2] * self.y_axis

    def to_sketch(self, xyz: np.ndarray) -> np.ndarray:
        """3D points ``(..., 3)`` (assumed on the plane) in sketch coordinates ``(..., 2)``."""
        d = np.asarray(xyz, dtype=np.float64) - self.origin
        return np.stack([d @ self.x_axis, d @ self.y_axis], axis=-1)

    def angles(self) -> tuple[float, float, float]:
        """``(θ, φ, γ)``, each wrapped into ``[-π, π)`` (module docstring)."""
        theta, phi = _polar(self.normal)
        rx, ry = _reference_axes(theta, phi)
        gamma = math.atan2(float(self.x_axis @ ry), float(self.x_axis @ rx))
        return wrap_angle(theta), wrap_angle(phi), wrap_angle(gamma)

    @classmethod
    def from_angles(cls, origin: Iterable[float], theta: float, phi: float, gamma: float) -> SketchPlane:
        """The plane at ``origin`` with orientation ``(θ, φ, γ)`` (module docstring)."""
        rx, ry = _reference_axes(theta, phi)
        normal = np.cross(rx, ry)
        x = math.cos(gamma) * rx + math.sin(gamma) * ry
        return cls(np.asarray(list(origin), dtype=np.float64), x, normal)

    @classmethod
    def from_normal(cls, origin: Iterable[float], normal: Iterable[float]) -> SketchPlane:
        """The plane at ``origin`` with ``normal`` and ``γ = 0``: its x axis the reference axis
        ``r_x(θ, φ)``, as a CAD tool orients a sketch placed on a plane."""
        return cls.from_angles(origin, *_polar(_unit(normal, "normal")), 0.0)

    def moved(self, origin: np.ndarray) -> SketchPlane:
        return SketchPlane(np.asarray(origin, dtype=np.float64), self.x_axis, self.normal)


def _polar(n: np.ndarray) -> tuple[float, float]:
    """``(θ, φ)`` of a unit normal (``φ = 0`` along the poles)."""
    theta = math.acos(max(-1.0, min(1.0, float(n[2]))))
    return theta, (math.atan2(float(n[1]), float(n[0])) if abs(math.sin(theta)) > 1e-12 else 0.0)


def _reference_axes(theta: float, phi: float) -> tuple[np.ndarray, np.ndarray]:
    """``r_x`` and ``n x r_x`` for the normal ``(θ, φ)``."""
    st, ct, sp, cp = math.sin(theta), math.cos(theta), math.sin(phi), math.cos(phi)
    n = np.array([st * cp, st * sp, ct])
    rx = np.array([ct * cp, ct * sp, -st])
    return rx, np.cross(n, rx)


@dataclass(frozen=True, eq=False)
class Extrude:
    """One sketch-and-extrude step: ``profile`` on ``plane`` pushed by its extents and
    combined with the part so far by ``operation`` (one of :data:`OPERATIONS`)."""

    profile: Profile
    plane: SketchPlane
    extent_one: float
    extent_two: float = 0.0
    operation: str = "new"
    extent_type: str = "one_side"

    def __post_init__(self) -> None:
        if self.operation not in OPERATIONS:
            raise CADError(f"unknown boolean operation {self.operation!r}; one of {', '.join(OPERATIONS)}")
        if self.extent_type not in EXTENT_TYPES:
            raise CADError(f"unknown extent type {self.extent_type!r}; one of {', '.join(EXTENT_TYPES)}")
        for name in ("extent_one", "extent_two"):
            v = float(getattr(self, name))
            if not math.isfinite(v):
                raise CADError(f"{name} must be finite, got {v!r}")
            object.__setattr__(self, name, v)
        if self.extent_type != "two_sides":
            object.__setattr__(self, "extent_two", 0.0)

    def span(self) -> tuple[float, float]:
        """How far the prism reaches along ``-normal`` and ``+normal`` (``(below, above)``)."""
        e1, e2 = self.extent_one, self.extent_two
        if self.extent_type == "symmetric":
            return min(-abs(e1), 0.0), abs(e1)
        if self.extent_type == "two_sides":
            ends = [e1, -e2, 0.0]
            return min(ends), max(ends)
        return min(e1, 0.0), max(e1, 0.0)

    def corners(self) -> np.ndarray:
        """The 8 corners of the prism's box (profile bbox x span) in 3D."""
        lo, hi = self.profile.bbox()
        below, above = self.span()
        uv = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [lo[0], hi[1]], [hi[0], hi[1]]])
        base = self.plane.to_world(uv)
        return np.concatenate([base + below * self.plane.normal, base + above * self.plane.normal])


@dataclass(eq=False)
class CADSequence:
    """A part's history: extrudes in order, with optional labels (family, dimensions)."""

    extrudes: list[Extrude]
    labels: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.extrudes = list(self.extrudes)
        if not self.extrudes:
            raise CADError("a CAD sequence needs at least one extrude")
        if self.extrudes[0].operation != "new":
            self.extrudes[0] = replace(self.extrudes[0], operation="new")

    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        """A box around every prism (cuts included, so it may be loose)."""
        corners = np.concatenate([e.corners() for e in self.extrudes])
        return corners.min(axis=0), corners.max(axis=0)

    def transformed(self, scale: float, shift: np.ndarray) -> CADSequence:
        """Every point mapped by ``X -> scale X + shift`` (extents scaled)."""
        shift = np.asarray(shift, dtype=np.float64)
        out = []
        for e in self.extrudes:
            plane = e.plane.moved(e.plane.origin * scale + shift)
            out.append(replace(e, profile=e.profile.transformed(scale, np.zeros(2)), plane=plane,
                               extent_one=e.extent_one * scale, extent_two=e.extent_two * scale))
        return CADSequence(out, dict(self.labels))

    def normalized(self, size: float = 0.75) -> tuple[CADSequence, float, np.ndarray]:
        """The part centred on its box and scaled so its largest half-side is ``size``, with
        the ``scale`` and ``shift`` that did it (``X_norm = scale X + shift``)."""
        lo, hi = self.bbox()
        half = float(np.max(hi - lo)) / 2
        if not half > 0:
            raise CADError("the part has an empty bounding box")
        scale = size / half
        shift = -scale * (lo + hi) / 2
        return self.transformed(scale, shift), scale, shift

    @property
    def n_loops(self) -> int:
        return sum(len(e.profile.loops) for e in self.extrudes)
