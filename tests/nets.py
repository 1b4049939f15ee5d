"""A tiny time-conditioned MLP for tests: ``model(x, t, cond=None, mask=None)``."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class TinyMLP(nn.Module):
    """``MLP([x, sin/cos features of t]) -> (B, out_dim)`` for flat states ``(B, dim)``."""

    def __init__(self, dim: int, out_dim: int | None = None, hidden: int = 64, depth: int = 3, freqs: int = 4):
        super().__init__()
        self.register_buffer("freqs", math.pi * torch.arange(1, freqs + 1, dtype=torch.float32))
        layers: list[nn.Module] = []
        width = dim + 1 + 2 * freqs
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        layers.append(nn.Linear(width, out_dim if out_dim is not None else dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor, t: Tensor, cond=None, mask=None) -> Tensor:
        t = t.reshape(-1, 1).to(x.dtype).expand(x.shape[0], 1)
        ft = t * self.freqs.to(x.dtype)
        return self.net(torch.cat([x, t, ft.sin(), ft.cos()], dim=1))


def seeded_model(dim: int, out_dim: int | None = None, seed: int = 0, **kwargs) -> TinyMLP:
    """A :class:`TinyMLP` with weights drawn from ``torch.manual_seed(seed)``-free init."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return TinyMLP(dim, out_dim, **kwargs)
