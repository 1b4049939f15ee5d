r"""Gaussian expansion of distances, shared by the EGNN, the two-body fit and the atom descriptors.

    g_k(d) = exp(-(d - mu_k)^2 / (2 w_k^2))

on a new last axis, one per centre ``mu_k`` (SchNet's radial basis, Schütt et al. 2017,
arXiv 1706.08566; Behler-Parrinello's G2 functions use the same form).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["gaussians"]


def gaussians(d: Tensor, centres: Tensor, widths: Tensor | float) -> Tensor:
    """``(..., K)`` Gaussians of the distances ``d`` (``(...)``) at ``centres`` ``(K,)`` with one
    width or one per centre; computed in ``d``'s dtype."""
    centres = centres.to(device=d.device, dtype=d.dtype)
    if isinstance(widths, Tensor):
        widths = widths.to(device=d.device, dtype=d.dtype)
    return torch.exp(-0.5 * ((d[..., None] - centres) / widths) ** 2)
