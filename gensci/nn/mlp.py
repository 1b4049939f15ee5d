"""A conditional MLP for flat vectors: the network of the ``points`` domain and the benchmarks.

For ``x_t`` of shape ``(B, dim)`` and times ``t`` ``(B,)``::

    c   = TimeEmbedding(t) + ConditionEncoder(cond)                 (B, hidden)
    (b_l, s_l)_{l=1..depth} = Linear(SiLU(c))                       one matmul, zero-init
    h_1 = act((W_1 x_t + a_1) * (1 + s_1) + b_1)
    h_l = act((W_l h_{l-1} + a_l) * (1 + s_l) + b_l),  l = 2 .. depth
    out = W_out h_depth + a_out                                     (B, dim * heads)

The scale-shift injection is FiLM (Perez et al. 2018, arXiv 1709.07871) driven the way
adaLN drives DiT blocks (Peebles & Xie 2023, arXiv 2212.09748): it starts at zero, so the
freshly built network is a plain MLP of ``x_t`` and learns how time and conditions bend it.
Conditions follow :class:`~gensci.nn.conditions.ConditionEncoder` (learned nulls, joint
classifier-free dropout in training, NaN = missing), so ``cond=None`` and an all-NaN
``cond`` give bit-identical outputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from gensci.nn.conditions import ConditionEncoder, ConditionSpec, specs_to_dicts
from gensci.nn.conditioning import TimeConditioned
from gensci.nn.embeddings import TimeEmbedding

__all__ = ["VectorFieldMLP", "make_activation"]

_ACTIVATIONS = {"silu": nn.SiLU, "gelu": nn.GELU, "relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU}


def make_activation(name: str) -> nn.Module:
    """``"silu" | "gelu" | "relu" | "tanh" | "elu"`` as a module."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(_ACTIVATIONS)}") from None


class VectorFieldMLP(TimeConditioned, nn.Module):
    """Time- and condition-modulated MLP; ``model(x_t, t, cond=None, mask=None) -> (B, dim * heads)``.

    Args:
        dim: data dimension.
        hidden: hidden width (also the width of the time/condition embedding).
        depth: number of hidden layers (each ``Linear -> FiLM -> act``).
        heads: state-sized outputs stacked along the last axis (e.g. 2 for flow + score).
        conditions: condition specs (or their dict forms); ``None`` for an unconditional model.
        cond_dropout: probability of dropping all conditions of a sample in training.
        cond_dropout_each: probability of dropping each condition of a kept sample on its own
            (so that sampling with a subset of the conditions is in distribution).
        time_embedding: ``"sinusoidal"`` or ``"fourier"``.
        activation: ``"silu" | "gelu" | "relu" | "tanh" | "elu"``.
        time_features: width of the fixed time features (default ``max(32, hidden)``, even).

    ``mask`` is accepted for the shared call shape and ignored: flat vectors have no padding.
    Set :attr:`generator` to make condition dropout reproducible.
    """

    def __init__(
        self,
        dim: int,
        hidden: int = 256,
        depth: int = 3,
        heads: int = 1,
        conditions: Sequence[ConditionSpec | Mapping[str, Any]] | None = None,
        cond_dropout: float = 0.1,
        cond_dropout_each: float = 0.0,
        time_embedding: str = "sinusoidal",
        activation: str = "silu",
        time_features: int | None = None,
    ):
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.dim, self.hidden, self.depth, self.heads = dim, hidden, depth, heads
        self.conditions: list[dict[str, Any]] = specs_to_dicts(conditions or [])
        feats = time_features or max(32, hidden + hidden % 2)
        self.time = TimeEmbedding(hidden, kind=time_embedding, features=feats)
        self.cond = (ConditionEncoder(self.conditions, hidden, dropout=cond_dropout, dropout_each=cond_dropout_each)
                     if self.conditions else None)
        self.layers = nn.ModuleList([nn.Linear(dim, hidden)] + [nn.Linear(hidden, hidden) for _ in range(depth - 1)])
        self.film = nn.Linear(hidden, 2 * hidden * depth)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
        self.act = make_activation(activation)
        self.out = nn.Linear(hidden, dim * heads)

    def forward(
        self, x_t: Tensor, t: Tensor, cond: Mapping[str, Tensor] | None = None, mask: Tensor | None = None
    ) -> Tensor:
        b = x_t.shape[0]
        c = self.embed(t, cond, b)
        # one split (its backward is a single cat) instead of per-layer indexing
        film = self.film(torch.nn.functional.silu(c)).split(self.hidden, dim=-1)
        h = x_t
        for i, layer in enumerate(self.layers):
            h = self.act(torch.addcmul(film[2 * i], layer(h), 1.0 + film[2 * i + 1]))
        return self.out(h)
