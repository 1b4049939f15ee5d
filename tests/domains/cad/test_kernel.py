"""The OCP kernel: hand-built histories against closed-form volumes and boxes, every extent
type and boolean, sketch-frame handedness, and one-line errors naming the failing extrude."""

import math

import numpy as np
import pytest

pytest.importorskip("OCP")

from domains.cad.kernel import build_extrude, build_shape, n_solids, shape_bbox, shape_volume  # noqa: E402
from domains.cad.sequence import Arc, CADError, CADSequence, Line, Loop, SketchPlane  # noqa: E402
from tests.domains.cad.parts import (XY, box, circle, cylinder, extrude, plate_with_hole, rect,  # noqa: E402
                                     rounded_rect)


def volume_and_box(seq: CADSequence) -> tuple[float, np.ndarray, np.ndarray]:
    shape = build_shape(seq)
    lo, hi = shape_bbox(shape)
    return shape_volume(shape), lo, hi


def test_box_volume_and_bounding_box() -> None:
    vol, lo, hi = volume_and_box(box(2, 3, 4))
    assert vol == pytest.approx(24.0, rel=1e-9)
    np.testing.assert_allclose(lo, [0, 0, 0], atol=1e-7)
    np.testing.assert_allclose(hi, [2, 3, 4], atol=1e-7)
    assert n_solids(build_shape(box())) == 1


def test_cylinder_volume() -> None:
    vol, lo, hi = volume_and_box(cylinder(1.5, 2.0))
    assert vol == pytest.approx(math.pi * 1.5**2 * 2.0, rel=1e-9)
    np.testing.assert_allclose(lo, [-1.5, -1.5, 0], atol=1e-6)
    np.testing.assert_allclose(hi, [1.5, 1.5, 2.0], atol=1e-6)


def test_through_hole_is_subtracted() -> None:
    vol, _, _ = volume_and_box(plate_with_hole(4, 3, 1, 0.5))
    assert vol == pytest.approx(12 - math.pi * 0.25, rel=1e-9)


def test_rounded_rectangle_area() -> None:
    w, h, r, c = 4.0, 3.0, 0.5, 2.0
    vol, lo, hi = volume_and_box(CADSequence([extrude(rounded_rect(w, h, r), c)]))
    assert vol == pytest.approx((w * h - (4 - math.pi) * r**2) * c, rel=1e-9)
    np.testing.assert_allclose(hi - lo, [w, h, c], atol=1e-6)


def test_clockwise_loops_build_the_same_solid() -> None:
    forward = CADSequence([extrude((rounded_rect(4, 3, 0.5), circle(0.5, 2, 1.5)), 1)])
    backward = CADSequence([extrude((rounded_rect(4, 3, 0.5).reversed(), circle(0.5, 2, 1.5)), 1)])
    assert volume_and_box(backward)[0] == pytest.approx(volume_and_box(forward)[0], rel=1e-12)


@pytest.mark.parametrize("e1, e2, kind, z", [
    (4.0, 0.0, "one_side", (0, 4)),
    (-4.0, 0.0, "one_side", (-4, 0)),
    (1.5, 0.0, "symmetric", (-1.5, 1.5)),
    (1.0, 2.0, "two_sides", (-2, 1)),
])
def test_extent_types(e1: float, e2: float, kind: str, z: tuple[float, float]) -> None:
    vol, lo, hi = volume_and_box(CADSequence([extrude(rect(2, 3), e1, extent_two=e2, extent_type=kind)]))
    assert vol == pytest.approx(6 * (z[1] - z[0]), rel=1e-9)
    np.testing.assert_allclose([lo[2], hi[2]], z, atol=1e-7)


def test_sketch_frame_is_right_handed() -> None:
    # normal +y, x axis +x: y_axis = normal x x_axis = -z, so v runs down and the prism grows along +y
    plane = SketchPlane(np.array([1.0, 0.0, 0.0]), np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]))
    vol, lo, hi = volume_and_box(CADSequence([extrude(rect(2, 3), 4, plane=plane)]))
    assert vol == pytest.approx(24.0, rel=1e-9)
    np.testing.assert_allclose(lo, [1, 0, -3], atol=1e-7)
    np.testing.assert_allclose(hi, [3, 4, 0], atol=1e-7)


