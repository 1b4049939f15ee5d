"""Grayscale renders of triangle meshes (CAD parts), in numpy: shaded views and line drawings.

Renders feed the image side of GenCAD's contrastive CAD-image pretraining (Alam & Ahmed 2025,
CCIP: grayscale renders of each part from several views, plus "sketch" edge images), so they
are scale-free, deterministic and cheap.

Camera. Orthographic, z up. A view ``(azimuth a, elevation e)`` in degrees puts the viewer in
the direction ``d = (cos e sin a, -cos e cos a, sin e)`` (``"front"`` = (0, 0) looks along +y,
``"right"`` = (90, 0) along -x, ``"top"`` = (0, 90) down -z, ``"iso"`` = (45, 35.26) from
(1, -1, 1)); the image's right is ``r = (cos a, sin a, 0)`` and its up ``u = d x r``. A point
``p`` goes to the pixel coordinates ``col = N/2 + s (r.p - c_r)``, ``row = N/2 - s (u.p - c_u)``
and the depth ``z = s d.p`` (larger is nearer), where ``c`` is the centre of the mesh's
projected bounding box and ``s = (1 - 2 margin) N / max(projected width, height)``: every part
fills the ``N x N`` image to the same margin, whatever its size. Pixel ``(i, j)`` covers
``[j, j+1) x [i, i+1)`` and is sampled at its centre.

Raster. Each triangle tests the pixel centres of its bounding box with barycentric weights
``w_k`` (inside when all ``w_k >= 0``), interpolates the depth linearly (exact for an
orthographic camera), and a z-buffer keeps the nearest triangle per pixel (ties: the lowest
triangle index). All triangles' candidate pixels are expanded at once (ragged, in chunks).

Shading (``"shaded"``). Flat Lambert with ambient, one gray per triangle: a face of unit normal ``n`` (turned toward the
viewer) has gray ``DARK + (BRIGHT - DARK) (AMBIENT + (1 - AMBIENT) max(0, n.L))``, with the
light ``L`` fixed in the camera frame (:data:`LIGHT`: from the viewer's side, up and left),
on a white background (255).

Lines (``"edges"``). Black on white: the feature edges (the two faces' normals differ by more
than :data:`FEATURE_ANGLE` degrees; boundary and non-manifold edges) and the silhouette edges
(one face toward the viewer, the other away), found after merging coincident vertices. Each
is sampled every half pixel, and a sample is drawn unless it is hidden: it is drawn when some
pixel of its 3 x 3 neighbourhood shows one of the edge's own faces, the background, or a
surface less than ``EDGE_DEPTH_TOL`` pixels in front of it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from domains.cad.sequence import CADError
from gensci.io import atomic_path

__all__ = ["VIEWS", "STYLES", "LIGHT", "view_basis", "Raster", "rasterize", "render_mesh", "render_stl",
           "write_png", "render_grid"]

ISO_ELEVATION = math.degrees(math.atan(1 / math.sqrt(2)))  # 35.264: the cube's diagonal faces the viewer
#: named views, (azimuth, elevation) in degrees
VIEWS: dict[str, tuple[float, float]] = {
    "front": (0.0, 0.0), "back": (180.0, 0.0), "right": (90.0, 0.0), "left": (-90.0, 0.0),
    "top": (0.0, 90.0), "bottom": (0.0, -90.0),
    "iso": (45.0, ISO_ELEVATION), "iso_left": (-45.0, ISO_ELEVATION), "iso_back": (135.0, ISO_ELEVATION),
    "iso_back_left": (-135.0, ISO_ELEVATION), "iso_below": (45.0, -ISO_ELEVATION),
    "dimetric": (45.0, 20.0), "trimetric": (30.0, 25.0),
}
STYLES = ("shaded", "edges")
#: the light's direction in the camera frame (right, up, toward the viewer)
LIGHT = np.array([-0.3, 0.5, 1.0]) / math.sqrt(0.09 + 0.25 + 1.0)
AMBIENT, DARK, BRIGHT, BACKGROUND = 0.25, 40.0, 230.0, 255
FEATURE_ANGLE = 30.0
EDGE_DEPTH_TOL = 2.0
_CHUNK = 1 << 19  # candidate pixels expanded at once


def view_basis(view: str | tuple[float, float]) -> np.ndarray:
    """Rows ``(r, u, d)``: the image's right and up and the direction toward the viewer."""
    if isinstance(view, str):
        if view not in VIEWS:
            raise CADError(f"unknown view {view!r}; one of {', '.join(VIEWS)} or (azimuth, elevation)")
        view = VIEWS[view]
    try:
        az, el = (math.radians(float(x)) for x in view)
    except (TypeError, ValueError):
        raise CADError(f"a view is a name or (azimuth, elevation) in degrees, got {view!r}") from None
    if not (math.isfinite(az) and math.isfinite(el) and abs(el) <= math.pi / 2 + 1e-12):
        raise CADError(f"a view needs a finite azimuth and an elevation in [-90, 90], got {view!r}")
    d = np.array([math.cos(el) * math.sin(az), -math.cos(el) * math.cos(az), math.sin(el)])
    r = np.array([math.cos(az), math.sin(az), 0.0])
    return np.stack([r, np.cross(d, r), d])


