"""Flat parts: drilled and slotted plates, and blocks with bosses and pockets.

Both are sketched on the XY plane (``z`` up from 0) before the part is turned as a whole
(:mod:`._part`). Features sit strictly inside the outline and apart from each other by the
margin of :func:`~._part.margin_for`: a hole or slot is a capsule (a segment thickened by its
radius, a point for a hole), so two are apart when their segments are at least ``r1 + r2 + m``
apart, and one is inside the rounded outline when both end discs grown by ``m`` are
(:func:`~._sketch.disc_in_rounded_rect`; the outline is convex).
"""

from __future__ import annotations

import math

import numpy as np

from domains.cad.families._part import EX, EY, Part, canvas, margin_for, overshoot_for
from domains.cad.families._sketch import circle, disc_in_rounded_rect, rect, segment_distance, slot
from domains.cad.sequence import CADError, CADSequence

__all__ = ["plate", "boss_pocket"]

XY = canvas(EX, EY)


def _fits(caps: list, p: np.ndarray, q: np.ndarray, r: float, box: tuple, rc: float, m: float) -> bool:
    """Whether the capsule ``p-q`` of radius ``r`` lies in the rounded box and clear of ``caps``."""
    if not (disc_in_rounded_rect(p, r + m, *box, rc) and disc_in_rounded_rect(q, r + m, *box, rc)):
        return False
    return all(segment_distance(p, q, p2, q2) >= r + r2 + m for p2, q2, r2 in caps)


def plate(rng: np.random.Generator) -> CADSequence:
    """A rectangular plate, square or with arc-rounded corners, with a grid of holes and/or slots.

    Ranges (mm): width 40-250; depth 30-200 (0.3-1 x width); thickness 3-20 (at most 15% of
    the smaller side); corner radius 0 (half the plates) or 4-15% of the smaller side; holes
    Ø 3-16 on a 1-4 x 1-3 grid inset from the edges; 0-3 stadium slots (width 4-16, overall
    length 2-6 widths) where they fit. Up to five holes and slots go into the plate's profile
    (six loops at most); the others, and now and then all of them, are cut as separate extrudes.
    Labels: ``thickness``, ``corner_radius``, ``hole_diameter``, ``n_holes``, ``slot_width``,
    ``slot_length``, ``n_slots``.
    """
    w = rng.uniform(40, 250)
    d = max(30.0, rng.uniform(0.3, 1.0) * w)
    t = rng.uniform(3, min(20.0, 0.15 * min(w, d)))
    m, delta = margin_for(max(w, d)), overshoot_for(max(w, d))
    rc = 0.0 if rng.random() < 0.5 else rng.uniform(0.04, 0.15) * min(w, d)
    box = (0.0, 0.0, w, d)
    caps: list = []
    hole_r = rng.uniform(1.5, 8.0)
    inset = hole_r + m + rng.uniform(0, 0.15) * min(w, d)
    if rc > hole_r + m:  # a corner hole (e, e) stays rc - r - m from the corner arc's centre
        inset = max(inset, rc - (rc - hole_r - m) / math.sqrt(2) + 1e-6)
    grid = []
    for size, most in ((w, 4), (d, 3)):
        n = int(rng.integers(1, most + 1))
        while n > 1 and (size - 2 * inset) < (n - 1) * (2 * hole_r + m):
            n -= 1
        grid.append([size / 2] if n == 1 else list(np.linspace(inset, size - inset, n)))
    xs, ys = grid
    if rng.random() < 0.85:
        for x in xs:
            for y in ys:
                c = np.array([x, y])
                if _fits(caps, c, c, hole_r, box, rc, m):
                    caps.append((c, c, hole_r))
    n_holes = len(caps)
    slot_r = rng.uniform(2.0, 8.0)
    slot_len = rng.uniform(1.0, 5.0) * 2 * slot_r  # centre to centre
    n_slots = 0
    for _ in range(int(rng.integers(0, 4)) if n_holes else int(rng.integers(1, 4))):
        for _ in range(20):
            angle = 0.0 if rng.random() < 0.5 else math.pi / 2
            p = np.array([rng.uniform(0, w), rng.uniform(0, d)])
            q = p + slot_len * np.array([math.cos(angle), math.sin(angle)])
            if _fits(caps, p, q, slot_r, box, rc, m):
                caps.append((p, q, slot_r))
                n_slots += 1
                break
    if not caps:
        raise CADError("no hole or slot fits this plate")
    loops = [circle(p, r) if np.allclose(p, q) else slot(p, q, r) for p, q, r in caps]
    order = rng.permutation(len(loops))
    loops = [loops[i] for i in order]
    k = 0 if rng.random() < 0.25 and len(loops) <= 9 else min(5, len(loops))
    part = Part(rng, "plate")
    part.add(XY, [rect(0, 0, w, d, rc), *loops[:k]], 0.0, t, "new")
    for loop in loops[k:]:
        if not part.fits([[loop]]):
            raise CADError("the plate's holes exceed the DeepCAD caps")
        part.cut_through(XY, [loop], 0.0, t, delta)
    return part.finish({"thickness": t, "corner_radius": rc, "hole_diameter": 2 * hole_r if n_holes else 0.0,
                        "n_holes": n_holes, "slot_width": 2 * slot_r if n_slots else 0.0,
                        "slot_length": slot_len + 2 * slot_r if n_slots else 0.0, "n_slots": n_slots})


