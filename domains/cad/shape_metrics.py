"""Point-cloud metrics of generated parts: chamfer distance, COV, MMD and JSD.

The protocol of DeepCAD (Wu, Xiao & Zheng 2021, ICCV, §4; its ``evaluation/evaluate_ae_cd.py``
and ``evaluate_gen_torch.py``), whose COV / MMD / JSD come from Achlioptas, Diamanti, Mitliagkas
& Guibas 2018, "Learning Representations and Generative Models for 3D Point Clouds" (ICML).
Each part is a cloud of points drawn uniformly on its surface (2000 in DeepCAD;
:func:`domains.cad.export.mesh_points`, or ``build(seq, points=2000)``).

* **Normalisation** (:func:`normalize_cloud`): ``p -> (p - c) / max|p - c|`` with ``c`` the
  centre of the cloud's bounding box, so the cloud fills ``[-1, 1]^3`` with its largest
  half-side 1. DeepCAD's script divides by ``max|p|`` without centring (its parts were already
  placed around the origin); ``center=False`` does exactly that.
* **Chamfer distance** (DeepCAD's CD, squared distances, no square root)::

      CD(A, B) = 1/|A| sum_{a in A} min_{b in B} |a - b|^2  +  1/|B| sum_{b in B} min_{a in A} |a - b|^2

  DeepCAD reports ``CD x 10^3``, median over the test set.
* **COV and MMD** over a matrix ``D[i, j] = CD(sample_i, ref_j)``:
  ``COV = |{argmin_j D[i, j] : i}| / N_ref`` (the share of references that are some sample's
  nearest reference) and ``MMD = mean_j min_i D[i, j]`` (DeepCAD reports COV in %, MMD x 10^3).
* **JSD**: every point of every cloud of a set is assigned to the nearest centre of a
  ``R^3`` grid (``R = 28``) of centres ``-1 + 2 k / (R - 1)`` over ``[-1, 1]^3``; the counts,
  normalised, are the set's distribution ``P`` (and ``Q`` for the other set), and
  ``JSD(P, Q) = H((P + Q) / 2) - (H(P) + H(Q)) / 2``. **Natural logarithm by default**
  (``0 <= JSD <= ln 2``); DeepCAD's and Achlioptas et al.'s scripts use base 2 (``<= 1``):
  pass ``base=2`` to compare with their tables (DeepCAD reports ``JSD x 10^2``).

**The noise floor.** Two independent samplings of the *same* shape are not at CD 0: with
``n`` points on a surface of area ``S`` each point's squared distance to the other cloud's
nearest point is close to ``Exp(pi n / S)`` (a Poisson process in the plane), so
``CD_floor ~ 2 S / (pi n)``. :func:`chamfer_noise_floor` measures it; a median CD must be
reported beside it, because differences below it are sampling noise, not geometry. Measured
(normalised, 2000 points, median of 10 pairs of seeds): 7.5e-3 for a cube (closed form 7.6e-3,
``S = 24``), 6.0e-3 for a cylinder of height twice its radius (6.0e-3, ``S = 6 pi``). CD scales
with the square of the size: DeepCAD's reconstruction CDs are on parts scaled to
``max|p| = 0.75`` and not re-normalised, 0.5625 times the same clouds normalised here.

Nearest neighbours: on the CPU (``device=None``) an exact KD-tree search (``scipy``), several
times faster than dense distance blocks there; with a torch ``device`` (e.g. ``"cuda"``) dense
``|a|^2 + |b|^2 - 2 a.b`` blocks of at most ``max_block`` entries, whose nearest pairs are then
re-measured exactly (so a cloud against itself gives exactly 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from scipy.spatial import cKDTree

from domains.cad.sequence import CADError

__all__ = ["CoverageMMD", "normalize_cloud", "chamfer", "chamfer_matrix", "coverage_mmd", "occupancy_counts",
           "jsd", "chamfer_noise_floor"]

#: points may stick out of [-1, 1]^3 by this much before JSD refuses them (DeepCAD warns at 1e-3)
CUBE_SLACK = 1e-3


class CoverageMMD(NamedTuple):
    """COV (a fraction in [0, 1]) and MMD (a chamfer distance)."""

    cov: float
    mmd: float


def _cloud(points: Any, name: str = "points") -> np.ndarray:
    p = points.detach().cpu().numpy() if isinstance(points, torch.Tensor) else np.asarray(points)
    if p.ndim != 2 or p.shape[1] != 3 or len(p) == 0:
        raise CADError(f"{name} must be a non-empty (n, 3) point cloud, got shape {p.shape}")
    if not np.issubdtype(p.dtype, np.number) or not np.isfinite(p).all():
        raise CADError(f"{name} must hold finite numbers")
    return p.astype(np.float64, copy=False)


def _clouds(clouds: Any, name: str) -> list[np.ndarray]:
    if isinstance(clouds, (np.ndarray, torch.Tensor)) and clouds.ndim == 2:
        raise CADError(f"{name} must be a list of clouds or a (k, n, 3) array, got one (n, 3) cloud")
    out = [_cloud(c, f"{name}[{i}]") for i, c in enumerate(clouds)]
    if not out:
        raise CADError(f"{name} holds no clouds")
    return out


def normalize_cloud(points: Any, center: bool = True) -> np.ndarray:
    """``points`` centred on their bounding box's centre and scaled so the largest |coordinate|
    is 1 (``center=False``: scaled only, as DeepCAD's script); module docstring."""
    p = _cloud(points)
    if center:
        p = p - 0.5 * (p.min(0) + p.max(0))
    scale = float(np.abs(p).max())
    if not scale > 0:
        raise CADError("cannot normalise a cloud whose points all sit at one point" if center
                       else "cannot normalise a cloud whose points all sit at the origin")
    return p / scale


def _kdtree_matrix(A: list[np.ndarray], B: list[np.ndarray]) -> np.ndarray:
    trees_a, trees_b = [cKDTree(a) for a in A], [cKDTree(b) for b in B]
    out = np.empty((len(A), len(B)))
    for i, a in enumerate(A):
        for j, b in enumerate(B):
            d_ab, _ = trees_b[j].query(a, workers=1)
            d_ba, _ = trees_a[i].query(b, workers=1)
            out[i, j] = np.mean(d_ab ** 2) + np.mean(d_ba ** 2)
    return out


def _torch_matrix(A: list[np.ndarray], B: list[np.ndarray], device: torch.device, max_block: int) -> np.ndarray:
    dtype = torch.float32 if device.type != "cpu" else torch.float64
    tb = [torch.as_tensor(b, dtype=dtype, device=device) for b in B]
    out = np.empty((len(A), len(B)))
    for i, a_np in enumerate(A):
        a = torch.as_tensor(a_np, dtype=dtype, device=device)
        a2 = (a * a).sum(1, keepdim=True)
        j = 0
        while j < len(B):  # a chunk of references whose distance block has at most max_block entries
            k, width = 1, len(B[j])
            while j + k < len(B) and (width + len(B[j + k])) * len(a) <= max_block:
                width += len(B[j + k])
                k += 1
            sizes = [len(b) for b in B[j:j + k]]
            b = torch.cat(tb[j:j + k])
            d = torch.addmm((b * b).sum(1)[None], a, b.T, alpha=-2).add_(a2)  # |a - b|^2, up to rounding
            ba_idx = d.argmin(0)  # for each reference point, its nearest point of a
            ba = ((b - a[ba_idx]) ** 2).sum(1)  # re-measured exactly
            for m, (block, refs, part) in enumerate(zip(d.split(sizes, 1), tb[j:j + k], ba.split(sizes))):
                ab = ((a - refs[block.argmin(1)]) ** 2).sum(1)
                out[i, j + m] = float(ab.mean() + part.mean())
            j += k
    return out


def chamfer_matrix(A_list: Sequence[Any], B_list: Sequence[Any], device: str | torch.device | None = None,
                   max_block: int = 2 ** 25) -> np.ndarray:
    """``D[i, j] = CD(A_list[i], B_list[j])`` for all pairs, ``(len(A), len(B))`` float64.
    Clouds may differ in size. ``device=None``: exact KD-tree search on the CPU; a torch device:
    dense blocks of at most ``max_block`` distances (module docstring)."""
    A, B = _clouds(A_list, "A_list"), _clouds(B_list, "B_list")
    if device is None:
        return _kdtree_matrix(A, B)
    if max_block < max(len(a) for a in A) * max(len(b) for b in B):
        raise CADError(f"max_block={max_block} cannot hold the distances of one pair of clouds")
    return _torch_matrix(A, B, torch.device(device), max_block)


def chamfer(a: Any, b: Any, device: str | torch.device | None = None) -> float:
    """DeepCAD's chamfer distance between two clouds (module docstring), on the clouds as given."""
    return float(chamfer_matrix([_cloud(a, "a")], [_cloud(b, "b")], device)[0, 0])


def coverage_mmd(samples: Sequence[Any], refs: Sequence[Any], device: str | torch.device | None = None,
                 distances: np.ndarray | None = None) -> CoverageMMD:
    """COV and MMD of generated ``samples`` against reference clouds ``refs`` (module docstring).
    ``distances``: a ``chamfer_matrix(samples, refs)`` already computed (then the clouds are not read)."""
    if distances is None:
        distances = chamfer_matrix(samples, refs, device)
    d = np.asarray(distances, dtype=np.float64)
    if d.ndim != 2 or 0 in d.shape or not np.isfinite(d).all():
        raise CADError(f"distances must be a finite (n_samples, n_refs) matrix, got shape {d.shape}")
    cov = len(np.unique(d.argmin(1))) / d.shape[1]
    return CoverageMMD(float(cov), float(d.min(0).mean()))


def occupancy_counts(clouds: Sequence[Any], resolution: int = 28) -> np.ndarray:
    """How many points of all ``clouds`` fall nearest to each centre of the ``resolution^3``
    grid over ``[-1, 1]^3`` (flattened, ``resolution^3``); the clouds must be normalised."""
    if resolution < 2:
        raise CADError(f"the grid resolution must be at least 2, got {resolution}")
    counts = np.zeros(resolution ** 3, dtype=np.int64)
    for i, c in enumerate(_clouds(clouds, "clouds")):
        if np.abs(c).max() > 1 + CUBE_SLACK:
            raise CADError(f"clouds[{i}] leaves [-1, 1]^3 (max |coordinate| {np.abs(c).max():.3g}); "
                           "normalize_cloud it first")
        k = np.clip(np.rint((c + 1) * (resolution - 1) / 2), 0, resolution - 1).astype(np.int64)
        counts += np.bincount((k[:, 0] * resolution + k[:, 1]) * resolution + k[:, 2], minlength=resolution ** 3)
    return counts


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def jsd(samples: Sequence[Any], refs: Sequence[Any], resolution: int = 28, base: float = math.e) -> float:
    """Jensen–Shannon divergence between the grid distributions of two sets of normalised
    clouds (module docstring); natural logarithm unless ``base`` is given (DeepCAD: 2)."""
    if not base > 1:
        raise CADError(f"the logarithm's base must exceed 1, got {base!r}")
    p, q = (occupancy_counts(s, resolution).astype(np.float64) for s in (samples, refs))
    p, q = p / p.sum(), q / q.sum()
    value = _entropy(0.5 * (p + q)) - 0.5 * (_entropy(p) + _entropy(q))
    return max(value, 0.0) / math.log(base)


def chamfer_noise_floor(shape_points_a: Any, shape_points_b: Any, normalize: bool = True,
                        device: str | torch.device | None = None) -> float:
    """The chamfer distance's floor: CD between two independent samplings of the same shape.
    Give two clouds of one shape, or two equally long lists (pair ``i``: two samplings of shape
    ``i``; the median over shapes is returned). Each cloud is normalised first unless
    ``normalize=False``, as an evaluation would."""
    single = all(isinstance(x, (np.ndarray, torch.Tensor)) and x.ndim == 2 for x in (shape_points_a, shape_points_b))
    A = [_cloud(shape_points_a, "shape_points_a")] if single else _clouds(shape_points_a, "shape_points_a")
    B = [_cloud(shape_points_b, "shape_points_b")] if single else _clouds(shape_points_b, "shape_points_b")
    if len(A) != len(B):
        raise CADError(f"shape_points_a has {len(A)} clouds, shape_points_b {len(B)}: they must pair up")
    if normalize:
        A, B = [normalize_cloud(a) for a in A], [normalize_cloud(b) for b in B]
    return float(np.median([chamfer(a, b, device) for a, b in zip(A, B)]))
