import pytest
import torch
from torch import nn

from gensci.errors import GensciError
from gensci.nn.dit import Attention
from gensci.nn.fast_attention import FastAttention, FastAttentionNetwork, banded_attention


def dense_band_reference(q, k, v, bias, window):
    """softmax over |i - j| <= window, written out with a -inf mask."""
    n = q.shape[-2]
    i = torch.arange(n)
    logits = q.double() @ k.double().transpose(-1, -2) / q.shape[-1] ** 0.5
    if bias is not None:
        logits = logits + bias.double()
    logits = logits.masked_fill((i[:, None] - i[None]).abs() > window, float("-inf"))
    return torch.softmax(logits, -1) @ v.double()


@pytest.mark.parametrize("window", [1, 3, 6])
def test_banded_attention_is_attention_restricted_to_the_band(window):
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 7, 4, generator=g) for _ in range(3))
    bias = torch.randn(2, 3, 7, 7, generator=g)
    got = banded_attention(q, k, v, bias, window)
    torch.testing.assert_close(got.double(), dense_band_reference(q, k, v, bias, window), atol=1e-5, rtol=1e-5)
    assert torch.allclose(banded_attention(q, k, v, None, window).double(),
                          dense_band_reference(q, k, v, None, window), atol=1e-5)


def test_a_band_as_wide_as_the_sequence_is_full_attention():
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, 2, 5, 8, generator=g) for _ in range(3))
    bias = torch.randn(1, 1, 5, 5, generator=g)  # broadcast over batch and heads
    full = torch.softmax(q @ k.transpose(-1, -2) / 8**0.5 + bias, -1) @ v
    torch.testing.assert_close(banded_attention(q, k, v, bias, 10), full, atol=1e-5, rtol=1e-5)


def test_masked_keys_inside_the_band_give_no_nan():
    q, k, v = (torch.ones(1, 1, 4, 2) for _ in range(3))
    bias = torch.zeros(1, 1, 4, 4)
    bias[..., 2:] = torch.finfo(torch.float32).min  # padded keys 2, 3
    out = banded_attention(q, k, v, bias, 1)
    assert torch.isfinite(out).all()


