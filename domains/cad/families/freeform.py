"""Free-form parts in the manner of CAD-Recode's procedural data (Rukhovich et al. 2025, "CAD-Recode:
Reverse Engineering CAD Code from Point Clouds", ICCV): unions, cuts and an intersection of
3-8 extruded circles and rotated rectangles on axis-aligned sketch planes.

Each primitive is a prism along a world axis ``k`` (normal ``±e_k``), its sketch rotated in
plane by a continuous ``γ`` (a rectangle is axis-aligned in its own sketch frame), extruded
one-sided, symmetric or two-sided (:meth:`~._part.Part.add`). Validity by construction:

* **anchors**: every primitive keeps a ball inside it (its centre, radius 15% of its smallest
  side or depth). A join is placed so that it contains a ball of radius ``ρ' <= ρ`` around an
  existing anchor, so it overlaps the part in volume (never just touches, never floats);
* **intersect** (30% of parts, second step only): the first prism is trimmed by a box that keeps
  its anchor; the result is the prism of ``S ∩ R`` (``S`` the first section, ``R`` the box's
  shadow on its plane) over the common slab, whose box is exact (a clipped polygon, or a disc
  clipped by a box containing its centre: ``[max(x0, c - r), min(x1, c + r)]``);
* **cuts** (through holes and pockets) lie along a host primitive's axis, their section inside
  the host's by the margin, clear of every anchor, and inside the part's box by the margin
  across their axis. So no cut empties the part or splits its (convex) host, the anchors stay
  solid, and the box keeps its faces: across the cut's axis it never reaches them, along it
  the host's rim survives. (A cut may still sever another primitive that crosses the host;
  the kernel tests count solids.)

Ranges (mm): scale ``S`` 20-200; circles of radius 15-40% of ``S``; rectangles 20-80% of ``S``
a side; depths 10-60% of ``S``; round cuts Ø 15-35% and rectangular ones 20-50% a side of the
host's smaller side; pockets 30-70% of the host's depth.
Labels: ``scale``, ``n_primitives``, ``n_joins``, ``n_cuts``, ``intersect`` (0 or 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from domains.cad.families._part import EX, EY, EZ, Part, canvas, margin_for, overshoot_for
from domains.cad.families._sketch import SketchLoop, circle, polygon
from domains.cad.sequence import CADSequence

__all__ = ["freeform"]

#: for a prism along world axis k: its canvas (depth +e_k) and the world axes of (A, B)
CANVASES = (canvas(EY, EZ), canvas(EZ, EX), canvas(EX, EY))
INPLANE = ((1, 2), (2, 0), (0, 1))


def _rot(g: float) -> np.ndarray:
    return np.array([[math.cos(g), -math.sin(g)], [math.sin(g), math.cos(g)]])


@dataclass
class _Prism:
    k: int
    center: np.ndarray  # in the canvas (A, B)
    gamma: float
    size: tuple  # (r,) for a circle, (w, h) for a rectangle
    lo: float
    hi: float

    def loop(self) -> SketchLoop:
        if len(self.size) == 1:
            return circle(self.center, self.size[0])
        w, h = self.size
        rot = _rot(self.gamma)
        return polygon([self.center + rot @ np.array(p) for p in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2),
                                                                  (-w / 2, h / 2))])

    @property
    def side(self) -> float:
        return min(2 * self.size[0] if len(self.size) == 1 else min(self.size), self.hi - self.lo)

    def anchor(self) -> tuple[np.ndarray, float]:
        p = np.zeros(3)
        p[list(INPLANE[self.k])] = self.center
        p[self.k] = 0.5 * (self.lo + self.hi)
        return p, 0.15 * self.side

    def offset_inside(self, rng: np.random.Generator, clear: float) -> np.ndarray:
        """A random in-plane offset from the centre at which a disc of radius ``clear`` fits."""
        if len(self.size) == 1:
            a, r = rng.uniform(0, 2 * math.pi), math.sqrt(rng.random()) * (self.size[0] - clear)
            return r * np.array([math.cos(a), math.sin(a)])
        local = [rng.uniform(-1, 1) * max(0.0, s / 2 - clear) for s in self.size]
        return _rot(self.gamma) @ np.array(local)


def _draw(rng: np.random.Generator, scale: float) -> tuple[int, tuple, float, float]:
    k = int(rng.integers(3))
    size = (rng.uniform(0.15, 0.4) * scale,) if rng.random() < 0.4 else \
        (rng.uniform(0.2, 0.8) * scale, rng.uniform(0.2, 0.8) * scale)
    return k, size, rng.uniform(-math.pi, math.pi), rng.uniform(0.1, 0.6) * scale


def _clip_box(prism: _Prism, box: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The exact box of ``prism ∩ box`` (the box holds the prism's centre)."""
    ia, ib = INPLANE[prism.k]
    x0, x1, y0, y1 = box[0][ia], box[1][ia], box[0][ib], box[1][ib]
    if len(prism.size) == 1:
        (cx, cy), r = prism.center, prism.size[0]
        lo2, hi2 = np.array([max(x0, cx - r), max(y0, cy - r)]), np.array([min(x1, cx + r), min(y1, cy + r)])
    else:
        pts = [rec[1] for rec in prism.loop()]
        for axis, bound, keep_above in ((0, x0, True), (0, x1, False), (1, y0, True), (1, y1, False)):
            inside = [(p[axis] >= bound) == keep_above for p in pts]
            out = []
            for i, p in enumerate(pts):
                q, q_in = pts[i - 1], inside[i - 1]
                if inside[i] != q_in:
                    w = (bound - q[axis]) / (p[axis] - q[axis])
                    out.append(q + w * (p - q))
                if inside[i]:
                    out.append(p)
            pts = out
        arr = np.asarray(pts)
        lo2, hi2 = arr.min(axis=0), arr.max(axis=0)
    lo, hi = np.zeros(3), np.zeros(3)
    lo[[ia, ib]], hi[[ia, ib]] = lo2, hi2
    lo[prism.k], hi[prism.k] = max(prism.lo, box[0][prism.k]), min(prism.hi, box[1][prism.k])
    return lo, hi


