"""Bonds as a symmetric categorical field over atom pairs.

A molecule's bonds are a class per unordered pair: the state ``(B, N, N)`` holds class
indices with ``e_ij = e_ji`` and a zero (``none``) diagonal. :class:`BondSpace` keeps that
shape of state everywhere a process or sampler goes, because every draw — prior noise,
forward corruption, each reverse step — ends in :meth:`BondSpace.project`, which keeps the
strict upper triangle and mirrors it: ``project(e) = triu(e, 1) + triu(e, 1)^T``. Each
unordered pair is therefore noised and sampled once (its upper entry decides), as in MiDi
(Vignac et al. 2023, arXiv 2302.09048) and SemlaFlow (Irwin et al. 2024, arXiv 2406.07266).
"""

from __future__ import annotations

import torch
from torch import Tensor

from gensci.core.spaces import Categorical

__all__ = ["BondSpace", "pair_mask"]


def pair_mask(atom_mask: Tensor) -> Tensor:
    """``(B, N, N)``: both atoms real and ``i != j``."""
    m = atom_mask[:, :, None] & atom_mask[:, None, :]
    return m & ~torch.eye(atom_mask.shape[1], dtype=torch.bool, device=atom_mask.device)


class BondSpace(Categorical):
    """``Categorical(K)`` on pair states ``(..., N, N)`` kept symmetric with a zero diagonal."""

    def project(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        x = super().project(x, mask)
        upper = torch.triu(x, diagonal=1)
        return upper + upper.transpose(-1, -2)

    def __repr__(self) -> str:
        return f"BondSpace({self.num_classes})"
