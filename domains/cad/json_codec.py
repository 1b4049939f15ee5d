"""DeepCAD JSON files (the Onshape export in the Fusion 360 Gallery layout) <-> :class:`CADSequence`.

The schema of the DeepCAD data set (Wu, Xiao & Zheng 2021, "DeepCAD", ICCV; exported from Onshape
in the layout of Willis et al. 2021, "Fusion 360 Gallery")::

    {"entities": {id: Sketch | ExtrudeFeature},
     "sequence": [{"index": i, "type": "Sketch" | "ExtrudeFeature", "entity": id}, ...],
     "properties": {"bounding_box": {"min_point": P, "max_point": P}}}

    Sketch:         {"transform": {"origin", "x_axis", "y_axis", "z_axis": {x, y, z}},
                     "profiles": {profile_id: {"loops": [{"is_outer", "profile_curves": [curve]}]}}}
    Line3D:         start_point, end_point
    Circle3D:       center_point, radius, normal
    Arc3D:          start_point, end_point, center_point, radius, normal,
                    start_angle, end_angle, reference_vector
    ExtrudeFeature: {"profiles": [{"sketch": id, "profile": id}], "operation": "<Op>FeatureOperation",
                     "extent_type": "OneSide" | "Symmetric" | "TwoSides" + "FeatureExtentType",
                     "start_extent": {"type": "ProfilePlaneStartDefinition"},
                     "extent_one" / "extent_two": {"type": "DistanceExtentDefinition",
                                                   "distance": {"value"}, "taper_angle": {"value"}}}

Curve points are in the sketch's own frame (``z = 0``); ``X = origin + x x_axis + y y_axis``.
A left-handed transform (``y_axis = -(z_axis x x_axis)``) is read by negating every ``y``.

Arcs. The arc runs from ``c + r R(a₀) ref`` to ``c + r R(a₁) ref`` (``R(a)`` the rotation by
``a``, ``ref`` the reference vector), so its mid point is ``c + r R((a₀ + a₁)/2) ref``; the arc
is rebuilt as :meth:`Arc.through` ``(start_point, mid, end_point)``. The angles turn
counter-clockwise in the sketch frame, as DeepCAD's Onshape export writes them (its ``normal``
is the curve's axis in world coordinates) and DeepCAD's reader assumes; when the end points
disagree with that reading but agree with clockwise angles (a curve axis of ``-z``, Fusion's
convention), that reading is taken; when neither fits, the file is rejected. Loops are chained
with :meth:`Loop.chain` (files list curves in any order and direction); the loop of largest area
is the outer one (DeepCAD's export marks every loop ``is_outer``), the others follow in file order.

Extrudes. One :class:`Extrude` per profile of a feature, with the feature's operation, except that a
new body's second and later profiles join (as DeepCAD splits them). Extents must be plain
distances from the profile plane without taper. Everything else raises :class:`CADError` with one
line naming the file and entity. :func:`to_json` writes the same schema (one sketch and one extrude
feature per extrude; arcs with ``start_angle = 0``, ``end_angle = sweep``, ``normal = +z``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from domains.cad.sequence import Arc, CADError, CADSequence, Circle, Curve, Extrude, Line, Loop, Profile, SketchPlane
from gensci.io import atomic_write

__all__ = ["read_json", "to_json", "write_json", "OPERATION_NAMES", "EXTENT_TYPE_NAMES"]

#: our operation name -> the schema's
OPERATION_NAMES = {"new": "NewBodyFeatureOperation", "join": "JoinFeatureOperation",
                   "cut": "CutFeatureOperation", "intersect": "IntersectFeatureOperation"}
#: our extent type -> the schema's
EXTENT_TYPE_NAMES = {"one_side": "OneSideFeatureExtentType", "symmetric": "SymmetricFeatureExtentType",
                     "two_sides": "TwoSidesFeatureExtentType"}
_OPERATIONS = {v: k for k, v in OPERATION_NAMES.items()}
_EXTENT_TYPES = {v: k for k, v in EXTENT_TYPE_NAMES.items()}


# ----------------------------------------------------------------------------------- reading

def _get(d: Any, key: str, where: str) -> Any:
    if not isinstance(d, Mapping):
        raise CADError(f"{where}: expected an object, got {type(d).__name__}")
    try:
        present = key in d
    except TypeError:  # an unhashable reference
        present = False
    if not present:
        raise CADError(f"{where}: missing key {_show(key)}")
    return d[key]


def _show(v: Any) -> str:
    """``v`` for a message: its repr on one line, at most 60 characters (strings escape their
    line breaks; a value holding an integer too long for ``repr`` is named by its type)."""
    try:
        text = repr(v)
    except ValueError:
        text = f"a {type(v).__name__} with an integer too long to print"
    return text if len(text) <= 60 else text[:57] + "..."


def _name(v: Any) -> str:
    """A schema name as written (a short printable string), anything else as :func:`_show`."""
    return v if isinstance(v, str) and v.isprintable() and len(v) <= 60 else _show(v)


def _num(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise CADError(f"{where}: expected a number, got {_show(v)}")
    try:
        finite = math.isfinite(v)
    except OverflowError:  # an integer beyond the float range
        finite = False
    if not finite:
        raise CADError(f"{where}: expected a finite number, got {_show(v)}")
    return float(v)


def _val(d: Any, key: str, where: str) -> float:
    return _num(_get(d, key, where), f"{where}.{key}")


def _xyz(d: Any, key: str, where: str) -> np.ndarray:
    return np.array([_val(_get(d, key, where), k, f"{where}.{key}") for k in "xyz"])


def _uv(d: Any, key: str, where: str) -> np.ndarray:
    """A sketch point: ``(x, y)``, its ``z`` zero up to rounding."""
    p = _xyz(d, key, where)
    if abs(p[2]) > 1e-6 * max(1.0, abs(p[0]), abs(p[1])):
        raise CADError(f"{where}.{key}: z = {p[2]:.6g} is not 0 (curves must lie in the sketch plane)")
    return p[:2]


def _plane(transform: Any, where: str) -> tuple[SketchPlane, float]:
    """The sketch plane, and the sign that ``y`` takes in our right-handed frame."""
    origin = _xyz(transform, "origin", where)
    axes = {}
    for k in ("x_axis", "y_axis", "z_axis"):
        a = _xyz(transform, k, where)
        n = float(np.linalg.norm(a))
        if n < 1e-9:
            raise CADError(f"{where}: {k} is the zero vector")
        axes[k] = a / n
    x, y, z = axes["x_axis"], axes["y_axis"], axes["z_axis"]
    if abs(x @ z) > 1e-6 or abs(x @ y) > 1e-6:
        raise CADError(f"{where}: the sketch axes are not orthogonal")
    handed = float(y @ np.cross(z, x))
    if abs(abs(handed) - 1.0) > 1e-6:
        raise CADError(f"{where}: y_axis is not perpendicular to z_axis")
    return SketchPlane(origin, x, z), math.copysign(1.0, handed)


def _rot(v: np.ndarray, a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


def _arc(d: Mapping, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(start, mid, end)`` of an Arc3D (module docstring)."""
    start, end, center = (_uv(d, k, where) for k in ("start_point", "end_point", "center_point"))
    radius, a0, a1 = (_val(d, k, where) for k in ("radius", "start_angle", "end_angle"))
    ref = _xyz(d, "reference_vector", where)[:2]
    if not radius > 0 or float(np.linalg.norm(ref)) < 1e-9:
        raise CADError(f"{where}: Arc3D needs a positive radius and a non-zero reference_vector")
    if not 1e-9 < abs(a1 - a0) < 2 * math.pi - 1e-9:
        raise CADError(f"{where}: Arc3D sweeps {abs(a1 - a0):.6g} rad; an arc's sweep lies in (0, 2π)")
    ref = ref / np.linalg.norm(ref)
    tol = 1e-3 * radius + 1e-7
    for sign in (1.0, -1.0):  # counter-clockwise first (DeepCAD), then clockwise (an axis of -z)
        p0, p1 = (center + radius * _rot(ref, sign * a) for a in (a0, a1))
        ends = sorted([float(np.linalg.norm(p0 - start) + np.linalg.norm(p1 - end)),
                       float(np.linalg.norm(p1 - start) + np.linalg.norm(p0 - end))])[0]
        if ends <= tol:
            return start, center + radius * _rot(ref, sign * (a0 + a1) / 2), end
    raise CADError(f"{where}: Arc3D's start and end points do not lie at its start and end angles")


