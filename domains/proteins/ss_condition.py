"""Secondary-structure composition as a condition: helix / strand / coil fractions.

Each training item (a crop of a chain) carries the DSSP composition of its own residues,

    helix = n_H / L_crop,   strand = n_E / L_crop,   coil = n_- / L_crop      (sum = 1),

as three numeric conditions named ``helix``, ``strand`` and ``coil`` (NaN where a chain has
no labels, so it trains the unconditional branch only). The network sees them through
:class:`gensci.nn.conditions.ConditionEncoder`; dropping them in training gives the
unconditional model that classifier-free guidance (Ho & Salimans 2022, arXiv 2207.12598)
mixes with the conditional one at sampling: ``--condition helix=0.6 --guidance 2``.

The specs record each fraction's training range: the fractions of every window of
``min(L, crop_length)`` residues (stride :data:`WINDOW_STRIDE`) over the training chains,
which is what random crops can show the model. Asking outside ``[low, high]``, outside
``[0, 1]``, or for fractions that add up to more than 1 is refused with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from domains.proteins.secondary import SS_NAMES, ss_fractions
from gensci.errors import GensciError

__all__ = ["WINDOW_STRIDE", "crop_conditions", "ss_condition_specs", "encode_ss_conditions"]

#: step between the windows whose compositions define the training range
WINDOW_STRIDE = 8


def crop_conditions(labels: np.ndarray | None) -> dict[str, Tensor]:
    """``{helix, strand, coil}`` scalar float tensors for one crop's labels (NaN without labels)."""
    values = (float("nan"),) * 3 if labels is None or len(labels) == 0 else ss_fractions(labels)
    return {name: torch.tensor(v, dtype=torch.float32) for name, v in zip(SS_NAMES, values)}


def ss_condition_specs(labels: Sequence[np.ndarray | None], crop_length: int) -> list[dict[str, Any]]:
    """Numeric :class:`~gensci.nn.conditions.ConditionSpec` dicts of the three fractions."""
    rows = []
    for lab in labels:
        if lab is None or len(lab) == 0:
            continue
        w = min(len(lab), crop_length)
        starts = list(range(0, len(lab) - w + 1, WINDOW_STRIDE))
        if starts[-1] != len(lab) - w:
            starts.append(len(lab) - w)
        rows += [ss_fractions(lab[s : s + w]) for s in starts]
    if not rows:
        raise GensciError("ss_condition needs secondary-structure labels, but no training chain has any")
    values = np.array(rows)
    return [
        {"name": name, "kind": "numeric", "low": float(v.min()), "high": float(v.max()),
         "mean": float(v.mean()), "std": float(v.std()) if v.std() > 0 else 1.0}
        for name, v in zip(SS_NAMES, values.T)
    ]


def encode_ss_conditions(requested: Mapping[str, Any] | None, specs: Sequence[Mapping[str, Any]], n: int) -> dict[str, Tensor] | None:
    """Validate ``--condition`` values against the specs; ``{name: (n,)}``, unrequested ones NaN."""
    if not requested:
        return None
    by_name = {s["name"]: s for s in specs}
    values: dict[str, float] = {}
    for name, value in requested.items():
        if name not in by_name:
            known = ", ".join(f"{s['name']} (trained on [{s['low']:.2f}, {s['high']:.2f}])" for s in specs)
            hint = known or "none (this model is unconditional; train with domain.ss_condition=true)"
            raise GensciError(f"unknown condition {name!r}; this model knows: {hint}")
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise GensciError(f"condition {name!r} needs a fraction between 0 and 1, got {value!r}") from None
        spec = by_name[name]
        if not 0.0 <= v <= 1.0:
            raise GensciError(f"condition {name}={v:g} is not a fraction; use a value in [0, 1]")
        if not spec["low"] <= v <= spec["high"]:
            raise GensciError(f"condition {name}={v:g} is outside the training range [{spec['low']:.2f}, {spec['high']:.2f}]")
        values[name] = v
    if sum(values.values()) > 1.0 + 1e-6:
        given = " + ".join(f"{k}={v:g}" for k, v in values.items())
        raise GensciError(f"the fractions {given} add up to more than 1")
    return {s["name"]: torch.full((n,), values.get(s["name"], float("nan"))) for s in specs}
