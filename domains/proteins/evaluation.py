"""Offline evaluation of generated backbones against a reference split and the training set.

:func:`evaluate_backbones` gathers, for samples ``(L_i, 4, 3)`` (N, CA, C, O):

* geometry (:mod:`domains.proteins.metrics`): CA-CA distances, clashes, radius of gyration;
* secondary structure (:mod:`domains.proteins.secondary`): mean helix / strand / coil
  fractions by DSSP (``ss_dssp_*``) and by P-SEA (``ss_psea_*``) of the samples and of the
  reference (``ref_ss_*``), their differences (``ss_*_diff`` = samples - reference), and
  the structured share ``ss_dssp_helix_strand`` = helix + strand;
* angle distributions (:mod:`domains.proteins.distributions`): ``KL(samples || reference)``
  of the six marginals, the Ramachandran joint and the consecutive ``(psi_i, phi_{i+1})``
  joint, and the same for the independent-marginal baseline drawn from the training
  angles at the samples' lengths (``baseline_kl_*``). A model has learnt more than the
  marginals when its ``kl_ramachandran`` (and ``kl_psi_phi_next``) is below the baseline's;
  the 1-D KLs cannot show it, as the baseline matches them by construction;
* novelty and diversity by TM-score (:mod:`domains.proteins.similarity`);
* scTM (:mod:`domains.proteins.sctm`) when folding models are available, else a warning.

TM-align calls are capped: at most ``max_novelty_samples`` samples against at most
``max_train_chains`` training chains (a random subset, so novelty is then a lower bound on
the true max TM), and ``max_diversity_samples`` samples for diversity. Subsets come from a
generator seeded by ``seed``: the same inputs give the same numbers.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from domains.proteins.angles import backbone_to_angles
from domains.proteins.distributions import angle_kls, independent_marginal_baseline
from domains.proteins.metrics import backbone_metrics
from domains.proteins.secondary import SS_NAMES, ss_composition
from domains.proteins.sctm import sctm_metrics
from domains.proteins.similarity import diversity, novelty

__all__ = ["backbone_angles", "ss_metrics", "evaluate_backbones"]

#: the KLs also reported for the baseline
BASELINE_KLS = ("kl_angles_mean", "kl_ramachandran", "kl_psi_phi_next")


def backbone_angles(backbones: Sequence[np.ndarray]) -> list[Tensor]:
    """The six angles ``(L, 6)`` of each backbone (N, CA, C used)."""
    return [backbone_to_angles(np.asarray(bb, dtype=np.float64)[:, :3]) for bb in backbones if len(bb)]


def ss_metrics(samples: Sequence[np.ndarray], reference: Sequence[np.ndarray] | None) -> dict[str, float]:
    """DSSP and P-SEA compositions of the samples, of the reference and their differences."""
    out: dict[str, float] = {}
    for method in ("dssp", "psea"):
        mine = ss_composition(samples, method)
        ref = ss_composition(reference, method) if reference else None
        for name in SS_NAMES:
            out[f"ss_{method}_{name}"] = mine[name]
            if ref is not None:
                out[f"ref_ss_{method}_{name}"] = ref[name]
                out[f"ss_{method}_{name}_diff"] = mine[name] - ref[name]
    out["ss_dssp_helix_strand"] = out["ss_dssp_helix"] + out["ss_dssp_strand"]
    if reference:
        out["ref_ss_dssp_helix_strand"] = out["ref_ss_dssp_helix"] + out["ref_ss_dssp_strand"]
    return out


def _subset(items: Sequence, k: int | None, generator: torch.Generator) -> list:
    if k is None or len(items) <= k:
        return list(items)
    return [items[i] for i in sorted(torch.randperm(len(items), generator=generator)[:k].tolist())]


def evaluate_backbones(
    samples: Sequence[np.ndarray],
    reference: Sequence[np.ndarray],
    train: Sequence[np.ndarray],
    reference_angles: Sequence[Tensor] | None = None,
    train_angles: Sequence[Tensor] | None = None,
    seed: int = 0,
    max_reference_chains: int | None = 1000,
    max_novelty_samples: int | None = 16,
    max_train_chains: int | None = 200,
    max_diversity_samples: int | None = 20,
    sctm: bool = True,
) -> dict[str, float]:
    """All metrics of the module docstring, as one flat ``{name: value}`` dict."""
    g = torch.Generator().manual_seed(seed)
    samples = [np.asarray(s, dtype=np.float64) for s in samples]
    out = backbone_metrics(samples)
    if not samples:
        return out
    reference = _subset(reference, max_reference_chains, g)
    out.update(ss_metrics(samples, reference))

    sample_angles = backbone_angles(samples)
    ref_angles = list(reference_angles) if reference_angles is not None else backbone_angles(reference)
    train_angles = list(train_angles) if train_angles is not None else backbone_angles(train)
    if ref_angles:
        out.update(angle_kls(sample_angles, ref_angles))
        if train_angles:
            base = independent_marginal_baseline(train_angles, [len(a) for a in sample_angles], g)
            kls = angle_kls(base, ref_angles)
            out.update({f"baseline_{k}": kls[k] for k in BASELINE_KLS})

    foldable = [s for s in samples if len(s) >= 3]
    if train and foldable:
        out.update(novelty(foldable, _subset(train, max_train_chains, g), max_novelty_samples, g))
    out.update(diversity(foldable, max_samples=max_diversity_samples, generator=g))
    if sctm:
        scores, note = sctm_metrics(foldable, max_backbones=max_novelty_samples)
        if scores:
            out.update(scores)
        else:
            warnings.warn(note, stacklevel=2)
    return out
