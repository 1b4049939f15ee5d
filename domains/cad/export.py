"""Files out of (and back into) the kernel: STEP, binary STL, and surface point samples.

* STEP (ISO 10303-21) through ``STEPControl_Writer`` with the application protocol chosen by
  ``write.step.schema`` (AP203, AP214 = ``AP214IS``, AP242 = ``AP242DIS``); read back with
  ``STEPControl_Reader``. Writes are atomic (a temporary file renamed into place).
* STL (binary) from the ``BRepMesh_IncrementalMesh`` triangulation with ``StlAPI_Writer``.
* Surface points for chamfer distances (DeepCAD, Wu et al. 2021, samples 2000 points from the
  STL surface): triangles are drawn with probability ``A_k / sum A``, points inside a triangle
  ``(a, b, c)`` by ``(1 - sqrt(r1)) a + sqrt(r1) (1 - r2) b + sqrt(r1) r2 c`` with
  ``r1, r2 ~ U(0, 1)``, which is uniform in area.

The kernel's console messages (STEP statistics, warnings) are silenced on import, as cadquery
does: every default printer only passes ``Message_Fail``.
"""

from __future__ import annotations

import os

import numpy as np
from OCP.BRep import BRep_Tool
from OCP.BRepMesh import BRepMesh_IncrementalMesh
from OCP.IFSelect import IFSelect_RetDone
from OCP.Interface import Interface_Static
from OCP.Message import Message, Message_Gravity
from OCP.STEPControl import STEPControl_AsIs, STEPControl_Reader, STEPControl_Writer
from OCP.StlAPI import StlAPI_Writer
from OCP.TopAbs import TopAbs_FACE, TopAbs_REVERSED
from OCP.TopExp import TopExp_Explorer
from OCP.TopLoc import TopLoc_Location
from OCP.TopoDS import TopoDS, TopoDS_Shape

from domains.cad.kernel import shape_bbox
from domains.cad.sequence import CADError
from gensci.io import atomic_path

__all__ = ["STEP_SCHEMAS", "silence_kernel", "write_step", "read_step", "mesh", "triangulate", "write_stl",
           "mesh_points"]

#: our schema names -> the values of OCC's ``write.step.schema``
STEP_SCHEMAS = {"AP203": "AP203", "AP214": "AP214IS", "AP242": "AP242DIS"}


def silence_kernel() -> None:
    """Let OCC's default message printers pass failures only (no STEP statistics on stdout)."""
    for printer in Message.DefaultMessenger_s().Printers():
        printer.SetTraceLevel(Message_Gravity.Message_Fail)


silence_kernel()


def write_step(shape: TopoDS_Shape, path: str | os.PathLike, schema: str = "AP214") -> None:
    """Write ``shape`` to the STEP file ``path`` (atomically) in ``schema`` (:data:`STEP_SCHEMAS`)."""
    if schema not in STEP_SCHEMAS:
        raise CADError(f"unknown STEP schema {schema!r}; one of {', '.join(STEP_SCHEMAS)}")
    if shape.IsNull():
        raise CADError("cannot write an empty (null) shape to STEP")
    writer = STEPControl_Writer()
    if not Interface_Static.SetCVal_s("write.step.schema", STEP_SCHEMAS[schema]):
        raise CADError(f"the kernel refused the STEP schema {schema}")
    if writer.Transfer(shape, STEPControl_AsIs) != IFSelect_RetDone:
        raise CADError(f"the shape could not be translated to STEP ({schema})")
    with atomic_path(path) as tmp:
        if writer.Write(str(tmp)) != IFSelect_RetDone:
            raise CADError(f"the STEP file {os.fspath(path)} could not be written")


def read_step(path: str | os.PathLike) -> TopoDS_Shape:
    """The shape in the STEP file ``path`` (all roots, as one shape)."""
    if not os.path.isfile(path):
        raise CADError(f"no STEP file at {os.fspath(path)}")
    reader = STEPControl_Reader()
    if reader.ReadFile(os.fspath(path)) != IFSelect_RetDone:
        raise CADError(f"{os.fspath(path)} is not a readable STEP file")
    if reader.TransferRoots() < 1 or reader.NbShapes() < 1:
        raise CADError(f"{os.fspath(path)} holds no shape")
    shape = reader.OneShape()
    if shape.IsNull():
        raise CADError(f"{os.fspath(path)} holds no shape")
    return shape