@dataclass(frozen=True)
class _Mesh:
    """A checked mesh: float vertices, the faces with an area, their unit normals, and the
    indices of those faces among the input's."""

    v: np.ndarray
    f: np.ndarray
    normals: np.ndarray
    kept: np.ndarray

    @cached_property
    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return _edges(self)  # once per mesh, for all its views


def _check_mesh(vertices: np.ndarray, faces: np.ndarray) -> _Mesh:
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise CADError(f"mesh vertices must be a non-empty (V, 3) array, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise CADError("mesh vertices must be finite")
    if f.ndim != 2 or f.shape[1] != 3 or len(f) == 0 or not np.issubdtype(f.dtype, np.integer):
        raise CADError(f"mesh faces must be a non-empty (F, 3) integer array, got shape {f.shape} ({f.dtype})")
    if f.min() < 0 or f.max() >= len(v):
        raise CADError(f"mesh faces index vertices outside 0..{len(v) - 1}")
    f = f.astype(np.int64)
    cross = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    norm = np.linalg.norm(cross, axis=1)
    kept = np.flatnonzero(norm > 1e-12 * float(np.linalg.norm(v.max(0) - v.min(0))) ** 2)
    if len(kept) == 0:
        raise CADError("the mesh has no triangle with an area")
    return _Mesh(v, f[kept], cross[kept] / norm[kept, None], kept)


@dataclass(frozen=True)
class Raster:
    """A z-buffer: ``depth`` (N, N) in pixels, larger nearer, ``-inf`` on background; ``face``
    (N, N) the visible triangle (-1 on background); ``screen`` (V, 3) each vertex's
    (column, row, depth); ``basis`` the view's rows (r, u, d)."""

    depth: np.ndarray
    face: np.ndarray
    screen: np.ndarray
    basis: np.ndarray


def _project(v: np.ndarray, basis: np.ndarray, size: int, margin: float) -> np.ndarray:
    cam = v @ basis.T
    lo, hi = cam[:, :2].min(0), cam[:, :2].max(0)
    extent = float((hi - lo).max())
    if not extent > 0:
        raise CADError("the mesh has no extent in this view")
    s = (1 - 2 * margin) * size / extent
    centre = (lo + hi) / 2
    return np.stack([size / 2 + s * (cam[:, 0] - centre[0]), size / 2 - s * (cam[:, 1] - centre[1]),
                     s * cam[:, 2]], axis=1)


def _zbuffer(screen: np.ndarray, faces: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    a, b, c = (screen[faces[:, k]] for k in range(3))
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    xy = np.stack([a[:, :2], b[:, :2], c[:, :2]])
    # pixel centres k + 0.5 within the triangle's bounding box
    x0 = np.maximum(np.ceil(xy[..., 0].min(0) - 0.5), 0).astype(np.int64)
    x1 = np.minimum(np.floor(xy[..., 0].max(0) - 0.5), size - 1).astype(np.int64)
    y0 = np.maximum(np.ceil(xy[..., 1].min(0) - 0.5), 0).astype(np.int64)
    y1 = np.minimum(np.floor(xy[..., 1].max(0) - 0.5), size - 1).astype(np.int64)
    w, h = x1 - x0 + 1, y1 - y0 + 1
    live = np.flatnonzero((np.abs(area) > 1e-9) & (w > 0) & (h > 0))
    # affine forms in (X, Y): barycentric weights of a and b, and the depth
    inv = 1.0 / area[live]
    A, B, C = a[live], b[live], c[live]
    wa = np.stack([(B[:, 1] - C[:, 1]), (C[:, 0] - B[:, 0]), B[:, 0] * C[:, 1] - C[:, 0] * B[:, 1]], 1) * inv[:, None]
    wb = np.stack([(C[:, 1] - A[:, 1]), (A[:, 0] - C[:, 0]), C[:, 0] * A[:, 1] - A[:, 0] * C[:, 1]], 1) * inv[:, None]
    wc = -(wa + wb)
    wc[:, 2] += 1.0
    plane = wa * A[:, 2:] + wb * B[:, 2:] + wc * C[:, 2:]
    coef = np.concatenate([wa, wb, plane], axis=1)  # (L, 9)
    w, h, x0, y0 = w[live], h[live], x0[live], y0[live]
    n = w * h
    depth = np.full(size * size, -np.inf)
    face = np.full(size * size, -1, dtype=np.int64)
    ends = np.cumsum(n)
    start = 0
    while start < len(live):
        stop = max(int(np.searchsorted(ends, (ends[start] - n[start]) + _CHUNK, side="right")), start + 1)
        idx = np.arange(start, stop)
        tri = np.repeat(idx, n[idx])
        local = np.arange(len(tri)) - np.repeat(ends[idx] - n[idx] - (ends[start] - n[start]), n[idx])
        px = x0[tri] + local % w[tri]
        py = y0[tri] + local // w[tri]
        X, Y = px + 0.5, py + 0.5
        k = coef[tri]
        la = k[:, 0] * X + k[:, 1] * Y + k[:, 2]
        lb = k[:, 3] * X + k[:, 4] * Y + k[:, 5]
        inside = (la >= -1e-9) & (lb >= -1e-9) & (la + lb <= 1 + 1e-9)
        z = (k[:, 6] * X + k[:, 7] * Y + k[:, 8])[inside]
        pix, tri = (py * size + px)[inside], live[tri[inside]]
        order = np.lexsort((tri, -z, pix))
        pix, z, tri = pix[order], z[order], tri[order]
        first = np.ones(len(pix), dtype=bool)
        first[1:] = pix[1:] != pix[:-1]
        pix, z, tri = pix[first], z[first], tri[first]
        nearer = z > depth[pix]  # an earlier chunk's equal depth (lower index) stays
        depth[pix[nearer]], face[pix[nearer]] = z[nearer], tri[nearer]
        start = stop
    return depth.reshape(size, size), face.reshape(size, size)


def _check_size(size: int, margin: float) -> None:
    if not (isinstance(size, (int, np.integer)) and size >= 8):
        raise CADError(f"the image size must be an integer >= 8, got {size!r}")
    if not 0 <= margin < 0.5:
        raise CADError(f"the margin must be in [0, 0.5), got {margin!r}")


def rasterize(vertices: np.ndarray, faces: np.ndarray, view: str | tuple[float, float] = "iso", size: int = 128,
              margin: float = 0.05) -> Raster:
    """The z-buffer of the mesh seen from ``view`` (module docstring); ``face`` indexes ``faces``."""
    _check_size(size, margin)
    m = _check_mesh(vertices, faces)
    r = _rasterize(m, view, int(size), margin)
    return Raster(r.depth, np.where(r.face >= 0, m.kept[np.maximum(r.face, 0)], -1), r.screen, r.basis)


def _rasterize(m: _Mesh, view: str | tuple[float, float], size: int, margin: float) -> Raster:
    basis = view_basis(view)
    screen = _project(m.v, basis, size, margin)
    depth, face = _zbuffer(screen, m.f, size)
    return Raster(depth, face, screen, basis)


def _shade(m: _Mesh, r: Raster) -> np.ndarray:
    cam = m.normals @ r.basis.T  # (right, up, toward) components
    cam *= np.where(cam[:, 2] < 0, -1.0, 1.0)[:, None]  # two-sided: the side the viewer sees
    lambert = np.clip(cam @ LIGHT, 0.0, None)
    gray = np.rint(DARK + (BRIGHT - DARK) * (AMBIENT + (1 - AMBIENT) * lambert))
    return np.where(r.face >= 0, gray[np.maximum(r.face, 0)], BACKGROUND).astype(np.uint8)


def _edges(m: _Mesh) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Edges after merging coincident vertices: endpoints (E, 2) (input vertex indices), the
    two faces (``f2 = -1`` unless the edge has exactly two), and whether the edge is sharp
    (feature angle, boundary or non-manifold)."""
    lo = m.v.min(0)
    quantum = 1e-6 * float(np.linalg.norm(m.v.max(0) - lo))
    q = np.rint((m.v - lo) / quantum).astype(np.int64)
    _, first, inverse = np.unique(q, axis=0, return_index=True, return_inverse=True)
    fm = inverse.reshape(-1)[m.f]
    e = fm[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    owner = np.repeat(np.arange(len(m.f)), 3)
    e.sort(axis=1)
    real = e[:, 0] != e[:, 1]
    e, owner = e[real], owner[real]
    key = e[:, 0] * (len(first) + 1) + e[:, 1]
    order = np.argsort(key, kind="stable")
    key, e, owner = key[order], e[order], owner[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    counts = np.diff(np.r_[starts, len(key)])
    two = counts == 2
    f1 = owner[starts]
    f2 = np.where(two, owner[np.minimum(starts + 1, len(owner) - 1)], -1)
    cosine = np.einsum("ij,ij->i", m.normals[f1], m.normals[np.maximum(f2, 0)])
    sharp = ~two | (cosine < math.cos(math.radians(FEATURE_ANGLE)))
    return first[e[starts]], f1, f2, sharp


def _draw_edges(m: _Mesh, r: Raster, size: int) -> np.ndarray:
    ends, f1, f2, sharp = m.edges
    toward = m.normals @ r.basis[2]
    silhouette = (f2 >= 0) & ((toward[f1] > 0) != (toward[np.maximum(f2, 0)] > 0))
    draw = sharp | silhouette
    ends, f1, f2 = ends[draw], f1[draw], f2[draw]
    image = np.full((size, size), BACKGROUND, dtype=np.uint8)
    if len(ends) == 0:
        return image
    a, b = r.screen[ends[:, 0]], r.screen[ends[:, 1]]
    n = np.ceil(2 * np.linalg.norm(b[:, :2] - a[:, :2], axis=1)).astype(np.int64) + 1  # every half pixel
    seg = np.repeat(np.arange(len(n)), n)
    t = (np.arange(len(seg)) - np.repeat(np.cumsum(n) - n, n)) / np.maximum(n - 1, 1)[seg]
    p = a[seg] + t[:, None] * (b - a)[seg]
    col = np.clip(np.floor(p[:, 0]).astype(np.int64), 0, size - 1)
    row = np.clip(np.floor(p[:, 1]).astype(np.int64), 0, size - 1)
    depth = np.pad(r.depth, 1, constant_values=-np.inf)
    face = np.pad(r.face, 1, constant_values=-1)
    near = np.stack([depth[row + i, col + j] for i in range(3) for j in range(3)])
    seen = np.stack([face[row + i, col + j] for i in range(3) for j in range(3)])
    visible = (p[:, 2] + EDGE_DEPTH_TOL >= near.min(0)) | (seen == f1[seg]).any(0) | (seen == f2[seg]).any(0)
    image[row[visible], col[visible]] = 0
    return image


def _render(m: _Mesh, view: str | tuple[float, float], size: int, style: str, margin: float) -> np.ndarray:
    r = _rasterize(m, view, size, margin)
    return _shade(m, r) if style == "shaded" else _draw_edges(m, r, size)


def _check_style(style: str) -> None:
    if style not in STYLES:
        raise CADError(f"unknown render style {style!r}; one of {', '.join(STYLES)}")


def render_mesh(vertices: np.ndarray, faces: np.ndarray, view: str | tuple[float, float] = "iso", size: int = 128,
                style: str = "shaded", margin: float = 0.05) -> np.ndarray:
    """A ``(size, size)`` uint8 grayscale render of the mesh (module docstring): ``"shaded"``
    (Lambert on white) or ``"edges"`` (visible feature and silhouette lines, black on white)."""
    _check_size(size, margin)
    _check_style(style)
    return _render(_check_mesh(vertices, faces), view, int(size), style, margin)


def render_stl(path: str | os.PathLike, views: Sequence[str | tuple[float, float]] = ("iso",), size: int = 128,
               style: str = "shaded", margin: float = 0.05) -> list[np.ndarray]:
    """:func:`render_mesh` of the STL file ``path`` (read with trimesh) from each of ``views``."""
    _check_size(size, margin)
    _check_style(style)
    if isinstance(views, str) or (len(views) == 2 and all(isinstance(x, (int, float)) for x in views)):
        views = [views]  # type: ignore[list-item]
    if not os.path.isfile(path):
        raise CADError(f"no STL file at {os.fspath(path)}")
    try:
        import trimesh
    except ImportError:
        raise CADError("reading STL files needs trimesh (pip install trimesh)") from None
    try:
        mesh = trimesh.load(os.fspath(path), file_type="stl", force="mesh")
    except Exception as e:  # noqa: BLE001 - any reader failure is this file's fault
        raise CADError(f"{os.fspath(path)} is not a readable STL file ({type(e).__name__}: {e})") from None
    if len(mesh.faces) == 0:
        raise CADError(f"{os.fspath(path)} holds no triangles")
    m = _check_mesh(mesh.vertices, mesh.faces)
    return [_render(m, view, int(size), style, margin) for view in views]


def write_png(image: np.ndarray, path: str | os.PathLike) -> None:
    """Write a (H, W) grayscale or (H, W, 3) RGB uint8 image to the PNG file ``path`` (atomically)."""
    from PIL import Image  # Pillow: matplotlib's own image writer

    image = np.asarray(image)
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise CADError(f"a PNG image must be a (H, W) or (H, W, 3) uint8 array, got {image.shape} {image.dtype}")
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


def render_grid(images: Sequence[np.ndarray], labels: Sequence[str], path: str | os.PathLike,
                ncols: int | None = None, title: str | None = None) -> None:
    """A labelled grid of grayscale images (e.g. samples beside test parts), written as a PNG
    with matplotlib (atomically)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if len(images) == 0 or len(images) != len(labels):
        raise CADError(f"a grid needs one label per image and at least one image, got {len(images)} images "
                       f"and {len(labels)} labels")
    ncols = min(len(images), 6) if ncols is None else int(ncols)
    if ncols < 1:
        raise CADError(f"a grid needs at least one column, got {ncols}")
    nrows = -(-len(images) // ncols)
    side = max(1.2, max(max(np.shape(im)[:2]) for im in images) / 90)  # inches: no image shrunk at 100 dpi
    fig = Figure(figsize=((side + 0.2) * ncols, (side + 0.35) * nrows + (0.3 if title else 0.0)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k < len(images):
            ax.imshow(np.asarray(images[k]), cmap="gray", vmin=0, vmax=255, interpolation="antialiased")
            ax.set_title(str(labels[k]), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
