"""Fuzzing two CAD readers: DeepCAD JSON (:func:`read_json`) and the 60 x 17 vector (:func:`decode`).

Each must return a :class:`CADSequence` or raise :class:`CADError` with a one-line message,
whatever it is given:

* ``read_json`` on the fixtures' dicts after 1-5 mutations: keys deleted, values swapped for
  another type, NaN / infinite / huge numbers (floats and integers past float range), empty
  lists and objects, wrong enum strings, list items dropped or repeated;
* ``decode`` on random integer arrays in ``[-2, 300]`` (with commands mostly in range, so that
  decoding gets past the first row) and on valid vectors of the fixture parts with a few
  cells changed.

A part that is read must also write and read back (or refuse labels that JSON cannot hold). The default run is deterministic and
short; the ``slow`` variants draw 10,000 random examples each.
"""

from __future__ import annotations

import copy
import json
import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from domains.cad.json_codec import EXTENT_TYPE_NAMES, OPERATION_NAMES, read_json, to_json
from domains.cad.sequence import CADError, CADSequence
from domains.cad.vector import EOS, MAX_ROWS, N_ARGS, decode, encode

FIXTURES = Path(__file__).parent / "fixtures"
SOURCES = {p.name: json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json")) if p.name != "golden.json"}
PARTS = [read_json(data) for name, data in SOURCES.items() if not name.startswith("reject_")]
VECTORS = [encode(seq) for seq in PARTS]
#: enum-like strings of the schema, to put where another is expected
ENUMS = sorted({*OPERATION_NAMES.values(), *EXTENT_TYPE_NAMES.values(), "Sketch", "ExtrudeFeature", "Line3D",
                "Arc3D", "Circle3D", "Spline3D", "DistanceExtentDefinition", "ProfilePlaneStartDefinition",
                "OffsetStartDefinition", "ToEntityExtentDefinition", "Point3D", "Vector3D"})
ODD_VALUES = [None, True, False, "", "x", [], {}, 0, -1, 1, 2**63, 10**400, -(10**400), 1e308, -1e308, 5e-324,
              math.nan, math.inf, -math.inf, [1, 2], {"x": 1}, {"value": math.nan}, {"x": 0, "y": 0, "z": 0}]

#: huge finite numbers overflow to inf inside the reader's checks, which then reject them
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")

_FAST = dict(deadline=timedelta(seconds=5), database=None, derandomize=True,
             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_SLOW = dict(_FAST, derandomize=False, max_examples=10_000)


def _one_line(text: str) -> bool:
    return bool(text) and "\n" not in text and "\r" not in text


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys and indices) to a value inside a JSON tree, the root excluded."""
    out = []
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        out.append(prefix + (key,))
        out += _paths(child, prefix + (key,))
    return out


def _swap_type(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return {"value": value}
    if isinstance(value, list):
        return dict(enumerate(value))
    if isinstance(value, dict):
        return list(value.values())
    return value


@st.composite
def mutated_json(draw: st.DrawFn) -> dict:
    """A fixture's dict after 1-5 mutations."""
    data = copy.deepcopy(SOURCES[draw(st.sampled_from(sorted(SOURCES)))])
    for _ in range(draw(st.integers(1, 5))):
        paths = _paths(data)
        if not paths:
            break
        *parents, key = draw(st.sampled_from(paths))
        parent = data
        for k in parents:
            parent = parent[k]
        op = draw(st.sampled_from(["delete", "odd", "swap", "empty", "enum", "number", "repeat"]))
        value = parent[key]
        if op == "delete":
            del parent[key]
            continue
        if op == "repeat" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(value))
            continue
        parent[key] = {
            "odd": lambda: copy.deepcopy(draw(st.sampled_from(ODD_VALUES))),
            "swap": lambda: _swap_type(value),
            "empty": lambda: type(value)() if isinstance(value, (list, dict, str)) else None,
            "enum": lambda: draw(st.one_of(st.sampled_from(ENUMS), st.text(max_size=12))),
            "number": lambda: draw(st.one_of(st.floats(), st.integers(-(10**30), 10**30))),
            "repeat": lambda: value,
        }[op]()
    return data


def check_read_json(data: dict) -> None:
    try:
        seq = read_json(data)
    except CADError as err:
        assert _one_line(str(err)), str(err)
        event("CADError")
        return
    event("read")
    assert isinstance(seq, CADSequence)
    try:
        written = to_json(seq)
    except CADError as err:  # labels JSON cannot hold, e.g. NaN
        assert _one_line(str(err)) and "labels" in str(err), str(err)
        return
    assert len(read_json(written).extrudes) == len(seq.extrudes)


