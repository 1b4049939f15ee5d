"""Renders of parts for the image encoder, built once and cached; user images prepared alike.

Each part's vector is decoded to its history in normalised units (:func:`domains.cad.vector.decode`),
built in the crash-contained worker (:func:`domains.cad.worker.build` with ``mesh=True``: the
triangulation comes back, no file is written) and rendered (:func:`domains.cad.render.render_mesh`)
from ``V`` views in both styles, ``"shaded"`` (a photo-like render) and ``"edges"`` (visible
feature and silhouette lines: the sketch-like input, as GenCAD's "sketch" images). The images of
``N`` parts form one uint8 array ``(N, K, S, S)``, ``K = styles x views`` in style-major order
(:attr:`RenderSet.keys`), white background; a part that fails to build stays white and is marked
in :attr:`RenderSet.ok`, its cause counted.

Size. 64 x 64 by default: a render costs ~2 ms at 64 px (4 ms at 96 px) beside a build's ~55 ms,
but the encoder's training step costs 2.2x more at 96 px (0.12 s against 0.26 s a batch of 64 at
width 16 on one core), and at 64 px the parts' holes, slots and steps are still several pixels
wide. GenCAD renders at 448 x 448 on GPUs.

Cache. ``<cache>/cad/renders/v{RENDER_VERSION}-n{N}-{S}px-{digest}.npz`` where the digest is the
SHA-1 of the vectors and the render settings, so a set of parts is rendered once, whatever split
or source it came from.

User images (:func:`prepare_image`): grayscale; a dark background (the border's median below
128) is inverted so parts are dark on light as in the renders; cropped to the bounding box of
the pixels that differ from the background by more than :data:`FOREGROUND_LEVEL`, padded to a
square of the background's level with the renders' margin, and resized to ``S x S``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from domains.cad.render import BACKGROUND, STYLES, render_mesh
from domains.cad.sequence import CADError
from gensci.io import atomic_path, cache_root

__all__ = ["RENDER_VERSION", "DEFAULT_VIEWS", "MARGIN", "RenderSet", "render_vectors", "prepare_image", "load_image",
           "FOREGROUND_LEVEL"]

#: bump when renders change, so cached sets are rendered again
RENDER_VERSION = 1
DEFAULT_VIEWS = ("iso", "front", "top", "right")
#: the renders' margin (a fraction of the image on each side)
MARGIN = 0.05
#: gray levels a pixel must differ from the background by to count as the part (user images)
FOREGROUND_LEVEL = 24


@dataclass
class RenderSet:
    """``images`` ``(N, K, S, S)`` uint8 (``K`` = styles x views, :attr:`keys`), ``ok`` ``(N,)``
    (the part built and rendered) and the failures counted by cause."""

    images: np.ndarray
    ok: np.ndarray
    views: tuple[str, ...]
    styles: tuple[str, ...]
    causes: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def size(self) -> int:
        return int(self.images.shape[-1])

    @property
    def keys(self) -> list[tuple[str, str]]:
        """``(style, view)`` of each of the ``K`` images of a part, in order."""
        return [(s, v) for s in self.styles for v in self.views]


def _cache_path(vectors: np.ndarray, views: Sequence[str], styles: Sequence[str], size: int, cache_dir) -> os.PathLike:
    settings = json.dumps({"views": list(views), "styles": list(styles), "size": size, "margin": MARGIN}).encode()
    digest = hashlib.sha1(np.ascontiguousarray(vectors, dtype=np.int64).tobytes() + settings).hexdigest()[:16]
    return cache_root(cache_dir) / "cad" / "renders" / f"v{RENDER_VERSION}-n{len(vectors)}-{size}px-{digest}.npz"


def render_vectors(vectors: np.ndarray, views: Sequence[str] = DEFAULT_VIEWS, size: int = 64,
                   styles: Sequence[str] = STYLES, cache_dir: str | os.PathLike | None = None, progress: bool = True,
                   timeout: float = 20.0) -> RenderSet:
    """The renders of DeepCAD vectors ``(N, 60, 17)`` (module docstring), read from the cache when
    this set was rendered before."""
    from domains.cad.vector import decode
    from domains.cad.worker import build

    vectors = np.asarray(vectors)
    if vectors.ndim != 3 or len(vectors) == 0:
        raise CADError(f"render_vectors needs vectors (N, rows, 17) with N >= 1, got shape {vectors.shape}")
    views, styles = tuple(str(v) for v in views), tuple(str(s) for s in styles)
    if not views or not styles or set(styles) - set(STYLES):
        raise CADError(f"renders need at least one view and styles among {', '.join(STYLES)}, got {views}, {styles}")
    path = _cache_path(vectors, views, styles, int(size), cache_dir)
    if os.path.isfile(path):
        with np.load(path, allow_pickle=False) as z:
            return RenderSet(z["images"], z["ok"], views, styles, json.loads(str(z["causes"])))
    images = np.full((len(vectors), len(styles) * len(views), size, size), BACKGROUND, dtype=np.uint8)
    ok = np.zeros(len(vectors), dtype=bool)
    causes: Counter = Counter()
    for i in tqdm(range(len(vectors)), desc="rendering CAD parts", unit="part", disable=not progress):
        try:
            result = build(decode(vectors[i]), timeout=timeout, mesh=True)
            if result.vertices is None:
                raise CADError(result.cause or "; ".join(result.file_errors) or "no triangulation")
            images[i] = [render_mesh(result.vertices, result.faces, view, size, style, MARGIN)
                         for style in styles for view in views]
            ok[i] = True
        except CADError as err:
            causes[str(err).split(": ")[-1][:80]] += 1
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, images=images, ok=ok, causes=json.dumps(dict(causes)))
    return RenderSet(images, ok, views, styles, dict(causes))


def prepare_image(image: np.ndarray, size: int = 64) -> np.ndarray:
    """A grayscale image ``(H, W)`` (uint8 or 0..255) as a render-like ``(size, size)`` uint8
    image (module docstring)."""
    from PIL import Image

    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2 or min(img.shape) < 2:
        raise CADError(f"an image must be a (H, W) grayscale array of at least 2 x 2 pixels, got shape {img.shape}")
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    if np.median(border) < 128:
        img = 255.0 - img
        border = 255.0 - border
    background = float(np.median(border))
    rows, cols = np.nonzero(np.abs(img - background) > FOREGROUND_LEVEL)
    if len(rows) == 0:
        raise CADError("the image shows nothing but its background (no pixel differs from the border's gray)")
    crop = img[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    side = int(np.ceil(max(crop.shape) / (1 - 2 * MARGIN)))
    square = np.full((side, side), background)
    top, left = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    square[top:top + crop.shape[0], left:left + crop.shape[1]] = crop
    # stretch so the background is white, as in the renders
    square = np.clip(square * (BACKGROUND / max(background, 1.0)), 0, 255)
    resized = Image.fromarray(square.astype(np.uint8)).resize((int(size), int(size)), Image.Resampling.LANCZOS)
    return np.asarray(resized, dtype=np.uint8)


def load_image(path: str | os.PathLike, size: int = 64) -> np.ndarray:
    """Read a PNG / JPEG (any format Pillow reads) as grayscale and :func:`prepare_image` it."""
    from PIL import Image, UnidentifiedImageError

    if not os.path.isfile(path):
        raise CADError(f"no image file at {os.fspath(path)}")
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
                im = im.convert("RGBA")
                flat = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(flat, im)  # transparent -> white, as the renders' background
            gray = np.asarray(im.convert("L"))
    except (UnidentifiedImageError, OSError) as err:
        raise CADError(f"{os.fspath(path)} is not a readable image ({type(err).__name__}: {err})") from None
    return prepare_image(gray, size)
