"""Constant-section bars: C channels (plain or lipped), T sections and I beams, sketched on the
YZ plane and extruded along x over their length.

Root fillets join web and flanges (concave corners); a channel may also round the outside of
its web. An I beam's section has 12 corners, so with four root fillets it would take 16 curves,
over DeepCAD's 15 per loop: I beams stay sharp, drawn as one profile or built up from a web
and two flanges joined (touching or overlapping). Volume, checked against the kernel:
``V = A_section L`` with ``A_section`` exact (:func:`~._sketch.area`, labelled ``section_area``).
"""

from __future__ import annotations

import numpy as np

from domains.cad.families._part import EY, EZ, Part, canvas
from domains.cad.families._sketch import area, polygon, rect
from domains.cad.sequence import CADSequence

__all__ = ["channel", "t_section", "i_section"]

#: the section's canvas: (A, B) = (y, z), depth along +x
YZ = canvas(EY, EZ)


def _fillet(rng: np.random.Generator, tw: float, room: float, p: float = 0.6) -> float:
    return min(rng.uniform(0.5, 1.5) * tw, 0.45 * room) if rng.random() < p else 0.0


def channel(rng: np.random.Generator) -> CADSequence:
    """A C channel: a web along z and two flanges along +y, optionally with lips turned in.

    Ranges (mm): height 20-200; flange width 30-60% of the height (at least 10); web thickness
    3-8% of the height (at least 1.5); flange thickness 1-1.5 x the web's; length 1.5-8 x the
    height; root fillets (60%) 0.5-1.5 x the web thickness; rounded web outside (30%, plain
    channels only: lipped ones would exceed 15 curves); lips (30%) 15-30% of the height long.
    Labels: ``section_height``, ``flange_width``, ``web_thickness``, ``flange_thickness``, ``length``,
    ``root_radius``, ``lip_length``, ``section_area``.
    """
    h = rng.uniform(20, 200)
    b = max(10.0, rng.uniform(0.3, 0.6) * h)
    tw = max(1.5, rng.uniform(0.03, 0.08) * h)
    tf = rng.uniform(1.0, 1.5) * tw
    length = rng.uniform(1.5, 8.0) * h
    lip = rng.uniform(0.15, 0.3) * h if rng.random() < 0.3 and b - tw - tf >= 0.3 * b else 0.0
    ri = _fillet(rng, tw, min(b - tw - (tf if lip else 0.0), 0.5 * h - tf))
    if lip:
        pts = [(0, 0), (b, 0), (b, lip), (b - tf, lip), (b - tf, tf), (tw, tf), (tw, h - tf), (b - tf, h - tf),
               (b - tf, h - lip), (b, h - lip), (b, h), (0, h)]
        radii = [0, 0, 0, 0, 0, ri, ri, 0, 0, 0, 0, 0]
    else:
        ro = _fillet(rng, tw, min(b, 0.5 * h), p=0.3)
        pts = [(0, 0), (b, 0), (b, tf), (tw, tf), (tw, h - tf), (b, h - tf), (b, h), (0, h)]
        radii = [ro, 0, 0, ri, ri, 0, 0, ro]
    section = polygon(pts, radii)
    part = Part(rng, "channel")
    part.add(YZ, [section], 0.0, length, "new")
    return part.finish({"section_height": h, "flange_width": b, "web_thickness": tw, "flange_thickness": tf,
                        "length": length, "root_radius": ri, "lip_length": lip, "section_area": area(section)})


def t_section(rng: np.random.Generator) -> CADSequence:
    """A T bar: a flange across the top of a stem.

    Ranges (mm): flange width 20-200; height 50-150% of it (at least 20); flange thickness
    5-15% of the height (at least 1.5); stem thickness 4-12% of the flange width (at least 1.5);
    length 1.5-8 x the larger of width and height; root fillets (60%) 0.5-1.5 x the stem
    thickness. Labels: ``flange_width``, ``section_height``, ``flange_thickness``, ``web_thickness``,
    ``length``, ``root_radius``, ``section_area``.
    """
    b = rng.uniform(20, 200)
    h = max(20.0, rng.uniform(0.5, 1.5) * b)
    tf = max(1.5, rng.uniform(0.05, 0.15) * h)
    tw = max(1.5, rng.uniform(0.04, 0.12) * b)
    length = rng.uniform(1.5, 8.0) * max(b, h)
    ri = _fillet(rng, tw, min(0.5 * (b - tw), h - tf))
    pts = [(-tw / 2, 0), (tw / 2, 0), (tw / 2, h - tf), (b / 2, h - tf), (b / 2, h), (-b / 2, h), (-b / 2, h - tf),
           (-tw / 2, h - tf)]
    section = polygon(pts, [0, 0, ri, 0, 0, 0, 0, ri])
    part = Part(rng, "t_section")
    part.add(YZ, [section], 0.0, length, "new")
    return part.finish({"flange_width": b, "section_height": h, "flange_thickness": tf, "web_thickness": tw,
                        "length": length, "root_radius": ri, "section_area": area(section)})


def i_section(rng: np.random.Generator) -> CADSequence:
    """An I beam: two flanges joined by a web, as one 12-line profile (70%) or built up from
    three joined boxes.

    Ranges (mm): height 20-200; flange width 40-100% of the height (at least 10); web thickness
    3-8% of the height (at least 1.5); flange thickness 1.2-2 x the web's; length 1.5-8 x the
    height. Labels: ``section_height``, ``flange_width``, ``web_thickness``, ``flange_thickness``,
    ``length``, ``built_up`` (0 or 1), ``section_area``.
    """
    h = rng.uniform(20, 200)
    b = max(10.0, rng.uniform(0.4, 1.0) * h)
    tw = max(1.5, rng.uniform(0.03, 0.08) * h)
    tf = rng.uniform(1.2, 2.0) * tw
    length = rng.uniform(1.5, 8.0) * h
    pts = [(-b / 2, 0), (b / 2, 0), (b / 2, tf), (tw / 2, tf), (tw / 2, h - tf), (b / 2, h - tf), (b / 2, h),
           (-b / 2, h), (-b / 2, h - tf), (-tw / 2, h - tf), (-tw / 2, tf), (-b / 2, tf)]
    section = polygon(pts)
    part = Part(rng, "i_section")
    built_up = rng.random() < 0.3
    if built_up:
        e = 0.0 if rng.random() < 0.5 else rng.uniform(0.3, 0.8) * tf
        part.add(YZ, [rect(-b / 2, 0, b / 2, tf)], 0.0, length, "new")
        part.add(YZ, [rect(-tw / 2, tf - e, tw / 2, h - tf + e)], 0.0, length, "join")
        part.add(YZ, [rect(-b / 2, h - tf, b / 2, h)], 0.0, length, "join")
    else:
        part.add(YZ, [section], 0.0, length, "new")
    return part.finish({"section_height": h, "flange_width": b, "web_thickness": tw, "flange_thickness": tf,
                        "length": length, "built_up": int(built_up), "section_area": area(section)})
