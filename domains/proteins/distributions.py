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

The reference side needs only its counts (:func:`angle_histograms`, 1,368 numbers), and the
baseline only the training marginals at 1 degree (:func:`marginal_counts`), so a bundled model
can carry both and score samples without its data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from domains.proteins.angles import ANGLE_NAMES
from gensci.errors import GensciError

__all__ = [
    "circular_counts",
    "smoothed_density",
    "circular_density",
    "kl_divergence",
    "angle_values",
    "angle_pairs",
    "angle_histograms",
    "angle_kls",
    "marginal_counts",
    "independent_marginal_baseline",
]

#: the floor under a smoothed density, relative to a uniform one (keeps KL finite)
EPS = 1e-6


def _wrap(x: np.ndarray) -> np.ndarray:
    return (x + np.pi) % (2 * np.pi) - np.pi


def circular_counts(values: np.ndarray, bins: int = 36) -> np.ndarray:
    """Counts of points on the torus ``[-pi, pi)^d`` (``values`` ``(N,)`` or ``(N, d)``) in
    ``bins`` equal cells per axis; points with a non-finite coordinate are left out."""
    v = np.asarray(values, dtype=np.float64)
    v = v[:, None] if v.ndim == 1 else v
    v = v[np.isfinite(v).all(axis=1)]
    index = np.floor((_wrap(v) + np.pi) / (2 * np.pi) * bins).astype(int) % bins
    counts = np.zeros((bins,) * v.shape[1])
    np.add.at(counts, tuple(index.T), 1.0)
    return counts


