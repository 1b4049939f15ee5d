"""The DeepCAD vector codec: caps, quantisation error against the normalised part, fixpoints,
and one-line errors for malformed vectors."""

import math

import numpy as np
import pytest

from domains.cad.sequence import (Arc, CADError, CADSequence, Circle, Extrude, Line, Loop, Profile, SketchPlane)
from domains.cad.vector import (ARC, CIRCLE, EOS, EXT, LINE, MAX_ROWS, PART_SIZE, SOL, check_caps, count_rows, decode,
                                encode, valid_rows)

XY = SketchPlane((0, 0, 0), (1, 0, 0), (0, 0, 1))


def rect(w: float, h: float, x0: float = 0.0, y0: float = 0.0) -> Loop:
    p = [(x0, y0), (x0 + w, y0), (x0 + w, y0 + h), (x0, y0 + h)]
    return Loop(tuple(Line(p[i], p[(i + 1) % 4]) for i in range(4)))


def rounded_plate(w: float = 100, d: float = 60, r: float = 8) -> Loop:
    q = math.pi / 2
    return Loop((Line((r, 0), (w - r, 0)), Arc((w - r, 0), (w, r), q), Line((w, r), (w, d - r)), Arc((w, d - r), (w - r, d), q),
                 Line((w - r, d), (r, d)), Arc((r, d), (0, d - r), q), Line((0, d - r), (0, r)), Arc((0, r), (r, 0), q)))


def parts() -> list[CADSequence]:
    tilted = SketchPlane((5, -3, 12), (math.cos(0.5), math.sin(0.5), 0.0), (0.0, 0.0, 1.0))
    oblique = SketchPlane((0, 0, 0), (0, 0, 1), (1 / math.sqrt(2), 1 / math.sqrt(2), 0))
    down = SketchPlane((0, 0, 30), (1, 0, 0), (0, 0, -1))
    side = SketchPlane((0, 0, 0), (1, 0, 0), (0, -1, 0))
    cw_slot = Loop((Line((0, 0), (40, 0)), Arc((40, 0), (40, 10), math.pi, True), Line((40, 10), (0, 10)),
                    Arc((0, 10), (0, 0), math.pi, True))).reversed()  # clockwise: canonical() must flip it
    plate = Profile((rounded_plate(), Loop((Circle((20, 30), 5),)), Loop((Circle((80, 30), 5),))))
    return [
        CADSequence([Extrude(plate, XY, 10.0), Extrude(Profile((Loop((Circle((50, 30), 12),)),)),
                                                        SketchPlane((0, 0, 10), (1, 0, 0), (0, 0, 1)), 5.0, operation="join")]),
        CADSequence([Extrude(Profile((rect(30, 20),)), tilted, 8.0, extent_type="symmetric"),
                     Extrude(Profile((cw_slot,)), tilted, 12.0, 4.0, operation="cut", extent_type="two_sides")]),
        CADSequence([Extrude(Profile((rect(10, 10, -5, -5),)), oblique, -20.0),
                     Extrude(Profile((Loop((Circle((0, 0), 4),)),)), down, 40.0, operation="intersect"),
                     Extrude(Profile((rect(6, 6),)), side, 3.0, operation="join")]),
    ]


def world_loops(seq: CADSequence) -> list[np.ndarray]:
    """Every loop as a world-space polyline, in canonical order (the codec's frame-free view)."""
    out = []
    for e in seq.extrudes:
        for loop in e.profile.canonical().loops:
            out.append(e.plane.to_world(loop.points()))
    return out


@pytest.mark.parametrize("k", range(3))
def test_decoded_geometry_matches_the_normalised_part(k):
    seq = parts()[k]
    norm = seq.normalized(PART_SIZE / 2)[0]
    back = decode(encode(seq))
    assert len(back.extrudes) == len(seq.extrudes)
    for a, b in zip(norm.extrudes, back.extrudes):
        assert (a.operation, a.extent_type) == (b.operation, b.extent_type)
        assert abs(a.extent_one - b.extent_one) <= 1 / 128 and abs(a.extent_two - b.extent_two) <= 1 / 128
        assert np.allclose(a.plane.normal, b.plane.normal, atol=0.02)
    for pa, pb in zip(world_loops(norm), world_loops(back)):
        assert pa.shape == pb.shape
        # position grid 1/128, profile grid size/96, angle grid 2π/256 over a lever of <= 1
        assert np.abs(pa - pb).max() < 0.015  # measured: 0.008 at most


@pytest.mark.parametrize("k", range(3))
def test_encoding_a_decoded_vector_gives_it_back(k):
    vec = encode(parts()[k])
    assert vec.shape == (MAX_ROWS, 17) and vec.dtype == np.int64
    again = encode(decode(vec), normalize=False)
    assert np.abs(again - vec).max() <= 1  # only the re-derived profile sizes may move a grid step
    assert np.array_equal(again[:, 0], vec[:, 0])


def test_axis_planes_and_full_extent_are_exact():
    box = CADSequence([Extrude(Profile((rect(2, 1),)), XY, 2.0)])  # the extent spans the whole part
    vec = encode(box)
    ext = vec[vec[:, 0] == EXT][0]
    assert list(ext[6:9]) == [128, 128, 128]  # θ = φ = γ = 0
    assert ext[13] == 255 and decode(vec).extrudes[0].extent_one == PART_SIZE
    assert ext[12] == round(PART_SIZE / 2 * 256)