def _curve(d: Any, flip: float, where: str) -> Curve:
    kind = _get(d, "type", where)
    mirror = np.array([1.0, flip])
    if kind == "Line3D":
        a, b = (_uv(d, k, where) * mirror for k in ("start_point", "end_point"))
        if np.linalg.norm(b - a) <= 1e-9 * max(1.0, float(np.abs(a).max())):
            raise CADError(f"{where}: Line3D has zero length")
        return Line(a, b)
    if kind == "Circle3D":
        center, radius = _uv(d, "center_point", where) * mirror, _val(d, "radius", where)
        if not radius > 0:
            raise CADError(f"{where}: Circle3D has radius {radius!r}; it must be positive")
        return Circle(center, radius)
    if kind == "Arc3D":
        start, mid, end = (p * mirror for p in _arc(d, where))
        try:
            return Arc.through(start, mid, end)
        except CADError as e:
            raise CADError(f"{where}: {e}") from e
    raise CADError(f"{where}: {_name(kind)} is not a line, arc or circle")


def _profile(d: Any, flip: float, where: str) -> Profile:
    loops_in = _get(d, "loops", where)
    if not isinstance(loops_in, list) or not loops_in:
        raise CADError(f"{where}: 'loops' must be a non-empty list")
    loops = []
    for j, loop in enumerate(loops_in):
        w = f"{where}, loop {j}"
        curves_in = _get(loop, "profile_curves", w)
        if not isinstance(curves_in, list) or not curves_in:
            raise CADError(f"{w}: 'profile_curves' must be a non-empty list")
        curves = [_curve(c, flip, f"{w}, curve {k}") for k, c in enumerate(curves_in)]
        try:
            loops.append(Loop.chain(curves))
        except CADError as e:
            raise CADError(f"{w}: {e}") from e
    outer = int(np.argmax([abs(loop.signed_area) for loop in loops]))
    return Profile((loops[outer], *loops[:outer], *loops[outer + 1:]))