class OneAttention(nn.Module):
    """The network is one attention layer on ``x + cond`` (t is ignored)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.attn = Attention(8, 2)

    def forward(self, x, t, cond=None, mask=None):
        return self.attn(x if cond is None else x + cond[:, None, :])


def calls(net, xs, ts, **kw):
    return [net(x, torch.full((x.shape[0],), t), **kw) for x, t in zip(xs, ts)]


def test_defaults_change_nothing():
    bare = OneAttention()
    xs = [torch.randn(3, 5, 8) for _ in range(3)]
    wrapped = FastAttention()(bare)
    for got, x in zip(calls(wrapped, xs, [0.1, 0.2, 0.3]), xs):
        torch.testing.assert_close(got, bare(x, None))
    assert wrapped.calls == wrapped.full_calls == 3 and wrapped.shared_calls == 0
    assert "forward" not in vars(bare.attn)  # the patch is gone after each call


def test_reuse_returns_the_last_full_output_between_full_calls():
    bare = OneAttention()
    xs = [torch.randn(3, 5, 8) for _ in range(4)]
    wrapped = FastAttention(every=2, between="reuse")(bare)
    out = calls(wrapped, xs, [0.1, 0.2, 0.3, 0.4])
    torch.testing.assert_close(out[0], bare(xs[0], None))
    torch.testing.assert_close(out[1], bare(xs[0], None))  # call 1 reuses call 0
    torch.testing.assert_close(out[2], bare(xs[2], None))
    torch.testing.assert_close(out[3], bare(xs[2], None))
    assert wrapped.full_calls == 2


def test_window_adds_the_residual_cached_at_the_last_full_call():
    bare = OneAttention()
    a = bare.attn
    xs = [torch.randn(2, 9, 8) for _ in range(2)]
    wrapped = FastAttention(every=2, between="window", window=2)(bare)
    out = calls(wrapped, xs, [0.1, 0.2])

    def parts(x):
        q, k, v = a.qkv(x).view(2, 9, 3, 2, 4).permute(2, 0, 3, 1, 4)
        return q, k, v

    def project(o):
        return a.proj(o.transpose(1, 2).reshape(2, 9, 8))

    q0, k0, v0 = parts(xs[0])
    q1, k1, v1 = parts(xs[1])
    full0 = torch.softmax(q0 @ k0.transpose(-1, -2) / 2, -1) @ v0
    expected = project(banded_attention(q1, k1, v1, None, 2) + full0 - banded_attention(q0, k0, v0, None, 2))
    torch.testing.assert_close(out[0], bare(xs[0], None), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[1], expected, atol=1e-5, rtol=1e-5)
    wide = FastAttention(every=2, between="window", window=20)(OneAttention())
    torch.testing.assert_close(calls(wide, xs, [0.1, 0.2])[1], bare(xs[1], None), atol=1e-5, rtol=1e-5)


def test_cfg_sharing_gives_the_unconditional_half_the_conditional_attention():
    bare = OneAttention()
    x = torch.randn(2, 5, 8)
    c = torch.randn(2, 8)
    stacked, cond = torch.cat([x, x]), torch.cat([c, torch.zeros_like(c)])
    plain = bare(stacked, None, cond=cond)
    assert not torch.allclose(plain[:2], plain[2:])
    shared = FastAttention(cfg_share=True)(bare)(stacked, torch.zeros(4), cond=cond)
    torch.testing.assert_close(shared[:2], plain[:2])
    torch.testing.assert_close(shared[2:], plain[:2])
    # a batch whose halves differ is not a guided call: nothing is shared
    other = torch.cat([x, torch.randn(2, 5, 8)])
    net = FastAttention(cfg_share=True)(bare)
    torch.testing.assert_close(net(other, torch.zeros(4), cond=cond), bare(other, None, cond=cond))
    assert net.shared_calls == 0


def test_a_new_chain_starts_with_full_attention():
    bare = OneAttention()
    xs = [torch.randn(3, 5, 8) for _ in range(3)]
    wrapped = FastAttention(every=10)(bare)
    out = calls(wrapped, xs, [0.5, 0.6, 0.1])  # the time falls: a new chain
    torch.testing.assert_close(out[1], bare(xs[0], None))
    torch.testing.assert_close(out[2], bare(xs[2], None))
    bigger = torch.randn(4, 5, 8)  # another batch shape: a new chain
    torch.testing.assert_close(wrapped(bigger, torch.full((4,), 0.9)), bare(bigger, None))


def test_bad_options_and_networks_say_what_is_wrong():
    for kwargs in ({"every": 0}, {"between": "skip"}, {"window": 0}, {"keep_first": 0}):
        with pytest.raises(GensciError):
            FastAttention(**kwargs)
    with pytest.raises(GensciError, match="no"):
        FastAttention()(nn.Linear(2, 2))
    with pytest.raises(GensciError, match="out of range"):
        FastAttention(layers=(3,))(OneAttention())


def test_sampling_a_bundled_model_through_the_wrapper():
    import gensci

    model = gensci.load("molecules/qm9")
    base = model.sample(4, steps=4, seed=0, progress=False, precision="fp32", redraws=0)
    same = model.sample(4, steps=4, seed=0, progress=False, precision="fp32", redraws=0,
                        network_wrapper=FastAttention())
    assert base.strict_smiles == same.strict_smiles and base.num_atoms == same.num_atoms
    holder = {}

    def wrapper(network, plan, process):
        holder["net"] = FastAttention(every=2)(network)
        return holder["net"]

    model.sample(4, steps=4, seed=0, progress=False, precision="fp32", redraws=0, network_wrapper=wrapper)
    assert holder["net"].calls == 4 and holder["net"].full_calls == 2

