"""Backbone angles as training data: circular-mean centring, seeded splits, crops and padding.

FoldingDiff (Wu et al. 2024, arXiv 2209.15611) subtracts the per-angle circular mean of the
training split and wraps the result, so every angle is centred on 0 on the torus:

    mu_k   = atan2( mean_i sin a_ik , mean_i cos a_ik )       over defined entries of angle k
    x_ik   = wrap(a_ik - mu_k)                               (centring)
    a_ik   = wrap(x_ik + mu_k)                               (decoding)

Undefined entries (``phi`` of a chain's first residue, the inter-residue angles of its last
one; see :func:`domains.proteins.angles.defined_mask`) are set to 0 after centring and are
masked out: items carry a per-angle mask ``(L, 6)``, the loss averages over defined
entries only, and the processes hold masked entries at 0 while sampling. Each item is
one chain, cropped to ``crop_length`` residues; a crop is a chain of its own, so its first
``phi`` and last-row angles are masked too. With per-residue secondary-structure labels,
an item also carries its crop's helix / strand / coil fractions as conditions
(:mod:`domains.proteins.ss_condition`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from domains.proteins.angles import defined_mask
from domains.proteins.ss_condition import crop_conditions
from domains.proteins.structures import crop_start
from gensci.core.spaces import wrap_angle
from gensci.domain import Batch
from gensci.errors import GensciError

__all__ = ["circular_mean", "centre", "uncentre", "split_counts", "AngleDataset", "collate_angles"]


def circular_mean(angles: Sequence[Tensor]) -> Tensor:
    """Per-column circular mean ``(6,)`` of angle arrays ``(L_i, 6)`` (NaN entries ignored)."""
    a = torch.cat([torch.as_tensor(x, dtype=torch.float64) for x in angles])
    ok = torch.isfinite(a)
    a = torch.where(ok, a, torch.zeros_like(a))
    s = (torch.sin(a) * ok).sum(0)
    c = (torch.cos(a) * ok).sum(0)
    return torch.atan2(s, c)


def centre(angles: Tensor, mean: Tensor) -> Tensor:
    """``wrap(a - mu)``, with undefined (NaN) entries set to 0; keeps the input dtype."""
    x = wrap_angle(angles - mean.to(angles))
    return torch.where(torch.isfinite(x), x, torch.zeros_like(x))


def uncentre(x: Tensor, mean: Tensor) -> Tensor:
    """``wrap(x + mu)``: centred states back to angles in ``[-pi, pi)``."""
    return wrap_angle(x + mean.to(x))


def split_counts(n: int, fractions: Sequence[float]) -> tuple[int, int, int]:
    """Chains per split (train, val, test): val and test get at least one chain each."""
    if len(fractions) != 3 or min(fractions) < 0 or sum(fractions) <= 0:
        raise GensciError(f"split_fractions must be three non-negative numbers, got {list(fractions)}")
    if n < 3:
        raise GensciError(f"the protein data hold {n} usable chain(s); a train/val/test split needs at least 3")
    total = float(sum(fractions))
    n_val = max(1, round(n * fractions[1] / total))
    n_test = max(1, round(n * fractions[2] / total))
    n_train = n - n_val - n_test
    if n_train < 1:
        n_train, n_val, n_test = n - 2, 1, 1
    return n_train, n_val, n_test


class AngleDataset(Dataset):
    """Centred angle arrays, one chain per item, cropped to ``crop_length``.

    ``random_crop=True`` draws a fresh window on every fetch from :attr:`generator`
    (training); otherwise each chain gets a fixed window, seeded by ``seed`` and its index.
    ``labels`` (one DSSP label array per chain, or None for an unlabelled chain) add the
    crop's secondary-structure fractions as ``item["cond"]``.
    """

    def __init__(self, angles: Sequence[Tensor], crop_length: int, random_crop: bool, seed: int = 0,
                 labels: Sequence[np.ndarray | None] | None = None):
        self.angles = [torch.as_tensor(a, dtype=torch.float32) for a in angles]
        if labels is not None and len(labels) != len(self.angles):
            raise GensciError(f"{len(labels)} label arrays for {len(self.angles)} chains")
        self.labels = None if labels is None else list(labels)
        self.crop_length = int(crop_length)
        self.random_crop = bool(random_crop)
        self.seed = int(seed)
        self.generator = torch.Generator().manual_seed(self.seed)

    def __len__(self) -> int:
        return len(self.angles)

    def __getitem__(self, i: int) -> dict[str, Any]:
        a = self.angles[i]
        g = self.generator if self.random_crop else torch.Generator().manual_seed(self.seed * 100003 + i)
        s = crop_start(len(a), self.crop_length, g)
        x = a[s : s + self.crop_length]
        mask = defined_mask(len(x))
        item = {"x": torch.where(mask, x, torch.zeros_like(x)), "mask": mask}
        if self.labels is not None:
            lab = self.labels[i]
            item["cond"] = crop_conditions(None if lab is None else lab[s : s + self.crop_length])
        return item


def collate_angles(items: list[dict[str, Any]]) -> Batch:
    """Pad items to the longest chain: ``x`` ``(B, L, 6)`` and the per-angle mask ``(B, L, 6)``."""
    n = max(len(it["x"]) for it in items)
    x = torch.zeros(len(items), n, 6)
    mask = torch.zeros(len(items), n, 6, dtype=torch.bool)
    for k, it in enumerate(items):
        x[k, : len(it["x"])] = it["x"]
        mask[k, : len(it["x"])] = it["mask"]
    cond = {name: torch.stack([it["cond"][name] for it in items]) for name in items[0]["cond"]} if "cond" in items[0] else None
    return Batch(x=x, cond=cond, mask=mask)

