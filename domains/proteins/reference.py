"""What generated backbones are compared with, kept as statistics: a reference set in 1,400 numbers.

The reference metrics of :mod:`domains.proteins.evaluation` read only a few summaries of the
reference chains: the mean DSSP and P-SEA helix / strand / coil fractions (``ref_ss_*``),
the counts of the angle histograms whose KLs they report (:func:`angle_histograms`: six
marginals of 36 cells and two joints of 24 x 24), and, for the independent-marginal baseline,
the training marginals at 1 degree (:func:`marginal_counts`, 6 x 360). :class:`ReferenceStats`
holds one set of them; :func:`reference_statistics` gathers them for every split of a domain's
data, as plain numbers and tensors that a checkpoint stores (``torch.load(weights_only=True)``
reads them back). With them a bundled model scores its samples' KLs and compositions without
its data, to the same numbers. Only the TM-score novelty needs the chains themselves.

The compositions use at most ``max_chains`` chains, chosen as :func:`evaluate_backbones`
chooses them (a seeded subset), so stored and recomputed values agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from domains.proteins.distributions import angle_histograms, marginal_counts
from domains.proteins.secondary import SS_NAMES, ss_composition
from gensci.errors import GensciError
from gensci.progress import track

__all__ = ["ReferenceStats", "SS_METHODS", "seeded_subset", "reference_statistics"]

#: the secondary-structure assigners whose compositions are kept
SS_METHODS = ("dssp", "psea")


def seeded_subset(items: Sequence, k: int | None, generator: torch.Generator) -> list:
    """At most ``k`` of ``items``, in their order: all of them when they are few, else a random
    choice drawn from ``generator`` (which is then advanced)."""
    if k is None or len(items) <= k:
        return list(items)
    return [items[i] for i in sorted(torch.randperm(len(items), generator=generator)[:k].tolist())]


@dataclass
class ReferenceStats:
    """Summaries of one reference set of chains (module docstring).

    ``ss[method][name]`` is a mean per-chain fraction (``method`` in :data:`SS_METHODS`,
    ``name`` in helix / strand / coil); ``histograms`` maps angle and joint names to counts;
    ``marginals`` (the training split only) the ``(6, 360)`` marginal counts, else None.
    """

    chains: int
    ss: dict[str, dict[str, float]]
    histograms: dict[str, np.ndarray]
    marginals: np.ndarray | None = None

    @classmethod
    def from_chains(cls, backbones: Sequence[np.ndarray], angles: Sequence[Tensor | np.ndarray], seed: int = 0,
                    max_chains: int | None = 1000, marginals: bool = False, what: str = "reference") -> ReferenceStats:
        """The statistics of ``backbones`` ``(L, 4, 3)`` and their angle arrays ``(L, 6)``."""
        if not len(backbones):
            raise GensciError(f"the {what} set holds no chains")
        chosen = seeded_subset(backbones, max_chains, torch.Generator().manual_seed(seed))
        ss = {method: ss_composition(track(chosen, f"{method.upper()} of the {what} chains"), method)
              for method in SS_METHODS}
        return cls(chains=len(backbones), ss=ss, histograms=angle_histograms(angles),
                   marginals=marginal_counts(angles) if marginals else None)

    def to_plain(self) -> dict[str, Any]:
        """Plain numbers and float tensors, as a checkpoint stores them."""
        out: dict[str, Any] = {"chains": int(self.chains), "ss": {m: {k: float(v) for k, v in f.items()} for m, f in self.ss.items()},
                               "histograms": {k: torch.as_tensor(v, dtype=torch.float64) for k, v in self.histograms.items()}}
        if self.marginals is not None:
            out["marginals"] = torch.as_tensor(self.marginals, dtype=torch.float64)
        return out

    @classmethod
    def from_plain(cls, plain: Mapping[str, Any]) -> ReferenceStats:
        """Read back :meth:`to_plain`; a malformed entry is a one-line :class:`GensciError`."""
        try:
            ss = {m: {name: float(plain["ss"][m][name]) for name in SS_NAMES} for m in SS_METHODS}
            histograms = {str(k): np.asarray(v, dtype=np.float64) for k, v in plain["histograms"].items()}
            marginals = plain.get("marginals")
            return cls(chains=int(plain["chains"]), ss=ss, histograms=histograms,
                       marginals=None if marginals is None else np.asarray(marginals, dtype=np.float64))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise GensciError(f"the checkpoint's reference statistics are malformed ({type(err).__name__}: {err})") from None


def reference_statistics(backbones: Mapping[str, Sequence[np.ndarray]], angles: Mapping[str, Sequence[Tensor]],
                         seed: int = 0) -> dict[str, Any]:
    """:meth:`ReferenceStats.to_plain` of every split (``{"train": ..., "val": ..., "test": ...}``),
    the training split with its marginals; splits without chains are left out."""
    return {split: ReferenceStats.from_chains(backbones[split], angles[split], seed, marginals=split == "train",
                                              what=f"{split} split").to_plain()
            for split in backbones if len(backbones[split])}
