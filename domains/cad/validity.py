"""Is a built part a real solid? Two criteria, reported side by side.

**Strict validity** (every test must pass; each failure adds one named reason):

1. ``BRepCheck_Analyzer(shape).IsValid()``; the failing checks are named with the sub-shapes
   they hit (e.g. ``"BRepCheck: IntersectingWires on 2 faces"``);
2. at least one ``TopAbs_SOLID``;
3. closed and manifold: every non-degenerate edge bounds exactly two faces
   (``TopExp.MapShapesAndAncestors(shape, EDGE, FACE)``; a seam edge counts its face twice),
   the test of build123d's ``is_manifold``;
4. a non-void bounding box and a volume ``V > ε L³`` (``L`` the box's largest side, ``ε = 1e-6``);
5. the part written to STEP and read back is valid and has the same volume within 1e-6
   (relative).

**DeepCAD validity** (Wu et al. 2021, ``evaluation/evaluate_ae_cd.py``; its share of failures
is the "invalid ratio"): the build did not raise, the bounding box is not empty, and the
surface can be meshed and sampled (2000 points; as with DeepCAD's STL export, faces the mesher
skips are left out). It is much looser: a part that self-intersects
or has no solid can pass it.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from OCP.BRep import BRep_Tool
from OCP.BRepCheck import BRepCheck_Analyzer, BRepCheck_Status
from OCP.TopAbs import TopAbs_EDGE, TopAbs_FACE, TopAbs_SHELL, TopAbs_SOLID, TopAbs_VERTEX, TopAbs_WIRE
from OCP.TopExp import TopExp
from OCP.TopoDS import TopoDS, TopoDS_Shape
from OCP.TopTools import TopTools_IndexedDataMapOfShapeListOfShape, TopTools_IndexedMapOfShape

from domains.cad.export import mesh_points, read_step, write_step
from domains.cad.kernel import n_solids, shape_bbox, shape_volume
from domains.cad.sequence import CADError

__all__ = ["Validity", "check_strict", "deepcad_valid", "brep_problems", "edge_face_counts"]

#: volume below this fraction of the box's largest side cubed counts as zero
VOLUME_EPS = 1e-6
#: relative volume change allowed through a STEP write and read
STEP_VOLUME_RTOL = 1e-6

_KINDS = ((TopAbs_VERTEX, "vertices"), (TopAbs_EDGE, "edges"), (TopAbs_WIRE, "wires"), (TopAbs_FACE, "faces"),
          (TopAbs_SHELL, "shells"), (TopAbs_SOLID, "solids"))


@dataclass
class Validity:
    """The strict verdict on one shape and the measurements behind it."""

    valid: bool
    reasons: list[str] = field(default_factory=list)
    volume: float = 0.0
    bbox: tuple[np.ndarray, np.ndarray] | None = None
    n_solids: int = 0


def brep_problems(shape: TopoDS_Shape, analyzer: BRepCheck_Analyzer | None = None) -> list[str]:
    """The failing ``BRepCheck`` statuses, one line per status and kind of sub-shape."""
    analyzer = analyzer or BRepCheck_Analyzer(shape)
    counts: Counter[tuple[str, str]] = Counter()
    for kind, many in _KINDS:
        subs = TopTools_IndexedMapOfShape()
        TopExp.MapShapes_s(shape, kind, subs)  # each sub-shape once, whatever its orientation
        for i in range(1, subs.Extent() + 1):
            result = analyzer.Result(subs.FindKey(i))
            if result is None:
                continue
            for name in {s.name for s in result.Status() if s != BRepCheck_Status.BRepCheck_NoError}:
                counts[(name.removeprefix("BRepCheck_"), many)] += 1
    return [f"BRepCheck: {name} on {n} {kinds}" for (name, kinds), n in counts.items()]


def edge_face_counts(shape: TopoDS_Shape) -> list[int]:
    """For every non-degenerate edge, how many faces it bounds (a closed solid: all 2)."""
    ancestors = TopTools_IndexedDataMapOfShapeListOfShape()
    TopExp.MapShapesAndAncestors_s(shape, TopAbs_EDGE, TopAbs_FACE, ancestors)
    counts = []
    for i in range(1, ancestors.Extent() + 1):
        if not BRep_Tool.Degenerated_s(TopoDS.Edge_s(ancestors.FindKey(i))):
            counts.append(ancestors.FindFromIndex(i).Size())
    return counts


def _edges(n: int) -> str:
    return f"{n} edge bounds" if n == 1 else f"{n} edges bound"


def _step_roundtrip(shape: TopoDS_Shape, volume: float, path: Path, write: bool) -> list[str]:
    try:
        if write:
            write_step(shape, path)
        back = read_step(path)
    except CADError as e:
        return [f"STEP: {e}"]
    reasons = []
    if not BRepCheck_Analyzer(back).IsValid():
        reasons.append("STEP: the part read back from STEP is not valid")
    back_volume = shape_volume(back)
    change = abs(back_volume - volume) / max(abs(volume), 1e-300)
    if change > STEP_VOLUME_RTOL:
        reasons.append(f"STEP: the volume changed by {change:.2e} (relative) through a write and read")
    return reasons


def check_strict(shape: TopoDS_Shape, step_roundtrip_dir: str | os.PathLike | None = None, *,
                 step_path: str | os.PathLike | None = None, roundtrip: bool = True) -> Validity:
    """The strict verdict (module docstring). The STEP round trip reads ``step_path`` if it is
    given (a file already written from ``shape``), else writes a temporary file in
    ``step_roundtrip_dir`` (default: the system's temporary folder); ``roundtrip=False`` skips it."""
    if shape is None or shape.IsNull():
        return Validity(False, ["the shape is null"])
    reasons: list[str] = []
    analyzer = BRepCheck_Analyzer(shape)
    if not analyzer.IsValid():
        reasons += brep_problems(shape, analyzer) or ["BRepCheck: the shape is not valid"]
    solids = n_solids(shape)
    if solids == 0:
        reasons.append("no solid: the part is empty or only surfaces")
    counts = np.array(edge_face_counts(shape), dtype=np.int64)
    if (counts < 2).any():
        reasons.append(f"not closed: {_edges(int((counts < 2).sum()))} a single face")
    if (counts > 2).any():
        reasons.append(f"not manifold: {_edges(int((counts > 2).sum()))} more than two faces")
    box = shape_bbox(shape)
    volume = shape_volume(shape)
    if box is None:
        reasons.append("empty bounding box")
    else:
        size = float(np.max(box[1] - box[0]))
        if volume < -VOLUME_EPS * size ** 3:
            reasons.append(f"negative volume {volume:.3g}: the solid is inside out")
        elif not volume > VOLUME_EPS * size ** 3:
            reasons.append(f"zero volume ({volume:.3g} for a box of side {size:.3g})")
        if roundtrip:
            if step_path is not None:
                reasons += _step_roundtrip(shape, volume, Path(step_path), write=False)
            else:
                with tempfile.TemporaryDirectory(dir=step_roundtrip_dir, prefix="gensci-step-") as tmp:
                    reasons += _step_roundtrip(shape, volume, Path(tmp) / "part.step", write=True)
    return Validity(not reasons, reasons, volume, box, solids)


def deepcad_valid(shape: TopoDS_Shape | None, n_points: int = 2000, seed: int = 0) -> tuple[bool, str | None]:
    """DeepCAD's looser criterion (module docstring): ``(valid, reason or None)``. Pass ``None``
    for a build that raised."""
    if shape is None or shape.IsNull():
        return False, "the build failed"
    if shape_bbox(shape) is None:
        return False, "empty bounding box"
    try:
        points = mesh_points(shape, n_points, seed, skip_unmeshed=True)
    except CADError as e:
        return False, f"point sampling failed: {e}"
    if points.shape != (n_points, 3) or not np.isfinite(points).all():
        return False, "point sampling failed: non-finite points"
    return True, None
