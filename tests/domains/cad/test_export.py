"""STEP and STL files read back by independent readers (OCP's STEP reader, trimesh), and
surface samples that lie on the surface, spread by area and repeat with the seed."""

import math
import os

import numpy as np
import pytest

pytest.importorskip("OCP")
trimesh = pytest.importorskip("trimesh")

from domains.cad.export import mesh_points, read_step, triangulate, write_step, write_stl  # noqa: E402
from domains.cad.kernel import build_shape, shape_volume  # noqa: E402
from domains.cad.sequence import CADError  # noqa: E402
from tests.domains.cad.parts import box, cylinder, plate_with_hole  # noqa: E402


@pytest.mark.parametrize("schema, header", [("AP214", "AUTOMOTIVE_DESIGN"), ("AP203", "CONFIG_CONTROL_DESIGN"),
                                            ("AP242", "AP242_MANAGED_MODEL_BASED_3D_ENGINEERING")])
def test_step_round_trip_keeps_the_volume(tmp_path, schema: str, header: str) -> None:
    shape = build_shape(plate_with_hole(4, 3, 1, 0.5))
    path = tmp_path / "part.step"
    write_step(shape, path, schema=schema)
    assert header in path.read_text()
    assert os.listdir(tmp_path) == ["part.step"]  # the temporary file was renamed into place
    back = read_step(path)
    assert shape_volume(back) == pytest.approx(12 - math.pi * 0.25, rel=1e-9)


def test_step_errors_are_one_line(tmp_path) -> None:
    with pytest.raises(CADError, match="unknown STEP schema"):
        write_step(build_shape(box()), tmp_path / "a.step", schema="AP209")
    with pytest.raises(CADError, match="no STEP file"):
        read_step(tmp_path / "missing.step")
    junk = tmp_path / "junk.step"
    junk.write_text("not a step file\n")
    with pytest.raises(CADError, match="not a readable STEP file"):
        read_step(junk)


@pytest.mark.parametrize("seq, volume, rel", [(box(2, 3, 4), 24.0, 1e-9), (cylinder(1.0, 2.0), 2 * math.pi, 5e-3)])
def test_stl_is_binary_watertight_and_has_the_volume(tmp_path, seq, volume: float, rel: float) -> None:
    path = tmp_path / "part.stl"
    write_stl(build_shape(seq), path)
    raw = path.read_bytes()
    n = int.from_bytes(raw[80:84], "little")
    assert len(raw) == 84 + 50 * n  # binary STL layout
    mesh = trimesh.load(path)
    assert mesh.is_watertight
    assert mesh.volume == pytest.approx(volume, rel=rel)


def test_triangulation_is_closed_and_outward() -> None:
    verts, tris = triangulate(build_shape(plate_with_hole(4, 3, 1, 0.5)))
    mesh = trimesh.Trimesh(verts, tris)  # merges the faces' duplicate vertices
    assert mesh.is_watertight
    assert mesh.volume == pytest.approx(12 - math.pi * 0.25, rel=5e-3)  # positive: normals point out


def test_points_lie_on_the_surface_spread_by_area() -> None:
    shape = build_shape(box(2, 3, 4))
    p = mesh_points(shape, 4000, seed=0)
    assert p.shape == (4000, 3)
    hi = np.array([2, 3, 4])
    gap = np.minimum(np.abs(p), np.abs(p - hi)).min(axis=1)  # distance to the nearest face plane
    assert gap.max() < 1e-9 and (p > -1e-9).all() and (p < hi + 1e-9).all()
    on_z = np.isclose(p[:, 2], 0) | np.isclose(p[:, 2], 4)
    assert on_z.mean() == pytest.approx(2 * 6 / (2 * (6 + 8 + 12)), abs=0.03)  # area share of the z faces


def test_cylinder_points_and_seeds() -> None:
    shape = build_shape(cylinder(1.0, 2.0))
    p = mesh_points(shape, 2000, seed=3)
    r = np.hypot(p[:, 0], p[:, 1])
    side = (p[:, 2] > 1e-9) & (p[:, 2] < 2 - 1e-9)
    assert np.abs(r[side] - 1).max() < 5e-3 and (r[~side] <= 1 + 1e-9).all()
    assert side.mean() == pytest.approx(2 * math.pi * 2 / (2 * math.pi * 2 + 2 * math.pi), abs=0.04)
    np.testing.assert_array_equal(p, mesh_points(shape, 2000, seed=3))
    assert not np.allclose(p, mesh_points(shape, 2000, seed=4))