def test_tilted_plane_keeps_the_volume() -> None:
    plane = SketchPlane.from_angles((0.3, -0.2, 0.5), 0.7, -1.1, 0.4)
    vol, lo, hi = volume_and_box(CADSequence([extrude((rect(2, 3), circle(0.5, 1, 1.5)), 1.5, plane=plane)]))
    assert vol == pytest.approx((6 - math.pi * 0.25) * 1.5, rel=1e-9)
    corners = np.concatenate([plane.to_world(np.array([[0, 0], [2, 0], [0, 3], [2, 3]])) + t * plane.normal
                              for t in (0.0, 1.5)])
    np.testing.assert_allclose(lo, corners.min(axis=0), atol=1e-6)
    np.testing.assert_allclose(hi, corners.max(axis=0), atol=1e-6)


def test_join_cut_intersect() -> None:
    a = extrude(rect(2, 2), 1)
    b = rect(2, 2, 1, 1)
    join = CADSequence([a, extrude(b, 1, operation="join")])
    cut = CADSequence([a, extrude(b, 1, operation="cut")])
    common = CADSequence([a, extrude(b, 1, operation="intersect")])
    assert volume_and_box(join)[0] == pytest.approx(4 + 4 - 1, rel=1e-9)
    assert volume_and_box(cut)[0] == pytest.approx(4 - 1, rel=1e-9)
    vol, lo, hi = volume_and_box(common)
    assert vol == pytest.approx(1.0, rel=1e-9)
    np.testing.assert_allclose(lo, [1, 1, 0], atol=1e-7)
    np.testing.assert_allclose(hi, [2, 2, 1], atol=1e-7)


def test_through_slot_cut_from_below() -> None:
    below = XY.moved(np.array([0.0, 0.0, -1.0]))
    seq = CADSequence([extrude(rect(4, 3), 1), extrude(rect(1, 1, 1.5, 1), 3, plane=below, operation="cut")])
    assert volume_and_box(seq)[0] == pytest.approx(12 - 1, rel=1e-9)


def test_new_body_beside_the_first_gives_two_solids() -> None:
    seq = CADSequence([extrude(rect(1, 1), 1), extrude(rect(1, 1, 3, 0), 2, operation="new")])
    shape = build_shape(seq)
    assert n_solids(shape) == 2
    assert shape_volume(shape) == pytest.approx(3.0, rel=1e-9)


def test_cut_that_removes_everything_builds_an_empty_shape() -> None:
    seq = CADSequence([extrude(rect(2, 3), 1), extrude(rect(5, 5, -1, -1), 3, operation="cut",
                                                      plane=XY.moved(np.array([0, 0, -1.0])))])
    shape = build_shape(seq)
    assert n_solids(shape) == 0 and shape_volume(shape) == 0.0 and shape_bbox(shape) is None


def test_zero_length_extrude_names_the_extrude() -> None:
    seq = CADSequence([extrude(rect(2, 3), 1), extrude(rect(1, 1), 0.0, operation="join")])
    with pytest.raises(CADError, match=r"^extrude 2: zero-length extrude"):
        build_shape(seq)
    with pytest.raises(CADError, match="zero-length"):
        build_extrude(extrude(rect(1, 1), 0.0, extent_two=0.0, extent_type="two_sides"))


def test_rejects_what_is_not_a_sequence() -> None:
    with pytest.raises(CADError, match="needs a CADSequence"):
        build_shape([extrude(rect(1, 1), 1)])  # type: ignore[arg-type]


def test_flat_arc_names_extrude_loop_and_curve() -> None:
    P = lambda x, y: np.array([x, y], dtype=float)  # noqa: E731
    flat = Loop((Line(P(0, 0), P(1, 0)), Arc(P(1, 0), P(1, 1), 1e-9), Line(P(1, 1), P(0, 1)), Line(P(0, 1), P(0, 0))))
    seq = CADSequence([extrude(rect(2, 2), 1), extrude((rect(3, 3, -0.5, -0.5), flat), 1, operation="join")])
    with pytest.raises(CADError, match=r"^extrude 2, loop 2, curve 2: the arc could not be built"):
        build_shape(seq)


def test_kernel_exceptions_become_cad_errors(monkeypatch) -> None:
    from OCP.gp import gp_Dir

    import domains.cad.kernel as kernel

    monkeypatch.setattr(kernel, "BRepPrimAPI_MakePrism", lambda *args: gp_Dir(0, 0, 0))  # OCC raises
    with pytest.raises(CADError, match=r"^extrude 1: the kernel failed \(Standard_ConstructionError: gp_Dir"):
        build_shape(box())
