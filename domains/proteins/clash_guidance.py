r"""Clash guidance: steer a flow-matching sampler away from backbones that run into themselves.

An angle model builds its structure by NeRF, so a small error in one torsion swings the
whole rest of the chain, and chains that pass through themselves are its most common
failure. Clash guidance is reconstruction guidance (as in DPS, Chung et al. 2023, arXiv
2209.14687, and the potentials of RFdiffusion) with a physical energy instead of a
likelihood. At each step the network's velocity ``v`` at time ``t`` predicts the clean
angles on the torus,

    x1_hat = wrap(x_t + (1 - t) v),

NeRF builds its CA trace (differentiable), and the clash energy

    E = sum_{|i - j| >= 3} relu(d_min - |CA_i - CA_j|)^2

(pairs within a chain, ``d_min`` = 3.8 Å by default, above the 3.0 Å the clash metric
counts) is differentiated with respect to the backbone torsions phi and psi only (omega
and the bond angles stay as the model drew them). The predicted endpoint moves by a
gradient step scaled so that no torsion moves by more than ``strength`` radians,

    delta = -strength * grad / max|grad|,      v <- v + delta / (1 - t),

which moves the state toward the corrected endpoint over the remaining time: negligible
early, the whole correction at the last step. A backbone without clashes has zero gradient
and is left exactly as the model drew it. The velocity is clamped at ``1 - t >= 1e-3``.

With ``iterations = K > 1`` the endpoint takes up to ``K`` such steps per network call, each
from the gradient at the endpoint the previous one reached (projected gradient descent on
``E``, at most ``K * strength`` radians a torsion), and a chain stops as soon as its energy
is zero. A sampler with few steps makes few calls, so one step a call corrects less than a
long chain does; iterating restores the correction without a network call, and chains that
no longer clash are not moved further.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from domains.proteins.dataset import uncentre
from domains.proteins.nerf import angles_to_backbone
from gensci.core.spaces import wrap_angle

__all__ = ["CLASH_GUIDANCE_DISTANCE", "RELAX_STEP", "clash_energy", "clash_masks", "clash_descent", "ClashGuidedNetwork"]

#: CA atoms closer than this (Å) and at least three residues apart are pushed apart
CLASH_GUIDANCE_DISTANCE = 3.8
#: the torsions guidance may move: phi (column 0) and psi (column 1)
TORSION_COLUMNS = (0, 1)
#: the largest torsion change (radians) of one relaxation step on the final angles (``--clash-relax``)
RELAX_STEP = 0.2
#: residues closer in sequence than this never count as clashing (i, i+2 is set by the angle tau)
MIN_SEPARATION = 3


def clash_energy(ca: Tensor, residues: Tensor, d_min: float = CLASH_GUIDANCE_DISTANCE) -> Tensor:
    """Per structure ``sum_{i<j, j-i>=3} relu(d_min - |CA_i - CA_j|)^2`` over real residues.

    Args:
        ca: ``(B, L, 3)`` CA coordinates in Å.
        residues: ``(B, L)`` boolean, True for real residues.
    Returns:
        ``(B,)`` energies in Å².
    """
    n = ca.shape[1]
    idx = torch.arange(n, device=ca.device)
    far = (idx[None, :] - idx[:, None]) >= MIN_SEPARATION  # upper triangle, |i - j| >= 3
    pair = far[None] & residues[:, :, None] & residues[:, None, :]
    diff = ca[:, :, None, :] - ca[:, None, :, :]
    # the epsilon keeps the gradient finite for coincident atoms
    d = (diff.pow(2).sum(-1) + 1e-9).sqrt()
    overlap = torch.relu(d_min - d) * pair
    return overlap.pow(2).sum(dim=(1, 2))


def clash_masks(mask: Tensor | None, x: Tensor) -> tuple[Tensor, Tensor | None]:
    """From a per-angle mask ``(B, L, 6)`` (or None: every residue of ``x`` real), the real
    residues ``(B, L)`` (its tau column) and the phi / psi that may move ``(B, L, 2)``."""
    if mask is None:
        return torch.ones(x.shape[:2], dtype=torch.bool, device=x.device), None
    return mask[..., 3] > 0, mask[..., list(TORSION_COLUMNS)] > 0


def clash_descent(angles: Tensor, residues: Tensor, mean: Tensor, strength: float, iterations: int = 1,
                  movable: Tensor | None = None, d_min: float = CLASH_GUIDANCE_DISTANCE) -> Tensor:
    """The torsion moves of up to ``iterations`` steps ``-strength * grad E / max|grad E|`` (the
    module docstring), each from where the last one landed; a chain stops once its energy is 0.

    Args:
        angles: ``(B, L, 6)`` centred angles (``mean`` is added back before NeRF).
        residues: ``(B, L)`` boolean, True for real residues.
        mean: ``(6,)`` the domain's angle means.
        movable: ``(B, L, 2)`` boolean, the phi / psi that may move (default: all).
    Returns:
        ``(B, L, 2)`` the moves of phi and psi (zero for chains without clashes).
    """
    columns = list(TORSION_COLUMNS)
    angles = angles.detach().float()
    torsions, rest = angles[..., columns], angles[..., len(columns):]
    movable = torch.ones_like(torsions) if movable is None else movable.to(torsions.dtype)
    moved = torch.zeros_like(torsions)
    active = torch.arange(angles.shape[0], device=angles.device)  # chains still clashing
    for _ in range(int(iterations)):
        phi_psi = (torsions[active] + moved[active]).requires_grad_(True)
        with torch.enable_grad():
            ca = angles_to_backbone(uncentre(torch.cat([phi_psi, rest[active]], dim=-1), mean), residues[active])
            energy = clash_energy(ca[:, :, 1], residues[active], d_min)
            (grad,) = torch.autograd.grad(energy.sum(), phi_psi)
        clashing = energy.detach() > 0
        grad = (grad * movable[active])[clashing]
        scale = grad.abs().flatten(1).amax(dim=1).clamp_min(1e-12).view(-1, 1, 1)
        active = active[clashing]
        moved[active] -= strength * grad / scale
        if active.numel() == 0:
            break
    return moved


class ClashGuidedNetwork(nn.Module):
    """A velocity network whose predictions are corrected against backbone clashes.

    ``forward(x, t, cond=None, mask=None)`` as the wrapped network; ``x`` are centred angles
    ``(B, L, 6)`` (the domain's ``mean`` added back before NeRF) and ``mask`` the per-angle
    mask, whose tau column marks the real residues.
    """

    def __init__(self, network: nn.Module, mean: Tensor, strength: float, d_min: float = CLASH_GUIDANCE_DISTANCE,
                 iterations: int = 1):
        super().__init__()
        if strength < 0:
            raise ValueError(f"clash guidance strength must be non-negative, got {strength}")
        if int(iterations) != iterations or iterations < 1:
            raise ValueError(f"clash guidance iterations must be a positive integer, got {iterations}")
        self.network = network
        self.register_buffer("mean", mean.detach().clone().float(), persistent=False)
        self.strength = float(strength)
        self.d_min = float(d_min)
        self.iterations = int(iterations)

    def forward(self, x: Tensor, t: Tensor, cond: Any = None, mask: Tensor | None = None) -> Tensor:
        v = self.network(x, t, cond=cond, mask=mask)
        if self.strength == 0:
            return v
        remaining = (1.0 - t).clamp_min(1e-3).to(v.dtype).view(-1, *([1] * (v.dim() - 1)))
        endpoint = wrap_angle(x.detach().float() + remaining * v.detach().float())
        residues, movable = clash_masks(mask, x)
        moved = clash_descent(endpoint, residues, self.mean, self.strength, self.iterations, movable, self.d_min)
        delta = torch.zeros_like(v)
        delta[..., list(TORSION_COLUMNS)] = moved.to(v.dtype)
        return v + delta / remaining
