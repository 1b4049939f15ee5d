"""Fréchet ChemNet Distance with reference statistics cached on disk.

FCD (Preuer et al., "Fréchet ChemNet Distance: A Metric for Generative Models for
Molecules in Drug Discovery", J. Chem. Inf. Model. 2018) fits Gaussians to the 512-d
penultimate activations of ChemNet on two sets of (canonicalised) SMILES and returns

    FCD = ||μ_G − μ_R||² + Tr(Σ_G + Σ_R − 2 (Σ_R Σ_G)^½),

with ``μ`` the mean and ``Σ`` the sample covariance (``np.cov``, denominator n − 1).
ChemNet, its weights and the distance come from ``fcd_torch`` (the implementation MOSES
uses); this module batches it with a progress bar and caches the reference ``(μ, Σ)``.

Cache: ``<cache>/fcd/<key>.npz`` with ``<cache>`` = ``$GENSCI_CACHE`` or
``~/.cache/gensci`` (or the ``cache_dir`` argument) and ``key`` the SHA-256 of the
``fcd_torch`` version and the reference SMILES list in order. Files are written atomically,
so a test split's statistics are computed once and shared by concurrent runs.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from domains.molecules.metrics import parse_smiles
from gensci.io import atomic_path, cache_root

__all__ = [
    "ChemNetStatistics",
    "cache_root",
    "reference_key",
    "chemnet_activations",
    "chemnet_statistics",
    "reference_statistics",
    "frechet_distance",
    "frechet_chemnet_distance",
]


@dataclass(frozen=True)
class ChemNetStatistics:
    """Mean ``mu`` (512,) and covariance ``sigma`` (512, 512) of ChemNet activations of ``n`` SMILES."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int


def _fcd_torch_version() -> str:
    try:
        return version("fcd-torch")
    except PackageNotFoundError:  # pragma: no cover - imported from a source tree
        return "unknown"


def reference_key(smiles: Sequence[str]) -> str:
    """SHA-256 hex digest of the fcd_torch version and the SMILES list (order matters)."""
    digest = hashlib.sha256(f"fcd_torch {_fcd_torch_version()}\n".encode())
    for s in smiles:
        digest.update(s.encode())
        digest.update(b"\n")
    return digest.hexdigest()


@functools.lru_cache(maxsize=4)
def _chemnet(device: str, batch_size: int):
    from fcd_torch import FCD

    return FCD(device=device, n_jobs=1, batch_size=batch_size)


def _valid_only(smiles: Sequence[str | None], what: str) -> list[str]:
    keep = [s for s, m in zip(smiles, parse_smiles(smiles)) if m is not None]
    if len(keep) < len(smiles):
        warnings.warn(f"FCD: {len(smiles) - len(keep)} invalid {what} SMILES ignored", RuntimeWarning, stacklevel=3)
    return keep


def chemnet_activations(smiles: Sequence[str], device: str = "cpu", batch_size: int = 512, progress: bool = False) -> np.ndarray:
    """ChemNet penultimate activations, ``(n, 512)``, of valid SMILES (canonicalised first)."""
    from tqdm.auto import tqdm

    model = _chemnet(device, batch_size)
    chunks = [list(smiles[i : i + batch_size]) for i in range(0, len(smiles), batch_size)]
    parts = [model.get_predictions(c) for c in tqdm(chunks, desc="ChemNet", disable=not progress or len(chunks) < 2, leave=False, delay=0.5)]
    return np.concatenate(parts, axis=0) if parts else np.zeros((0, 512))


def chemnet_statistics(smiles: Sequence[str], device: str = "cpu", batch_size: int = 512, progress: bool = False) -> ChemNetStatistics:
    """Mean and covariance of ChemNet activations (at least two valid SMILES)."""
    acts = chemnet_activations(smiles, device, batch_size, progress)
    return ChemNetStatistics(mu=acts.mean(0), sigma=np.cov(acts.T), n=len(acts))


def _load(path: Path) -> ChemNetStatistics | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            return ChemNetStatistics(mu=data["mu"], sigma=data["sigma"], n=int(data["n"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError) as err:
        warnings.warn(f"ignoring unreadable FCD cache {path}: {err}", RuntimeWarning, stacklevel=3)
        return None


def reference_statistics(
    smiles: Sequence[str | None],
    cache_dir: str | os.PathLike | None = None,
    device: str = "cpu",
    batch_size: int = 512,
    progress: bool = False,
) -> ChemNetStatistics | None:
    """ChemNet statistics of a reference list, read from the cache or computed and stored.

    Invalid SMILES are ignored with a warning. Returns ``None`` (with a warning) when fewer
    than two are valid; nothing is cached then.
    """
    path = cache_root(cache_dir) / "fcd" / f"{reference_key([s if isinstance(s, str) else '' for s in smiles])}.npz"
    cached = _load(path)
    if cached is not None:
        return cached
    valid = _valid_only(smiles, "reference")
    if len(valid) < 2:
        warnings.warn(f"FCD needs at least two valid reference SMILES, got {len(valid)}", RuntimeWarning, stacklevel=2)
        return None
    stats = chemnet_statistics(valid, device, batch_size, progress)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, mu=stats.mu, sigma=stats.sigma, n=np.int64(stats.n))
    return stats


def frechet_distance(reference: ChemNetStatistics, generated: ChemNetStatistics) -> float:
    """Fréchet distance between the two Gaussians (fcd_torch's numerically stable form)."""
    from fcd_torch.utils import calculate_frechet_distance

    return float(calculate_frechet_distance(reference.mu, reference.sigma, generated.mu, generated.sigma))


def frechet_chemnet_distance(
    generated: Sequence[str | None],
    reference: Sequence[str | None],
    *,
    cache_dir: str | os.PathLike | None = None,
    device: str = "cpu",
    batch_size: int = 512,
    progress: bool = False,
) -> float:
    """FCD of ``generated`` to ``reference``; reference statistics cached, NaN if undefined.

    Invalid generated SMILES are ignored with a warning (pass valid ones to match MOSES,
    which scores the valid part of the sample). NaN, with a warning, when either side has
    fewer than two valid SMILES.
    """
    gen = _valid_only(generated, "generated")
    if len(gen) < 2:
        warnings.warn(f"FCD needs at least two valid generated SMILES, got {len(gen)}: returning NaN", RuntimeWarning, stacklevel=2)
        return math.nan
    ref = reference_statistics(reference, cache_dir, device, batch_size, progress)
    if ref is None:
        return math.nan
    return frechet_distance(ref, chemnet_statistics(gen, device, batch_size, progress))
