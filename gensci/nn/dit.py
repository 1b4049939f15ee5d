"""Transformer blocks with adaLN-Zero conditioning (DiT, Peebles & Xie 2023, arXiv 2212.09748).

A conditioning vector ``c`` (time + condition embedding, ``(B, cond_dim)`` or per token
``(B, N, cond_dim)``) sets a shift, scale and gate for each sublayer::

    (b1, s1, g1, b2, s2, g2) = Linear(SiLU(c))                  # initialised to zero
    x <- x + g1 * Attn(LN(x) * (1 + s1) + b1)
    x <- x + g2 * MLP (LN(x) * (1 + s2) + b2)

``LN`` has no affine parameters. With the modulation initialised to zero every gate is zero,
so a :class:`DiTBlock` is exactly the identity at initialisation ("adaLN-Zero").
:class:`FinalLayer` is ``Linear(LN(x) * (1 + s) + b)`` with the modulation and the linear
both zero-initialised, so a freshly built network predicts zero.

Attention takes a key-padding mask ``(B, N)`` (True = real token; padded keys get a large
negative logit so real tokens never read them) and an optional additive bias
``(B or 1, heads or 1, N, N)`` such as a relative-position bias or an edge bias.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gensci.core.softmax import softmax
from gensci.nn.precision import inference_fp32

__all__ = [
    "modulate", "attention_bias", "attend", "explicit_attention", "tanh_gelu_", "Dropout", "Attention", "TanhGELU", "MLP", "DiTBlock",
    "TransformerBlock", "FinalLayer",
]


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """``x * (1 + scale) + shift``."""
    return x * (1.0 + scale) + shift


def _match(mod: Tensor, x: Tensor) -> Tensor:
    """Insert token axes so ``(B, D)`` modulation broadcasts against ``(B, ..., D)``."""
    while mod.ndim < x.ndim:
        mod = mod.unsqueeze(1)
    return mod


def attention_bias(mask: Tensor | None, bias: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    """Additive attention logits ``(B or 1, H or 1, N, N)`` from a key mask and a bias.

    Padded keys get ``finfo(dtype).min / 4``: finite (a fully padded row stays NaN-free)
    yet far enough below any real logit that ``exp`` underflows to exactly zero.
    """
    out = None if bias is None else bias.to(dtype)
    if mask is not None:
        neg = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
        neg = neg.masked_fill(~mask.bool(), torch.finfo(dtype).min / 4)[:, None, None, :]
        out = neg if out is None else out + neg
    return out


class Dropout(nn.Module):
    """Inverted dropout that draws from ``self.generator`` when set (training mode only)."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {p}")
        self.p = float(p)
        self.generator: torch.Generator | None = None

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        g = self.generator
        u = torch.rand(x.shape, generator=g, device=g.device if g is not None else x.device).to(x.device)
        return x * (u >= self.p).to(x.dtype) / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Attention(nn.Module):
    """Multi-head self-attention ``softmax(q k^T / sqrt(d) + bias) v``, optional QK-norm."""

    def __init__(self, dim: int, heads: int, qk_norm: bool = False):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.head_dim = dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.q_norm: nn.Module = nn.LayerNorm(self.head_dim) if qk_norm else nn.Identity()
        self.k_norm: nn.Module = nn.LayerNorm(self.head_dim) if qk_norm else nn.Identity()

    def forward(self, x: Tensor, bias: Tensor | None = None) -> Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x)
        if n <= EXPLICIT_ATTENTION_MAX_TOKENS_FP32 and inference_fp32(qkv):
            return self.proj(self._head_major(qkv, bias))
        q, k, v = qkv.view(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k = self.q_norm(q), self.k_norm(k)
        return self.proj(attend(q, k, v, bias).transpose(1, 2).reshape(b, n, d))

    def _head_major(self, qkv: Tensor, bias: Tensor | None) -> Tensor:
        """Short float32 attention with the batch of products ordered head-major, ``(h, b)``:
        ``q``, ``k``, ``v`` come out of one 4-d transpose of the ``(B, N, 3·H, d)`` projections
        (a permutation of the 5-d ``(3, B, H, N, d)`` layout is several times slower to copy on
        CPU), the bias is laid out to match, and the scale and bias enter one ``baddbmm``.
        Returns ``(B, N, H·d)``, before the output projection."""
        b, n, _ = qkv.shape
        h, hd = self.heads, self.head_dim
        heads = qkv.view(b, n, 3 * h, hd).permute(2, 0, 1, 3).contiguous().view(3, h * b, n, hd)
        q, k, v = self.q_norm(heads[0]), self.k_norm(heads[1]), heads[2]
        scores = torch.bmm(q, k.transpose(1, 2)).mul_(hd**-0.5) if bias is None else torch.baddbmm(
            bias.to(torch.float32).expand(b, h, n, n).transpose(0, 1).reshape(h * b, n, n), q, k.transpose(1, 2),
            alpha=hd**-0.5)
        o = torch.bmm(softmax(scores), v)
        return o.view(h, b, n, hd).permute(1, 2, 0, 3).reshape(b, n, h * hd)


#: CPU bfloat16 attention over at most this many tokens uses :func:`explicit_attention`
EXPLICIT_ATTENTION_MAX_TOKENS = 32
#: CPU float32 attention over at most this many tokens uses :func:`explicit_attention`
EXPLICIT_ATTENTION_MAX_TOKENS_FP32 = 16


def _explicit_attention(q: Tensor) -> bool:
    """PyTorch's fused CPU attention kernel is slow for short sequences. In bfloat16, at 400 x 8
    heads of width 32, one thread, two batched products take 2.5-3.5 ms against 8.4 ms at 9
    tokens (a molecule) and 23 against 26-29 ms at 27-32 tokens, while from about 50 tokens
    (a protein chain) the fused kernel is as fast or faster. In float32 the explicit route
    (one ``baddbmm`` that adds the bias, a softmax and one ``bmm``) takes 8.0 against 11.1 ms
    at 9 tokens and 6.5 against 8.4 ms at 16, and loses from 32 tokens on (10.3 against 9.4 ms
    at 200 x 32). Such short calls take the explicit route (in float32 only outside autograd:
    training keeps the fused kernel)."""
    if q.device.type != "cpu" or q.ndim != 4:
        return False
    if q.dtype == torch.bfloat16:
        return q.shape[-2] <= EXPLICIT_ATTENTION_MAX_TOKENS
    return q.dtype == torch.float32 and q.shape[-2] <= EXPLICIT_ATTENTION_MAX_TOKENS_FP32 and not torch.is_grad_enabled()


def attend(q: Tensor, k: Tensor, v: Tensor, bias: Tensor | None = None) -> Tensor:
    """Attention of ``(B, H, L, d)`` heads by the faster route for their length, precision and
    device: :func:`explicit_attention` for short CPU sequences (:func:`_explicit_attention`),
    PyTorch's fused kernel otherwise."""
    if _explicit_attention(q):
        return explicit_attention(q, k, v, bias)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)