def mesh(shape: TopoDS_Shape, tolerance: float | None = None, angular: float = 0.2) -> float:
    """Triangulate ``shape`` in place: chords stay within ``tolerance`` of the surface (default
    1e-3 of the bounding box's diagonal) and turn by at most ``angular`` radians. Returns the
    tolerance used."""
    box = shape_bbox(shape)
    if box is None:
        raise CADError("cannot mesh a shape with an empty bounding box")
    if tolerance is None:
        tolerance = 1e-3 * float(np.linalg.norm(box[1] - box[0]))
    if not tolerance > 0:
        raise CADError(f"the mesh tolerance must be positive, got {tolerance!r}")
    mesher = BRepMesh_IncrementalMesh(shape, tolerance, False, angular, False)
    if not mesher.IsDone():
        raise CADError("the shape could not be meshed")
    return tolerance


def triangulate(shape: TopoDS_Shape, tolerance: float | None = None,
                skip_unmeshed: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(vertices (V, 3), triangles (T, 3))`` of the surface, outward-facing (faces unshared).
    A face the mesher could not triangulate raises, or is left out with ``skip_unmeshed``
    (as an STL export does)."""
    mesh(shape, tolerance)
    verts, tris, offset = [], [], 0
    explorer = TopExp_Explorer(shape, TopAbs_FACE)
    while explorer.More():
        face = TopoDS.Face_s(explorer.Current())
        explorer.Next()
        loc = TopLoc_Location()
        poly = BRep_Tool.Triangulation_s(face, loc)
        if poly is None or poly.NbTriangles() == 0:
            if skip_unmeshed:
                continue
            raise CADError("a face of the shape could not be triangulated")
        trsf = loc.Transformation()
        nodes = [poly.Node(i).Transformed(trsf) for i in range(1, poly.NbNodes() + 1)]
        verts.append(np.array([[p.X(), p.Y(), p.Z()] for p in nodes]))
        t = np.array([poly.Triangle(i).Get() for i in range(1, poly.NbTriangles() + 1)], dtype=np.int64) - 1
        if face.Orientation() == TopAbs_REVERSED:
            t = t[:, ::-1]
        tris.append(t + offset)
        offset += len(nodes)
    if not tris:
        raise CADError("the shape has no triangulated faces")
    return np.concatenate(verts), np.concatenate(tris)


def write_stl(shape: TopoDS_Shape, path: str | os.PathLike, tolerance: float | None = None) -> None:
    """Write the triangulated surface to the binary STL file ``path`` (atomically)."""
    mesh(shape, tolerance)
    writer = StlAPI_Writer()
    writer.ASCIIMode = False
    with atomic_path(path) as tmp:
        if not writer.Write(shape, str(tmp)):
            raise CADError(f"the STL file {os.fspath(path)} could not be written")


def mesh_points(shape: TopoDS_Shape, n: int = 2000, seed: int = 0, tolerance: float | None = None,
                skip_unmeshed: bool = False) -> np.ndarray:
    """``n`` points drawn uniformly (by area) on the surface, ``(n, 3)``; same seed, same points.
    ``skip_unmeshed`` as in :func:`triangulate`."""
    if n < 1:
        raise CADError(f"the number of points must be positive, got {n}")
    verts, tris = triangulate(shape, tolerance, skip_unmeshed)
    a, b, c = verts[tris[:, 0]], verts[tris[:, 1]], verts[tris[:, 2]]
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    total = float(area.sum())
    if not (total > 0 and np.isfinite(total)):
        raise CADError("the shape's surface has no area to sample")
    rng = np.random.default_rng(seed)
    k = rng.choice(len(area), size=n, p=area / total)
    r1, r2 = np.sqrt(rng.random((n, 1))), rng.random((n, 1))
    return (1 - r1) * a[k] + r1 * (1 - r2) * b[k] + r1 * r2 * c[k]