def _box_ball_clear(lo: np.ndarray, hi: np.ndarray, p: np.ndarray, rho: float) -> bool:
    return float(np.linalg.norm(p - np.clip(p, lo, hi))) > rho


def freeform(rng: np.random.Generator) -> CADSequence:
    """A free-form part (module docstring)."""
    scale = rng.uniform(20, 200)
    m, delta = margin_for(scale), overshoot_for(scale)
    part = Part(rng, "freeform")
    k, size, gamma, depth = _draw(rng, scale)
    lo = -rng.uniform(0, 1) * depth
    first = _Prism(k, np.zeros(2), gamma, size, lo, lo + depth)
    part.add(CANVASES[k], [first.loop()], first.lo, first.hi, "new", gamma=gamma)
    anchors = [first.anchor()]
    counts = {"join": 0, "cut": 0, "intersect": 0}
    hosts = [first]
    for step in range(1, int(rng.integers(3, 9))):
        if step == 1 and rng.random() < 0.3:
            a_lo, a_hi = part.lo.copy(), part.hi.copy()
            ext = a_hi - a_lo
            sides = rng.random((2, 3)) < 0.5
            sides[int(rng.integers(2)), int(rng.integers(3))] = True  # trim at least once
            b_lo = np.where(sides[0], a_lo + rng.uniform(0.1, 0.3, 3) * ext, a_lo - delta)
            b_hi = np.where(sides[1], a_hi - rng.uniform(0.1, 0.3, 3) * ext, a_hi + delta)
            kb = int(rng.integers(3))
            ia, ib = INPLANE[kb]
            box_loop = polygon([(b_lo[ia], b_lo[ib]), (b_hi[ia], b_lo[ib]), (b_hi[ia], b_hi[ib]), (b_lo[ia], b_hi[ib])])
            part.add(CANVASES[kb], [box_loop], b_lo[kb], b_hi[kb], "intersect")
            part.lo, part.hi = _clip_box(first, (b_lo, b_hi))
            counts["intersect"], hosts = 1, []
            continue
        if hosts and rng.random() < 0.3 and _cut(rng, part, hosts, anchors, m, delta):
            counts["cut"] += 1
            continue
        p, rho = anchors[int(rng.integers(len(anchors)))]
        k, size, gamma, depth = _draw(rng, scale)
        new = _Prism(k, np.zeros(2), gamma, size, 0.0, depth)
        clear = min(rho, 0.15 * new.side)
        new.center = p[list(INPLANE[k])] - new.offset_inside(rng, clear)
        new.lo = p[k] - clear - rng.uniform(0, 1) * (depth - 2 * clear)
        new.hi = new.lo + depth
        part.add(CANVASES[k], [new.loop()], new.lo, new.hi, "join", gamma=gamma)
        hosts.append(new)
        anchors.append(new.anchor())
        counts["join"] += 1
    return part.finish({"scale": scale, "n_primitives": 1 + sum(counts.values()), "n_joins": counts["join"],
                        "n_cuts": counts["cut"], "intersect": counts["intersect"]})