def _distance(extent: Any, where: str) -> float:
    kind = extent.get("type", "DistanceExtentDefinition") if isinstance(extent, Mapping) else None
    if kind != "DistanceExtentDefinition":
        raise CADError(f"{where} is {_name(kind) if kind else 'not an object'}, not a distance (DistanceExtentDefinition)")
    value = _val(_get(extent, "distance", where), "value", f"{where}.distance")
    angle = _val(extent.get("taper_angle", {"value": 0.0}), "value", f"{where}.taper_angle")
    if angle != 0.0:
        raise CADError(f"{where} has a taper angle of {angle:.6g}; tapered extrudes are not supported")
    return value


def _extrudes(data: Mapping, eid: str, where: str) -> list[Extrude]:
    entities = _get(data, "entities", where)
    if not isinstance(entities, Mapping) or not isinstance(eid, str) or eid not in entities:
        raise CADError(f"{where}: the sequence names entity {_show(eid)}, which is not among the entities")
    ent = entities[eid]
    where = f"{where} extrude {_show(eid)}"
    start = _get(_get(ent, "start_extent", where), "type", f"{where}.start_extent")
    if start != "ProfilePlaneStartDefinition":
        raise CADError(f"{where}: start_extent {_name(start)} is not supported (only ProfilePlaneStartDefinition)")
    op, etype = _get(ent, "operation", where), _get(ent, "extent_type", where)
    if not isinstance(op, str) or op not in _OPERATIONS:
        raise CADError(f"{where}: unknown operation {_show(op)}; one of {', '.join(_OPERATIONS)}")
    if not isinstance(etype, str) or etype not in _EXTENT_TYPES:
        raise CADError(f"{where}: unknown extent_type {_show(etype)}; one of {', '.join(_EXTENT_TYPES)}")
    e1 = _distance(_get(ent, "extent_one", where), f"{where}: extent_one")
    e2 = _distance(_get(ent, "extent_two", where), f"{where}: extent_two") if etype == EXTENT_TYPE_NAMES[
        "two_sides"] else 0.0
    refs = _get(ent, "profiles", where)
    if not isinstance(refs, list) or not refs:
        raise CADError(f"{where}: 'profiles' must be a non-empty list")
    out = []
    for i, ref in enumerate(refs):
        sid, pid = _get(ref, "sketch", f"{where} profile {i}"), _get(ref, "profile", f"{where} profile {i}")
        sw = f"{where}: sketch {_show(sid)}"
        sketch = entities.get(sid) if isinstance(sid, str) else None
        if not isinstance(sketch, Mapping) or sketch.get("type", "Sketch") != "Sketch":
            raise CADError(f"{sw} is not a Sketch among the entities")
        plane, flip = _plane(_get(sketch, "transform", sw), f"{sw} transform")
        profile = _profile(_get(_get(sketch, "profiles", sw), pid, f"{sw} profiles"), flip, f"{sw} profile {_show(pid)}")
        operation = "join" if (i > 0 and op == OPERATION_NAMES["new"]) else _OPERATIONS[op]
        out.append(Extrude(profile, plane, e1, e2, operation, _EXTENT_TYPES[etype]))
    return out


