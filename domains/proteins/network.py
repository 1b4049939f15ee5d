"""The angle transformer: a denoiser for backbone angles on the torus (after FoldingDiff).

FoldingDiff (Wu et al. 2024, Nat. Commun. 15:1059, arXiv 2209.15611) denoises the six
angles of every residue with a BERT encoder using relative positions. This network keeps
that shape, with gensci's conditioned blocks:

    h_0   = Linear([sin x_t, cos x_t])                     (B, L, hidden); periodic in x_t
    c     = TimeEmbedding(t) + ConditionEncoder(cond)       (B, hidden)
    h     = RelativePositionTransformer(h_0, c, mask)       adaLN-Zero DiT blocks (cond_dim = hidden)
    out   = FinalLayer(h, c)                                (B, L, 6 * heads), zero where masked

Encoding each angle as ``(sin, cos)`` makes the output exactly a function of the point on
the torus (up to float rounding), so ``x`` and ``x + 2 pi`` give the same prediction. The
relative-position biases clip at ``max_relative_distance``, so chains of any length run
(FoldingDiff's learned positions stop at 128).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from gensci.nn.conditions import ConditionEncoder, ConditionSpec, specs_to_dicts
from gensci.nn.dit import FinalLayer
from gensci.nn.conditioning import TimeConditioned
from gensci.nn.embeddings import TimeEmbedding
from gensci.nn.transformer import RelativePositionTransformer

__all__ = ["AngleTransformer"]


class AngleTransformer(TimeConditioned, nn.Module):
    """``model(x_t (B, L, dim), t (B,), cond=None, mask=None) -> (B, L, dim * heads)``.

    Args:
        dim: angles per residue (6).
        hidden: token width (also the width of the time/condition embedding).
        depth: transformer blocks.
        attention_heads: attention heads per block (must divide ``hidden``).
        heads: state-sized outputs the process asks for (``Process.heads``; the engine
            passes it), stacked along the last axis.
        conditions: condition specs (or their dict forms); None for an unconditional model.
        cond_dropout: probability of dropping all conditions of a sample in training.
        cond_dropout_each: probability of dropping each condition of a kept sample on its own
            (so that sampling with a subset of the conditions is in distribution).
        max_relative_distance: clip distance of the relative-position buckets.
        mlp_ratio, dropout: block options.
        time_embedding: ``"sinusoidal"`` or ``"fourier"``.

    ``mask`` is a residue mask ``(B, L)`` or a per-angle mask ``(B, L, dim)`` (a residue is
    real when any of its angles is). Outputs are zero at padded residues and, with a
    per-angle mask, at masked angles.
    """

    def __init__(
        self,
        dim: int = 6,
        hidden: int = 128,
        depth: int = 4,
        attention_heads: int = 4,
        heads: int = 1,
        conditions: Sequence[ConditionSpec | Mapping[str, Any]] | None = None,
        cond_dropout: float = 0.1,
        cond_dropout_each: float = 0.0,
        max_relative_distance: int = 32,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        time_embedding: str = "sinusoidal",
    ):
        super().__init__()
        if hidden % attention_heads:
            raise ValueError(f"hidden ({hidden}) must be divisible by attention_heads ({attention_heads})")
        self.dim, self.hidden, self.heads = int(dim), int(hidden), int(heads)
        self.conditions: list[dict[str, Any]] = specs_to_dicts(conditions or [])
        self.embed_angles = nn.Linear(2 * self.dim, hidden)
        self.time = TimeEmbedding(hidden, kind=time_embedding, features=max(32, hidden + hidden % 2))
        self.cond = (ConditionEncoder(self.conditions, hidden, dropout=cond_dropout, dropout_each=cond_dropout_each)
                     if self.conditions else None)
        self.encoder = RelativePositionTransformer(
            hidden, depth, attention_heads, mlp_ratio=mlp_ratio, dropout=dropout, cond_dim=hidden,
            max_relative_distance=max_relative_distance,
        )
        self.final = FinalLayer(hidden, self.dim * self.heads, cond_dim=hidden)

    def forward(
        self, x_t: Tensor, t: Tensor, cond: Mapping[str, Tensor] | None = None, mask: Tensor | None = None
    ) -> Tensor:
        if x_t.ndim != 3 or x_t.shape[-1] != self.dim:
            raise ValueError(f"AngleTransformer expects x_t shaped (B, L, {self.dim}), got {tuple(x_t.shape)}")
        b = x_t.shape[0]
        residues = None
        if mask is not None:
            mask = mask.bool()
            residues = mask.any(-1) if mask.ndim == 3 else mask
        c = self.embed(t, cond, b)
        x = x_t.to(self.embed_angles.weight.dtype)
        h = self.embed_angles(torch.cat([torch.sin(x), torch.cos(x)], dim=-1))
        h = self.encoder(h, c, mask=residues)
        out = self.final(h, c)
        if mask is None:
            return out
        if mask.ndim == 3:
            keep = mask.repeat(1, 1, self.heads)
        else:
            keep = residues[..., None]
        return torch.where(keep, out, torch.zeros((), dtype=out.dtype, device=out.device))
