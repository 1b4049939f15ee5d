"""Angle distributions of backbones against a reference set: circular histogram KLs.

FoldingDiff (Wu et al. 2024, arXiv 2209.15611, Fig. 2 and Supp.) compares generated and
test-set angles by the KL divergence of their histograms. Here every histogram lives on
the torus: ``B`` equal bins over ``[-pi, pi)`` per axis, smoothed by a circular (wrapped)
Gaussian of ``sigma`` bins, floored and normalised,

    p_b  ∝  max( sum_b' n_b' g_sigma(b - b' mod B) ,  eps ) ,      KL(P || Q) = sum_b p_b log(p_b / q_b)

with ``P`` the samples and ``Q`` the reference (``KL(samples || reference)``: large where the
samples put mass that the reference does not). Three families are reported by
:func:`angle_kls`:

* ``kl_<angle>`` for each of the six angles, and their mean ``kl_angles_mean`` — the
  marginals (36 bins of 10 degrees);
* ``kl_ramachandran`` — the joint ``(phi_i, psi_i)`` of each residue (24 x 24 bins of
  15 degrees);
* ``kl_psi_phi_next`` — the joint ``(psi_i, phi_{i+1})`` of consecutive residues, which
  couples neighbours along the chain.

A sampler that draws each angle independently from the training marginals
(:func:`independent_marginal_baseline`) reproduces every 1-D marginal by construction, so
the 1-D KLs cannot tell it from a good model; it breaks the phi-psi coupling (the
alpha-helix and beta basins become a product of marginals), so the two joint KLs are the
ones a model has to beat it on. Finite samples put a floor under every KL: real test
chains against training chains do not give 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from domains.proteins.angles import ANGLE_NAMES
from gensci.errors import GensciError

__all__ = [
    "circular_density",
    "kl_divergence",
    "angle_values",
    "angle_pairs",
    "angle_kls",
    "independent_marginal_baseline",
]

#: the floor under a smoothed density, relative to a uniform one (keeps KL finite)
EPS = 1e-6


def _wrap(x: np.ndarray) -> np.ndarray:
    return (x + np.pi) % (2 * np.pi) - np.pi


def circular_density(values: np.ndarray, bins: int = 36, sigma: float = 1.0) -> np.ndarray:
    """Smoothed histogram density of points on the torus ``[-pi, pi)^d``.

    ``values`` is ``(N,)`` or ``(N, d)``; the result has ``bins`` cells per axis and sums to
    1. Smoothing is a circular convolution with a Gaussian of ``sigma`` bins per axis
    (done in Fourier space, so the cells at ``-pi`` and ``pi`` are neighbours).
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[:, None] if v.ndim == 1 else v
    v = v[np.isfinite(v).all(axis=1)]
    d = v.shape[1]
    if len(v) == 0:
        raise GensciError("no finite angles to histogram")
    index = np.floor((_wrap(v) + np.pi) / (2 * np.pi) * bins).astype(int) % bins
    counts = np.zeros((bins,) * d)
    np.add.at(counts, tuple(index.T), 1.0)
    if sigma > 0:
        k = np.fft.fftfreq(bins) * bins  # integer frequencies
        gain = np.exp(-0.5 * (2 * np.pi * k / bins) ** 2 * sigma**2)  # Fourier transform of the Gaussian
        spectrum = np.fft.fftn(counts)
        for axis in range(d):
            shape = [1] * d
            shape[axis] = bins
            spectrum = spectrum * gain.reshape(shape)
        counts = np.fft.ifftn(spectrum).real
    p = np.maximum(counts / counts.sum(), EPS / counts.size)
    return p / p.sum()


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """``KL(P || Q) = sum p log(p / q)`` in nats, for densities on the same cells."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise GensciError(f"densities must share their cells, got {p.shape} and {q.shape}")
    keep = p > 0
    return float(np.sum(p[keep] * np.log(p[keep] / q[keep])))


def _as_arrays(angles: Sequence[Tensor | np.ndarray]) -> list[np.ndarray]:
    out = []
    for a in angles:
        a = a.detach().cpu().numpy() if isinstance(a, Tensor) else np.asarray(a)
        if a.ndim != 2 or a.shape[1] != len(ANGLE_NAMES):
            raise GensciError(f"angle arrays must be shaped (L, {len(ANGLE_NAMES)}), got {a.shape}")
        out.append(a.astype(np.float64))
    return out


def angle_values(angles: Sequence[Tensor | np.ndarray], name: str) -> np.ndarray:
    """Every defined value of one angle (a column of :data:`ANGLE_NAMES`) over the chains."""
    k = ANGLE_NAMES.index(name)
    v = np.concatenate([a[:, k] for a in _as_arrays(angles)] or [np.zeros(0)])
    return v[np.isfinite(v)]


def angle_pairs(angles: Sequence[Tensor | np.ndarray], first: str, second: str, shift: int = 0) -> np.ndarray:
    """Pairs ``(first_i, second_{i+shift})`` within each chain, both defined: ``(N, 2)``."""
    i, j = ANGLE_NAMES.index(first), ANGLE_NAMES.index(second)
    rows = []
    for a in _as_arrays(angles):
        n = len(a) - shift
        if n > 0:
            rows.append(np.stack([a[:n, i], a[shift : shift + n, j]], axis=1))
    pairs = np.concatenate(rows) if rows else np.zeros((0, 2))
    return pairs[np.isfinite(pairs).all(axis=1)]


def angle_kls(
    samples: Sequence[Tensor | np.ndarray],
    reference: Sequence[Tensor | np.ndarray],
    bins: int = 36,
    joint_bins: int = 24,
    sigma: float = 1.0,
) -> dict[str, float]:
    """``KL(samples || reference)`` of the six marginals, their mean, and the two joints.

    Both arguments are lists of angle arrays ``(L_i, 6)`` (NaN where undefined), e.g. from
    :func:`domains.proteins.angles.backbone_to_angles`.
    """
    out: dict[str, float] = {}
    for name in ANGLE_NAMES:
        p = circular_density(angle_values(samples, name), bins, sigma)
        q = circular_density(angle_values(reference, name), bins, sigma)
        out[f"kl_{name}"] = kl_divergence(p, q)
    out["kl_angles_mean"] = float(np.mean([out[f"kl_{name}"] for name in ANGLE_NAMES]))
    for key, (first, second, shift) in {"kl_ramachandran": ("phi", "psi", 0), "kl_psi_phi_next": ("psi", "phi", 1)}.items():
        p = circular_density(angle_pairs(samples, first, second, shift), joint_bins, sigma)
        q = circular_density(angle_pairs(reference, first, second, shift), joint_bins, sigma)
        out[key] = kl_divergence(p, q)
    return out


def independent_marginal_baseline(
    train: Sequence[Tensor | np.ndarray], lengths: Sequence[int], generator: torch.Generator
) -> list[Tensor]:
    """Angle arrays ``(L, 6)`` whose every entry is drawn independently from the training
    marginal of its column (uniformly among the training values, with replacement).

    This is the "no model" reference: right marginals, no coupling between the angles of a
    residue or along the chain. Undefined entries (:func:`~domains.proteins.angles.defined_mask`)
    are NaN, as in measured angles.
    """
    from domains.proteins.angles import defined_mask

    pools = [torch.from_numpy(angle_values(train, name)) for name in ANGLE_NAMES]
    if any(len(p) == 0 for p in pools):
        raise GensciError("the training angles hold no defined value for some angle")
    out = []
    for n in lengths:
        n = int(n)
        cols = [p[torch.randint(len(p), (n,), generator=generator)] for p in pools]
        a = torch.stack(cols, dim=1) if n else torch.zeros(0, len(pools), dtype=torch.float64)
        out.append(torch.where(defined_mask(n), a, torch.full_like(a, float("nan"))))
    return out
