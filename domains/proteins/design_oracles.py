"""Design oracles for protein backbones: secondary structure, size, clashes, fold similarity.

Each oracle is a batched callable on backbones ``(L, 4, 3)`` (N, CA, C, O in Å) giving one
float per backbone:

* :class:`SecondaryStructure` — the DSSP fraction (Kabsch & Sander 1983, via biotite) of
  ``helix``, ``strand`` or ``coil`` residues;
* :class:`RadiusOfGyration` — of the CA atoms, ``Rg = sqrt(mean |x_i - x̄|²)`` in Å; it is
  differentiable (``differentiable`` takes the CA coordinates and residue mask the domain's
  read-out gives), so it can guide sampling by its gradient;
* :class:`Length` — residues;
* :class:`ClashFree` — 1 when no two CA atoms two or more residues apart are closer than
  3.0 Å (the clash check of ``gensci evaluate``), a constraint;
* :class:`TMScore` — TM-score (Zhang & Skolnick 2004; TM-align via ``tmtools``) to a target
  structure, normalised by the target's length.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from domains.proteins.metrics import CLASH_DISTANCE
from domains.proteins.secondary import SS_NAMES, dssp_labels, ss_fractions
from gensci.errors import GensciError

__all__ = ["SecondaryStructure", "RadiusOfGyration", "Length", "ClashFree", "TMScore", "ORACLES"]


class SecondaryStructure:
    """The DSSP fraction of ``kind`` (helix, strand or coil) residues."""

    def __init__(self, kind: str = "helix"):
        if kind not in SS_NAMES:
            raise GensciError(f"unknown secondary structure {kind!r}; choose one of {', '.join(SS_NAMES)}")
        self.kind = kind

    def __call__(self, items: Sequence[np.ndarray]) -> list[float]:
        column = SS_NAMES.index(self.kind)
        return [float(ss_fractions(dssp_labels(np.asarray(bb)))[column]) for bb in items]


class RadiusOfGyration:
    """The CA radius of gyration in Å (differentiable on the read-out)."""

    def __call__(self, items: Sequence[np.ndarray]) -> list[float]:
        out = []
        for bb in items:
            ca = np.asarray(bb, dtype=np.float64)[:, 1]
            out.append(float(np.sqrt(((ca - ca.mean(0)) ** 2).sum(-1).mean())) if len(ca) else float("nan"))
        return out

    def differentiable(self, readout: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """``Rg`` of CA coordinates ``(B, L, 3)`` over the real residues ``(B, L)``."""
        ca, residues = readout
        m = residues.to(ca.dtype).unsqueeze(-1)
        count = m.sum(1).clamp_min(1.0)
        centre = (ca * m).sum(1, keepdim=True) / count.unsqueeze(1)
        return ((((ca - centre) ** 2) * m).sum((1, 2)) / count.squeeze(-1) + 1e-8).sqrt()


class Length:
    """The number of residues."""

    def __call__(self, items: Sequence[np.ndarray]) -> list[float]:
        return [float(len(bb)) for bb in items]


class ClashFree:
    """1 when no CA pair two or more residues apart is closer than 3.0 Å, else 0."""

    def __init__(self, distance: float = CLASH_DISTANCE):
        self.distance = float(distance)

    def __call__(self, items: Sequence[np.ndarray]) -> list[float]:
        out = []
        for bb in items:
            ca = np.asarray(bb, dtype=np.float64)[:, 1]
            n = len(ca)
            d = np.linalg.norm(ca[:, None] - ca[None], axis=-1)
            far = np.abs(np.arange(n)[:, None] - np.arange(n)[None]) >= 2
            out.append(float(not (d[far] < self.distance).any()))
        return out


class TMScore:
    """TM-score to a target backbone (a PDB file, or an ``(L, ≥2, 3)`` array)."""

    def __init__(self, target: str | Path | np.ndarray):
        if isinstance(target, (str, Path)):
            from domains.proteins.structures import read_chains

            chains, _ = read_chains(target, min_length=1)
            if not chains:
                raise GensciError(f"{target}: no protein chain to compare with")
            target = np.asarray(chains[0].coords)
        self.target = np.asarray(target, dtype=np.float64)

    def __call__(self, items: Sequence[np.ndarray]) -> list[float]:
        from domains.proteins.similarity import tm_align

        # tm_align returns the scores normalised by each structure's length: keep the target's
        return [float(tm_align(np.asarray(bb), self.target)[1]) for bb in items]


#: built-in oracle factories by name
ORACLES: dict[str, Any] = {"secondary_structure": SecondaryStructure, "radius_of_gyration": RadiusOfGyration,
                           "length": Length, "clash_free": ClashFree, "tm_score": TMScore}
