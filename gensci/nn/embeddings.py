"""Time embeddings: fixed features of ``t in [0, 1]`` followed by a small MLP.

* :class:`SinusoidalTimeEmbedding` — transformer positional features (Vaswani et al. 2017,
  arXiv 1706.03762) of the scaled time ``s = scale * t``::

      f_k = max_period ** (-k / half),  k = 0 .. half - 1
      emb(t) = [cos(s f_0), ..., cos(s f_{half-1}), sin(s f_0), ..., sin(s f_{half-1})]

  With ``scale = 1000`` a continuous ``t`` lands on the same frequencies that DDPM/DiT use
  for integer steps 0..1000 (Ho et al. 2020, arXiv 2006.11239; Peebles & Xie 2023,
  arXiv 2212.09748).
* :class:`GaussianFourierEmbedding` — random Fourier features (Tancik et al. 2020,
  arXiv 2006.10739; Song et al. 2021, arXiv 2011.13456)::

      w ~ N(0, scale^2)  (fixed, drawn once from a seeded generator)
      emb(t) = [sin(2 pi w t), cos(2 pi w t)]

  ``w`` is a registered buffer, so it is saved in ``state_dict`` and a reloaded model sees
  the same features.
* :class:`TimeEmbedding` — features, then ``Linear -> SiLU -> Linear`` as in DiT's
  ``TimestepEmbedder``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["SinusoidalTimeEmbedding", "GaussianFourierEmbedding", "TimeEmbedding"]


def _as_time(t: Tensor | float, batch_size: int | None = None) -> Tensor:
    """Times as a float tensor of shape ``(B,)`` (a scalar is broadcast when ``batch_size`` is given)."""
    t = torch.as_tensor(t)
    if not torch.is_floating_point(t):
        t = t.float()
    if t.ndim == 0:
        t = t.reshape(1) if batch_size is None else t.expand(batch_size)
    if t.ndim != 1:
        raise ValueError(f"times must have shape (B,), got {tuple(t.shape)}")
    return t


class SinusoidalTimeEmbedding(nn.Module):
    """Fixed sinusoidal features of ``scale * t``; output ``(B, dim)`` (odd ``dim`` pads a zero)."""

    def __init__(self, dim: int, max_period: float = 10000.0, scale: float = 1000.0):
        super().__init__()
        if dim < 2:
            raise ValueError(f"dim must be >= 2, got {dim}")
        self.dim = dim
        self.max_period = float(max_period)
        self.scale = float(scale)
        half = dim // 2
        freqs = torch.exp(-math.log(self.max_period) * torch.arange(half, dtype=torch.float32) / half)
        # Derived from the constructor arguments, so not saved in state_dict.
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, t: Tensor) -> Tensor:
        t = _as_time(t)
        args = (self.scale * t.to(self.freqs.dtype))[:, None] * self.freqs[None, :]
        emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
        if self.dim % 2:
            emb = torch.nn.functional.pad(emb, (0, 1))
        return emb

    def extra_repr(self) -> str:
        return f"dim={self.dim}, max_period={self.max_period:g}, scale={self.scale:g}"


class GaussianFourierEmbedding(nn.Module):
    """Random Fourier features ``[sin(2 pi w t), cos(2 pi w t)]`` with fixed ``w ~ N(0, scale^2)``.

    The frequencies are drawn at construction from ``torch.Generator().manual_seed(seed)``
    (never the global RNG) and stored as a persistent buffer.
    """

    def __init__(self, dim: int, scale: float = 16.0, seed: int = 0):
        super().__init__()
        if dim < 2 or dim % 2:
            raise ValueError(f"dim must be an even number >= 2, got {dim}")
        self.dim = dim
        self.scale = float(scale)
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("weight", torch.randn(dim // 2, generator=g) * self.scale)

    def forward(self, t: Tensor) -> Tensor:
        t = _as_time(t)
        args = (2.0 * math.pi) * t.to(self.weight.dtype)[:, None] * self.weight[None, :]
        return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, scale={self.scale:g}"


class TimeEmbedding(nn.Module):
    """``MLP(features(t))``: ``Linear(features, dim) -> SiLU -> Linear(dim, dim)``.

    Args:
        dim: output width.
        kind: ``"sinusoidal"`` or ``"fourier"``.
        features: width of the fixed features (DiT uses 256).
        **kwargs: passed to the feature module (``max_period``/``scale`` or ``scale``/``seed``).
    """

    def __init__(self, dim: int, kind: str = "sinusoidal", features: int = 256, **kwargs):
        super().__init__()
        if kind == "sinusoidal":
            self.features: nn.Module = SinusoidalTimeEmbedding(features, **kwargs)
        elif kind == "fourier":
            self.features = GaussianFourierEmbedding(features, **kwargs)
        else:
            raise ValueError(f"unknown time embedding {kind!r}; choose 'sinusoidal' or 'fourier'")
        self.kind = kind
        self.mlp = nn.Sequential(nn.Linear(features, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        f = self.features(t)
        return self.mlp(f.to(self.mlp[0].weight.dtype))
