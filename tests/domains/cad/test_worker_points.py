"""Surface points from the build worker: on the surface, uniform by area, seeded; and the
chamfer distance's noise floor against its closed form."""

import math

import numpy as np
import pytest

pytest.importorskip("OCP")

from domains.cad.sequence import CADError, CADSequence  # noqa: E402
from domains.cad.shape_metrics import chamfer_noise_floor  # noqa: E402
from domains.cad.worker import BuildWorker, build  # noqa: E402
from tests.domains.cad.parts import box, cylinder, emptied, extrude, rect  # noqa: E402


@pytest.fixture(scope="module")
def worker():
    with BuildWorker(timeout=30.0) as w:
        yield w


def test_box_points_lie_on_faces_uniformly_by_area(worker) -> None:
    a, b, c, n = 1.0, 2.0, 3.0, 20000
    r = worker.build(box(a, b, c), points=n, seed=3)
    p = r.points
    assert r.ok and p.shape == (n, 3) and p.dtype == np.float64
    gaps = np.abs(np.concatenate([p, p - [a, b, c]], axis=1))  # distances to the six face planes
    assert gaps.min(1).max() < 1e-9  # every point on a face
    assert (p > -1e-9).all() and (p < np.array([a, b, c]) + 1e-9).all()  # and inside the box
    area = 2 * (a * b + b * c + c * a)
    for axis, face in ((2, a * b), (0, b * c), (1, c * a)):  # the two faces normal to each axis
        share = float(np.mean(gaps[:, [axis, axis + 3]].min(1) < 1e-9))
        expected = 2 * face / area
        assert share == pytest.approx(expected, abs=4 * math.sqrt(expected * (1 - expected) / n))


def test_cylinder_points_lie_on_the_surface(worker) -> None:
    radius, h, n = 1.0, 2.0, 20000
    r = worker.build(cylinder(radius, h), points=n)
    p = r.points
    rho, z = np.hypot(p[:, 0], p[:, 1]), p[:, 2]
    caps = (np.abs(z) < 1e-9) | (np.abs(z - h) < 1e-9)
    assert (rho[caps] <= radius + 1e-9).all()
    side = ~caps
    # facets of the triangulated side are chords: within the mesh tolerance (1e-3 of the box diagonal)
    tolerance = 1e-3 * math.sqrt(4 * radius ** 2 + 4 * radius ** 2 + h ** 2)
    assert (np.abs(rho[side] - radius) < tolerance).all() and ((z[side] > -1e-9) & (z[side] < h + 1e-9)).all()
    expected = h / (h + radius)  # 2 pi r h / (2 pi r h + 2 pi r^2)
    assert side.mean() == pytest.approx(expected, abs=4 * math.sqrt(expected * (1 - expected) / n))


def test_points_are_seeded_and_optional(worker) -> None:
    seqs = [box(1, 1, 1), CADSequence([extrude(rect(1, 1), 0.0)]), emptied()]
    first, second = worker.build(seqs[0], points=500, seed=7), worker.build(seqs[0], points=500, seed=7)
    np.testing.assert_array_equal(first.points, second.points)
    assert not np.allclose(worker.build(seqs[0], points=500, seed=8).points, first.points)
    assert worker.build(seqs[0]).points is None  # not asked
    many = worker.build_many(seqs, points=500, seed=7, progress=False)
    np.testing.assert_array_equal(many[0].points, first.points)
    assert not many[1].ok and many[1].points is None  # the build failed
    assert many[2].ok and many[2].points is None  # built, but nothing to sample: said why
    assert any(e.startswith("points: ") for e in many[2].file_errors)
    for bad in (-1, 2.5, True):
        with pytest.raises(CADError, match="points must be a non-negative integer"):
            worker.build(seqs[0], points=bad)
    with pytest.raises(CADError, match="seed must be a non-negative integer"):
        worker.build_many(seqs, points=10, seed=-3, progress=False)


def test_noise_floor_of_a_unit_cube() -> None:
    """Two independent samplings of n points on a surface of area S: each point's squared
    distance to the other cloud's nearest point is ~ Exp(pi n / S) (a Poisson process in the
    plane), so CD ~ 2 S / (pi n): S = 24 for the normalised unit cube ([-1, 1]^3)."""
    n = 2000
    clouds = [build(box(1, 1, 1), points=n, seed=s, timeout=30.0).points for s in range(6)]
    floor = chamfer_noise_floor(clouds[0::2], clouds[1::2])
    assert floor == pytest.approx(2 * 24 / (math.pi * n), rel=0.1)