def explicit_attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor | None = None) -> Tensor:
    """``softmax(q k^T / sqrt(d) + bias) v`` as two batched products, the softmax in float32
    (written out for short rows, :mod:`gensci.core.softmax`).

    In float32 with 4-d inputs ``(B, H, L, d)`` the scale and the bias enter the first product
    (``baddbmm(bias, q, k^T, alpha=1/sqrt(d))``), so the logits are written once."""
    scale = q.shape[-1] ** -0.5
    if q.dtype == torch.float32 and k.dtype == v.dtype == torch.float32 and q.ndim == 4:
        b, h, n, d = q.shape
        m = k.shape[-2]
        q3, k3, v3 = q.reshape(b * h, n, d), k.reshape(b * h, m, d), v.reshape(b * h, m, v.shape[-1])
        if bias is None:
            logits = torch.bmm(q3, k3.transpose(1, 2)).mul_(scale)
        else:
            bias3 = bias.to(torch.float32).expand(b, h, n, m).reshape(b * h, n, m)
            logits = torch.baddbmm(bias3, q3, k3.transpose(1, 2), alpha=scale)
        return torch.bmm(softmax(logits), v3).view(b, h, n, v.shape[-1])
    logits = (q @ k.transpose(-1, -2)).float() * scale
    if bias is not None:
        logits = logits + bias.float()
    return softmax(logits).to(v.dtype) @ v


#: rows of tokens per chunk of :class:`MLP`'s float32 inference route (its hidden layer then
#: stays in the core's cache: 256 x 4·256 floats is 1 MiB)
MLP_CHUNK_ROWS = 256
_GELU_K = 2.0 * (2.0 / math.pi) ** 0.5


def tanh_gelu_(x: Tensor) -> Tensor:
    """The tanh-approximated GELU in place, as ``x sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3))``.

    ``0.5 (1 + tanh(z)) = sigmoid(2 z)``, so this is the tanh form exactly in real arithmetic
    (in float32 the two agree to 1e-6); PyTorch's CPU ``sigmoid`` is several times faster than
    its ``tanh``, and the tanh form of :func:`torch.nn.functional.gelu` takes about 9 ms for
    3600 x 768 floats on one core against about 3 ms here. No autograd (inference only)."""
    z = torch.mul(x, x)
    z.mul_(0.044715 * _GELU_K).add_(_GELU_K).mul_(x).sigmoid_()
    return x.mul_(z)


