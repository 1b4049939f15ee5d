"""Sketch-and-extrude histories built into B-rep solids with the OpenCASCADE kernel (OCP).

The construction of DeepCAD (Wu, Xiao & Zheng 2021, ICCV; ``cadlib/visualize.py``), written
anew for OCP (``cadquery-ocp-novtk < 8``). For each :class:`~domains.cad.sequence.Extrude`:

1. every curve goes to 3D by its plane, ``X = origin + u x_axis + v y_axis``: a line is the
   edge between its end points, an arc the circle through ``start``, :attr:`Arc.mid` and
   ``end`` (``GC_MakeArcOfCircle``), a circle ``gp_Circ(gp_Ax2(centre, normal), r)``;
2. each loop becomes a wire; every loop is first turned counter-clockwise in the sketch
   frame, so the outer wire bounds the face and the holes, added reversed, cut it;
3. the face lies on ``gp_Pln(gp_Ax3(origin, normal, x_axis))``, moved along the normal to the
   low end of the extrude's span ``[below, above]`` (:meth:`Extrude.span`) and pushed by
   ``(above - below) normal`` (``BRepPrimAPI_MakePrism``). One prism covers all three extent
   types: one side ``[min(e1, 0), max(e1, 0)]``, symmetric ``[-|e1|, |e1|]``, two sides
   ``[min(e1, -e2, 0), max(e1, -e2, 0)]``, the union of the two one-sided prisms;
4. the prism meets the part so far: new and join fuse (``BRepAlgoAPI_Fuse``), cut
   subtracts (``BRepAlgoAPI_Cut``), intersect keeps the common part (``BRepAlgoAPI_Common``).

Every builder's ``IsDone`` is checked; a failure raises :class:`CADError` naming the extrude,
loop and curve (counted from 1) and the step, e.g. ``"extrude 3, loop 2: the wire could not
be built (DisconnectedWire)"``; an exception of the kernel itself (``Standard_Failure``) is
turned into one naming the extrude. A cut that removes everything is not an error here: the
result is an empty shape, which :mod:`domains.cad.validity` reports.
"""

from __future__ import annotations

import numpy as np
from OCP.BRepAlgoAPI import BRepAlgoAPI_Common, BRepAlgoAPI_Cut, BRepAlgoAPI_Fuse
from OCP.BRepBndLib import BRepBndLib
from OCP.BRepBuilderAPI import BRepBuilderAPI_MakeEdge, BRepBuilderAPI_MakeFace, BRepBuilderAPI_MakeWire
from OCP.BRepGProp import BRepGProp
from OCP.BRepPrimAPI import BRepPrimAPI_MakePrism
from OCP.Bnd import Bnd_Box
from OCP.GC import GC_MakeArcOfCircle
from OCP.GProp import GProp_GProps
from OCP.Precision import Precision
from OCP.TopAbs import TopAbs_SOLID
from OCP.TopExp import TopExp_Explorer
from OCP.TopoDS import TopoDS, TopoDS_Face, TopoDS_Shape, TopoDS_Wire
from OCP.gp import gp_Ax2, gp_Ax3, gp_Circ, gp_Dir, gp_Pln, gp_Pnt, gp_Vec

from domains.cad.sequence import Arc, CADError, CADSequence, Circle, Extrude, Line, Loop, SketchPlane

__all__ = ["build_shape", "build_extrude", "shape_volume", "shape_bbox", "n_solids"]

_BOOLEANS = {"new": BRepAlgoAPI_Fuse, "join": BRepAlgoAPI_Fuse, "cut": BRepAlgoAPI_Cut,
             "intersect": BRepAlgoAPI_Common}
_VERBS = {"new": "the fuse of a new body", "join": "the join", "cut": "the cut", "intersect": "the intersect"}


def _pnt(p: np.ndarray) -> gp_Pnt:
    return gp_Pnt(float(p[0]), float(p[1]), float(p[2]))


def _dir(v: np.ndarray) -> gp_Dir:
    return gp_Dir(float(v[0]), float(v[1]), float(v[2]))


def _status(builder: object) -> str:
    """The builder's error enum name (``BRepBuilderAPI_DisconnectedWire`` -> ``DisconnectedWire``)."""
    try:
        return str(builder.Error().name).removeprefix("BRepBuilderAPI_")  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - a builder without Error(): the caller's message stands alone
        return "no detail"


