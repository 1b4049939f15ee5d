"""adaLN-Zero blocks: identity at initialisation, masks, attention biases."""

import pytest
import torch

from gensci.nn.dit import (
    Attention,
    DiTBlock,
    Dropout,
    FinalLayer,
    TanhGELU,
    TransformerBlock,
    attention_bias,
    explicit_attention,
)

DIM, HEADS = 16, 4


def randomize_(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Overwrite every parameter (zero-initialised ones included) with seeded noise."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return module


def _data(b: int = 2, n: int = 7, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, n, DIM, generator=g), torch.randn(b, DIM, generator=g)


def test_dit_block_is_identity_at_init() -> None:
    block = DiTBlock(DIM, HEADS)
    x, c = _data()
    mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])
    bias = torch.randn(1, HEADS, 7, 7)
    assert torch.equal(block(x, c), x)
    assert torch.equal(block(x, c, mask=mask, bias=bias), x)


def test_dit_block_leaves_identity_after_one_step() -> None:
    torch.manual_seed(0)
    block = DiTBlock(DIM, HEADS)
    x, c = _data()
    opt = torch.optim.SGD(block.parameters(), lr=0.1)
    loss = (block(x, c) - x.flip(1)).square().mean()
    loss.backward()
    assert block.ada[1].weight.grad.abs().sum() > 0
    opt.step()
    assert not torch.allclose(block(x, c), x)


def test_final_layer_zero_at_init_then_learns() -> None:
    layer = FinalLayer(DIM, 3)
    x, c = _data()
    assert torch.equal(layer(x, c), torch.zeros(2, 7, 3))
    assert layer(x[:, 0], c).shape == (2, 3)  # flat vectors too
    opt = torch.optim.SGD(layer.parameters(), lr=0.5)
    for _ in range(2):
        opt.zero_grad()
        (layer(x, c) - 1.0).square().mean().backward()
        opt.step()
    assert layer(x, c).abs().sum() > 0


@pytest.mark.parametrize("kind", ["dit", "plain"])
def test_padding_invariance(kind: str) -> None:
    block = randomize_(DiTBlock(DIM, HEADS) if kind == "dit" else TransformerBlock(DIM, HEADS))
    x, c = _data(n=5)
    garbage = 50 * torch.randn(2, 3, DIM, generator=torch.Generator().manual_seed(9))
    x_pad = torch.cat([x, garbage], dim=1)
    mask = torch.tensor([[True] * 5 + [False] * 3] * 2)
    args = (c,) if kind == "dit" else ()
    out = block(x, *args)
    out_pad = block(x_pad, *args, mask=mask)
    assert torch.allclose(out_pad[:, :5], out, atol=1e-5)


def test_bias_can_hide_a_key_like_the_mask() -> None:
    block = randomize_(DiTBlock(DIM, HEADS))
    x, c = _data(n=6)
    mask = torch.ones(2, 6, dtype=torch.bool)
    mask[:, 2] = False
    bias = torch.zeros(1, 1, 6, 6)
    bias[..., 2] = torch.finfo(torch.float32).min / 4
    assert torch.allclose(block(x, c, mask=mask)[:, [0, 1, 3]], block(x, c, bias=bias)[:, [0, 1, 3]], atol=1e-6)
    # a moderate bias changes the result
    assert not torch.allclose(block(x, c), block(x, c, bias=torch.randn(2, HEADS, 6, 6)))


def test_per_token_conditioning_and_fully_padded_rows() -> None:
    block = randomize_(DiTBlock(DIM, HEADS, cond_dim=8))
    x = torch.randn(2, 5, DIM)
    c_tok = torch.randn(2, 5, 8)
    out = block(x, c_tok, mask=torch.zeros(2, 5, dtype=torch.bool))
    assert out.shape == x.shape and torch.isfinite(out).all()
    c = torch.randn(2, 8)
    assert torch.allclose(block(x, c[:, None].expand(2, 5, 8)), block(x, c), atol=1e-6)
    assert not torch.allclose(block(x, c_tok), block(x, c_tok[:, :1].expand(2, 5, 8)))


