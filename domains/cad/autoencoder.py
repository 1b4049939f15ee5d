"""The command-sequence autoencoder: a DeepCAD vector ``(B, 60, 17)`` -> ``z ∈ R^latent`` -> logits.

The first stage of GenCAD (Alam & Ahmed 2025, "GenCAD: Image-Conditioned Computer-Aided
Design Generation with Transformer-Based Contrastive Representation and Diffusion Priors",
TMLR, arXiv 2409.16294, its "CSR" model), itself DeepCAD's autoencoder (Wu, Xiao & Zheng
2021, ICCV, §3.2). At the default sizes (d 256, 4 + 4 layers, 8 heads, feed-forward 512,
latent 256) it has 6.71 M parameters (GenCAD reports 6.72 M).

Encoder. Row ``i`` with command ``c_i`` and arguments ``a_ij ∈ {-1, 0..255}`` is embedded as

    e_i = E_cmd[c_i] + W [E_arg[a_i1 + 1], ..., E_arg[a_i16 + 1]] + E_pos[i] + E_group[g_i]

(``E_arg`` is 257-way, ``-1`` shifted to 0; ``W`` a Linear over the 16 concatenated argument
embeddings; ``g_i`` the sketch-extrude group, the number of Ext rows before row ``i``).
A pre-norm transformer encoder reads the rows up to and including the first EOS (every later
row is masked out of attention and of the pooling, so it cannot change ``z``), and

    z = tanh(A · mean_{i ≤ first EOS} h_i).

Decoder. ``n_rows`` learned queries attend to each other and to ``z`` (the memory, one token)
in one parallel pass, with no token fed back; linear heads give command logits ``(B, N, 6)``
and argument logits ``(B, N, 16, 256)``. The queries' self-attention is causal, as GenCAD's
(``causal=False``: bidirectional, as DeepCAD's), so row ``i`` depends on rows ``≤ i`` only: the
loss then runs encoder and decoder on the batch's first ``T`` rows, ``T`` its longest sequence
with its EOS, and gives exactly what the full 60 rows would (the encoder always may, as later
rows are masked out).

Loss (``loss``, for :class:`gensci.training.objective.ModuleLoss`), DeepCAD's and GenCAD's:

    L = w_cmd · CE(commands over the rows up to and including the first EOS)
      + w_args · CE(the arguments each true command uses, by :data:`~domains.cad.vector.ARG_MASK`)

with ``w_cmd : w_args = 1 : 2``. With ``soft_tolerance = t > 0`` the argument target is a
triangle over the 8-bit grid, ``p(k) ∝ t + 1 - |k - a|`` for ``|k - a| ≤ t`` (clipped to
0..255), except for the discrete columns f, b and u, which keep the one-hot target.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from domains.cad.constrained import argument_bounds, grammar_commands, has_repeated_points, separate_loop_points
from domains.cad.loop_repair import SCORED_COLUMNS, repair_profiles
from domains.cad.metrics import EXACT_COLUMNS, argument_hits
from domains.cad.sequence import CADError
from domains.cad.vector import (ARG_MASK, COMMANDS, EOS, EXT, MAX_EXTRUDES, MAX_ROWS, N_ARGS, N_LEVELS, PAD,
                                valid_rows)

__all__ = ["CommandAutoencoder"]


class CommandAutoencoder(nn.Module):
    """DeepCAD vectors to a latent and back. ``forward(x, mask=None)`` returns the logits
    ``(cmd_logits, arg_logits)`` of ``decode_logits(encode(x))``; ``mask`` is unused (the padding
    is read from the vector itself: every row after the first EOS).

    Args:
        d_model, layers, heads, feedforward, dropout: the transformer's width, depth (encoder
            and, unless ``decoder_layers`` says otherwise, decoder), heads, feed-forward width
            and dropout (pre-norm layers).
        latent: the size of ``z``. arg_embedding: the size of each argument's embedding.
        group_embedding: add a learned embedding of each row's sketch-extrude group.
        n_rows: rows per vector (DeepCAD's 60).
        command_weight, argument_weight: the loss weights (1 and 2).
        soft_tolerance: ``t > 0`` spreads each argument's target over ``±t`` grid units.
        causal: a causal mask on the decoder's queries (GenCAD) or none (DeepCAD).
    """

    def __init__(self, d_model: int = 256, layers: int = 4, heads: int = 8, feedforward: int = 512,
                 latent: int = 256, dropout: float = 0.1, arg_embedding: int = 64, group_embedding: bool = True,
                 n_rows: int = MAX_ROWS, decoder_layers: int | None = None, command_weight: float = 1.0,
                 argument_weight: float = 2.0, soft_tolerance: int = 0, causal: bool = True):
        super().__init__()
        if d_model % heads:
            raise CADError(f"d_model ({d_model}) must be a multiple of heads ({heads})")
        if soft_tolerance < 0:
            raise CADError(f"soft_tolerance must be >= 0, got {soft_tolerance}")
        self.n_rows, self.latent = int(n_rows), int(latent)
        self.command_weight, self.argument_weight = float(command_weight), float(argument_weight)
        self.soft_tolerance, self.causal = int(soft_tolerance), bool(causal)
        n_cmd = len(COMMANDS)
        self.cmd_embed = nn.Embedding(n_cmd, d_model)
        self.arg_embed = nn.Embedding(N_LEVELS + 1, arg_embedding)
        self.arg_proj = nn.Linear(N_ARGS * arg_embedding, d_model)
        self.pos_embed = nn.Embedding(self.n_rows, d_model)
        self.group_embed = nn.Embedding(MAX_EXTRUDES + 1, d_model) if group_embedding else None
        self.embed_dropout = nn.Dropout(dropout)

        def layer(kind: type) -> nn.Module:
            return kind(d_model, heads, feedforward, dropout, batch_first=True, norm_first=True)

        self.encoder = nn.TransformerEncoder(layer(nn.TransformerEncoderLayer), layers, norm=nn.LayerNorm(d_model),
                                             enable_nested_tensor=False)
        self.bottleneck = nn.Linear(d_model, self.latent)
        self.memory = nn.Identity() if self.latent == d_model else nn.Linear(self.latent, d_model)
        self.queries = nn.Parameter(0.02 * torch.randn(self.n_rows, d_model))
        self.decoder = nn.TransformerDecoder(layer(nn.TransformerDecoderLayer), decoder_layers or layers,
                                             norm=nn.LayerNorm(d_model))
        self.cmd_head = nn.Linear(d_model, n_cmd)
        self.arg_head = nn.Linear(d_model, N_ARGS * N_LEVELS)
        self.register_buffer("arg_mask", torch.as_tensor(ARG_MASK), persistent=False)
        exact = torch.zeros(N_ARGS, dtype=torch.bool)
        exact[list(EXACT_COLUMNS)] = True
        self.register_buffer("exact", exact, persistent=False)

    # ------------------------------------------------------------------ checks
    def _check(self, vec: Tensor) -> Tensor:
        if not isinstance(vec, Tensor):
            raise CADError(f"the autoencoder reads a tensor of DeepCAD vectors, got {type(vec).__name__}")
        if vec.ndim != 3 or vec.shape[1:] != (self.n_rows, N_ARGS + 1):
            raise CADError(f"DeepCAD vectors have shape (B, {self.n_rows}, {N_ARGS + 1}), got {tuple(vec.shape)}")
        if vec.is_floating_point() or vec.is_complex():
            raise CADError(f"DeepCAD vectors are integers, got {vec.dtype}")
        vec = vec.long()
        cmd, args = vec[..., 0], vec[..., 1:]
        if bool(((cmd < 0) | (cmd >= len(COMMANDS))).any() | ((args < PAD) | (args >= N_LEVELS)).any()):
            raise CADError(f"a DeepCAD vector holds a command outside 0..{len(COMMANDS) - 1} "
                           f"or an argument outside {PAD}..{N_LEVELS - 1}")
        return vec

    # ------------------------------------------------------------------ encoder
    def encode(self, vec: Tensor) -> Tensor:
        """``(B, n_rows, 17)`` integer vectors -> ``z`` ``(B, latent)`` in ``(-1, 1)``."""
        return self._encode(self._check(vec))

    def _encode(self, vec: Tensor) -> Tensor:
        cmd, args = vec[..., 0], vec[..., 1:]
        b, n = cmd.shape
        h = self.cmd_embed(cmd) + self.arg_proj(self.arg_embed(args + 1).reshape(b, n, -1))
        h = h + self.pos_embed.weight[:n]
        if self.group_embed is not None:
            ext = (cmd == EXT).long()
            h = h + self.group_embed((ext.cumsum(1) - ext).clamp(max=MAX_EXTRUDES))
        valid = valid_rows(cmd)
        h = self.encoder(self.embed_dropout(h), src_key_padding_mask=~valid)
        w = valid.unsqueeze(-1).to(h.dtype)
        pooled = (h * w).sum(1) / w.sum(1)
        return torch.tanh(self.bottleneck(pooled))

    # ------------------------------------------------------------------ decoder
    def _hidden(self, z: Tensor, rows: int | None = None) -> Tensor:
        """The decoder's output for the first ``rows`` rows (all of them by default)."""
        if z.ndim != 2 or z.shape[1] != self.latent:
            raise CADError(f"latents have shape (B, {self.latent}), got {tuple(z.shape)}")
        n = self.n_rows if rows is None or not self.causal else rows
        queries = self.queries[:n].unsqueeze(0).expand(z.shape[0], -1, -1)
        mask = None
        if self.causal:
            mask = nn.Transformer.generate_square_subsequent_mask(n, device=z.device, dtype=z.dtype)
        return self.decoder(queries, self.memory(z).unsqueeze(1), tgt_mask=mask, tgt_is_causal=self.causal)

    def _arg_logits(self, h: Tensor) -> Tensor:
        return self.arg_head(h).unflatten(-1, (N_ARGS, N_LEVELS))

    def decode_logits(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """``z`` ``(B, latent)`` -> command logits ``(B, n_rows, 6)``, argument logits
        ``(B, n_rows, 16, 256)``."""
        h = self._hidden(z)
        return self.cmd_head(h), self._arg_logits(h)

    @torch.no_grad()
    def decode(self, z: Tensor, constrained: bool = True, simple_loops: bool = True) -> Tensor:
        """``z`` -> ``(B, n_rows, 17)`` int64 vectors: the most likely command and arguments of
        each row; arguments the row's command does not use are ``-1``, and every row after the
        first EOS is EOS with ``-1`` arguments. Argument logits are computed only for the rows
        that need them. ``constrained`` (default): the most likely vector that follows DeepCAD's
        grammar, with allowed argument values and no zero-length curve
        (:mod:`domains.cad.constrained`), and, with ``simple_loops`` (default), loops moved
        apart where they cross themselves or each other (:mod:`domains.cad.loop_repair`);
        else the plain argmax of each row."""
        h = self._hidden(z)
        cmd_logits = self.cmd_head(h)
        if constrained:
            cmd = grammar_commands(cmd_logits.log_softmax(-1))
        else:
            cmd = cmd_logits.argmax(-1)
            cmd = torch.where(valid_rows(cmd), cmd, torch.full_like(cmd, EOS))
        used = self.arg_mask[cmd]
        args = torch.full(used.shape, PAD, dtype=torch.long, device=z.device)
        rows = used.any(-1)
        logits = self._arg_logits(h[rows])
        if constrained:
            logits = logits.masked_fill(~argument_bounds(logits.device), -torch.inf)
        args[rows] = logits.argmax(-1)
        args = torch.where(used, args, torch.full_like(args, PAD))
        vec = torch.cat([cmd.unsqueeze(-1), args], dim=-1)
        if not constrained:
            return vec
        out = vec.cpu().numpy()
        where = torch.nonzero(rows).cpu().numpy()  # (part, row) of each row of `logits`
        cols = [c - 1 for c in SCORED_COLUMNS]  # x, y, alpha, f, r among the argument logits
        for part in range(len(out)):
            repeated = has_repeated_points(out[part])
            if not (repeated or simple_loops):
                continue
            scores = np.full((self.n_rows, len(cols), N_LEVELS), -np.inf)
            mine = where[:, 0] == part
            scores[where[mine, 1]] = logits[torch.as_tensor(mine)][:, cols].log_softmax(-1).cpu().double().numpy()
            if repeated:
                out[part] = separate_loop_points(out[part], scores[:, :2])
            if simple_loops:
                out[part] = repair_profiles(out[part], scores)
        return torch.as_tensor(out, device=z.device)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.decode_logits(self.encode(x))

    # ------------------------------------------------------------------ loss
    def _argument_ce(self, logits: Tensor, target: Tensor, exact: Tensor) -> Tensor:
        t = self.soft_tolerance
        if t == 0:
            return F.cross_entropy(logits, target)
        offsets = torch.arange(-t, t + 1, device=target.device)
        idx = target.unsqueeze(-1) + offsets
        weight = (t + 1 - offsets.abs()).to(logits.dtype).expand(idx.shape)
        weight = torch.where(exact.unsqueeze(-1), (offsets == 0).to(logits.dtype).expand(idx.shape), weight)
        weight = weight * ((idx >= 0) & (idx < N_LEVELS))
        weight = weight / weight.sum(-1, keepdim=True)
        logp = F.log_softmax(logits, dim=-1).gather(-1, idx.clamp(0, N_LEVELS - 1))
        return -(weight * logp).sum(-1).mean()

    def loss(self, batch: Any, generator: torch.Generator | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """``(w_cmd · CE_cmd + w_args · CE_args, logs)`` on a batch (a
        :class:`gensci.domain.Batch` whose ``x`` holds the vectors, or the vectors themselves)."""
        vec = self._check(getattr(batch, "x", batch))
        valid = valid_rows(vec[..., 0])
        n = int(valid.sum(1).max())  # the rows after every sequence's EOS change nothing
        vec, valid = vec[:, :n], valid[:, :n]
        cmd, args = vec[..., 0], vec[..., 1:]
        h = self._hidden(self._encode(vec), n)[:, :n]
        cmd_logits = self.cmd_head(h)[valid]
        command_loss = F.cross_entropy(cmd_logits, cmd[valid])
        used = self.arg_mask[cmd] & valid.unsqueeze(-1)
        rows = used.any(-1)
        used, target = used[rows], args[rows]
        target_used = target[used]
        if bool((target_used < 0).any()):
            raise CADError("a DeepCAD vector leaves an argument its command uses at -1")
        logits = self._arg_logits(h[rows])
        exact = self.exact.expand(used.shape)[used]
        if target_used.numel():
            argument_loss = self._argument_ce(logits[used], target_used, exact)
        else:
            argument_loss = logits.sum() * 0.0
        loss = self.command_weight * command_loss + self.argument_weight * argument_loss
        with torch.no_grad():
            hits = argument_hits(logits.argmax(-1), target, exact=self.exact)[used]
            logs = {"command_loss": command_loss.detach(), "argument_loss": argument_loss.detach(),
                    "command_accuracy": (cmd_logits.argmax(-1) == cmd[valid]).float().mean(),
                    "argument_accuracy": hits.float().mean() if hits.numel() else argument_loss.new_tensor(1.0)}
        return loss, logs
