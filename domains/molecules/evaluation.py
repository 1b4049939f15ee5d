"""Evaluation of generated molecules: distribution metrics and property control, one flat dict.

The report of Graph DiT (Liu et al., "Graph Diffusion Transformers for Multi-Conditional
Molecular Generation", NeurIPS 2024, arXiv 2401.13858) plus the MOSES set (Polykovskiy et
al., Front. Pharmacol. 2020). For ``n`` samples decoded twice (strictly and with valence
correction, :mod:`domains.molecules.decode`):

* ``validity_nc``: share of strict decodes that are valid molecules;
  ``validity``: the same for the corrected decodes; ``corrected``: share of samples whose
  corrected decode changed something (when the inputs are ``Decoded`` results).
* ``uniqueness``, ``unique@k``, ``novelty`` (vs train), ``intdiv``, ``intdiv2``, ``snn``,
  ``frag``, ``scaf`` (vs test), ``fcd`` (vs test, reference statistics cached) and
  ``atom_type_coverage`` (generated atom types ∩ dataset types / dataset types): computed
  by :func:`domains.molecules.metrics.molecule_metrics` on the corrected molecules.
  ``vun = validity · uniqueness · novelty``, the share of samples that are valid, unique
  and novel (DiGress's V.U.N.).
* property control, over the valid corrected molecules ``i`` whose requested value ``c_i``
  is present (``a_i`` the achieved value):

      mae_<p>      = (1/m) Σ_i |c_i − a_i|     numeric
      accuracy_<p> = (1/m) Σ_i [c_i = a_i]     categorical

  ``a_i`` is exact for the RDKit-computable properties (``sa``, ``qed``, ``logp``, ``mw``;
  :mod:`domains.molecules.properties`, matched case-insensitively) and the property
  oracle's prediction otherwise (:mod:`domains.molecules.oracle`); beside each oracle-scored
  property, ``oracle_mae_<p>`` / ``oracle_accuracy_<p>`` is the oracle's own error on its
  held-out split, the floor below which a difference means nothing. ``mean_mae_oracle``
  (or ``mean_accuracy_oracle``) averages the property scores when several are requested.

Metrics that are undefined (no valid molecule, no reference) are NaN, never an exception.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from rdkit import Chem

from domains.molecules.graph import MolecularVocabulary
from domains.molecules.metrics import atom_type, molecule_metrics, parse_smiles
from domains.molecules.properties import PROPERTIES, rdkit_properties
from gensci.errors import GensciError

__all__ = ["evaluate_molecules", "property_control", "sample_smiles", "vocabulary_atom_types"]


def sample_smiles(samples: Sequence[Any]) -> list[str | None]:
    """Canonical SMILES of decoded results, RDKit molecules or SMILES (``None`` = invalid)."""
    out: list[str | None] = []
    for s in samples:
        if hasattr(s, "mol") and not isinstance(s, Chem.Mol):  # a Decoded result
            s = s.mol
        if isinstance(s, Chem.Mol):
            s = Chem.MolToSmiles(s) if s.GetNumAtoms() else None
        elif s is not None and not isinstance(s, str):
            raise GensciError(f"cannot evaluate {type(s).__name__}; pass decoded results, RDKit molecules, SMILES or None")
        out.append(s or None)
    return out


def vocabulary_atom_types(vocab: MolecularVocabulary) -> set[str]:
    """A vocabulary's atom types written as :func:`domains.molecules.metrics.atom_type` writes them."""
    out = set()
    for element, charge in vocab.atom_types:
        atom = Chem.Atom(element)
        atom.SetFormalCharge(int(charge))
        out.add(atom_type(atom))
    return out


def _same_label(requested: Any, achieved: Any) -> bool:
    """Labels match as strings, or as numbers (``1`` and ``"1.0"``)."""
    if str(requested) == str(achieved):
        return True
    try:
        return float(requested) == float(achieved)
    except (TypeError, ValueError):
        return False


def _present(v: Any) -> bool:
    if v is None:
        return False
    if isinstance(v, (float, np.floating)):
        return not math.isnan(v)
    return not (isinstance(v, str) and v.strip().lower() in ("", "nan", "none"))


