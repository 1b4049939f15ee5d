r"""Attention that skips redundant work while sampling: DiTFastAttn's three ideas (Yuan et al.
2024, "DiTFastAttn: Attention Compression for Diffusion Transformer Models", arXiv 2406.08552),
as a sampling-time wrapper around any network built of :class:`~gensci.nn.dit.Attention`.

A sampler calls the network ``K`` times; call ``k`` is *full* when ``k < keep_first`` or
``k % every == 0``, and every attention layer then computes ``A_k = Attn(x_k)`` as usual.
The calls in between are compressed, by one of:

* **reuse** (attention sharing across timesteps, AST): ``A_k = A_{k'}``, the output of the
  last full call ``k'``; the layer's projections and its attention are skipped;
* **window** (window attention with residual sharing, WA-RS): ``A_k = W(x_k) + (A_{k'} -
  W(x_{k'}))``, where ``W`` attends only to keys within ``window`` positions of the query
  (a banded product, ``O(L w)`` instead of ``O(L^2)``) and the residual of full over window
  attention is the one cached at the last full call; it suits sequences whose attention is
  mostly local (protein chains), not sets (atoms of a molecule, which have no order);

and, on every call of a classifier-free-guided sampler (the batch stacked as ``[cond;
uncond]``, :class:`~gensci.core.guidance.GuidedModel`), optionally

* **CFG sharing** (attention sharing across CFG, ASC): the unconditional half takes the
  conditional half's attention output, so attention runs on half the batch.

``layers`` restricts all of it to some blocks (indices in module order). The wrapper never
changes the network; it patches the attention layers during its own calls only. The
benchmark ``scripts/bench_fast_attention.py`` measures each idea's speed and metrics.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gensci.core import state
from gensci.errors import GensciError
from gensci.nn.dit import Attention, attend

__all__ = ["FastAttention", "FastAttentionNetwork", "banded_attention"]

BETWEEN = ("reuse", "window")


@dataclass(frozen=True)
class FastAttention:
    """Options (module docstring); the default compresses nothing.

    Calling it as ``network_wrapper(network, plan, process)`` (:meth:`GenerativeModel.sample`'s
    hook) returns a :class:`FastAttentionNetwork`.
    """

    every: int = 1
    between: str = "reuse"
    window: int = 8
    cfg_share: bool = False
    keep_first: int = 1
    layers: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if int(self.every) < 1:
            raise GensciError(f"fast attention: every must be at least 1, got {self.every}")
        if self.between not in BETWEEN:
            raise GensciError(f"fast attention: between must be one of {', '.join(BETWEEN)}, got {self.between!r}")
        if int(self.window) < 1:
            raise GensciError(f"fast attention: window must be at least 1 token, got {self.window}")
        if int(self.keep_first) < 1:
            raise GensciError(f"fast attention: keep_first must be at least 1 (the caches fill there), got {self.keep_first}")

    def __call__(self, network: nn.Module, plan: Any = None, process: Any = None) -> FastAttentionNetwork:
        return FastAttentionNetwork(network, self)


def banded_attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor | None, window: int) -> Tensor:
    """``softmax(q k^T / sqrt(d) + bias) v`` over the keys ``j`` with ``|i - j| <= window`` only.

    ``q, k, v``: ``(B, H, L, d)``; ``bias``: additive, broadcastable to ``(B, H, L, L)`` (the
    band is gathered from it). Keys are unfolded into ``(B, H, L, 2w + 1, d)``, so the cost is
    ``O(L w d)``; keys outside the sequence get ``-inf``. A query whose keys in the band are all
    masked gets uniform weights over the band rather than NaN.
    """
    b, h, n, d = q.shape
    w = min(int(window), n - 1)
    span = 2 * w + 1
    pad = (0, 0, w, w)
    ku = F.pad(k, pad).unfold(2, span, 1).transpose(-1, -2)  # (B, H, L, span, d): keys i - w .. i + w
    vu = F.pad(v, pad).unfold(2, span, 1).transpose(-1, -2)
    logits = torch.einsum("bhld,bhlsd->bhls", q.float(), ku.float()) * d**-0.5
    index = torch.arange(n, device=q.device)[:, None] + torch.arange(-w, w + 1, device=q.device)[None]  # (L, span)
    outside = (index < 0) | (index >= n)
    if bias is not None:
        full = bias.float().expand(b, h, n, n) if bias.shape[-2:] == (n, n) else bias.float()
        logits = logits + torch.gather(full, 3, index.clamp(0, n - 1).expand(b, h, n, span))
    lowest = torch.finfo(torch.float32).min
    logits = logits.masked_fill(outside, lowest).clamp_min(lowest)
    weights = torch.softmax(logits, dim=-1).to(v.dtype)
    return torch.einsum("bhls,bhlsd->bhld", weights, vu)


class _Layer:
    """The caches of one attention layer: its last full output and the window residual."""

    def __init__(self) -> None:
        self.output: Tensor | None = None
        self.residual: Tensor | None = None


class FastAttentionNetwork(nn.Module):
    """``network`` with its attention layers compressed by ``options`` (:class:`FastAttention`).

    ``calls``, ``full_calls`` and ``shared_calls`` count the network calls, those that ran full
    attention, and those that shared it across the CFG halves. The call count restarts when a
    new chain begins (a batch of another shape, or a time that does not increase).
    """

    def __init__(self, network: nn.Module, options: FastAttention):
        super().__init__()
        self.network, self.options = network, options
        found = [m for m in network.modules() if isinstance(m, Attention)]
        if not found:
            raise GensciError("fast attention needs a network built of gensci.nn.dit.Attention layers; this one has none")
        chosen = range(len(found)) if options.layers is None else options.layers
        bad = [i for i in chosen if not 0 <= int(i) < len(found)]
        if bad:
            raise GensciError(f"fast attention: layer(s) {bad} out of range; the network has {len(found)} attention layers")
        self.attention = [found[int(i)] for i in chosen]
        self.caches = [_Layer() for _ in self.attention]
        self.calls = self.full_calls = self.shared_calls = 0
        self._step = 0
        self._last: tuple[tuple[int, ...], float] | None = None
        self._full = True
        self._halves = False

    def _new_chain(self, x: Any, t: Tensor) -> bool:
        shape = (state.batch_size(x),)
        now = float(t.reshape(-1)[0]) if torch.is_tensor(t) and t.numel() else 0.0
        fresh = self._last is None or self._last[0] != shape or now <= self._last[1]
        self._last = (shape, now)
        return fresh

    @staticmethod
    def _stacked(x: Any) -> bool:
        """Whether the batch is ``[x; x]`` (a guided call: conditional, then unconditional)."""
        n = state.batch_size(x)
        if n % 2:
            return False
        half = n // 2
        first, second = state.take(x, slice(0, half)), state.take(x, slice(half, n))
        pairs = [(first, second)] if isinstance(x, Tensor) else [(first[k], second[k]) for k in first.keys()]
        return all(torch.equal(a, b) for a, b in pairs)

    def forward(self, x: Any, t: Tensor, *args: Any, **kwargs: Any) -> Any:
        o = self.options
        if self._new_chain(x, t):
            self._step = 0
            for cache in self.caches:
                cache.output = cache.residual = None
        k = self._step
        self._step += 1
        self.calls += 1
        self._full = k < o.keep_first or k % o.every == 0
        self._halves = o.cfg_share and self._stacked(x)
        self.full_calls += int(self._full)
        self.shared_calls += int(self._halves)
        patched = []
        try:
            for layer, cache in zip(self.attention, self.caches):
                layer.forward = types.MethodType(self._forward_for(cache), layer)
                patched.append(layer)
            return self.network(x, t, *args, **kwargs)
        finally:
            for layer in patched:
                del layer.forward

    def _forward_for(self, cache: _Layer):
        net = self

        def forward(layer: Attention, x: Tensor, bias: Tensor | None = None) -> Tensor:
            return net._attention(layer, cache, x, bias)

        return forward

    def _attention(self, layer: Attention, cache: _Layer, x: Tensor, bias: Tensor | None) -> Tensor:
        o = self.options
        full = self._full or cache.output is None or cache.output.shape != x.shape
        if not full and o.between == "reuse":
            return cache.output
        b, n, d = x.shape
        if self._halves:  # attention on the conditional half only
            x = x[: b // 2]
            if bias is not None and bias.shape[0] == b:
                bias = bias[: b // 2]
        if o.between == "window" and o.every > 1:
            out = self._windowed(layer, cache, x, bias, full)
        else:
            out = Attention.forward(layer, x, bias)  # the layer's own route
        if self._halves:
            out = torch.cat([out, out])
        if full:
            cache.output = out
        return out

    def _windowed(self, layer: Attention, cache: _Layer, x: Tensor, bias: Tensor | None, full: bool) -> Tensor:
        """Full attention with the residual ``A - W`` cached, or ``W + residual`` (WA-RS)."""
        b, n, d = x.shape
        q, k, v = layer.qkv(x).view(b, n, 3, layer.heads, layer.head_dim).permute(2, 0, 3, 1, 4)
        q, k = layer.q_norm(q), layer.k_norm(k)
        window = self.options.window
        if full or cache.residual is None or cache.residual.shape != q.shape:
            a = attend(q, k, v, bias)
            cache.residual = a - banded_attention(q, k, v, bias, window)
        else:
            a = banded_attention(q, k, v, bias, window) + cache.residual
        return layer.proj(a.transpose(1, 2).reshape(b, n, d))