_KINDS = ("boss_round", "boss_rect", "boss_ring", "pocket_rect", "pocket_round", "pocket_slot", "hole")


def boss_pocket(rng: np.random.Generator) -> CADSequence:
    """A base block with cylindrical, rectangular and ring bosses joined on top, and pockets
    (rectangular, round, slotted) and through holes cut into it.

    Ranges (mm): base width 40-200, depth 30-160 (0.4-1 x width), height 8-50 (at most half
    the smaller side), corner radius 0 or 4-12% of the smaller side; 1-6 features, each 10-35%
    of the smaller side across; bosses 20-120% of the base height tall; pockets 20-70% of it
    deep. Footprints (their enclosing circles) stay inside the top face and apart by the margin.
    Labels: ``base_height``, ``corner_radius``, ``n_bosses``, ``n_pockets``, ``n_holes``,
    ``boss_height`` (the tallest).
    """
    w = rng.uniform(40, 200)
    d = max(30.0, rng.uniform(0.4, 1.0) * w)
    h = rng.uniform(8, min(50.0, 0.5 * min(w, d)))
    m, delta = margin_for(max(w, d)), overshoot_for(max(w, d))
    rc = 0.0 if rng.random() < 0.6 else rng.uniform(0.04, 0.12) * min(w, d)
    box = (0.0, 0.0, w, d)
    part = Part(rng, "boss_pocket")
    part.add(XY, [rect(0, 0, w, d, rc)], 0.0, h, "new")
    placed: list = []
    counts = {"boss": 0, "pocket": 0, "hole": 0}
    top = 0.0
    for _ in range(int(rng.integers(1, 7))):
        kind = _KINDS[int(rng.integers(len(_KINDS)))]
        size = rng.uniform(0.1, 0.35) * min(w, d)
        a, b = size, size * rng.uniform(0.5, 1.0)
        rr = 0.0 if rng.random() < 0.5 else rng.uniform(0.1, 0.3) * b  # rounded rectangle corners
        if kind.endswith("slot"):
            a = max(a, 1.6 * b)
        reach = {"boss_round": a / 2, "boss_ring": a / 2, "pocket_round": a / 2,
                 "hole": b / 2}.get(kind, math.hypot(a, b) / 2)
        for _ in range(20):
            c = np.array([rng.uniform(0, w), rng.uniform(0, d)])
            if _fits(placed, c, c, reach, box, rc, m):
                break
        else:
            continue
        if kind in ("boss_round", "pocket_round"):
            loops = [circle(c, a / 2)]
        elif kind == "boss_ring":
            loops = [circle(c, a / 2), circle(c, a / 2 - max(m, rng.uniform(0.15, 0.35) * a))]
            if loops[1][0][2] < m:
                continue
        elif kind == "hole":
            loops = [circle(c, b / 2)]
        elif kind == "pocket_slot":
            loops = [slot(c - [(a - b) / 2, 0], c + [(a - b) / 2, 0], b / 2)]
        else:
            loops = [rect(c[0] - a / 2, c[1] - b / 2, c[0] + a / 2, c[1] + b / 2, rr)]
        if not part.fits([loops]):
            break
        placed.append((c, c, reach))
        if kind.startswith("boss"):
            tall = rng.uniform(0.2, 1.2) * h
            top = max(top, tall)
            embed = 0.0 if rng.random() < 0.6 else rng.uniform(0.1, 0.5) * h
            part.add(XY, loops, h - embed, h + tall, "join", at=h if embed else None)
            counts["boss"] += 1
        elif kind == "hole":
            part.cut_through(XY, loops, 0.0, h, delta)
            counts["hole"] += 1
        else:
            part.pocket(XY, loops, h, rng.uniform(0.2, 0.7) * h, delta)
            counts["pocket"] += 1
    if not placed:
        raise CADError("no boss or pocket fits this block")
    return part.finish({"base_height": h, "corner_radius": rc, "n_bosses": counts["boss"],
                        "n_pockets": counts["pocket"], "n_holes": counts["hole"], "boss_height": top},
                       box=(np.zeros(3), np.array([w, d, h + top])))
