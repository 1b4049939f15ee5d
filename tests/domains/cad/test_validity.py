"""Strict validity passes good parts and names the reason for each kind of bad one; the looser
DeepCAD criterion is reported beside it."""

import math
import os

import numpy as np
import pytest

pytest.importorskip("OCP")

from OCP.BRepBuilderAPI import BRepBuilderAPI_MakeFace  # noqa: E402
from OCP.gp import gp_Pln  # noqa: E402

from domains.cad.kernel import build_shape  # noqa: E402
from domains.cad.sequence import CADSequence, Line, Loop  # noqa: E402
from domains.cad.validity import check_strict, deepcad_valid, edge_face_counts  # noqa: E402
from tests.domains.cad.parts import (box, circle, cylinder, emptied, extrude, plate_with_hole, rect,  # noqa: E402
                                     rounded_rect)

GOOD = {"box": (box(2, 3, 4), 24.0), "cylinder": (cylinder(1, 2), 2 * math.pi),
        "plate": (plate_with_hole(4, 3, 1, 0.5), 12 - math.pi / 4),
        "rounded": (CADSequence([extrude((rounded_rect(4, 3, 0.5), circle(0.4, 2, 1.5)), 1)]),
                    12 - (4 - math.pi) * 0.25 - math.pi * 0.16)}


@pytest.mark.parametrize("name", list(GOOD))
def test_good_parts_are_strictly_valid(tmp_path, name: str) -> None:
    seq, volume = GOOD[name]
    verdict = check_strict(build_shape(seq), tmp_path)
    assert verdict.valid, verdict.reasons
    assert verdict.reasons == [] and verdict.n_solids == 1
    assert verdict.volume == pytest.approx(volume, rel=1e-9)
    assert os.listdir(tmp_path) == []  # the round-trip file is gone
    assert deepcad_valid(build_shape(seq)) == (True, None)


def test_cylinder_seam_counts_as_two_faces() -> None:
    counts = edge_face_counts(build_shape(cylinder()))
    assert counts == [2, 2, 2]  # top and bottom circles, and the seam (its face twice)


def test_cut_away_part_has_no_solid() -> None:
    verdict = check_strict(build_shape(emptied()))
    assert not verdict.valid
    assert any(r.startswith("no solid") for r in verdict.reasons)
    assert "empty bounding box" in verdict.reasons
    assert deepcad_valid(build_shape(emptied())) == (False, "empty bounding box")


def test_hole_crossing_the_outer_loop_is_invalid_but_passes_deepcad() -> None:
    shape = build_shape(CADSequence([extrude((rect(2, 2), rect(1, 1, 1.5, 0.5)), 1)]))
    verdict = check_strict(shape)
    assert not verdict.valid
    assert any(r.startswith("BRepCheck: IntersectingWires") for r in verdict.reasons), verdict.reasons
    assert deepcad_valid(shape)[0]  # the looser criterion only asks for a mesh


def test_self_intersecting_profile_is_invalid() -> None:
    bow_tie = Loop((Line((0, 0), (1, 1)), Line((1, 1), (1, 0)), Line((1, 0), (0, 1)), Line((0, 1), (0, 0))))
    verdict = check_strict(build_shape(CADSequence([extrude(bow_tie, 1)])))
    assert not verdict.valid
    assert any("SelfIntersectingWire" in r for r in verdict.reasons)
    assert any("volume" in r for r in verdict.reasons)


def test_bodies_touching_along_an_edge_are_not_manifold() -> None:
    seq = CADSequence([extrude(rect(1, 1), 1), extrude(rect(1, 1, 1, 1), 1, operation="join")])
    verdict = check_strict(build_shape(seq))
    assert verdict.reasons == ["not manifold: 1 edge bounds more than two faces"]
    assert verdict.n_solids == 2 and verdict.volume == pytest.approx(2.0)


def test_a_bare_face_is_not_closed() -> None:
    face = BRepBuilderAPI_MakeFace(gp_Pln(), 0.0, 1.0, 0.0, 1.0).Face()
    verdict = check_strict(face)
    assert not verdict.valid
    assert any(r.startswith("no solid") for r in verdict.reasons)
    assert "not closed: 4 edges bound a single face" in verdict.reasons
    assert any(r.startswith("zero volume") for r in verdict.reasons)


def test_step_round_trip_reads_a_given_file(tmp_path) -> None:
    from domains.cad.export import write_step

    shape, other = build_shape(box(2, 3, 4)), build_shape(box(2, 3, 5))
    write_step(other, tmp_path / "other.step")
    verdict = check_strict(shape, step_path=tmp_path / "other.step")  # the wrong file: the volume differs
    assert verdict.reasons == ["STEP: the volume changed by 2.50e-01 (relative) through a write and read"]
    assert check_strict(shape, roundtrip=False).valid
    assert deepcad_valid(None) == (False, "the build failed")
    np.testing.assert_allclose(check_strict(shape).bbox[1], [2, 3, 4], atol=1e-7)
