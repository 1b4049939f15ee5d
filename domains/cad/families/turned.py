"""Round parts: flanges, stepped shafts and washers, coaxial with the z axis before the part is
turned as a whole (:mod:`._part`).

Closed forms the kernel is checked against (``tests/domains/cad/test_families.py``):
washer ``V = π (R² - r²) t - π (r_c² - r²) t_c`` (counterbore ``r_c``, ``t_c``); flange
``V = π (R² - r_b²) t + π (r_h² - r_b²) L_h - n π r_o² t``; shaft without keyway
``V = Σ π r_i² L_i``.
"""

from __future__ import annotations

import math

import numpy as np

from domains.cad.families._part import EX, EY, EZ, Part, canvas, margin_for, overshoot_for
from domains.cad.families._sketch import circle, slot
from domains.cad.sequence import CADError, CADSequence

__all__ = ["flange", "shaft", "washer"]

XY = canvas(EX, EY)
#: a canvas through the z axis: (A, B) = (z, x), depth along +y
ZX = canvas(EZ, EX)


def flange(rng: np.random.Generator) -> CADSequence:
    """A disc with a bore, an optional hub joined on one face and a circle of bolt holes.

    Ranges (mm): outer Ø 40-250; thickness 6-20% of it (at least 4); bore 15-40% of the outer
    Ø; hub (60% of flanges) Ø from the bore plus two walls of 5-15% of the outer Ø, 30-150% of
    the thickness long; 3-8 bolt holes Ø 4-10% of the outer Ø (at least 3) on a circle between
    the hub (or bore) and the rim, clear of both and of each other by the margin. The bolt holes
    sit in the disc's profile (at most 4, beside the outline and the bore) or are cut as separate
    extrudes from a face; the bore is in the profiles or one final through cut. Labels:
    ``outer_diameter``, ``thickness``, ``bore_diameter``, ``hub_diameter``, ``hub_length``,
    ``bolt_circle_diameter``, ``hole_diameter``, ``n_holes``.
    """
    big = rng.uniform(40, 250)
    R = big / 2
    t = max(4.0, rng.uniform(0.06, 0.2) * big)
    rb = rng.uniform(0.15, 0.4) * R
    m, delta = margin_for(big), overshoot_for(big)
    hub = rng.random() < 0.6
    rh = rb + max(m, rng.uniform(0.05, 0.15) * big) if hub else 0.0
    lh = rng.uniform(0.3, 1.5) * t if hub else 0.0
    ro = max(1.5, rng.uniform(0.02, 0.05) * big)
    inner = max(rb, rh) + ro + m
    outer = R - ro - m
    if inner > outer:
        raise CADError("the bolt holes do not fit between the hub and the rim")
    rbc = rng.uniform(inner, outer)
    n_max = int(math.pi / math.asin(min(1.0, (2 * ro + m) / (2 * rbc))))
    if n_max < 3:
        raise CADError("fewer than three bolt holes fit on the bolt circle")
    n = int(rng.integers(3, min(8, n_max) + 1))
    a0 = rng.uniform(0, 2 * math.pi / n)
    holes = [circle(rbc * np.array([math.cos(a0 + 2 * math.pi * i / n), math.sin(a0 + 2 * math.pi * i / n)]), ro)
             for i in range(n)]
    bore_in_profile = rng.random() < 0.7
    in_profile = n <= 4 and rng.random() < 0.6
    if not in_profile and 2 + hub + n > 10:  # DeepCAD's 10 extrudes: keep the bore in the profiles
        bore_in_profile = True
    part = Part(rng, "flange")
    disc = [circle((0, 0), R)] + ([circle((0, 0), rb)] if bore_in_profile else [])
    part.add(XY, disc + (holes if in_profile else []), 0.0, t, "new")
    if hub:
        part.add(XY, [circle((0, 0), rh)] + ([circle((0, 0), rb)] if bore_in_profile else []), t, t + lh, "join")
    if not in_profile:
        for hole in holes:
            part.cut_through(XY, [hole], 0.0, t, delta)
    if not bore_in_profile:
        part.cut_through(XY, [circle((0, 0), rb)], 0.0, t + lh, delta)
    return part.finish({"outer_diameter": big, "thickness": t, "bore_diameter": 2 * rb, "hub_diameter": 2 * rh,
                        "hub_length": lh, "bolt_circle_diameter": 2 * rbc, "hole_diameter": 2 * ro, "n_holes": n})


