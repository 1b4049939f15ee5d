"""The part renderer against closed forms: filled squares and discs of known area, occlusion by
the z-buffer, Lambert gray levels, the nine visible edges of a cube, files read back."""

import itertools
import math
import os

import numpy as np
import pytest
from PIL import Image

from domains.cad.render import (AMBIENT, BACKGROUND, BRIGHT, DARK, LIGHT, VIEWS, rasterize, render_grid, render_mesh,
                                render_stl, view_basis, write_png)
from domains.cad.sequence import CADError

trimesh = pytest.importorskip("trimesh")

SIZE, MARGIN = 128, 0.05
FILL = (1 - 2 * MARGIN) * SIZE  # the longer side of every part's projection, in pixels
S3, S2, S6 = math.sqrt(3), math.sqrt(2), math.sqrt(6)


def centres_in(lo: float, hi: float) -> np.ndarray:
    """Pixels whose centre k + 0.5 lies in [lo, hi]."""
    return np.arange(SIZE)[(np.arange(SIZE) + 0.5 >= lo) & (np.arange(SIZE) + 0.5 <= hi)]


def box(extents=(1.0, 1.0, 1.0), centre=(0.0, 0.0, 0.0)) -> "trimesh.Trimesh":
    return trimesh.creation.box(extents, trimesh.transformations.translation_matrix(centre))


def gray(n_cam: np.ndarray) -> int:
    """Closed-form Lambert gray of a face whose normal has camera components (right, up, toward)."""
    return round(DARK + (BRIGHT - DARK) * (AMBIENT + (1 - AMBIENT) * max(0.0, float(np.dot(n_cam, LIGHT)))))


def test_view_bases_are_the_documented_cameras() -> None:
    np.testing.assert_allclose(view_basis("front"), [[1, 0, 0], [0, 0, 1], [0, -1, 0]], atol=1e-12)
    np.testing.assert_allclose(view_basis("top"), [[1, 0, 0], [0, 1, 0], [0, 0, 1]], atol=1e-12)
    np.testing.assert_allclose(view_basis("right"), [[0, 1, 0], [0, 0, 1], [1, 0, 0]], atol=1e-12)
    np.testing.assert_allclose(view_basis("iso"), [[1 / S2, 1 / S2, 0], [-1 / S6, 1 / S6, 2 / S6],
                                                   [1 / S3, -1 / S3, 1 / S3]], atol=1e-12)
    for view in VIEWS:  # right-handed orthonormal frames: r x u = d
        b = view_basis(view)
        np.testing.assert_allclose(b @ b.T, np.eye(3), atol=1e-12)
        np.testing.assert_allclose(np.cross(b[0], b[1]), b[2], atol=1e-12)
    with pytest.raises(CADError, match="unknown view 'isometric'"):
        view_basis("isometric")
    with pytest.raises(CADError, match="elevation in"):
        view_basis((0.0, 120.0))


def test_front_of_a_unit_cube_is_a_centred_filled_square() -> None:
    cube = box()
    image = render_mesh(cube.vertices, cube.faces, "front", SIZE)
    inside = centres_in(SIZE / 2 - FILL / 2, SIZE / 2 + FILL / 2)  # 116 of 128: 6.4 .. 121.6
    expected = np.zeros((SIZE, SIZE), dtype=bool)
    expected[np.ix_(inside, inside)] = True
    np.testing.assert_array_equal(image != BACKGROUND, expected)
    assert (image != BACKGROUND).mean() == pytest.approx(FILL**2 / SIZE**2, abs=2 * FILL / SIZE**2)
    # one flat face seen head-on: a single gray, the closed-form Lambert value of n = (0, 0, 1)
    assert set(np.unique(image[expected])) == {gray(np.array([0.0, 0.0, 1.0]))}
    # renders are scale- and position-free
    moved = box((1000.0, 1000.0, 1000.0), (3e4, -2e3, 5.0))
    np.testing.assert_array_equal(render_mesh(moved.vertices, moved.faces, "front", SIZE), image)


