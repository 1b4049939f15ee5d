"""Guidance by a differentiable oracle's gradient on the predicted clean sample.

During flow-matching sampling the network predicts a velocity ``v(x_t, t)``; on the
straight (conditional OT) path the clean sample it points at is

    x̂1 = x_t + (1 - t) v(x_t, t).

Reward guidance ascends a differentiable reward ``r`` of that prediction, read in the
domain's units by ``readout`` (vectors, backbone coordinates):

    v'(x_t, t) = v(x_t, t) + s · ∇_{x̂1} r(readout(x̂1)),

the endpoint-gradient form of training-free guidance (Chung et al., "Diffusion Posterior
Sampling", ICLR 2023; Yu et al., "FreeDoM", ICCV 2023), with the network's Jacobian left
out (it costs a backward pass through the network and, on the CPU, changes little). Each
sample's step is clipped to norm ``max_norm`` (in state units) so a steep reward cannot
throw a sample off the data manifold in one step. Masked entries get no update.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from gensci.core.spaces import expand_mask
from gensci.errors import GensciError

__all__ = ["RewardGradientNetwork"]


class RewardGradientNetwork(nn.Module):
    """``network`` with its velocity pushed up the gradient of ``reward(readout(x̂1))``.

    Args:
        network: a velocity network ``network(x, t, cond=None, mask=None)`` on tensor states.
        reward: a differentiable ``(B,)`` reward of the read-out predicted samples.
        readout: predicted clean states ``(B, ...)`` and the mask -> what ``reward`` takes.
        scale: the guidance strength ``s`` (0 returns the network's velocity).
        max_norm: the largest guidance step per sample (state units), or None.
    """

    def __init__(self, network: nn.Module, reward: Callable[[Any], Tensor], readout: Callable[[Tensor, Tensor | None], Any],
                 scale: float, max_norm: float | None = 1.0):
        super().__init__()
        if scale < 0:
            raise GensciError(f"the gradient-guidance scale must be non-negative, got {scale}")
        self.network = network
        self.reward = reward
        self.readout = readout
        self.scale = float(scale)
        self.max_norm = None if max_norm is None else float(max_norm)

    def forward(self, x: Tensor, t: Tensor, cond: Any = None, mask: Tensor | None = None) -> Tensor:
        v = self.network(x, t, cond=cond, mask=mask)
        if self.scale == 0:
            return v
        if not isinstance(v, Tensor):
            raise GensciError("gradient guidance needs a single-field tensor state; this model's states are records")
        remaining = (1.0 - t).clamp_min(0.0).to(v.dtype).view(-1, *([1] * (v.dim() - 1)))
        endpoint = (x.detach() + remaining * v.detach()).requires_grad_(True)
        with torch.enable_grad():
            r = self.reward(self.readout(endpoint, mask))
            if r.shape != (x.shape[0],):
                raise GensciError(f"the reward must give one value per sample ({x.shape[0]}), got shape {tuple(r.shape)}")
            (grad,) = torch.autograd.grad(r.sum(), endpoint, allow_unused=True)
        if grad is None:
            return v
        grad = torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)
        m = expand_mask(mask, grad)
        if m is not None:
            grad = grad * m
        step = self.scale * grad
        if self.max_norm is not None:
            norm = step.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (v.dim() - 1)))
            step = step * (self.max_norm / norm).clamp(max=1.0)
        return v + step.to(v.dtype)
