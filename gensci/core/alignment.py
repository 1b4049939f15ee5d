r"""Equivariant OT coupling of point clouds: align each noise cloud to its molecule.

Pairs stay as drawn. For each pair (noise ``x0``, data ``x1``), both ``(N, D)`` with the
same real atoms, the noise is moved along its orbit under permutations ``P`` of the real
points and rotations ``R`` about the origin to the element closest to the data:

.. math::
    (\hat P, \hat R) = \arg\min_{P \in S_N,\ R \in SO(D)} \sum_i m_i \|R (P x_0)_i - x_{1,i}\|^2,
    \qquad \hat x_0 = \hat R \hat P x_0 ,

(``O(D)`` with ``reflect=True``), as in EquiFM (Song et al., NeurIPS 2023, arXiv 2312.07168)
and equivariant flow matching (Klein, Krämer & Noé, NeurIPS 2023, arXiv 2306.15030). The
joint problem is solved by alternation, each step exact given the other:

* permutation given the rotation: the assignment ``min_σ sum_j ||R x0_σ(j) - x1_j||^2``
  (Hungarian, :func:`scipy.optimize.linear_sum_assignment`, real atoms only);
* rotation given the permutation: Kabsch, ``H = sum_j a_j b_j^T = U S V^T``,
  ``R = V diag(1, …, 1, det(V U^T)) U^T`` (without the sign correction for ``O(D)``).

Alternation only finds a local minimum, so it runs from several starting rotations: Kabsch
on the given order, and (``principal_axes=True``) the ``2^(D-1)`` proper (``2^D`` with
reflections) maps ``E1 S E0^T`` of the principal axes of ``x0`` onto those of ``x1``
(eigenvectors of ``sum_i x_i x_i^T``, matched by eigenvalue, ``S`` diagonal signs). After
one round only each molecule's best start goes on (half the work of carrying them all, for
a cost about 1% higher). A start's cost never rises: a step is kept only where it lowers
the cost, and a start stops once a round lowers its cost by less than a relative ``1e-9``.

Equivariance. Every start is rotation-equivariant in ``x1`` alone (the principal-axis
starts as a set), so for the same ``x0``, ``x1 -> Q x1`` gives ``x̂0 -> Q x̂0``; permuting
``x0`` and ``x1`` together permutes ``x̂0``. No start is the identity rotation, which would
break the first property; hence the result can, rarely (for random clouds 0-1% of the
molecules in 3D, 1-3% in 2D), end above the permutation-only optimum found from ``R = I``.

Marginal. ``N(0, Π)``, with ``Π`` the projector onto the zero-CoM subspace of the real
atoms, is invariant under every fixed ``g = R P``: ``ρ(g) Π ρ(g)^T = Π``. The chosen ``ĝ``
depends on ``(x0, x1)``, but ``x̂0 = ĝ x0`` stays in the orbit of ``x0``, and by the
symmetries above and the invariance of the prior the law of ``x̂0`` given ``x1`` is
equivariant, ``q(· | g x1) = g_# q(· | x1)``. So whenever the law ``ν`` of ``x1`` is
invariant (random orientation, atoms in random order), the law of ``x̂0`` is invariant
and has the orbit law of ``x0``, which for a compact group fixes it:

.. math:: x_0 \sim \mathcal N(0, \Pi),\ g_\# \nu = \nu \ \forall g
    \quad\Longrightarrow\quad \hat x_0 = \hat g(x_0, x_1)\, x_0 \sim \mathcal N(0, \Pi),

the prior that sampling starts from. Given one ``x1`` the aligned noise is not ``N(0, Π)``
— it leans towards ``x1``, which is the point — and for data in a canonical frame, or with
atoms in a canonical order (e.g. sorted by type while only positions are permuted), the
marginal is tilted by that frame or order.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from gensci.core.couplings import Coupling, Pairing
from gensci.core.spaces import Space

__all__ = ["kabsch", "hungarian_permutation", "principal_axes_rotations", "AlignedCoupling"]


def _real(mask: Tensor | None, x: Tensor) -> Tensor:
    """The token mask ``(B, N)`` as booleans (all real without one)."""
    if mask is None:
        return torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
    return mask.to(device=x.device, dtype=torch.bool)


def _rotate(x: Tensor, r: Tensor) -> Tensor:
    """``(R x_i)_i`` for clouds ``(B, N, D)`` and rotations ``(B, D, D)``."""
    return x @ r.transpose(-1, -2)


def _gather(x: Tensor, index: Tensor) -> Tensor:
    """``x[b, index[b, j]]`` ``(B, N, D)``."""
    return torch.gather(x, 1, index[..., None].expand_as(x))


def _sq_cost(y: Tensor, x1: Tensor, real: Tensor) -> Tensor:
    """``sum_i m_i ||y_i - x1_i||^2`` per molecule ``(B,)``."""
    return ((y - x1).pow(2).sum(-1) * real.to(y.dtype)).sum(-1)


def kabsch(x0: Tensor, x1: Tensor, mask: Tensor | None = None, reflect: bool = False) -> Tensor:
    """``R = argmin_R sum_i m_i ||R x0_i - x1_i||^2`` over ``SO(D)`` (``O(D)`` if ``reflect``).

    Clouds ``(B, N, D)``, optional mask ``(B, N)``; returns ``(B, D, D)`` with the dtype of
    ``x0``. ``H = sum_i m_i x0_i x1_i^T = U S V^T``; ``R = V diag(1, …, 1, d) U^T`` with
    ``d = det(V U^T)`` (``d = 1`` if ``reflect``). A molecule without real atoms gets ``I``.
    """
    m = _real(mask, x0).to(x0.dtype)[..., None]
    h = (x0 * m).transpose(-1, -2) @ (x1.to(x0.dtype) * m)
    u, _, vh = torch.linalg.svd(h)
    v, ut = vh.transpose(-1, -2), u.transpose(-1, -2)
    if not reflect:
        d = torch.linalg.det(v @ ut)
        fix = torch.ones(h.shape[:-1], dtype=h.dtype, device=h.device)
        fix[..., -1] = torch.where(d < 0, -1.0, 1.0)
        v = v * fix[..., None, :]
    r = v @ ut
    eye = torch.eye(h.shape[-1], dtype=h.dtype, device=h.device).expand_as(r)
    return torch.where((m.sum((1, 2)) > 0)[:, None, None], r, eye)


def hungarian_permutation(x0: Tensor, x1: Tensor, mask: Tensor | None = None) -> Tensor:
    """``index (B, N)`` minimising ``sum_j m_j ||x0[index_j] - x1_j||^2`` per molecule.

    Each real data atom ``j`` gets a distinct real noise atom ``index_j``; pads map to
    themselves. The squared distances are formed in torch (float64) and each molecule's
    assignment is solved by :func:`scipy.optimize.linear_sum_assignment` on the CPU.
    """
    b, n = x0.shape[:2]
    a, c = x0.double(), x1.double()
    cost = (c.pow(2).sum(-1)[:, :, None] + a.pow(2).sum(-1)[:, None, :] - 2.0 * c @ a.transpose(-1, -2))
    cost = cost.clamp_min_(0.0).cpu().numpy()
    real = _real(mask, x0).cpu().numpy()
    count = real.sum(1)
    index = np.tile(np.arange(n), (b, 1))
    for k in range(b):
        if count[k] == n:
            index[k] = linear_sum_assignment(cost[k])[1]
        elif count[k] > 0:
            idx = np.flatnonzero(real[k])
            index[k, idx] = idx[linear_sum_assignment(cost[k][np.ix_(idx, idx)])[1]]
    return torch.as_tensor(index, dtype=torch.long, device=x0.device)


def principal_axes_rotations(x0: Tensor, x1: Tensor, mask: Tensor | None = None, reflect: bool = False) -> Tensor:
    """Maps ``E1 S E0^T`` of the principal axes of ``x0`` onto those of ``x1``, ``(K, B, D, D)``.

    ``E`` are the eigenvectors of ``sum_i m_i x_i x_i^T`` (ascending eigenvalues) and ``S``
    runs over the diagonal sign matrices, keeping those with ``det = +1`` unless ``reflect``:
    ``K = 2^(D-1)`` (``2^D``). The set does not depend on the signs the eigensolver picks.
    """
    m = _real(mask, x0).to(x0.dtype)[..., None]
    e0 = torch.linalg.eigh((x0 * m).transpose(-1, -2) @ (x0 * m))[1]
    e1 = torch.linalg.eigh((x1 * m).transpose(-1, -2) @ (x1 * m))[1]
    dim, bsz = x0.shape[-1], x0.shape[0]
    base = torch.linalg.det(e1) * torch.linalg.det(e0)  # det(E1 E0^T) = ±1
    out = []
    for signs in itertools.product((1.0, -1.0), repeat=dim if reflect else dim - 1):
        s = torch.ones(bsz, dim, dtype=x0.dtype, device=x0.device)
        s[:, : len(signs)] = torch.tensor(signs, dtype=x0.dtype, device=x0.device)
        if not reflect:  # the last sign makes det(E1 S E0^T) = +1
            s[:, -1] = torch.where(base * s[:, :-1].prod(-1) < 0, -1.0, 1.0)
        out.append((e1 * s[:, None, :]) @ e0.transpose(-1, -2))
    return torch.stack(out)


class AlignedCoupling(Coupling):
    """Pairs as drawn, each noise cloud permuted and rotated onto its molecule (EquiFM).

    Args:
        permute: optimise the permutation of the real noise points (Hungarian).
        rotate: optimise the rotation (Kabsch).
        rounds: alternations (permutation, then rotation) from the starts; a start stops
            early once a round lowers its cost by less than a relative ``1e-9``.
        reflect: allow improper rotations (``O(D)``, E(3) alignment) rather than ``SO(D)``.
        principal_axes: also start from the principal-axis maps (see the module docstring).

    Logs ``coupling/cost`` and ``coupling/cost_before``: the mean over molecules of
    ``sum_i m_i ||x0_i - x1_i||^2`` after and before alignment. ``x0`` keeps its centre of
    mass (rotations about the origin, permutations of real atoms) and its pad rows.
    ``Pairing.index`` is the identity: molecules are not re-paired. Computed in float64 on
    the input's device; the assignments run on the CPU.

    Speed (one CPU thread, 64 molecules of 15-18 atoms in 3D, ``rounds=3``): about 35 ms a
    batch (58 ms median on a loaded 2-core machine); 23 ms with ``principal_axes=False``
    (cost about 25% higher), 10 ms permutation only, 2 ms rotation only.
    """

    def __init__(self, permute: bool = True, rotate: bool = True, rounds: int = 3, reflect: bool = False,
                 principal_axes: bool = True):
        super().__init__()
        if rounds < 0:
            raise ValueError(f"rounds counts alternations, got {rounds}")
        self.permute, self.rotate, self.reflect = bool(permute), bool(rotate), bool(reflect)
        self.rounds = int(rounds)
        self.principal_axes = bool(principal_axes)

    def _starts(self, a: Tensor, b: Tensor, real: Tensor) -> Tensor:
        """Initial rotations ``(K, B, D, D)``."""
        eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device).expand(a.shape[0], -1, -1)
        if not self.rotate:
            return eye[None]
        starts = [kabsch(a, b, real, self.reflect)[None]]
        if self.permute and self.principal_axes:
            starts.append(principal_axes_rotations(a, b, real, self.reflect))
        return torch.cat(starts)

    @torch.no_grad()
    def align(self, x0: Tensor, x1: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """``(x̂0, index, R, cost_before, cost)`` with ``x̂0_j = R x0[index_j]`` on real atoms.

        ``x̂0`` has the dtype of ``x0`` and its pad rows unchanged; ``index (B, N)``,
        ``R (B, D, D)`` and the per-molecule costs ``(B,)`` are float64 where they are real.
        """
        if not (isinstance(x0, Tensor) and isinstance(x1, Tensor)):
            raise TypeError("AlignedCoupling aligns point-cloud tensors; give it to the positions' own process")
        if x0.shape != x1.shape or x0.ndim != 3:
            raise ValueError(f"AlignedCoupling needs x0 and x1 of one shape (B, N, D), got {tuple(x0.shape)}, "
                             f"{tuple(x1.shape)}")
        work = torch.float32 if x0.device.type == "mps" else torch.float64
        real = _real(mask, x0)
        m = real.to(work)[..., None]
        a, b = x0.to(work) * m, x1.to(work) * m
        bsz, n, _ = a.shape
        before = _sq_cost(a, b, real)
        starts = self._starts(a, b, real)
        k = starts.shape[0]
        # every start runs as its own copy of the batch: (K * B, N, D)
        ak, bk, realk = a.repeat(k, 1, 1), b.repeat(k, 1, 1), real.repeat(k, 1)
        rot = starts.reshape(k * bsz, *starts.shape[2:]).clone()
        idx = torch.arange(n, device=a.device).expand(k * bsz, n).clone()
        best = _sq_cost(_rotate(ak, rot), bk, realk)
        active = torch.ones_like(best, dtype=torch.bool)
        for rnd in range(self.rounds if self.permute else 0):
            if rnd == 1 and k > 1:  # after one round, only each molecule's best start goes on
                lead = torch.zeros_like(active).reshape(k, bsz)
                lead[best.reshape(k, bsz).argmin(0), torch.arange(bsz, device=a.device)] = True
                active &= lead.reshape(-1)
            act = active.nonzero().squeeze(1)
            if act.numel() == 0:
                break
            pa, pb, pr = ak[act], bk[act], realk[act]
            new_idx = hungarian_permutation(_rotate(pa, rot[act]), pb, pr)
            moved = _gather(pa, new_idx)
            new_rot = kabsch(moved, pb, pr, self.reflect) if self.rotate else rot[act]
            new_cost = _sq_cost(_rotate(moved, new_rot), pb, pr)
            better = new_cost < best[act]
            sel = act[better]
            idx[sel], rot[sel], best_old = new_idx[better], new_rot[better], best[sel]
            best[sel] = new_cost[better]
            active = torch.zeros_like(active)
            active[sel] = best[sel] < best_old * (1.0 - 1e-9)
        choice = best.reshape(k, bsz).argmin(0)
        pick = choice * bsz + torch.arange(bsz, device=a.device)
        idx, rot, cost = idx[pick], rot[pick], best[pick]
        aligned = _rotate(_gather(x0.to(work), idx), rot)
        out = torch.where(real[..., None], aligned.to(x0.dtype), x0)
        return out, idx, rot, before, cost

    @torch.no_grad()
    def __call__(self, x0, x1, cond=None, generator=None, mask=None, space: Space | None = None) -> Pairing:
        y, _, _, before, cost = self.align(x0, x1, mask)
        logs = {"coupling/cost": cost.mean().float(), "coupling/cost_before": before.mean().float()}
        return Pairing(x0=y, x1=x1, cond=cond, index=torch.arange(x1.shape[0], device=x1.device), logs=logs)

    def __repr__(self) -> str:
        return (f"AlignedCoupling(permute={self.permute}, rotate={self.rotate}, rounds={self.rounds}, "
                f"reflect={self.reflect}, principal_axes={self.principal_axes})")