def check_decode(vec: np.ndarray) -> None:
    try:
        seq = decode(vec)
    except CADError as err:
        assert _one_line(str(err)), str(err)
        event("CADError")
        return
    event("decoded")
    assert isinstance(seq, CADSequence)


commands = st.one_of(st.integers(0, 5), st.integers(0, 5), st.integers(-2, 300))
random_vectors = st.builds(
    lambda cmd, args: np.concatenate([cmd[:, None], args], axis=1),
    arrays(np.int64, MAX_ROWS, elements=commands),
    arrays(np.int64, (MAX_ROWS, N_ARGS), elements=st.one_of(st.integers(-1, 255), st.integers(-2, 300))),
)


@st.composite
def mutated_vectors(draw: st.DrawFn) -> np.ndarray:
    """A fixture part's vector with 1-6 cells set to values in [-2, 300] (or a row cut short by EOS)."""
    vec = VECTORS[draw(st.integers(0, len(VECTORS) - 1))].copy()
    used = int(np.argmax(vec[:, 0] == EOS)) + 1
    for _ in range(draw(st.integers(1, 6))):
        row, col = draw(st.integers(0, used - 1)), draw(st.integers(0, N_ARGS))
        vec[row, col] = draw(st.one_of(st.integers(-2, 300), st.sampled_from([0, 1, 127, 128, 255, 256, -1, EOS])))
    return vec


def test_the_fixtures_are_fuzzing_material():
    assert len(SOURCES) >= 20 and len(PARTS) == len(SOURCES) - 5
    for seq, vec in zip(PARTS, VECTORS):
        assert len(decode(vec).extrudes) == len(seq.extrudes)


@settings(max_examples=400, **_FAST)
@given(data=mutated_json())
def test_read_json_on_mutated_fixtures(data: dict) -> None:
    check_read_json(data)


@settings(max_examples=200, **_FAST)
@given(vec=random_vectors)
def test_decode_on_random_vectors(vec: np.ndarray) -> None:
    check_decode(vec)


@settings(max_examples=300, **_FAST)
@given(vec=mutated_vectors())
def test_decode_on_mutated_vectors(vec: np.ndarray) -> None:
    check_decode(vec)


@pytest.mark.slow
@settings(**_SLOW)
@given(data=mutated_json())
def test_read_json_on_mutated_fixtures_slow(data: dict) -> None:
    check_read_json(data)


@pytest.mark.slow
@settings(**_SLOW)
@given(vec=random_vectors)
def test_decode_on_random_vectors_slow(vec: np.ndarray) -> None:
    check_decode(vec)


@pytest.mark.slow
@settings(**_SLOW)
@given(vec=mutated_vectors())
def test_decode_on_mutated_vectors_slow(vec: np.ndarray) -> None:
    check_decode(vec)


def _box() -> dict:
    return copy.deepcopy(SOURCES["box_one_side.json"])


def _extrude(data: dict) -> dict:
    return next(e for e in data["entities"].values() if e.get("type") == "ExtrudeFeature")


@pytest.mark.parametrize("case, message", [
    ("huge index", r"sequence step 0\.index: expected a finite number, got 1000000"),
    ("huge in a list", r"expected a number, got a list with an integer too long to print"),
    ("operation object", r"unknown operation \{'x': 1\}; one of"),
    ("extent type list", r"unknown extent_type \['OneSide'\]; one of"),
    ("start with a line break", r"start_extent 'Profile\\nPlane' is not supported"),
])
def test_crashes_found_by_fuzzing_are_one_line_errors(case: str, message: str) -> None:
    """Each of these raised OverflowError, TypeError or ValueError, or gave a two-line message."""
    data = _box()
    if case == "huge index":
        data["sequence"][0]["index"] = 10**400
    elif case == "huge in a list":
        data["sequence"][0]["index"] = [10**5000]
    elif case == "operation object":
        _extrude(data)["operation"] = {"x": 1}
    elif case == "extent type list":
        _extrude(data)["extent_type"] = ["OneSide"]
    elif case == "start with a line break":
        _extrude(data)["start_extent"]["type"] = "Profile\nPlane"
    with pytest.raises(CADError, match=message) as err:
        read_json(data)
    assert _one_line(str(err.value)) and len(str(err.value)) < 300
