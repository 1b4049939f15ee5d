"""Structural similarity of backbones by TM-score: novelty against training, diversity.

The TM-score of a structure A aligned onto B (Zhang & Skolnick 2004, Proteins 57:702),
normalised by a length ``L``, is

    TM = max over superpositions  (1/L) sum_i 1 / (1 + (d_i / d0(L))^2),
    d0(L) = 1.24 (L - 15)^(1/3) - 1.8 Å,

over the residue pairs ``i`` of the alignment. TM-align (Zhang & Skolnick 2005, NAR
33:2302, through ``tmtools``) finds the sequence-independent alignment; all chains are
compared as CA traces of poly-glycine, so only the geometry counts.

* :func:`novelty` — per sample, the highest TM-score to any training chain, normalised by
  the sample's length (FoldingDiff's "max TM to training", arXiv 2209.15611): near 1 means
  the sample reproduces a training chain, below 0.5 a different fold.
* :func:`diversity` — TM-scores between samples normalised by the shorter chain (a
  symmetric score): their mean, and the number of single-linkage clusters at
  ``TM >= 0.6`` (Genie 2, Lin et al. 2024, arXiv 2405.15489): samples joined by a chain
  of pairs at or above the threshold share a cluster.

Both cap the number of TM-align calls (about 15 ms each at 140 residues on one core) by
using at most ``max_samples`` samples, chosen with an explicit generator.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from gensci.errors import GensciError

__all__ = ["ca_trace", "tm_align", "novelty", "diversity", "single_linkage_clusters"]


def ca_trace(backbone: np.ndarray) -> np.ndarray:
    """CA coordinates ``(L, 3)`` (float64, contiguous) of a backbone ``(L, 3|4, 3)`` or a trace ``(L, 3)``."""
    x = np.asarray(backbone, dtype=np.float64)
    if x.ndim == 3:
        x = x[:, 1]
    if x.ndim != 2 or x.shape[1] != 3:
        raise GensciError(f"a backbone must be shaped (L, 3|4, 3) or a CA trace (L, 3), got {np.shape(backbone)}")
    if len(x) < 3:
        raise GensciError(f"TM-align needs at least 3 residues, got {len(x)}")
    return np.ascontiguousarray(x)


def tm_align(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """TM-scores of the TM-align alignment of ``a`` and ``b``: normalised by ``len(a)`` and by ``len(b)``."""
    import tmtools

    x, y = ca_trace(a), ca_trace(b)
    result = tmtools.tm_align(x, y, "G" * len(x), "G" * len(y))
    return float(result.tm_norm_chain1), float(result.tm_norm_chain2)


def _subset(n: int, max_samples: int | None, generator: torch.Generator | None) -> list[int]:
    if max_samples is None or n <= max_samples:
        return list(range(n))
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    return sorted(torch.randperm(n, generator=g)[:max_samples].tolist())


def novelty(
    samples: Sequence[np.ndarray],
    train: Sequence[np.ndarray],
    max_samples: int | None = 16,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """``novelty_max_tm_mean`` (mean over samples of the max TM to training, by sample
    length), its ``_max``, and ``novelty_fraction_below_0.5`` (samples with a new fold)."""
    if not train:
        raise GensciError("novelty needs training chains")
    chosen = _subset(len(samples), max_samples, generator)
    best = np.array([max(tm_align(samples[i], t)[0] for t in train) for i in chosen])
    if len(best) == 0:
        return {}
    return {
        "novelty_max_tm_mean": float(best.mean()),
        "novelty_max_tm_max": float(best.max()),
        "novelty_fraction_below_0.5": float((best < 0.5).mean()),
        "novelty_samples": float(len(best)),
    }


def single_linkage_clusters(similarity: np.ndarray, threshold: float) -> np.ndarray:
    """Cluster label per item: connected components of the graph ``similarity >= threshold``."""
    from scipy.sparse.csgraph import connected_components

    s = np.asarray(similarity)
    _, labels = connected_components(s >= threshold, directed=False)
    return labels


def diversity(
    samples: Sequence[np.ndarray],
    threshold: float = 0.6,
    max_samples: int | None = 20,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """``diversity_pairwise_tm`` (mean TM between samples, by the shorter chain),
    ``diversity_clusters`` at ``TM >= threshold`` and their share of the samples used."""
    chosen = _subset(len(samples), max_samples, generator)
    m = len(chosen)
    if m < 2:
        return {}
    tm = np.eye(m)
    for a in range(m):
        for b in range(a + 1, m):
            tm[a, b] = tm[b, a] = max(tm_align(samples[chosen[a]], samples[chosen[b]]))
    labels = single_linkage_clusters(tm, threshold)
    clusters = len(set(labels.tolist()))
    return {
        "diversity_pairwise_tm": float(tm[np.triu_indices(m, 1)].mean()),
        "diversity_clusters": float(clusters),
        "diversity_cluster_fraction": clusters / m,
        "diversity_samples": float(m),
    }