def _cut(rng: np.random.Generator, part: Part, hosts: list, anchors: list, m: float, delta: float) -> bool:
    """Try to cut a hole or pocket into a random host (module docstring); whether one was cut."""
    for _ in range(10):
        host = hosts[int(rng.integers(len(hosts)))]
        small = 2 * host.size[0] if len(host.size) == 1 else min(host.size)
        if rng.random() < 0.5:
            size = (0.5 * rng.uniform(0.15, 0.35) * small,)
            half = np.array([size[0], size[0]])
        else:
            size = (rng.uniform(0.2, 0.5) * small, rng.uniform(0.2, 0.5) * small)
            half = np.array(size) / 2
        if len(host.size) == 1:  # a disc host: keep the cut's enclosing circle inside
            clear = float(np.linalg.norm(half)) if len(size) == 2 else size[0]
            if clear + m >= host.size[0]:
                continue
            off = host.offset_inside(rng, clear + m)
        else:  # a rectangle host: the cut is axis-aligned in the host's frame
            room = np.array(host.size) / 2 - half - m
            if np.any(room <= 0):
                continue
            off = _rot(host.gamma) @ (rng.uniform(-1, 1, 2) * room)
        cut = _Prism(host.k, host.center + off, host.gamma, size, host.lo, host.hi)
        kind = int(rng.integers(3))  # through, pocket from the +c face, pocket from the -c face
        if kind == 0:
            cut.lo, cut.hi = host.lo - delta, host.hi + delta
        elif kind == 1:
            cut.lo = host.hi - rng.uniform(0.3, 0.7) * (host.hi - host.lo)
        else:
            cut.hi = host.lo + rng.uniform(0.3, 0.7) * (host.hi - host.lo)
        cv = CANVASES[host.k]
        lo, hi = cv.box([cut.loop()], cut.lo, cut.hi)
        across = [i for i in range(3) if i != host.k]
        if np.any(lo[across] < part.lo[across] + m) or np.any(hi[across] > part.hi[across] - m):
            continue
        if not all(_box_ball_clear(lo, hi, p, rho) for p, rho in anchors):
            continue
        if kind == 0:
            part.cut_through(cv, [cut.loop()], host.lo, host.hi, delta, gamma=host.gamma)
        else:
            part.add(cv, [cut.loop()], cut.lo, cut.hi, "cut", at=host.hi if kind == 1 else host.lo, gamma=host.gamma)
        return True
    return False