def test_rows_layout_and_padding():
    seq = parts()[0]
    vec = encode(seq)
    rows = count_rows(seq)
    assert rows == 3 + 10 + 1 + 1 + 1 + 1 + 1  # 3 SOL + 10 curves + Ext, SOL + circle + Ext, EOS
    assert list(vec[:rows, 0]).count(SOL) == 4 and list(vec[:rows, 0]).count(EXT) == 2
    assert np.all(vec[rows - 1:, 0] == EOS) and np.all(vec[rows - 1:, 1:] == -1)
    circle = vec[vec[:, 0] == CIRCLE][0]
    assert circle[3] == -1 and circle[5] > 0  # no sweep, a radius
    arc = vec[vec[:, 0] == ARC][0]
    assert arc[3] == 64 and arc[4] == 1  # a quarter turn, counter-clockwise


def test_caps_are_named():
    many = CADSequence([Extrude(Profile((rect(1, 1, 2 * i),)), XY, 1.0, operation="join") for i in range(11)])
    with pytest.raises(CADError, match="11 extrudes"):
        check_caps(many)
    holes = Profile((rect(100, 100),) + tuple(Loop((Circle((10 + 12 * i, 50), 3),)) for i in range(6)))
    with pytest.raises(CADError, match="7 loops"):
        encode(CADSequence([Extrude(holes, XY, 1.0)]))
    polygon = Loop(tuple(Line((math.cos(2 * math.pi * i / 16), math.sin(2 * math.pi * i / 16)),
                              (math.cos(2 * math.pi * (i + 1) / 16), math.sin(2 * math.pi * (i + 1) / 16))) for i in range(16)))
    with pytest.raises(CADError, match="16 curves"):
        encode(CADSequence([Extrude(Profile((polygon,)), XY, 1.0)]))
    long = CADSequence([Extrude(Profile((rect(1, 1, 2 * i), rect(0.2, 0.2, 2 * i + 0.1, 0.1))), XY, 1.0,
                                operation="join") for i in range(7)])
    with pytest.raises(CADError, match="rows"):
        encode(long)


def _vec(rows: list[list[int]]) -> np.ndarray:
    out = np.full((len(rows) + 1, 17), -1)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    out[-1, 0] = EOS
    return out


EXT_ROW = [EXT, -1, -1, -1, -1, -1, 128, 128, 128, 128, 128, 128, 64, 140, 128, 0, 0]


@pytest.mark.parametrize("rows, message", [
    ([EXT_ROW], "no loop"),
    ([[LINE, 130, 130]], "before any SOL"),
    ([[SOL], [CIRCLE, 128, 128, -1, -1, 10], [LINE, 150, 150], EXT_ROW], "shares its loop"),
    ([[SOL], [LINE, 300, 128], [LINE, 128, 140], EXT_ROW], "outside 0..255"),
    ([[SOL], [LINE, 140, 128], [LINE, 140, 128], [LINE, 128, 128], EXT_ROW], "zero length"),
    ([[SOL], [LINE, 140, 128], [LINE, 140, 140], [LINE, 128, 128]], "no Ext"),
    ([[9]], "unknown command"),
    ([[SOL], EXT_ROW], "no curve"),
    ([[SOL], [LINE, 140, 128], [LINE, 128, 128], EXT_ROW], "encloses no area"),
])
def test_malformed_vectors_are_refused_with_a_reason(rows, message):
    with pytest.raises(CADError, match=message):
        decode(_vec(rows))


def test_empty_and_misshapen_vectors():
    with pytest.raises(CADError, match="shape"):
        decode(np.zeros((60, 16)))
    with pytest.raises(CADError, match="no extrude"):
        decode(_vec([]))


def test_random_planes_survive_within_the_angle_grid():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = rng.normal(size=3)
        x = np.cross(n, rng.normal(size=3))
        plane = SketchPlane(rng.uniform(-5, 5, 3), x, n)
        theta, phi, gamma = plane.angles()
        again = SketchPlane.from_angles(plane.origin, theta, phi, gamma)
        assert np.allclose(again.normal, plane.normal, atol=1e-9) and np.allclose(again.x_axis, plane.x_axis, atol=1e-9)
        seq = CADSequence([Extrude(Profile((rect(3, 2),)), plane, 1.5)])
        back = decode(encode(seq)).extrudes[0].plane
        norm = seq.normalized(PART_SIZE / 2)[0].extrudes[0].plane
        step = 2 * math.pi / 256
        assert np.linalg.norm(back.normal - norm.normal) < 2 * step
        assert np.linalg.norm(back.x_axis - norm.x_axis) < 3 * step


def test_valid_rows_keep_the_first_eos_and_agree_for_numpy_and_torch():
    import torch

    cmd = np.array([[4, 2, 5, 3, 3, 0], [4, 0, 0, 1, 5, 3], [3, 4, 3, 3, 3, 3]])
    expected = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1], [1, 0, 0, 0, 0, 0]], dtype=bool)
    np.testing.assert_array_equal(valid_rows(cmd), expected)
    np.testing.assert_array_equal(valid_rows(torch.as_tensor(cmd)).numpy(), expected)
