"""Exponential moving average of network weights (Polyak averaging).

``theta_ema <- d * theta_ema + (1 - d) * theta`` after every optimiser step, with the
warm-up ``d_k = min(d, (1 + k) / (10 + k))`` so early averages are not dominated by the
random initialisation (as in Ho et al. 2020 and TensorFlow's ExponentialMovingAverage).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["EMA"]


class EMA(nn.Module):
    """Holds an averaged copy of ``network``; its weights travel in ``state_dict``."""

    def __init__(self, network: nn.Module, decay: float = 0.999):
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must lie in [0, 1), got {decay}")
        self.decay = float(decay)
        self.average = copy.deepcopy(network)
        self.average.requires_grad_(False)
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, network: nn.Module) -> None:
        k = int(self.updates.item())
        d = min(self.decay, (1.0 + k) / (10.0 + k))
        for avg, cur in zip(self.average.parameters(), network.parameters()):
            avg.lerp_(cur.detach(), 1.0 - d)
        for avg, cur in zip(self.average.buffers(), network.buffers()):
            avg.copy_(cur)
        self.updates += 1