def shaft(rng: np.random.Generator) -> CADSequence:
    """A stepped shaft: 2-5 coaxial cylinders joined end to end, with an optional keyway.

    Ranges (mm): each step Ø 30-100% of a size drawn in 10-80, neighbours differing by at least
    10% of the larger; each step 30-150% of the largest step's Ø long. Steps are extruded one-sided from
    the previous end face or symmetric about their middle. The keyway (40% of shafts, on a step
    at least as long as its Ø) is a stadium 20-30% of the step's Ø wide and 10-15% deep, kept
    clear of the step's ends by the margin, cut from a plane tangent to the step. Labels:
    ``length``, ``max_diameter``, ``min_diameter``, ``n_steps``, ``step_diameters``,
    ``step_lengths`` (lists, from z = 0), ``keyway_width``, ``keyway_depth``, ``keyway_length``.
    """
    dmax = rng.uniform(10, 80)
    n = int(rng.integers(2, 6))
    diams: list[float] = []
    while len(diams) < n:
        dd = float(dmax * rng.uniform(0.3, 1.0))
        if not diams or abs(dd - diams[-1]) >= 0.1 * max(dd, diams[-1]):
            diams.append(dd)
    lengths = [float(rng.uniform(0.3, 1.5) * max(diams)) for _ in range(n)]
    ends = np.concatenate([[0.0], np.cumsum(lengths)])
    total = float(ends[-1])
    part = Part(rng, "shaft")
    for i, (dd, z0, z1) in enumerate(zip(diams, ends[:-1], ends[1:])):
        at = z0 if i and rng.random() < 0.5 else None
        part.add(XY, [circle((0, 0), dd / 2)], z0, z1, "join" if i else "new", at=at, kinds=("one_side", "symmetric"))
    key = {"keyway_width": 0.0, "keyway_depth": 0.0, "keyway_length": 0.0}
    m, delta = margin_for(total), overshoot_for(total)
    long_steps = [i for i in range(n) if lengths[i] >= diams[i]]
    if long_steps and rng.random() < 0.4:
        i = long_steps[int(rng.integers(len(long_steps)))]
        r, width, depth = diams[i] / 2, rng.uniform(0.2, 0.3) * diams[i], rng.uniform(0.1, 0.15) * diams[i]
        room = lengths[i] - 2 * m - width
        if room > 0.2 * lengths[i]:
            span = rng.uniform(0.5, 1.0) * room
            z0 = ends[i] + m + width / 2 + rng.uniform(0, room - span)
            part.add(ZX, [slot((z0, 0.0), (z0 + span, 0.0), width / 2)], r - depth, r + delta, "cut",
                     at=r if rng.random() < 0.5 else None)
            key = {"keyway_width": width, "keyway_depth": depth, "keyway_length": span + width}
    return part.finish({"length": total, "max_diameter": max(diams), "min_diameter": min(diams), "n_steps": n,
                        "step_diameters": diams, "step_lengths": lengths, **key})


def washer(rng: np.random.Generator) -> CADSequence:
    """A flat washer (an annulus extruded), with an optional counterbore standing in for a
    countersink.

    Ranges (mm): outer Ø 8-120; inner Ø 35-70% of it; thickness 6-20% of the outer Ø (at least
    0.8). The counterbore (40% of washers) is a second cut from the top face, its Ø 30-70% of the
    way from the inner to the outer Ø and 30-60% of the thickness deep. The washer is one
    annular profile or a disc with its hole cut through. Labels: ``outer_diameter``,
    ``inner_diameter``, ``thickness``, ``counterbore_diameter``, ``counterbore_depth``.
    """
    big = rng.uniform(8, 120)
    R, r = big / 2, rng.uniform(0.35, 0.7) * big / 2
    t = max(0.8, rng.uniform(0.06, 0.2) * big)
    delta = overshoot_for(big)
    part = Part(rng, "washer")
    if rng.random() < 0.7:
        part.add(XY, [circle((0, 0), R), circle((0, 0), r)], 0.0, t, "new")
    else:
        part.add(XY, [circle((0, 0), R)], 0.0, t, "new")
        part.cut_through(XY, [circle((0, 0), r)], 0.0, t, delta)
    rc = tc = 0.0
    if rng.random() < 0.4:
        rc, tc = r + rng.uniform(0.3, 0.7) * (R - r), rng.uniform(0.3, 0.6) * t
        part.pocket(XY, [circle((0, 0), rc)], t, tc, delta)
    return part.finish({"outer_diameter": big, "inner_diameter": 2 * r, "thickness": t,
                        "counterbore_diameter": 2 * rc, "counterbore_depth": tc})