def read_json(source: str | os.PathLike | Mapping) -> CADSequence:
    """The :class:`CADSequence` of a DeepCAD JSON file (or its parsed dict); labels get
    ``"source"`` (the file stem) and any ``properties.labels`` the file carries."""
    if isinstance(source, Mapping):
        data, name, labels = source, "the JSON data", {}
    else:
        path = Path(source)
        name, labels = path.name, {"source": path.stem}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise CADError(f"{name}: cannot read the file ({e.strerror or e})") from e
        except (UnicodeDecodeError, ValueError) as e:
            msg = f"{e.msg} at line {e.lineno}, column {e.colno}" if isinstance(e, json.JSONDecodeError) else str(e)
            raise CADError(f"{name}: not valid JSON ({msg})") from e
    steps = _get(data, "sequence", name)
    if not isinstance(steps, list):
        raise CADError(f"{name}: 'sequence' must be a list")
    order = [_val(step, "index", f"{name} sequence step {k}") for k, step in enumerate(steps)]
    extrudes = []
    for k in sorted(range(len(steps)), key=lambda i: order[i]):
        step = steps[k]
        kind = _get(step, "type", f"{name} sequence step {k}")
        if kind == "ExtrudeFeature":
            extrudes += _extrudes(data, _get(step, "entity", f"{name} sequence step {k}"), name)
        elif kind != "Sketch":
            raise CADError(f"{name}: sequence step {k} is a {_name(kind)}; only Sketch and ExtrudeFeature are supported")
    if not extrudes:
        raise CADError(f"{name}: the sequence has no ExtrudeFeature")
    props = data.get("properties") if isinstance(data.get("properties"), Mapping) else {}
    if isinstance(props.get("labels"), Mapping):
        labels = {**props["labels"], **labels}
    try:
        return CADSequence(extrudes, labels)
    except CADError as e:
        raise CADError(f"{name}: {e}") from e


# ----------------------------------------------------------------------------------- writing

def _xyz_json(p: Any, kind: str = "Point3D") -> dict:
    p = [float(v) for v in p]
    return {"type": kind, "x": p[0], "y": p[1], "z": p[2] if len(p) > 2 else 0.0}


_UP = (0.0, 0.0, 1.0)