def test_attention_bias_helper() -> None:
    mask = torch.tensor([[True, False]])
    out = attention_bias(mask, None, torch.float32)
    assert out.shape == (1, 1, 1, 2) and out[0, 0, 0, 0] == 0 and out[0, 0, 0, 1] < -1e30
    assert attention_bias(None, None, torch.float32) is None


def test_attention_rejects_bad_heads() -> None:
    with pytest.raises(ValueError, match="divisible"):
        Attention(10, 3)


def test_dropout_uses_generator_and_is_off_in_eval() -> None:
    drop = Dropout(0.5)
    x = torch.ones(1000)
    drop.generator = torch.Generator().manual_seed(0)
    a = drop(x)
    drop.generator = torch.Generator().manual_seed(0)
    assert torch.equal(a, drop(x))
    assert set(a.unique().tolist()) == {0.0, 2.0}
    assert torch.equal(drop.eval()(x), x)


def test_explicit_attention_equals_fused_attention() -> None:
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(5, 4, 9, 8, generator=g, dtype=torch.float64) for _ in range(3))
    mask = torch.ones(5, 9, dtype=torch.bool)
    mask[:, 7:] = False
    bias = attention_bias(mask, torch.randn(5, 4, 9, 9, generator=g, dtype=torch.float64), torch.float64)
    fused = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    torch.testing.assert_close(explicit_attention(q, k, v, bias).double(), fused, atol=1e-6, rtol=1e-6)


def test_bf16_attention_takes_the_explicit_route_and_stays_close() -> None:
    torch.manual_seed(0)
    attn = Attention(32, 4).eval()
    x = torch.randn(6, 9, 32)
    bias = attention_bias(torch.ones(6, 9, dtype=torch.bool), None, torch.float32)
    with torch.no_grad():
        ref = attn(x, bias)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = attn(x, bias)
    assert low.dtype == torch.bfloat16
    # bfloat16 keeps 8 significand bits
    assert (low.float() - ref).abs().max() < 3e-2 * ref.abs().max()


def test_tanh_gelu_matches_the_tanh_formula_and_the_exact_form_in_bf16() -> None:
    x = torch.linspace(-6, 6, 2001, dtype=torch.float64)
    tanh_form = 0.5 * x * (1 + torch.tanh((2 / torch.pi) ** 0.5 * (x + 0.044715 * x**3)))
    torch.testing.assert_close(TanhGELU()(x), tanh_form)
    exact = x * 0.5 * (1 + torch.erf(x / 2**0.5))
    # the two forms differ by at most 5e-4, below bfloat16's spacing where it is largest
    assert (tanh_form - exact).abs().max() < 5e-4
    xb = x.bfloat16()
    at_rounded = 0.5 * xb.double() * (1 + torch.tanh((2 / torch.pi) ** 0.5 * (xb.double() + 0.044715 * xb.double() ** 3)))
    # in bfloat16: the tanh form of the rounded input, to the 5e-4 gap plus one rounding (2^-8 relative)
    torch.testing.assert_close(TanhGELU()(xb).double(), at_rounded, atol=5e-4, rtol=2.0**-8)


# ---------------------------------------------------------------- float32 inference routes
def test_tanh_gelu_in_place_is_the_tanh_form():
    from gensci.nn.dit import tanh_gelu_

    x64 = torch.linspace(-12, 12, 4001, dtype=torch.float64)
    tanh_form = 0.5 * x64 * (1 + torch.tanh((2 / torch.pi) ** 0.5 * (x64 + 0.044715 * x64**3)))
    y = x64.clone()
    assert tanh_gelu_(y) is y  # in place
    torch.testing.assert_close(y, tanh_form, atol=1e-12, rtol=1e-12)
    x32 = x64.float()
    with torch.no_grad():
        got = TanhGELU()(x32)
    assert torch.equal(x32, x64.float())  # the module leaves its input alone
    torch.testing.assert_close(got.double(), tanh_form, atol=2e-6, rtol=1e-6)


