r"""Invariant descriptors of each atom's neighbourhood: element-resolved radial sums and
three-body moment invariants, computed in :math:`O(N^2)`.

For atom :math:`i`, neighbour :math:`j` at distance :math:`r_{ij}` and unit direction
:math:`u_{ij}`, with a smooth cutoff :math:`f_c(r) = \tfrac12(\cos(\pi r / r_c) + 1)` for
:math:`r < r_c` and Gaussians :math:`g_k(r) = \exp(-(r - \mu_k)^2 / 2s^2)`, the moments of
element :math:`e`'s neighbours are

.. math::
    S^{e}_{ik} = \sum_{j \in e} g_k(r_{ij}) f_c(r_{ij}), \quad
    V^{e}_{ik} = \sum_{j \in e} a_k(r_{ij}) f_c(r_{ij})\, u_{ij}, \quad
    T^{e}_{ik} = \sum_{j \in e} a_k(r_{ij}) f_c(r_{ij})\, u_{ij} u_{ij}^\top,

(:math:`a_k` a coarser comb for the angular part), and the descriptors are the radial sums
:math:`S` (two-body, as Behler & Parrinello's G2, Phys. Rev. Lett. 2007) and, per unordered
element pair :math:`\{e, e'\}` and radial channel :math:`k`, the contractions

.. math::
    V^{e}_{ik} \cdot V^{e'}_{ik} = \sum_{j \in e,\, l \in e'} a_k a_k f_c f_c \cos θ_{jil}, \qquad
    \langle T^{e}_{ik}, T^{e'}_{ik} \rangle_F = \sum_{j \in e,\, l \in e'} a_k a_k f_c f_c \cos^2 θ_{jil},

which are Behler-Parrinello's angular G4 functions with :math:`(1 + λ\cos θ)^ζ` expanded in
powers of :math:`\cos θ`, summed in the factorised form of moment tensors (Shapeev, Multiscale
Model. Simul. 2016; ACE, Drautz, Phys. Rev. B 2019): :math:`O(N^2)` instead of a loop over
triples. All are invariant to rotations, reflections and translations, and permute with the
atoms.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from domains.atoms.gaussian_basis import gaussians

__all__ = ["AtomDescriptors"]


class AtomDescriptors(nn.Module):
    """``descriptors(onehot, pos, atoms, pairs) -> (B, N, F)``: per atom its element one-hot,
    the radial sums per neighbour element (``radial`` Gaussians on ``[0.7, r_cut - 0.2]`` Å)
    and the cos / cos² invariants per element pair (``angular`` Gaussians); padded atoms get
    zeros. ``onehot`` (B, N, K), ``pos`` (B, N, 3) Å, masks ``atoms`` (B, N) and ``pairs``
    ``i != j`` (B, N, N)."""

    def __init__(self, types: int, radial: int = 16, angular: int = 6, r_cut: float = 5.0):
        super().__init__()
        self.types, self.r_cut = types, float(r_cut)
        self.register_buffer("radial_centres", torch.linspace(0.7, r_cut - 0.2, radial))
        self.radial_width = (r_cut - 0.9) / max(radial - 1, 1)
        self.register_buffer("angular_centres", torch.linspace(0.9, r_cut - 1.0, angular))
        self.angular_width = (r_cut - 1.9) / max(angular - 1, 1)
        iu = torch.triu_indices(types, types)
        self.register_buffer("first", iu[0])
        self.register_buffer("second", iu[1])
        self.size = types + types * radial + 2 * len(iu[0]) * angular

    def forward(self, onehot: Tensor, pos: Tensor, atoms: Tensor, pairs: Tensor) -> Tensor:
        oh = onehot * atoms[..., None].to(onehot.dtype)
        diff = pos[:, None, :, :] - pos[:, :, None, :]  # (B, N, N, 3): x_j - x_i
        dist = diff.pow(2).sum(-1).add(1e-12).sqrt()
        cut = 0.5 * (torch.cos(math.pi * dist.clamp(max=self.r_cut) / self.r_cut) + 1.0)
        cut = cut * (pairs & (dist < self.r_cut)).to(dist.dtype)
        unit = diff / dist[..., None]
        g = gaussians(dist, self.radial_centres, self.radial_width)
        radial = torch.einsum("bijk,bij,bje->biek", g, cut, oh).flatten(2)
        a = gaussians(dist, self.angular_centres, self.angular_width) * cut[..., None]
        v = torch.einsum("bijk,bijx,bje->biekx", a, unit, oh)  # (B, N, K, A, 3)
        outer = unit[..., :, None] * unit[..., None, :]
        t = torch.einsum("bijk,bijxy,bje->biekxy", a, outer, oh).flatten(-2)  # (B, N, K, A, 9)
        cos1 = (v[:, :, self.first] * v[:, :, self.second]).sum(-1).flatten(2)
        cos2 = (t[:, :, self.first] * t[:, :, self.second]).sum(-1).flatten(2)
        out = torch.cat([oh, radial, cos1, cos2], dim=-1)
        return out * atoms[..., None].to(out.dtype)