class TanhGELU(nn.Module):
    """GELU with the tanh approximation, ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``
    (Hendrycks & Gimpel 2016), as DiT uses.

    On bfloat16 inputs it evaluates the exact ``x Phi(x)`` instead: the two differ by at most
    5e-4 (near ``|x| = 2``), below bfloat16's resolution there (2^-7), and PyTorch's CPU
    kernel for the exact form is about 5x faster in bfloat16.

    In float32 without autograd it evaluates the same tanh form through :func:`tanh_gelu_`.
    """

    def forward(self, x: Tensor) -> Tensor:
        if x.dtype == torch.bfloat16:
            return F.gelu(x)
        if inference_fp32(x):
            return tanh_gelu_(x.clone())
        return F.gelu(x, approximate="tanh")


class MLP(nn.Sequential):
    """``Linear(dim, hidden) -> TanhGELU -> Linear(hidden, dim)`` (as ``nn.Sequential``, so its
    parameters are ``0.*`` and ``2.*``).

    In float32 inference on CPU it runs :data:`MLP_CHUNK_ROWS` tokens at a time: each chunk's
    hidden layer is written by one ``addmm``, activated in place by :func:`tanh_gelu_` while
    it is still in cache, and projected straight into its rows of the output. Every row is
    computed as in the plain route (the same products on fewer rows).
    """

    def __init__(self, dim: int, mlp_ratio: float = 4.0):
        hidden = int(dim * mlp_ratio)
        super().__init__(nn.Linear(dim, hidden), TanhGELU(), nn.Linear(hidden, dim))

    def forward(self, x: Tensor) -> Tensor:
        up, down = self[0], self[2]
        if not (inference_fp32(x) and up.weight.dtype == down.weight.dtype == torch.float32):
            return super().forward(x)
        flat = x.reshape(-1, x.shape[-1])
        out = flat.new_empty(flat.shape[0], down.out_features)
        for i in range(0, flat.shape[0], MLP_CHUNK_ROWS):
            rows = flat[i:i + MLP_CHUNK_ROWS]
            hid = tanh_gelu_(F.linear(rows, up.weight, up.bias))
            if down.bias is None:
                torch.mm(hid, down.weight.t(), out=out[i:i + MLP_CHUNK_ROWS])
            else:
                torch.addmm(down.bias, hid, down.weight.t(), out=out[i:i + MLP_CHUNK_ROWS])
        return out.view(*x.shape[:-1], down.out_features)


def _mlp(dim: int, mlp_ratio: float) -> nn.Sequential:
    return MLP(dim, mlp_ratio)


class DiTBlock(nn.Module):
    """Pre-LN self-attention + MLP, both under adaLN-Zero modulation from ``c``.

    ``forward(x (B, N, dim), c (B, cond_dim) or (B, N, cond_dim), mask=None, bias=None)``.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        cond_dim: int | None = None,
        qk_norm: bool = False,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(dim, heads, qk_norm=qk_norm)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = _mlp(dim, mlp_ratio)
        self.drop = Dropout(dropout)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim or dim, 6 * dim))
        nn.init.zeros_(self.ada[1].weight)
        nn.init.zeros_(self.ada[1].bias)

    def forward(self, x: Tensor, c: Tensor, mask: Tensor | None = None, bias: Tensor | None = None) -> Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = _match(self.ada(c), x).chunk(6, dim=-1)
        attn_bias = attention_bias(mask, bias, x.dtype)
        if inference_fp32(x):  # the same sums, each modulation and gated residual in one pass
            x = torch.addcmul(x, gate1, self.drop(self.attn(torch.addcmul(shift1, self.norm1(x), 1.0 + scale1), attn_bias)))
            return torch.addcmul(x, gate2, self.drop(self.mlp(torch.addcmul(shift2, self.norm2(x), 1.0 + scale2))))
        x = x + gate1 * self.drop(self.attn(modulate(self.norm1(x), shift1, scale1), attn_bias))
        x = x + gate2 * self.drop(self.mlp(modulate(self.norm2(x), shift2, scale2)))
        return x


class TransformerBlock(nn.Module):
    """Plain pre-LN block (no conditioning vector): ``x + Attn(LN(x))``, then ``x + MLP(LN(x))``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0, qk_norm: bool = False):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, qk_norm=qk_norm)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = _mlp(dim, mlp_ratio)
        self.drop = Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor | None = None, bias: Tensor | None = None) -> Tensor:
        x = x + self.drop(self.attn(self.norm1(x), attention_bias(mask, bias, x.dtype)))
        return x + self.drop(self.mlp(self.norm2(x)))


class FinalLayer(nn.Module):
    """``Linear(LN(x) * (1 + s) + b)`` with ``(b, s) = Linear(SiLU(c))``; all zero-initialised.

    Works on tokens ``(B, N, dim)`` or flat vectors ``(B, dim)``.
    """

    def __init__(self, dim: int, out_dim: int, cond_dim: int | None = None):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim or dim, 2 * dim))
        self.linear = nn.Linear(dim, out_dim)
        for layer in (self.ada[1], self.linear):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift, scale = _match(self.ada(c), x).chunk(2, dim=-1)
        return self.linear(modulate(self.norm(x), shift, scale))