def test_top_of_a_cylinder_is_a_disc() -> None:
    cyl = trimesh.creation.cylinder(radius=1.0, height=3.0, sections=128)
    image = render_mesh(cyl.vertices, cyl.faces, "top", SIZE)
    filled = image != BACKGROUND
    assert filled.sum() / FILL**2 == pytest.approx(math.pi / 4, rel=0.02)
    centre = np.argwhere(filled).mean(0)
    np.testing.assert_allclose(centre, [SIZE / 2 - 0.5, SIZE / 2 - 0.5], atol=0.05)  # pixel indices
    # round: every filled pixel centre within the disc of radius FILL / 2 (plus a pixel)
    rows, cols = np.nonzero(filled)
    assert np.hypot(rows + 0.5 - SIZE / 2, cols + 0.5 - SIZE / 2).max() <= FILL / 2 + 0.75
    # and seen from the front, the same cylinder is a 2:3 rectangle
    front = render_mesh(cyl.vertices, cyl.faces, "front", SIZE) != BACKGROUND
    assert front.sum() / FILL**2 == pytest.approx(2 / 3, rel=0.03)


def test_the_nearer_box_hides_the_farther_one() -> None:
    big, small = box((2.0, 2.0, 2.0)), box((0.5, 0.5, 0.5), (0.0, -1.5, 0.0))  # small in front (-y)
    both = trimesh.util.concatenate([big, small])
    small_ids = np.arange(len(big.faces), len(both.faces))
    r = rasterize(both.vertices, both.faces, "front", SIZE)
    seen_small = np.isin(r.face, small_ids)
    s = FILL / 2  # pixels per unit: the big box spans 2 units
    footprint = np.zeros((SIZE, SIZE), dtype=bool)
    cells = centres_in(SIZE / 2 - 0.25 * s, SIZE / 2 + 0.25 * s)
    footprint[np.ix_(cells, cells)] = True
    np.testing.assert_array_equal(seen_small, footprint)  # the small box covers the big one's centre
    assert (r.depth[footprint] > r.depth[~footprint & (r.face >= 0)].max()).all()
    # from the side, nothing stands between the viewer and the big box: its whole square shows
    side = rasterize(both.vertices, both.faces, "right", SIZE)
    scale = FILL / 2.75  # the pair spans y in [-1.75, 1], centred on -0.375; the image's right is +y
    rows = centres_in(SIZE / 2 - scale, SIZE / 2 + scale)
    cols = centres_in(SIZE / 2 + (-1 + 0.375) * scale, SIZE / 2 + (1 + 0.375) * scale)
    big_ids = np.arange(len(big.faces))
    assert np.isin(side.face[np.ix_(rows, cols)], big_ids).all()
    assert np.isin(side.face, big_ids).sum() == len(rows) * len(cols)
    assert np.isin(side.face, small_ids).sum() > 0
    # a small box behind the big one is hidden from the front: the image is the big box's alone
    behind = trimesh.util.concatenate([big, box((0.5, 0.5, 0.5), (0.0, 1.5, 0.0))])
    np.testing.assert_array_equal(render_mesh(behind.vertices, behind.faces, "front", SIZE),
                                  render_mesh(big.vertices, big.faces, "front", SIZE))
    assert not np.isin(rasterize(behind.vertices, behind.faces, "front", SIZE).face, small_ids).any()


def test_zbuffer_matches_a_per_pixel_reference() -> None:
    rng = np.random.default_rng(7)
    vertices, faces = rng.normal(size=(60, 3)), rng.integers(0, 60, size=(40, 3))
    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])]
    size, view = 24, (30.0, 20.0)
    r = rasterize(vertices, faces, view, size)
    basis = view_basis(view)
    cam = vertices @ basis.T
    lo, hi = cam[:, :2].min(0), cam[:, :2].max(0)
    s = (1 - 2 * MARGIN) * size / (hi - lo).max()
    mid = (lo + hi) / 2
    xy = np.stack([size / 2 + s * (cam[:, 0] - mid[0]), size / 2 - s * (cam[:, 1] - mid[1])], 1)
    depth = np.full((size, size), -np.inf)
    for i, j in itertools.product(range(size), repeat=2):
        for k, (a, b, c) in enumerate(faces):
            m = np.array([xy[a] - xy[c], xy[b] - xy[c]]).T
            if abs(np.linalg.det(m)) < 1e-9:
                continue
            wa, wb = np.linalg.solve(m, np.array([j + 0.5, i + 0.5]) - xy[c])
            if min(wa, wb, 1 - wa - wb) >= 0:
                depth[i, j] = max(depth[i, j], s * (wa * cam[a, 2] + wb * cam[b, 2] + (1 - wa - wb) * cam[c, 2]))
    np.testing.assert_allclose(r.depth, depth, rtol=0, atol=1e-9)
    assert 0.2 < np.isfinite(depth).mean() < 0.9  # a real test: part covered, overlaps resolved