def test_mlp_inference_route_equals_the_plain_route():
    from gensci.nn.dit import MLP, MLP_CHUNK_ROWS

    mlp = MLP(24, 4.0)
    assert [k for k in mlp.state_dict()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    x = torch.randn(3, MLP_CHUNK_ROWS // 2 + 7, 24, generator=torch.Generator().manual_seed(0))  # chunks and a rest
    plain = mlp[2](torch.nn.functional.gelu(mlp[0](x), approximate="tanh"))  # autograd on: the plain route
    with torch.no_grad():
        fast = mlp(x)
    assert fast.shape == plain.shape
    torch.testing.assert_close(fast, plain.detach(), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("bias_kind", ["none", "mask", "full"])
def test_float32_explicit_attention_equals_fused_attention(bias_kind):
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(6, 4, 9, 8, generator=g) for _ in range(3))
    mask = torch.ones(6, 9, dtype=torch.bool)
    mask[:, 6:] = False
    bias = {"none": None, "mask": attention_bias(mask, None, torch.float32),
            "full": attention_bias(mask, torch.randn(6, 4, 9, 9, generator=g), torch.float32)}[bias_kind]
    fused = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    torch.testing.assert_close(explicit_attention(q, k, v, bias), fused, atol=1e-6, rtol=1e-5)


def test_short_float32_attention_takes_the_explicit_route():
    from gensci.nn.dit import EXPLICIT_ATTENTION_MAX_TOKENS_FP32, _explicit_attention

    short = torch.zeros(2, 4, EXPLICIT_ATTENTION_MAX_TOKENS_FP32, 8)
    assert not _explicit_attention(short) and _explicit_attention(short.bfloat16())  # autograd on: fused in fp32
    with torch.no_grad():
        assert _explicit_attention(short) and _explicit_attention(short.bfloat16())
        assert not _explicit_attention(torch.zeros(2, 4, EXPLICIT_ATTENTION_MAX_TOKENS_FP32 + 1, 8))
        assert not _explicit_attention(short.double())


def test_dit_block_inference_route_equals_the_training_formula():
    block = randomize_(DiTBlock(DIM, HEADS, cond_dim=12)).eval()
    x, _ = _data(b=3, n=7)
    mask = torch.arange(7)[None] < torch.tensor([7, 5, 2])[:, None]
    c = torch.randn(3, 12, generator=torch.Generator().manual_seed(2))
    bias = torch.randn(3, HEADS, 7, 7, generator=torch.Generator().manual_seed(3))
    plain = block(x, c, mask=mask, bias=bias)  # autograd on: the plain route
    with torch.no_grad():
        fast = block(x, c, mask=mask, bias=bias)
    torch.testing.assert_close(fast, plain.detach(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("qk_norm", [False, True])
def test_short_float32_attention_module_equals_fused_attention(qk_norm):
    """The head-major route of :class:`Attention` (float32, at most 16 tokens) against the fused
    kernel on the module's own projections."""
    attn = randomize_(Attention(DIM, HEADS, qk_norm=qk_norm)).eval()
    g = torch.Generator().manual_seed(4)
    x = torch.randn(5, 9, DIM, generator=g)
    mask = torch.arange(9)[None] < torch.tensor([9, 7, 4, 9, 1])[:, None]
    for bias in (None, attention_bias(mask, None, torch.float32),
                 attention_bias(mask, torch.randn(5, HEADS, 9, 9, generator=g), torch.float32),
                 torch.randn(1, HEADS, 9, 9, generator=g)):
        with torch.no_grad():
            got = attn(x, bias)
            q, k, v = attn.qkv(x).view(5, 9, 3, HEADS, DIM // HEADS).permute(2, 0, 3, 1, 4)
            o = torch.nn.functional.scaled_dot_product_attention(attn.q_norm(q), attn.k_norm(k), v, attn_mask=bias)
            want = attn.proj(o.transpose(1, 2).reshape(5, 9, DIM))
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
