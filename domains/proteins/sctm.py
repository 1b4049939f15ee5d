"""Self-consistency TM-score (scTM): an optional hook for external folding models.

scTM (Trippe et al. 2023, ICLR, arXiv 2206.04119; used by FoldingDiff, arXiv 2209.15611):
design ``k`` sequences for a generated backbone ``X`` with an inverse-folding model
(ProteinMPNN, ESM-IF1), fold each with a structure predictor (ESMFold, OmegaFold), and
keep the best agreement

    scTM(X) = max_{s in IF(X), |s| = k}  TM( fold(s), X ) ,

the TM-score normalised by the length of ``X``. ``scTM >= 0.5`` counts as designable
(FoldingDiff reports 22.7% of its 780 samples with ProteinMPNN + OmegaFold).

Nothing here needs those models. A user registers two callables,

* ``inverse_fold(backbone (L, 4, 3) N, CA, C, O, k) -> list of k one-letter sequences``,
* ``fold(sequence) -> CA trace (L, 3) or backbone (L, 3|4, 3)``,

with :func:`register_sctm_models`; otherwise :func:`sctm_models` tries the ``esm``
package (ESM-IF1 and ESMFold, with their weights already cached). When neither is there,
:func:`sctm_metrics` returns no numbers and a message saying why.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from domains.proteins.similarity import tm_align

__all__ = [
    "Fold",
    "InverseFold",
    "SctmModels",
    "register_sctm_models",
    "clear_sctm_models",
    "sctm_models",
    "sctm_scores",
    "sctm_metrics",
    "DESIGNABLE_TM",
]

#: a sequence to a predicted structure (CA trace or backbone)
Fold = Callable[[str], np.ndarray]
#: a backbone and a number of designs to that many sequences
InverseFold = Callable[[np.ndarray, int], list[str]]
#: scTM at or above this counts as designable
DESIGNABLE_TM = 0.5


@dataclass(frozen=True)
class SctmModels:
    """A folding and an inverse-folding model, and a name for reports."""

    fold: Fold
    inverse_fold: InverseFold
    name: str = "custom"


_registered: SctmModels | None = None


def register_sctm_models(fold: Fold, inverse_fold: InverseFold, name: str = "custom") -> None:
    """Use these callables for scTM from now on (see the module docstring for their shapes)."""
    global _registered
    _registered = SctmModels(fold, inverse_fold, name)


def clear_sctm_models() -> None:
    """Forget the registered models."""
    global _registered
    _registered = None


def _esm_models() -> SctmModels:
    """ESM-IF1 and ESMFold from ``fair-esm`` (weights must already be in the torch hub cache)."""
    import esm  # noqa: F401  (fair-esm)
    import esm.inverse_folding
    import torch

    if_model, alphabet = esm.pretrained.esm_if1_gvp4_t16_142M_UR50()
    if_model = if_model.eval()
    fold_model = esm.pretrained.esmfold_v1().eval()

    def inverse_fold(backbone: np.ndarray, k: int) -> list[str]:
        coords = np.asarray(backbone, dtype=np.float32)[:, :3]
        return [if_model.sample(coords, temperature=0.1) for _ in range(k)]

    def fold(sequence: str) -> np.ndarray:
        with torch.no_grad():
            out = fold_model.infer([sequence])
        return out["positions"][-1, 0, : len(sequence), 1].cpu().numpy()  # CA of the last block

    del alphabet
    return SctmModels(fold, inverse_fold, "esm")


def sctm_models() -> tuple[SctmModels | None, str]:
    """The models to use and a note: the registered ones, else ``esm``'s, else ``None`` and why."""
    if _registered is not None:
        return _registered, f"scTM with the registered models ({_registered.name})"
    if importlib.util.find_spec("esm") is None:
        return None, ("scTM skipped: no folding / inverse-folding models; register them with "
                      "domains.proteins.sctm.register_sctm_models(fold, inverse_fold) or install fair-esm")
    try:
        models = _esm_models()
    except Exception as exc:  # missing weights, no network, old versions: all mean "not available"
        return None, f"scTM skipped: esm is installed but its models could not be loaded ({type(exc).__name__}: {exc})"
    return models, "scTM with ESM-IF1 + ESMFold"


def sctm_scores(backbones: Sequence[np.ndarray], models: SctmModels, sequences_per_backbone: int = 8) -> list[float]:
    """scTM of each backbone: the best TM (by the backbone's length) of its refolded designs."""
    scores = []
    for bb in backbones:
        sequences = models.inverse_fold(np.asarray(bb), sequences_per_backbone)
        scores.append(max(tm_align(models.fold(s), bb)[1] for s in sequences))
    return scores


def sctm_metrics(
    backbones: Sequence[np.ndarray], sequences_per_backbone: int = 8, max_backbones: int | None = None
) -> tuple[dict[str, float], str]:
    """``sctm_mean`` and ``sctm_designable_fraction`` (scTM >= 0.5), or nothing, with a note."""
    models, note = sctm_models()
    if models is None:
        return {}, note
    chosen = list(backbones)[:max_backbones]
    scores = np.array(sctm_scores(chosen, models, sequences_per_backbone))
    if len(scores) == 0:
        return {}, note
    return {
        "sctm_mean": float(scores.mean()),
        "sctm_designable_fraction": float((scores >= DESIGNABLE_TM).mean()),
        "sctm_samples": float(len(scores)),
    }, note
