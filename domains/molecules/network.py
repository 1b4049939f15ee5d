"""Graph DiT: a diffusion transformer over node tokens (Liu et al. 2024, arXiv 2401.13858).

Each node is one token: its atom one-hot and its row of bond one-hots (the
:class:`~domains.molecules.space.GraphSpace` layout), padded to ``max_atoms`` nodes::

    h_0  = W_in [onehot(x_i), onehot(e_i1), ..., onehot(e_iN)]       (B, N, hidden), no bias
    c    = TimeEmbedding(t) + ConditionEncoder(cond)                   (B, hidden): time plus the
                                                                        summed condition embeddings
    h    = DiTBlock^depth(h, c, bias = B_e[e_ij])                      adaLN-Zero blocks
    g    = LN(h) (1 + s) + b,   (s, b) = Linear(SiLU(c))              adaLN output modulation
    atom logits_i  = W_x g_i + R_x[x_i]
    bond logits_ij = W_e GELU(P g_i ⊙ P g_j + Q g_i + Q g_j) + R_e[e_ij]

Numeric conditions enter through soft clusters, categorical ones through an embedding with
a null row; a dropped or missing condition takes the null embedding
(:mod:`gensci.nn.conditions`). Beyond the paper, every attention head gets a learned
additive bias per noisy bond class ``B_e[e_ij]`` (the token already holds the bonds; the
bias lets attention follow them directly), and both heads add a learned residual on the
noisy class ``R[.]`` (Graph DiT adds the noisy input to its output). The bond logits are
symmetric in ``i, j`` by construction, so a pair is one variable. Classes a slot cannot
take (bond classes in an atom slot and vice versa) get ``-1e4``. Padded slots enter the
tokens as zero vectors, so a graph's logits do not depend on how far its batch is padded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from domains.molecules.space import unpack_graph
from gensci.nn.conditioning import TimeConditioned
from gensci.nn.conditions import ConditionEncoder, ConditionSpec, specs_to_dicts
from gensci.nn.dit import DiTBlock, attention_bias, modulate
from gensci.nn.embeddings import TimeEmbedding

__all__ = ["GraphDiT", "BLOCKED_LOGIT"]

#: the logit of a class a slot cannot take (finite, so guidance in log space stays NaN-free)
BLOCKED_LOGIT = -1.0e4


class GraphDiT(TimeConditioned, nn.Module):
    """``model(x_t (B, N, 1 + N) long, t (B,), cond=None, mask=None) -> logits (B, N, 1 + N, K)``.

    Args:
        num_atom_types, num_bond_classes: A and E of the :class:`GraphSpace`.
        max_atoms: the largest graph (the width of a token's bond row).
        hidden: token width (and of the time/condition embedding).
        depth: transformer blocks.
        attention_heads: heads per block (must divide ``hidden``).
        heads: state-sized outputs the process asks for (1 here; passed by the engine).
        conditions: condition specs (dict forms allowed); None or [] for unconditional.
        cond_dropout: probability of dropping all conditions of a sample in training.
        cond_dropout_each: probability of dropping each condition of a kept sample on its own
            (so that sampling with a subset of the conditions is in distribution).
        pair_dim: width of the pairwise bond head.
        mlp_ratio, dropout: block options.
        time_embedding: ``"sinusoidal"`` or ``"fourier"``.
    """

    def __init__(
        self,
        num_atom_types: int,
        num_bond_classes: int,
        max_atoms: int,
        hidden: int = 256,
        depth: int = 4,
        attention_heads: int = 8,
        heads: int = 1,
        conditions: Sequence[ConditionSpec | Mapping[str, Any]] | None = None,
        cond_dropout: float = 0.1,
        cond_dropout_each: float = 0.0,
        pair_dim: int = 64,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        time_embedding: str = "sinusoidal",
    ):
        super().__init__()
        if hidden % attention_heads:
            raise ValueError(f"hidden ({hidden}) must be divisible by attention_heads ({attention_heads})")
        if int(heads) != 1:
            raise ValueError(f"GraphDiT predicts one set of class logits; the process asked for heads={heads}")
        self.num_atom_types, self.num_bond_classes = int(num_atom_types), int(num_bond_classes)
        self.num_classes = max(self.num_atom_types, self.num_bond_classes, 2)
        self.max_atoms, self.hidden, self.attention_heads = int(max_atoms), int(hidden), int(attention_heads)
        self.conditions: list[dict[str, Any]] = specs_to_dicts(conditions or [])
        token = self.num_atom_types + self.max_atoms * self.num_bond_classes
        self.embed_tokens = nn.Linear(token, hidden, bias=False)
        self.time = TimeEmbedding(hidden, kind=time_embedding, features=max(32, hidden + hidden % 2))
        self.cond = (ConditionEncoder(self.conditions, hidden, dropout=cond_dropout, dropout_each=cond_dropout_each)
                     if self.conditions else None)
        self.edge_bias = nn.Embedding(self.num_bond_classes, attention_heads)
        nn.init.zeros_(self.edge_bias.weight)
        self.blocks = nn.ModuleList(
            DiTBlock(hidden, attention_heads, mlp_ratio=mlp_ratio, dropout=dropout, cond_dim=hidden) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 2 * hidden))
        nn.init.zeros_(self.ada[1].weight)
        nn.init.zeros_(self.ada[1].bias)
        self.atom_out = nn.Linear(hidden, self.num_atom_types)
        self.pair_product = nn.Linear(hidden, pair_dim)
        self.pair_sum = nn.Linear(hidden, pair_dim)
        self.bond_out = nn.Linear(pair_dim, self.num_bond_classes)
        self.atom_residual = nn.Embedding(self.num_atom_types, self.num_atom_types)
        self.bond_residual = nn.Embedding(self.num_bond_classes, self.num_bond_classes)
        for layer in (self.atom_out, self.bond_out, self.atom_residual, self.bond_residual):
            nn.init.zeros_(layer.weight)
            if getattr(layer, "bias", None) is not None:
                nn.init.zeros_(layer.bias)

    def forward(self, x_t: Tensor, t: Tensor, cond: Mapping[str, Tensor] | None = None, mask: Tensor | None = None) -> Tensor:
        if x_t.ndim != 3 or x_t.shape[-1] != x_t.shape[-2] + 1:
            raise ValueError(f"GraphDiT expects x_t shaped (B, N, 1 + N), got {tuple(x_t.shape)}")
        b, n = x_t.shape[0], x_t.shape[1]
        if n > self.max_atoms:
            raise ValueError(f"graphs of {n} nodes exceed the network's max_atoms={self.max_atoms}")
        atoms, bonds = unpack_graph(x_t.long())
        nodes = None if mask is None else mask.bool()[..., 0]
        dtype = self.embed_tokens.weight.dtype
        atom_oh = F.one_hot(atoms, self.num_atom_types).to(dtype)
        bond_oh = F.one_hot(bonds, self.num_bond_classes).to(dtype)
        if mask is not None:  # padded slots are zero vectors, like the padding up to max_atoms
            atom_oh = atom_oh * mask[..., :1].to(dtype)
            bond_oh = bond_oh * mask[..., 1:, None].to(dtype)
        bond_oh = F.pad(bond_oh, (0, 0, 0, self.max_atoms - n))  # pad the row to max_atoms partners
        h = self.embed_tokens(torch.cat([atom_oh, bond_oh.flatten(-2)], dim=-1))
        c = self.embed(t, cond, b)
        bias = self.edge_bias(bonds).permute(0, 3, 1, 2)  # (B, heads, N, N)
        bias = attention_bias(nodes, bias, h.dtype)  # the padded keys' logits added once for all blocks
        for block in self.blocks:
            h = block(h, c, bias=bias)
        shift, scale = self.ada(c).unsqueeze(1).chunk(2, dim=-1)
        g = modulate(self.norm(h), shift, scale)
        atom_logits = self.atom_out(g) + self.atom_residual(atoms)
        p = self.pair_product(g)
        q = self.pair_sum(g)
        pair = F.gelu(p[:, :, None] * p[:, None, :] + q[:, :, None] + q[:, None, :])
        bond_logits = self.bond_out(pair) + self.bond_residual(bonds)
        out = torch.full((b, n, 1 + n, self.num_classes), BLOCKED_LOGIT, dtype=atom_logits.dtype, device=x_t.device)
        out[..., 0, : self.num_atom_types] = atom_logits
        out[..., 1:, : self.num_bond_classes] = bond_logits
        return out