def _wire(loop: Loop, plane: SketchPlane, where: str) -> TopoDS_Wire:
    """The loop, counter-clockwise in the sketch frame, as a wire in 3D."""
    if not isinstance(loop.curves[0], Circle) and loop.signed_area < 0:
        loop = loop.reversed()
    curves = loop.curves
    # curve i runs from vertex i to vertex i+1: shared points keep the wire closed exactly
    starts = plane.to_world(np.array([c.start for c in curves]))
    make_wire = BRepBuilderAPI_MakeWire()
    for i, curve in enumerate(curves):
        a, b = starts[i], starts[(i + 1) % len(curves)]
        what = f"{where}, curve {i + 1}"
        if isinstance(curve, Circle):
            axis = gp_Ax2(_pnt(plane.to_world(curve.center)), _dir(plane.normal), _dir(plane.x_axis))
            edge = BRepBuilderAPI_MakeEdge(gp_Circ(axis, curve.radius))
        elif isinstance(curve, Arc):
            arc = GC_MakeArcOfCircle(_pnt(a), _pnt(plane.to_world(curve.mid)), _pnt(b))
            if not arc.IsDone():
                raise CADError(f"{what}: the arc could not be built (its points are collinear or coincide)")
            edge = BRepBuilderAPI_MakeEdge(arc.Value())
        elif isinstance(curve, Line):
            if np.linalg.norm(b - a) <= Precision.Confusion_s():
                raise CADError(f"{what}: the line has zero length")
            edge = BRepBuilderAPI_MakeEdge(_pnt(a), _pnt(b))
        else:
            raise CADError(f"{what}: not a curve ({type(curve).__name__})")
        if not edge.IsDone():
            raise CADError(f"{what}: the edge could not be built ({_status(edge)})")
        make_wire.Add(edge.Edge())
        if not make_wire.IsDone():
            raise CADError(f"{what}: the edge does not join the wire ({_status(make_wire)})")
    wire = make_wire.Wire()
    if not wire.Closed():
        raise CADError(f"{where}: the wire is not closed")
    return wire


def _face(ext: Extrude, plane: SketchPlane, where: str) -> TopoDS_Face:
    """The extrude's profile as a planar face on ``plane``."""
    wires = [_wire(loop, plane, f"{where}, loop {k + 1}") for k, loop in enumerate(ext.profile.loops)]
    pln = gp_Pln(gp_Ax3(_pnt(plane.origin), _dir(plane.normal), _dir(plane.x_axis)))
    make_face = BRepBuilderAPI_MakeFace(pln, wires[0], True)
    if not make_face.IsDone():
        raise CADError(f"{where}: the face of loop 1 (the outer loop) could not be built ({_status(make_face)})")
    for k, wire in enumerate(wires[1:], start=2):
        make_face.Add(TopoDS.Wire_s(wire.Reversed()))
        if not make_face.IsDone():
            raise CADError(f"{where}: hole loop {k} could not be added to the face ({_status(make_face)})")
    return make_face.Face()


def build_extrude(ext: Extrude, where: str = "extrude") -> TopoDS_Shape:
    """One extrude's prism (before its boolean)."""
    below, above = ext.span()
    length = above - below
    if not length > Precision.Confusion_s():
        raise CADError(f"{where}: zero-length extrude (extent_one = {ext.extent_one:g}, "
                       f"extent_two = {ext.extent_two:g}, {ext.extent_type})")
    plane = ext.plane.moved(ext.plane.origin + below * ext.plane.normal)
    face = _face(ext, plane, where)
    prism = BRepPrimAPI_MakePrism(face, gp_Vec(*(float(x) for x in ext.plane.normal * length)))
    if not prism.IsDone():
        raise CADError(f"{where}: the prism could not be built")
    return prism.Shape()


def _boolean(op: str, part: TopoDS_Shape, tool: TopoDS_Shape, where: str) -> TopoDS_Shape:
    algo = _BOOLEANS[op](part, tool)
    if not algo.IsDone():
        raise CADError(f"{where}: {_VERBS[op]} failed")
    return algo.Shape()


def build_shape(seq: CADSequence) -> TopoDS_Shape:
    """The solid the history describes (module docstring); raises :class:`CADError` with the cause."""
    if not isinstance(seq, CADSequence):
        raise CADError(f"build_shape needs a CADSequence, got {type(seq).__name__}")
    part: TopoDS_Shape | None = None
    for i, ext in enumerate(seq.extrudes):
        where = f"extrude {i + 1}"
        try:
            prism = build_extrude(ext, where)
            part = prism if part is None else _boolean(ext.operation, part, prism, where)
        except CADError:
            raise
        except Exception as e:  # noqa: BLE001 - an OCC exception (Standard_Failure): say where it struck
            raise CADError(f"{where}: the kernel failed ({type(e).__name__}: {' '.join(str(e).split())})") from e
    assert part is not None  # a CADSequence has at least one extrude
    return part


def shape_volume(shape: TopoDS_Shape) -> float:
    """The enclosed volume (``BRepGProp.VolumeProperties`` with a relative accuracy of 1e-9:
    the default integration is good to only about 1e-5 on faces bounded by B-spline edges); 0 for
    an empty shape."""
    props = GProp_GProps()
    BRepGProp.VolumeProperties_s(shape, props, 1e-9)
    return float(props.Mass())


def shape_bbox(shape: TopoDS_Shape) -> tuple[np.ndarray, np.ndarray] | None:
    """The tight axis-aligned box ``(lo, hi)`` of the shape's geometry, ``None`` if it is void."""
    box = Bnd_Box()
    BRepBndLib.AddOptimal_s(shape, box, False, False)
    if box.IsVoid():
        return None
    x0, y0, z0, x1, y1, z1 = box.Get()
    return np.array([x0, y0, z0]), np.array([x1, y1, z1])


def n_solids(shape: TopoDS_Shape) -> int:
    """How many solids the shape holds."""
    explorer, n = TopExp_Explorer(shape, TopAbs_SOLID), 0
    while explorer.More():
        n += 1
        explorer.Next()
    return n
