"""Sizing a generated part to the box sides that were asked for.

The DeepCAD vector is scale-free (the part is normalised to its largest side), so a generated
part is a shape ``S`` from the decoder and a size from the prior. When box sides ``d_k`` are
requested (``width``, ``depth``, ``height``: the extents along x, y, z), the prior's guidance
shapes the part (its family, its aspect ratios) and the size can then be set to meet the
request exactly where one side is asked, and in the least-squares sense of log ratios where
several are:

    log f = mean_k (log d_k - log s_k),        s_k the shape's side along axis k

with ``s_k`` first estimated on the box of the prisms that add material (``new`` and ``join``
extrudes; every prism when none does), which is the solid's own box unless a cut or an
intersection trims the part's outline, then, once the part is built, on the solid's box
(:meth:`domains.cad.domain.CADDomain.build` corrects the parts the estimate missed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from domains.cad.sequence import CADSequence

__all__ = ["AXES", "material_box", "fitted_scale", "scale_for_sides"]

#: the requested sides and the axis each is measured along
AXES = {"width": 0, "depth": 1, "height": 2}


def material_box(seq: CADSequence) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)`` of the box around the prisms that add material (module docstring)."""
    adding = [e for e in seq.extrudes if e.operation in ("new", "join")] or list(seq.extrudes)
    corners = np.concatenate([e.corners() for e in adding])
    return corners.min(axis=0), corners.max(axis=0)


def scale_for_sides(measured: np.ndarray, sides: Mapping[str, float]) -> float | None:
    """The factor ``f`` that brings box sides ``measured`` ``(3,)`` (x, y, z) to the requested
    ``sides`` (mm by name; module docstring), or None when no requested side can be measured
    (the shape has no extent along it, or nothing was requested)."""
    logs = []
    for name, wanted in sides.items():
        if name not in AXES:
            raise KeyError(f"unknown box side {name!r}; one of {', '.join(AXES)}")
        side = float(measured[AXES[name]])
        if side > 1e-9 and wanted > 0 and math.isfinite(wanted):
            logs.append(math.log(wanted / side))
    return math.exp(float(np.mean(logs))) if logs else None


def fitted_scale(seq: CADSequence, sides: Mapping[str, float]) -> float | None:
    """:func:`scale_for_sides` of ``seq``'s material box, before any build."""
    lo, hi = material_box(seq)
    return scale_for_sides(hi - lo, sides)