def property_control(
    smiles: Sequence[str | None],
    requested: Mapping[str, Any],
    oracle: Any = None,
    exact_properties: Iterable[str] | None = None,
) -> dict[str, float]:
    """``mae_<p>`` / ``accuracy_<p>`` and the oracle's held-out error (module docstring).

    ``smiles`` are the generated molecules (``None`` for invalid ones), ``requested[p]`` one
    value per molecule (NaN / None = not conditioned). ``exact_properties`` defaults to the
    requested names that RDKit computes; the other names need ``oracle``.
    """
    n = len(smiles)
    names = list(requested)
    exact = {p for p in names if p.lower() in PROPERTIES} if exact_properties is None else set(exact_properties)
    bad = [p for p in exact if p.lower() not in PROPERTIES]
    if bad:
        raise GensciError(f"RDKit cannot compute {bad} exactly; it computes {', '.join(PROPERTIES)}")
    need = [p for p in names if p not in exact]
    lacking = [p for p in need if oracle is None or p not in oracle]
    if lacking:
        have = f"the oracle predicts {', '.join(oracle.properties)}" if oracle is not None else "no oracle was given"
        raise GensciError(f"no way to score the requested properties {lacking}: {have} and RDKit computes only "
                          f"{', '.join(PROPERTIES)}; fit one with domains.molecules.oracle.oracle_from_table")
    values = {}
    for p in names:
        column = requested[p]
        if isinstance(column, str) or np.ndim(column) == 0:
            column = [column] * n
        else:  # arrays and tensors give Python scalars
            column = column.tolist() if hasattr(column, "tolist") else list(column)
        if len(column) != n:
            raise GensciError(f"requested {p!r} has {len(column)} values for {n} generated molecules")
        values[p] = column
    valid = [i for i, s in enumerate(smiles) if s is not None]
    valid_smiles = [smiles[i] for i in valid]
    achieved: dict[str, np.ndarray] = {}
    if exact:
        computed = rdkit_properties(valid_smiles, names=sorted({p.lower() for p in exact}))
        achieved.update({p: computed[p.lower()] for p in exact})
    if need:
        achieved.update(oracle.predict(valid_smiles, need))

    out: dict[str, float] = {}
    scores: dict[str, list[float]] = {"mae": [], "accuracy": []}
    for p in names:
        categorical = p not in exact and oracle.kind(p) == "categorical"
        pairs = [(values[p][i], a) for i, a in zip(valid, achieved[p]) if _present(values[p][i]) and _present(a)]
        if categorical:
            key = f"accuracy_{p}"
            out[key] = float(np.mean([_same_label(c, a) for c, a in pairs])) if pairs else math.nan
        else:
            key = f"mae_{p}"
            try:
                req = np.asarray([float(c) for c, _ in pairs], dtype=np.float64)
            except (TypeError, ValueError):
                raise GensciError(f"requested {p!r} holds non-numbers, but {p!r} is a numeric property") from None
            out[key] = float(np.abs(req - np.asarray([a for _, a in pairs], dtype=np.float64)).mean()) if pairs else math.nan
        if p not in exact:
            model = oracle.models[p]
            out[f"oracle_{model.metric}_{p}"] = float(model.heldout_error)
            scores[model.metric].append(out[key])
    for metric, got in scores.items():
        if len(got) > 1:
            out[f"mean_{metric}_oracle"] = float(np.mean(got))
    return out


def evaluate_molecules(
    corrected: Sequence[Any],
    strict: Sequence[Any] | None = None,
    *,
    train_smiles: Sequence[str] | None = None,
    test_smiles: Sequence[str] | None = None,
    requested: Mapping[str, Any] | None = None,
    oracle: Any = None,
    exact_properties: Iterable[str] | None = None,
    reference_atom_types: Iterable[str] | MolecularVocabulary | None = None,
    compute_fcd: bool = True,
    unique_at: Sequence[int] = (),
    train_is_canonical: bool = False,
    cache_dir: str | os.PathLike | None = None,
    device: str = "cpu",
    batch_size: int = 512,
    progress: bool = False,
) -> dict[str, float]:
    """Every metric of the module docstring as a flat ``{name: float}``.

    ``corrected`` (and ``strict``, the same samples decoded without correction) hold
    :class:`~domains.molecules.decode.Decoded` results, RDKit molecules, SMILES or None.
    Without ``strict``, ``validity_nc`` is read from the ``Decoded`` flags (valid and not
    corrected) when it can be. ``requested`` maps property names to the condition of each
    sample; see :func:`property_control`. Other arguments go to
    :func:`~domains.molecules.metrics.molecule_metrics`.
    """
    smiles = sample_smiles(corrected)
    n = len(smiles)
    if isinstance(reference_atom_types, MolecularVocabulary):
        reference_atom_types = vocabulary_atom_types(reference_atom_types)
    out = molecule_metrics(
        smiles, train_smiles, test_smiles, compute_fcd=compute_fcd, unique_at=unique_at,
        train_is_canonical=train_is_canonical, reference_atom_types=reference_atom_types,
        cache_dir=cache_dir, device=device, batch_size=batch_size, progress=progress,
    )
    if strict is not None:
        if len(strict) != n:
            raise GensciError(f"{len(strict)} strict decodes for {n} corrected ones; pass the same samples decoded both ways")
        out["validity_nc"] = sum(s is not None for s in sample_smiles(strict)) / n if n else math.nan
    if n and all(hasattr(c, "corrected") for c in corrected):
        out["corrected"] = sum(bool(c.corrected) for c in corrected) / n
        if strict is None:
            out["validity_nc"] = sum(c.mol is not None and not c.corrected for c in corrected) / n
    if "novelty" in out:
        out["vun"] = out["validity"] * out["uniqueness"] * out["novelty"] if out["n_valid"] else (0.0 if n else math.nan)
    if requested:
        parsed = [s if m is not None else None for s, m in zip(smiles, parse_smiles(smiles))]
        out.update(property_control(parsed, requested, oracle, exact_properties))
    return out