def smoothed_density(counts: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """A histogram of :func:`circular_counts` smoothed by a circular Gaussian of ``sigma``
    cells per axis (in Fourier space, so the cells at ``-pi`` and ``pi`` are neighbours),
    floored at ``EPS`` of a uniform cell and normalised to sum to 1."""
    counts = np.asarray(counts, dtype=np.float64)
    if not counts.sum() > 0:
        raise GensciError("no finite angles to histogram")
    if sigma > 0:
        bins, d = counts.shape[0], counts.ndim
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


def circular_density(values: np.ndarray, bins: int = 36, sigma: float = 1.0) -> np.ndarray:
    """Smoothed histogram density of points on the torus ``[-pi, pi)^d``.

    ``values`` is ``(N,)`` or ``(N, d)``; the result has ``bins`` cells per axis and sums to
    1: :func:`smoothed_density` of :func:`circular_counts`.
    """
    return smoothed_density(circular_counts(values, bins), sigma)


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


#: the two joints: key -> (first angle, second angle, shift along the chain)
JOINTS = {"ramachandran": ("phi", "psi", 0), "psi_phi_next": ("psi", "phi", 1)}
#: cells per axis of the marginal and the joint histograms
BINS, JOINT_BINS = 36, 24
#: cells of the fine marginals that stand in for training angles (1 degree; 36 and 24 divide it)
FINE_BINS = 360

#: counts of angles: an angle name or a joint name (:data:`JOINTS`) -> histogram
Histograms = Mapping[str, np.ndarray]


def angle_histograms(angles: Sequence[Tensor | np.ndarray], bins: int = BINS, joint_bins: int = JOINT_BINS) -> dict[str, np.ndarray]:
    """Counts of the six marginals (``bins`` cells) and the two joints (``joint_bins`` per axis)
    of angle arrays ``(L_i, 6)``: what :func:`angle_kls` compares, small enough to store."""
    out = {name: circular_counts(angle_values(angles, name), bins) for name in ANGLE_NAMES}
    for key, (first, second, shift) in JOINTS.items():
        out[key] = circular_counts(angle_pairs(angles, first, second, shift), joint_bins)
    return out


def angle_kls(
    samples: Sequence[Tensor | np.ndarray],
    reference: Sequence[Tensor | np.ndarray] | Histograms,
    bins: int = BINS,
    joint_bins: int = JOINT_BINS,
    sigma: float = 1.0,
) -> dict[str, float]:
    """``KL(samples || reference)`` of the six marginals, their mean, and the two joints.

    ``samples`` is a list of angle arrays ``(L_i, 6)`` (NaN where undefined), e.g. from
    :func:`domains.proteins.angles.backbone_to_angles`; ``reference`` another such list or its
    :func:`angle_histograms` (the same numbers, from stored counts).
    """
    mine = angle_histograms(samples, bins, joint_bins)
    ref = reference if isinstance(reference, Mapping) else angle_histograms(reference, bins, joint_bins)
    for key in mine:
        if np.shape(ref.get(key)) != mine[key].shape:
            raise GensciError(f"the reference histogram {key!r} has shape {np.shape(ref.get(key))}, "
                              f"the samples' {mine[key].shape}")
    kl = {key: kl_divergence(smoothed_density(mine[key], sigma), smoothed_density(np.asarray(ref[key]), sigma))
          for key in mine}
    out = {f"kl_{name}": kl[name] for name in ANGLE_NAMES}
    out["kl_angles_mean"] = float(np.mean([out[f"kl_{name}"] for name in ANGLE_NAMES]))
    out.update({f"kl_{key}": kl[key] for key in JOINTS})
    return out


def marginal_counts(angles: Sequence[Tensor | np.ndarray], bins: int = FINE_BINS) -> np.ndarray:
    """``(6, bins)`` counts of each angle's defined values: the training marginals
    :func:`independent_marginal_baseline` can draw from when the angles themselves are gone."""
    return np.stack([circular_counts(angle_values(angles, name), bins) for name in ANGLE_NAMES])


def independent_marginal_baseline(
    train: Sequence[Tensor | np.ndarray] | np.ndarray, lengths: Sequence[int], generator: torch.Generator
) -> list[Tensor]:
    """Angle arrays ``(L, 6)`` whose every entry is drawn independently from the training
    marginal of its column (uniformly among the training values, with replacement).

    ``train`` is the training angle arrays, or their :func:`marginal_counts` ``(6, bins)``: then
    each entry is the centre of a cell drawn in proportion to its count. With 360 cells the
    cell of every drawn value on the 36- and 24-cell grids of :func:`angle_kls` has the same
    probability as with the values themselves, so the baseline's KLs have the same
    distribution (not the same draws).

    This is the "no model" reference: right marginals, no coupling between the angles of a
    residue or along the chain. Undefined entries (:func:`~domains.proteins.angles.defined_mask`)
    are NaN, as in measured angles.
    """
    from domains.proteins.angles import defined_mask

    if isinstance(train, np.ndarray) and train.ndim == 2:  # marginal_counts: draw cells, take their centres
        counts = torch.from_numpy(np.asarray(train, dtype=np.float64))
        if counts.shape[0] != len(ANGLE_NAMES) or not bool((counts.sum(1) > 0).all()):
            raise GensciError(f"training marginals must be ({len(ANGLE_NAMES)}, bins) counts with a value for every angle")
        centres = (torch.arange(counts.shape[1], dtype=torch.float64) + 0.5) * (2 * np.pi / counts.shape[1]) - np.pi

        def draw(k: int, n: int) -> Tensor:
            return centres[torch.multinomial(counts[k], n, replacement=True, generator=generator)] if n else centres[:0]
    else:
        pools = [torch.from_numpy(angle_values(train, name)) for name in ANGLE_NAMES]
        if any(len(p) == 0 for p in pools):
            raise GensciError("the training angles hold no defined value for some angle")

        def draw(k: int, n: int) -> Tensor:
            return pools[k][torch.randint(len(pools[k]), (n,), generator=generator)]
    out = []
    for n in lengths:
        n = int(n)
        cols = [draw(k, n) for k in range(len(ANGLE_NAMES))]
        a = torch.stack(cols, dim=1) if n else torch.zeros(0, len(ANGLE_NAMES), dtype=torch.float64)
        out.append(torch.where(defined_mask(n), a, torch.full_like(a, float("nan"))))
    return out
