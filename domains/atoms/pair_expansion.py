r"""A linear two-body expansion of molecular properties, fitted by ridge least squares.

A property of a molecule with atom types :math:`t_i` and positions :math:`x_i` is written
as one- and two-body terms,

.. math::
    y \approx b + \sum_i a_{t_i} + \sum_{i<j} \sum_k w_{\{t_i, t_j\}, k}\, g_k(\lVert x_i - x_j\rVert),

with Gaussians :math:`g_k(d) = \exp(-(d - \mu_k)^2 / 2 s_k^2)`: a fine comb over bond
lengths (0.8–3.2 Å, width 0.1 Å, so single, double and triple bonds fall in different
bins) and a coarse one over longer distances (3.5–8 Å, width 0.5 Å). It is the "atom
reference" of SchNet-style regressors (Schütt et al., J. Chem. Phys. 2018) extended by a
bag of bonds (Hansen et al., J. Phys. Chem. Lett. 2015) in a smooth, differentiable form.
The features :math:`\phi` (element counts, pair-type × Gaussian sums) are invariant to
rotations, reflections, translations and atom permutations. Centred and divided by one
common scale (their RMS), they give the weights of

.. math::
    (\Phi^\top \Phi + \lambda n I)\, w = \Phi^\top y ,

with the intercept unshrunk. One common scale, not one per column, lets the ridge shrink the
weights of rare features (F–F or N–F pairs, a bond length seen a few times): standardising
each column let such features extrapolate, and one QM9 molecule outside the fitting half
got a gap 82 eV off.

Fitted on half of QM9's train split (47,399 molecules), it alone reaches test MAE α 0.64
bohr³, gap 360 meV, μ 0.71 D, Cv 0.17 cal/(mol K); the element counts with an EGNN trained
on top for 25 CPU minutes reached only α 2.2, gap 800 meV, μ 1.0 D, Cv 1.7 — so it is the
start a network refines.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from domains.atoms.gaussian_basis import gaussians

__all__ = ["PairExpansion", "PAIR_BASIS"]

#: (first centre Å, last centre Å, count, width Å) of each comb of Gaussians
PAIR_BASIS: tuple[tuple[float, float, int, float], ...] = ((0.8, 3.2, 25, 0.1), (3.5, 8.0, 10, 0.5))


class PairExpansion(nn.Module):
    """``expansion(onehot, pos, atoms, pairs) -> (B, outputs)``; ``onehot`` (B, N, K) atom
    types, ``pos`` (B, N, 3) Å, bool masks of atoms (B, N) and pairs ``i != j`` (B, N, N)."""

    def __init__(self, types: int, outputs: int, basis: Sequence[Sequence[float]] = PAIR_BASIS):
        super().__init__()
        self.types = types
        self.register_buffer("centres", torch.cat([torch.linspace(a, b, int(n)) for a, b, n, _ in basis]))
        self.register_buffer("widths", torch.cat([torch.full((int(n),), float(w)) for _, _, n, w in basis]))
        iu = torch.triu_indices(types, types)
        self.register_buffer("upper", iu[0] * types + iu[1])
        n_features = types + len(iu[0]) * len(self.centres)
        self.register_buffer("shift", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))
        self.linear = nn.Linear(n_features, outputs)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def features(self, onehot: Tensor, pos: Tensor, atoms: Tensor, pairs: Tensor) -> Tensor:
        """Raw features: element counts, then per unordered type pair the summed Gaussians."""
        b = onehot.shape[0]
        oh = onehot * atoms[..., None].to(onehot.dtype)
        dist = (pos[:, :, None, :] - pos[:, None, :, :]).pow(2).sum(-1).add(1e-12).sqrt()
        g = gaussians(dist, self.centres, self.widths) * pairs[..., None].to(dist.dtype)
        per_type = torch.einsum("bjc,bijr->bicr", oh, g)  # (B, N, K, R): partner type c
        f = torch.einsum("bia,bicr->bacr", oh, per_type).reshape(b, self.types * self.types, -1)
        diag = torch.arange(self.types, device=f.device) * (self.types + 1)
        f = f.clone()
        f[:, diag] = f[:, diag] * 0.5  # each unordered same-type pair was counted twice
        return torch.cat([oh.sum(1), f[:, self.upper].reshape(b, -1)], dim=1)

    def forward(self, onehot: Tensor, pos: Tensor, atoms: Tensor, pairs: Tensor) -> Tensor:
        return self.linear((self.features(onehot, pos, atoms, pairs) - self.shift) / self.scale)

    @torch.no_grad()
    def fit(self, features: Tensor, target: Tensor, ridge: float = 1e-5) -> None:
        """Ridge least squares of ``target`` (n, outputs; NaN = unlabelled) on raw ``features``
        (n, F), per output over its labelled rows; sets the centring, the scale and the weights."""
        x = features.double()
        self.shift.copy_(x.mean(0))
        self.scale.fill_(float((x - x.mean(0)).pow(2).mean().sqrt().clamp_min(1e-12)))
        a = torch.cat([(x - self.shift.double()) / self.scale.double(), torch.ones(len(x), 1, dtype=x.dtype)], 1)
        for j in range(target.shape[1]):
            ok = ~target[:, j].isnan()
            aj, yj = a[ok], target[ok, j].double()
            reg = ridge * len(aj) * torch.eye(a.shape[1], dtype=x.dtype)
            reg[-1, -1] = 0.0  # the intercept is not shrunk
            w = torch.linalg.solve(aj.T @ aj + reg, aj.T @ yj)
            self.linear.weight[j] = w[:-1].to(self.linear.weight.dtype)
            self.linear.bias[j] = float(w[-1])
