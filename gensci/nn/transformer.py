"""Transformer encoder with learned relative-position attention biases.

Attention logits between query ``i`` and key ``j`` get a learned per-head scalar that
depends only on the relative offset ``r = p_j - p_i`` of their positions::

    logit_h(i, j) = q_i . k_j / sqrt(d) + B_h[bucket(r)]

* ``"clip"`` buckets: ``bucket(r) = clamp(r, -M, M) + M`` (``2M + 1`` buckets; Shaw et al.
  2018, arXiv 1803.02155). Offsets beyond ``M`` share the edge buckets, so any length runs.
* ``"log"`` buckets (T5, Raffel et al. 2020, arXiv 1910.10683): half the buckets per sign;
  exact offsets below ``n/4``, log-spaced up to ``M``, and everything farther in the last.

Because the bias depends only on ``p_j - p_i``, the encoder has no absolute positions:
shifting a sequence inside its padding leaves the outputs at real tokens unchanged. This is
the FoldingDiff backbone idea (a BERT encoder with relative positions; Wu et al. 2024,
arXiv 2209.15611) without its fixed maximum length. With ``relative_positions=False`` the
encoder is permutation equivariant, which suits molecular graphs (edges enter as ``bias``).

Blocks are :class:`~gensci.nn.dit.DiTBlock` (adaLN-Zero, when ``cond_dim`` is given) or
plain pre-LN :class:`~gensci.nn.dit.TransformerBlock`. The encoder returns the residual
stream; finish with :class:`~gensci.nn.dit.FinalLayer` (conditioned) or a LayerNorm + head.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gensci.nn.dit import DiTBlock, TransformerBlock, attention_bias

__all__ = ["RelativePositionBias", "RelativePositionTransformer"]


class RelativePositionBias(nn.Module):
    """Learned per-head bias ``B_h[bucket(p_j - p_i)]``, shape ``(B or 1, heads, N, N)``."""

    def __init__(self, heads: int, max_relative_distance: int = 32, buckets: str = "clip", num_buckets: int = 32):
        super().__init__()
        if buckets not in ("clip", "log"):
            raise ValueError(f"buckets must be 'clip' or 'log', got {buckets!r}")
        if max_relative_distance < 1:
            raise ValueError(f"max_relative_distance must be >= 1, got {max_relative_distance}")
        self.heads = heads
        self.max_relative_distance = int(max_relative_distance)
        self.buckets = buckets
        if buckets == "clip":
            self.num_buckets = 2 * self.max_relative_distance + 1
        else:
            if num_buckets < 8 or num_buckets % 2:
                raise ValueError(f"log buckets need an even num_buckets >= 8, got {num_buckets}")
            if self.max_relative_distance <= num_buckets // 4:
                raise ValueError("log buckets need max_relative_distance > num_buckets / 4")
            self.num_buckets = int(num_buckets)
        self.table = nn.Embedding(self.num_buckets, heads)
        nn.init.normal_(self.table.weight, std=0.02)

    def bucket(self, rel: Tensor) -> Tensor:
        """Bucket index of integer offsets ``rel = p_j - p_i``."""
        m = self.max_relative_distance
        if self.buckets == "clip":
            return rel.clamp(-m, m) + m
        half = self.num_buckets // 2
        exact = half // 2
        a = rel.abs()
        far = exact + (
            torch.log(a.clamp_min(1).to(torch.float32) / exact) / math.log(m / exact) * (half - exact)
        ).long()
        mag = torch.where(a < exact, a, far.clamp(max=half - 1))
        return mag + (rel > 0).long() * half

    def forward(self, positions: Tensor) -> Tensor:
        """``positions``: integer ``(N,)`` or ``(B, N)``."""
        if positions.ndim == 1:
            positions = positions[None]
        rel = positions[:, None, :] - positions[:, :, None]  # (B, N_query, N_key): p_j - p_i
        return self.table(self.bucket(rel.long())).permute(0, 3, 1, 2)


class RelativePositionTransformer(nn.Module):
    """Stack of attention blocks with relative-position biases and key-padding masks.

    Args:
        dim: token width.
        depth: number of blocks.
        heads: attention heads.
        mlp_ratio, dropout, qk_norm: block options.
        cond_dim: width of the conditioning vector ``c``; given → adaLN-Zero DiT blocks,
            ``None`` → plain pre-LN blocks.
        max_relative_distance: clip distance ``M`` (or the log buckets' farthest distance).
        position_buckets: ``"clip"`` or ``"log"``.
        num_buckets: number of log buckets.
        share_position_bias: one bias table for all blocks (T5) instead of one per block.
        relative_positions: False drops position biases altogether (sets, graphs).
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        heads: int,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        cond_dim: int | None = None,
        max_relative_distance: int = 32,
        position_buckets: str = "clip",
        num_buckets: int = 32,
        share_position_bias: bool = False,
        relative_positions: bool = True,
        qk_norm: bool = False,
    ):
        super().__init__()
        self.dim, self.depth, self.heads, self.cond_dim = dim, depth, heads, cond_dim
        if cond_dim is not None:
            self.blocks = nn.ModuleList(
                DiTBlock(dim, heads, mlp_ratio, dropout, cond_dim=cond_dim, qk_norm=qk_norm) for _ in range(depth)
            )
        else:
            self.blocks = nn.ModuleList(TransformerBlock(dim, heads, mlp_ratio, dropout, qk_norm=qk_norm) for _ in range(depth))
        n_tables = 0 if not relative_positions else (1 if share_position_bias else depth)
        self.position_bias = nn.ModuleList(
            RelativePositionBias(heads, max_relative_distance, position_buckets, num_buckets) for _ in range(n_tables)
        )

    def forward(
        self,
        x: Tensor,
        c: Tensor | None = None,
        mask: Tensor | None = None,
        positions: Tensor | None = None,
        bias: Tensor | None = None,
    ) -> Tensor:
        """Encode tokens.

        Args:
            x: ``(B, N, dim)`` tokens.
            c: ``(B, cond_dim)`` or ``(B, N, cond_dim)`` conditioning (required iff ``cond_dim``).
            mask: ``(B, N)`` bool, True = real token. Padded outputs are set to zero.
            positions: integer positions ``(N,)`` or ``(B, N)``; default ``0 .. N-1``.
            bias: extra additive attention bias ``(B or 1, heads or 1, N, N)``.
        """
        if (c is None) != (self.cond_dim is None):
            need = "needs a conditioning vector c" if c is None else "was built without cond_dim; got c"
            raise ValueError(f"RelativePositionTransformer {need}")
        n = x.shape[1]
        if mask is not None:
            mask = mask.bool()
            if bool(mask.all()):  # nothing padded: skip the (B, heads, N, N) key-mask bias
                mask = None
            else:
                x = torch.where(mask[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device))
        if positions is None and len(self.position_bias):
            positions = torch.arange(n, device=x.device)
        tables = self.position_bias
        shared = None
        if not len(tables):
            shared = attention_bias(mask, bias, x.dtype)
        elif len(tables) == 1:
            shared = self._combine(tables[0](positions), mask, bias, x.dtype)
        for i, block in enumerate(self.blocks):
            layer_bias = shared if len(tables) <= 1 else self._combine(tables[i](positions), mask, bias, x.dtype)
            x = block(x, c, bias=layer_bias) if self.cond_dim is not None else block(x, bias=layer_bias)
        if mask is not None:
            x = torch.where(mask[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device))
        return x

    @staticmethod
    def _combine(pos_bias: Tensor, mask: Tensor | None, bias: Tensor | None, dtype: torch.dtype) -> Tensor:
        total = pos_bias.to(dtype) if bias is None else pos_bias.to(dtype) + bias.to(dtype)
        return attention_bias(mask, total, dtype)