def _curve_json(c: Curve) -> dict:
    if isinstance(c, Line):
        return {"type": "Line3D", "start_point": _xyz_json(c.start), "end_point": _xyz_json(c.end)}
    if isinstance(c, Circle):
        return {"type": "Circle3D", "center_point": _xyz_json(c.center), "radius": c.radius,
                "normal": _xyz_json(_UP, "Vector3D")}
    center = c.center
    ref = (c.start if c.ccw else c.end) - center  # the angles run counter-clockwise from ref
    return {"type": "Arc3D", "start_point": _xyz_json(c.start), "end_point": _xyz_json(c.end),
            "center_point": _xyz_json(center), "radius": c.radius, "normal": _xyz_json(_UP, "Vector3D"),
            "start_angle": 0.0, "end_angle": c.sweep,
            "reference_vector": _xyz_json(ref / np.linalg.norm(ref), "Vector3D")}


def _extent_json(value: float, role: str) -> dict:
    return {"type": "DistanceExtentDefinition",
            "distance": {"type": "ModelParameter", "value": float(value), "name": "none", "role": role},
            "taper_angle": {"type": "ModelParameter", "value": 0.0, "name": "none", "role": "TaperAngle"}}


def _labels_json(labels: dict) -> dict:
    def plain(v: Any) -> Any:
        if isinstance(v, (np.generic, np.ndarray)):
            return v.tolist()
        raise TypeError(f"{type(v).__name__} is not JSON-serialisable")
    try:
        return json.loads(json.dumps(labels, default=plain, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise CADError(f"the sequence's labels cannot be written to JSON ({e})") from e


def to_json(seq: CADSequence) -> dict:
    """``seq`` in the DeepCAD JSON schema: one Sketch and one ExtrudeFeature per extrude; the
    bounding box is :meth:`CADSequence.bbox`; labels go to ``properties.labels``."""
    entities: dict[str, dict] = {}
    steps: list[dict] = []
    for i, e in enumerate(seq.extrudes, start=1):
        sid, pid, eid = f"sketch_{i}", f"profile_{i}", f"extrude_{i}"
        p = e.plane
        loops = [{"is_outer": j == 0, "profile_curves": [_curve_json(c) for c in loop.curves]}
                 for j, loop in enumerate(e.profile.loops)]
        entities[sid] = {"name": f"Sketch {i}", "type": "Sketch", "reference_plane": {},
                         "transform": {"origin": _xyz_json(p.origin), "x_axis": _xyz_json(p.x_axis, "Vector3D"),
                                       "y_axis": _xyz_json(p.y_axis, "Vector3D"),
                                       "z_axis": _xyz_json(p.normal, "Vector3D")},
                         "profiles": {pid: {"loops": loops, "properties": {}}}}
        entities[eid] = {"name": f"Extrude {i}", "type": "ExtrudeFeature",
                         "profiles": [{"sketch": sid, "profile": pid}],
                         "operation": OPERATION_NAMES[e.operation], "extent_type": EXTENT_TYPE_NAMES[e.extent_type],
                         "start_extent": {"type": "ProfilePlaneStartDefinition"},
                         "extent_one": _extent_json(e.extent_one, "AlongDistance"),
                         "extent_two": _extent_json(e.extent_two, "AgainstDistance")}
        steps += [{"index": 2 * i - 2, "type": "Sketch", "entity": sid},
                  {"index": 2 * i - 1, "type": "ExtrudeFeature", "entity": eid}]
    lo, hi = seq.bbox()
    properties: dict[str, Any] = {"bounding_box": {"type": "BoundingBox3D", "min_point": _xyz_json(lo),
                                                   "max_point": _xyz_json(hi)}}
    if seq.labels:
        properties["labels"] = _labels_json(seq.labels)
    return {"entities": entities, "properties": properties, "sequence": steps}


def write_json(seq: CADSequence, path: str | os.PathLike) -> Path:
    """Write :func:`to_json` of ``seq`` to ``path`` atomically; returns the path."""
    data = to_json(seq)
    with atomic_write(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, allow_nan=False)
        handle.write("\n")
    return Path(path)
