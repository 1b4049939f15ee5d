"""Offline evaluation of generated backbones, with or without a reference set.

:func:`evaluate_backbones` gathers, for samples ``(L_i, 4, 3)`` (N, CA, C, O):

Always (the samples alone):

* geometry (:mod:`domains.proteins.metrics`): CA-CA distances, clashes, radius of gyration,
  the share of samples that pass the reader's strict geometry checks;
* Ramachandran regions and cis peptides (:mod:`domains.proteins.ramachandran`);
* secondary structure (:mod:`domains.proteins.secondary`): mean helix / strand / coil
  fractions by DSSP (``ss_dssp_*``) and by P-SEA (``ss_psea_*``), and the structured share
  ``ss_dssp_helix_strand`` = helix + strand;
* diversity by TM-score (:mod:`domains.proteins.similarity`);
* scTM (:mod:`domains.proteins.sctm`) when folding models are available.

Against a reference, given as chains or as their statistics
(:class:`~domains.proteins.reference.ReferenceStats`, which a bundled checkpoint carries):

* the reference's compositions (``ref_ss_*``) and the differences (``ss_*_diff`` = samples -
  reference);
* angle distributions (:mod:`domains.proteins.distributions`): ``KL(samples || reference)``
  of the six marginals, the Ramachandran joint and the consecutive ``(psi_i, phi_{i+1})``
  joint, and the same for the independent-marginal baseline drawn from the training angles
  (or their stored marginals) at the samples' lengths (``baseline_kl_*``). A model has learnt
  more than the marginals when its ``kl_ramachandran`` (and ``kl_psi_phi_next``) is below the
  baseline's; the 1-D KLs cannot show it, as the baseline matches them by construction;
* novelty, the max TM-score to the training chains (only with the chains themselves).

What cannot be computed is left out with a named reason (:func:`gensci.skipped.skip`), and so
is every sample longer than :data:`MAX_EVAL_RESIDUES` residues: DSSP's pair maps grow as L²
(180 MB at 2,000 residues, 630 MB at 4,000) and one TM-align call as L³ in time (5 s at 1,000
residues, 76 s at 2,000). TM-align calls are capped too: at most ``max_novelty_samples``
samples against at most ``max_train_chains`` training chains (a random subset, so novelty is
then a lower bound on the true max TM), and ``max_diversity_samples`` samples for diversity.
Subsets come from a generator seeded by ``seed``: the same inputs give the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from domains.proteins.angles import backbone_to_angles
from domains.proteins.distributions import angle_kls, independent_marginal_baseline
from domains.proteins.metrics import backbone_metrics
from domains.proteins.ramachandran import ramachandran_metrics
from domains.proteins.reference import SS_METHODS, ReferenceStats, seeded_subset
from domains.proteins.sctm import sctm_metrics
from domains.proteins.secondary import SS_NAMES, ss_composition
from domains.proteins.similarity import diversity, novelty
from gensci.progress import stage, track
from gensci.skipped import METRIC, skip

__all__ = ["MAX_EVAL_RESIDUES", "NO_REFERENCE", "backbone_angles", "within_length_limit", "ss_metrics",
           "evaluate_backbones"]

#: the longest sample evaluated (residues); longer ones are left out with a reason
MAX_EVAL_RESIDUES = 1000
#: the KLs also reported for the baseline
BASELINE_KLS = ("kl_angles_mean", "kl_ramachandran", "kl_psi_phi_next")
#: the reason given for reference metrics when no reference is at hand
NO_REFERENCE = "no reference set; pass --reference PATH"

#: compositions by method: {"dssp": {"helix": f, ...}, "psea": {...}}
Compositions = Mapping[str, Mapping[str, float]]


def backbone_angles(backbones: Sequence[np.ndarray]) -> list[Tensor]:
    """The six angles ``(L, 6)`` of each backbone (N, CA, C used)."""
    return [backbone_to_angles(np.asarray(bb, dtype=np.float64)[:, :3]) for bb in backbones if len(bb)]


def within_length_limit(samples: Sequence[np.ndarray], limit: int = MAX_EVAL_RESIDUES) -> list[np.ndarray]:
    """The samples of at most ``limit`` residues; each longer one is skipped with its reason
    (named by the samples' ``name(i)`` when they have one, else by its position)."""
    kept = []
    for i, bb in enumerate(samples):
        if len(bb) <= limit:
            kept.append(bb)
            continue
        name = samples.name(i) if hasattr(samples, "name") else f"sample {i}"
        skip(name, f"{len(bb)} residues, more than the {limit} evaluation reads (DSSP memory grows as L², "
                   "TM-align time as L³)")
    return kept


def ss_metrics(samples: Sequence[np.ndarray], reference: Sequence[np.ndarray] | Compositions | None) -> dict[str, float]:
    """DSSP and P-SEA compositions of the samples, of the reference (chains, or their
    compositions by method as :class:`ReferenceStats` keeps them) and their differences."""
    out: dict[str, float] = {}
    for method in SS_METHODS:
        mine = ss_composition(track(samples, f"{method.upper()} of the samples"), method)
        if isinstance(reference, Mapping):
            ref = reference[method]
        else:
            ref = ss_composition(track(reference, f"{method.upper()} of the reference"), method) if reference else None
        for name in SS_NAMES:
            out[f"ss_{method}_{name}"] = mine[name]
            if ref is not None:
                out[f"ref_ss_{method}_{name}"] = ref[name]
                out[f"ss_{method}_{name}_diff"] = mine[name] - ref[name]
    out["ss_dssp_helix_strand"] = out["ss_dssp_helix"] + out["ss_dssp_strand"]
    if reference:
        out["ref_ss_dssp_helix_strand"] = out["ref_ss_dssp_helix"] + out["ref_ss_dssp_strand"]
    return out


def evaluate_backbones(
    samples: Sequence[np.ndarray],
    reference: Sequence[np.ndarray] | ReferenceStats | None = None,
    train: Sequence[np.ndarray] | None = None,
    reference_angles: Sequence[Tensor] | None = None,
    train_angles: Sequence[Tensor] | None = None,
    seed: int = 0,
    max_reference_chains: int | None = 1000,
    max_novelty_samples: int | None = 16,
    max_train_chains: int | None = 200,
    max_diversity_samples: int | None = 20,
    sctm: bool = True,
    train_marginals: np.ndarray | None = None,
    missing: str = NO_REFERENCE,
) -> dict[str, float]:
    """All metrics of the module docstring, as one flat ``{name: value}`` dict.

    ``reference`` is the chains to compare with, their :class:`ReferenceStats`, or None;
    ``train`` the training chains (novelty, and the baseline's angles unless ``train_angles``
    gives them), or None, when ``train_marginals`` (``(6, 360)`` counts) can still give the
    baseline. ``missing`` is the reason named for the metrics left out for want of them.
    """
    g = torch.Generator().manual_seed(seed)
    samples = [np.asarray(s, dtype=np.float64) for s in within_length_limit(samples)]
    out = backbone_metrics(track(samples, "geometry"))
    if not samples:
        return out
    stats = reference if isinstance(reference, ReferenceStats) else None
    chains = None if stats is not None or not reference else seeded_subset(reference, max_reference_chains, g)
    out.update(ss_metrics(samples, stats.ss if stats is not None else chains))

    stage("angles")
    sample_angles = backbone_angles(samples)
    out.update(ramachandran_metrics(sample_angles))
    if stats is not None:
        ref_angles = stats.histograms
    elif chains:
        ref_angles = list(reference_angles) if reference_angles is not None else backbone_angles(reference)
    else:
        ref_angles = None
        if not train:
            skip("kl_*, baseline_kl_*, ref_ss_*, ss_*_diff, novelty_*", missing, METRIC)
        else:
            skip("kl_*, baseline_kl_*, ref_ss_*, ss_*_diff", missing, METRIC)
    pools = list(train_angles) if train_angles is not None else backbone_angles(train) if train else train_marginals
    if ref_angles is not None:
        out.update(angle_kls(sample_angles, ref_angles))
        if pools is not None and len(pools):
            base = independent_marginal_baseline(pools, [len(a) for a in sample_angles], g)
            kls = angle_kls(base, ref_angles)
            out.update({f"baseline_{k}": kls[k] for k in BASELINE_KLS})
        else:
            skip("baseline_kl_*", f"needs the training angles or their marginals; {missing}", METRIC)

    foldable = [s for s in samples if len(s) >= 3]
    if train and foldable:
        stage(f"novelty: TM-align against {min(len(train), max_train_chains or len(train))} training chains")
        out.update(novelty(foldable, seeded_subset(train, max_train_chains, g), max_novelty_samples, g))
    elif foldable and ref_angles is not None:
        what = "the training chains themselves (their statistics do not suffice)" if stats is not None else "the training chains"
        skip("novelty_*", f"needs {what}; {missing}", METRIC)
    stage("diversity: TM-align between samples")
    out.update(diversity(foldable, max_samples=max_diversity_samples, generator=g))
    if sctm:
        scores, note = sctm_metrics(foldable, max_backbones=max_novelty_samples)
        if scores:
            out.update(scores)
        else:
            skip("sctm_*", note.removeprefix("scTM skipped: "), METRIC)
    return out