def _iso_pixel(p: np.ndarray) -> np.ndarray:
    """(row, col) of a point of the unit cube in its iso render, from the closed-form camera."""
    r, u = np.array([1, 1, 0]) / S2, np.array([-1, 1, 2]) / S6
    s = FILL / (4 / S6)  # the hexagon is 4/sqrt(6) tall (corner (-1, 1, 1)/2 up to (1, -1, -1)/2)
    return np.array([SIZE / 2 - s * float(u @ p), SIZE / 2 + s * float(r @ p)])


def test_shading_follows_lambert_and_darkens_faces_turned_from_the_light() -> None:
    cube = box()
    image = render_mesh(cube.vertices, cube.faces, "iso", SIZE)
    basis = np.array([[1 / S2, 1 / S2, 0], [-1 / S6, 1 / S6, 2 / S6], [1 / S3, -1 / S3, 1 / S3]])
    grays = {}
    for name, normal in {"top": [0, 0, 1], "front": [0, -1, 0], "right": [1, 0, 0]}.items():
        row, col = _iso_pixel(0.5 * np.array(normal, dtype=float)).astype(int)
        grays[name] = int(image[row, col])
        assert grays[name] == gray(basis @ np.array(normal, dtype=float)), name
    assert grays["top"] > grays["front"] > grays["right"]  # as n.L falls: 0.85, 0.51, 0.14
    # a square turned ever further from the light (still toward the viewer) gets ever darker,
    # down to ambient only
    front = view_basis("front")
    away = np.array([0.0, 0.0, 1.0]) - LIGHT[2] * LIGHT  # perpendicular to the light, toward the viewer
    away /= np.linalg.norm(away)
    levels = []
    for degrees in (0, 30, 60, 90, 110):
        n_cam = math.cos(math.radians(degrees)) * LIGHT + math.sin(math.radians(degrees)) * away
        assert n_cam[2] > 0
        n = front.T @ n_cam  # the normal in world coordinates
        a = np.cross(n, [0.3, 0.1, 0.7])
        a /= np.linalg.norm(a)
        b = np.cross(n, a)
        quad = np.array([a + b, -a + b, -a - b, a - b])
        image = render_mesh(quad, np.array([[0, 1, 2], [0, 2, 3]]), "front", SIZE)
        levels.append(int(image[SIZE // 2, SIZE // 2]))
        assert levels[-1] == gray(n_cam), degrees
    assert levels[0] == round(BRIGHT) and levels[:4] == sorted(levels[:4], reverse=True)
    assert levels[3] == levels[4] == round(DARK + (BRIGHT - DARK) * AMBIENT)
    assert len(set(levels[:4])) == 4


def test_edges_of_a_cube_seen_iso_are_its_nine_visible_edges() -> None:
    cube = box()
    image = render_mesh(cube.vertices, cube.faces, "iso", SIZE, style="edges")
    assert set(np.unique(image)) == {0, BACKGROUND}
    corners = [np.array(c) for c in itertools.product((-0.5, 0.5), repeat=3)]
    visible_faces = ((0, 0.5), (1, -0.5), (2, 0.5))  # x = +1/2, y = -1/2, z = +1/2 face the viewer
    segments = []
    for a, b in itertools.combinations(corners, 2):
        if np.count_nonzero(a != b) == 1 and any(a[k] == v and b[k] == v for k, v in visible_faces):
            segments.append((_iso_pixel(a), _iso_pixel(b)))
    assert len(segments) == 9
    padded = np.pad(image, 1, constant_values=BACKGROUND)
    for a, b in segments:  # dark along every visible edge (within a pixel)
        for t in np.linspace(0.05, 0.95, 25):
            row, col = np.floor(a + t * (b - a)).astype(int)
            assert padded[row:row + 3, col:col + 3].min() == 0, (a, b, t)
    for k, v in visible_faces:  # face centres white: no triangle diagonal, no hidden edge behind
        centre = np.zeros(3)
        centre[k] = v
        row, col = _iso_pixel(centre).astype(int)
        assert (image[row - 3:row + 4, col - 3:col + 4] == BACKGROUND).all()
    # nothing else is drawn: every dark pixel lies within two pixels of a visible edge
    rows, cols = np.nonzero(image == 0)
    p = np.stack([rows + 0.5, cols + 0.5], 1)
    distance = np.full(len(p), np.inf)
    for a, b in segments:
        t = np.clip((p - a) @ (b - a) / ((b - a) @ (b - a)), 0, 1)
        distance = np.minimum(distance, np.linalg.norm(p - (a + t[:, None] * (b - a)), axis=1))
    assert distance.max() <= 2.0


def test_edges_of_a_smooth_sphere_are_its_silhouette_only() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=3)  # neighbouring facets meet at ~ 7 degrees
    image = render_mesh(sphere.vertices, sphere.faces, (20.0, 10.0), SIZE, style="edges")
    rows, cols = np.nonzero(image == 0)
    radius = np.hypot(rows + 0.5 - SIZE / 2, cols + 0.5 - SIZE / 2)
    assert radius.min() >= FILL / 2 - 2.5 and radius.max() <= FILL / 2 + 1.0
    assert len(rows) > 2 * math.pi * FILL / 2 * 0.9  # a closed outline


def test_renders_are_deterministic_and_ignore_the_order_of_triangles() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=2)
    sphere.apply_transform(trimesh.transformations.random_rotation_matrix(np.random.default_rng(3).random(3)))
    for style in ("shaded", "edges"):
        first = render_mesh(sphere.vertices, sphere.faces, "trimetric", 96, style)
        np.testing.assert_array_equal(first, render_mesh(sphere.vertices, sphere.faces, "trimetric", 96, style))
        perm = np.random.default_rng(0).permutation(len(sphere.faces))
        np.testing.assert_array_equal(first, render_mesh(sphere.vertices, sphere.faces[perm], "trimetric", 96, style))


def test_chunked_rasterisation_gives_the_same_buffers(monkeypatch) -> None:
    import domains.cad.render as render

    sphere = trimesh.creation.icosphere(subdivisions=2)
    whole = rasterize(sphere.vertices, sphere.faces, "iso", 64)
    monkeypatch.setattr(render, "_CHUNK", 50)  # a few triangles at a time, some alone over the budget
    chunked = rasterize(sphere.vertices, sphere.faces, "iso", 64)
    np.testing.assert_array_equal(chunked.depth, whole.depth)
    np.testing.assert_array_equal(chunked.face, whole.face)


def test_png_is_written_atomically_and_read_back(tmp_path) -> None:
    cube = box()
    image = render_mesh(cube.vertices, cube.faces, "iso", 64)
    path = tmp_path / "renders" / "part.png"
    write_png(image, path)
    assert os.listdir(path.parent) == ["part.png"]
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as back:
        assert back.mode == "L"
        np.testing.assert_array_equal(np.asarray(back), image)
    with pytest.raises(CADError, match="uint8"):
        write_png(image.astype(float), tmp_path / "bad.png")
    grid = tmp_path / "grid.png"
    render_grid([image, 255 - image, image], ["a", "b", "c"], grid, ncols=2, title="parts")
    with Image.open(grid) as back:
        assert back.size[0] >= 2 * 64 and back.size[1] >= 2 * 64
    with pytest.raises(CADError, match="one label per image"):
        render_grid([image], ["a", "b"], tmp_path / "g.png")


def test_bad_input_is_one_line_errors(tmp_path) -> None:
    cube = box()
    with pytest.raises(CADError, match="unknown render style"):
        render_mesh(cube.vertices, cube.faces, style="wireframe")
    with pytest.raises(CADError, match=r"\(V, 3\)"):
        render_mesh(cube.vertices[:, :2], cube.faces)
    with pytest.raises(CADError, match="outside"):
        render_mesh(cube.vertices, cube.faces + 100)
    with pytest.raises(CADError, match="no triangle with an area"):
        render_mesh(np.zeros((3, 3)), np.array([[0, 1, 2]]))
    with pytest.raises(CADError, match="image size"):
        render_mesh(cube.vertices, cube.faces, size=4)
    with pytest.raises(CADError, match="no STL file"):
        render_stl(tmp_path / "missing.stl")


def test_renders_an_stl_written_by_the_kernel(tmp_path) -> None:
    pytest.importorskip("OCP")
    from domains.cad.export import write_stl
    from domains.cad.kernel import build_shape
    from tests.domains.cad.parts import plate_with_hole

    path = tmp_path / "plate.stl"
    write_stl(build_shape(plate_with_hole(4, 3, 1, 0.5)), path)
    top, iso = render_stl(path, views=("top", "iso"), size=SIZE)
    # from above: the 4 x 3 plate minus the see-through hole of radius 1/2, 4 units = FILL pixels
    assert (top != BACKGROUND).sum() / (FILL / 4) ** 2 == pytest.approx(12 - math.pi / 4, rel=0.02)
    assert top[SIZE // 2, SIZE // 2] == BACKGROUND
    assert len(set(np.unique(iso)) - {BACKGROUND}) >= 3  # top, front, right and the hole's wall
    (edges,) = render_stl(path, views="iso", size=SIZE, style="edges")
    assert 0 < (edges == 0).mean() < 0.1
