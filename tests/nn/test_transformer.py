"""Relative-position transformer: purely relative positions, masks, any length."""

import pytest
import torch

from gensci.nn.transformer import RelativePositionBias, RelativePositionTransformer

DIM, HEADS = 16, 4


def randomize_(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return module


def _model(cond: bool, buckets: str = "clip", **kw) -> RelativePositionTransformer:
    m = RelativePositionTransformer(DIM, 2, HEADS, cond_dim=8 if cond else None, max_relative_distance=4,
                                    position_buckets=buckets, num_buckets=8, **kw)
    return randomize_(m)


@pytest.mark.parametrize("cond", [True, False])
@pytest.mark.parametrize("buckets", ["clip", "log"])
def test_shift_inside_padding_gives_identical_outputs(cond: bool, buckets: str) -> None:
    """Positions are purely relative: moving the real tokens inside the padding changes nothing."""
    m = _model(cond, buckets)
    g = torch.Generator().manual_seed(1)
    seq = torch.randn(1, 6, DIM, generator=g)
    c = torch.randn(1, 8, generator=g) if cond else None
    n = 11
    outs = []
    for offset in (0, 2, 5):
        x = 30 * torch.randn(1, n, DIM, generator=g)  # garbage in the padding
        x[:, offset : offset + 6] = seq
        mask = torch.zeros(1, n, dtype=torch.bool)
        mask[:, offset : offset + 6] = True
        out = m(x, c, mask=mask)
        assert torch.equal(out[~mask], torch.zeros(n - 6, DIM))
        outs.append(out[:, offset : offset + 6])
    assert torch.allclose(outs[0], outs[1], atol=1e-5)
    assert torch.allclose(outs[0], outs[2], atol=1e-5)
    assert torch.allclose(outs[0], m(seq, c), atol=1e-5)  # and equals the unpadded run


def test_explicit_positions_only_matter_through_differences() -> None:
    m = _model(True)
    x, c = torch.randn(2, 9, DIM), torch.randn(2, 8)
    base = m(x, c)
    assert torch.allclose(m(x, c, positions=torch.arange(9) + 100), base, atol=1e-6)
    gap = torch.cat([torch.arange(4), torch.arange(4, 9) + 3])  # a chain break changes the result
    assert not torch.allclose(m(x, c, positions=gap), base, atol=1e-4)


def test_positions_break_permutation_equivariance_and_no_positions_keep_it() -> None:
    x, c = torch.randn(2, 8, DIM), torch.randn(2, 8)
    perm = torch.randperm(8, generator=torch.Generator().manual_seed(0))
    with_pos = _model(True)
    assert not torch.allclose(with_pos(x[:, perm], c), with_pos(x, c)[:, perm], atol=1e-4)
    sets = _model(True, relative_positions=False)
    assert len(sets.position_bias) == 0
    assert torch.allclose(sets(x[:, perm], c), sets(x, c)[:, perm], atol=1e-5)


def test_clip_buckets_share_the_edge_beyond_the_clip() -> None:
    rpb = RelativePositionBias(HEADS, max_relative_distance=32, buckets="clip")
    rel = torch.tensor([-100, -40, -32, -1, 0, 1, 31, 32, 40, 300])
    assert rpb.bucket(rel).tolist() == [0, 0, 0, 31, 32, 33, 63, 64, 64, 64]


def test_log_buckets_are_monotone_and_saturate() -> None:
    rpb = RelativePositionBias(HEADS, max_relative_distance=64, buckets="log", num_buckets=32)
    pos = rpb.bucket(torch.arange(0, 500))
    neg = rpb.bucket(-torch.arange(0, 500))
    assert bool((pos.diff() >= 0).all()) and bool((neg.diff() >= 0).all())
    assert pos[1:8].tolist() == list(range(17, 24)) and neg[:8].tolist() == list(range(8))  # exact near 0
    assert pos[64:].eq(31).all() and neg[64:].eq(15).all()
    assert pos.max() < 32 and neg.max() < 16


def test_length_300_runs_and_gradients_reach_position_tables() -> None:
    m = RelativePositionTransformer(DIM, 2, HEADS, cond_dim=8, max_relative_distance=32)
    x = torch.randn(2, 300, DIM)
    mask = torch.ones(2, 300, dtype=torch.bool)
    mask[1, 250:] = False
    for block in m.blocks:  # leave adaLN-Zero so attention matters
        randomize_(block.ada)
    out = m(x, torch.randn(2, 8), mask=mask)
    assert out.shape == (2, 300, DIM) and torch.isfinite(out).all()
    out.square().mean().backward()
    assert all(t.table.weight.grad.abs().sum() > 0 for t in m.position_bias)


def test_shared_and_per_layer_tables() -> None:
    assert len(RelativePositionTransformer(DIM, 3, HEADS).position_bias) == 3
    shared = RelativePositionTransformer(DIM, 3, HEADS, share_position_bias=True)
    assert len(shared.position_bias) == 1
    assert shared(torch.randn(1, 5, DIM)).shape == (1, 5, DIM)


def test_conditioning_vector_is_required_iff_cond_dim() -> None:
    with pytest.raises(ValueError, match="needs a conditioning vector"):
        RelativePositionTransformer(DIM, 1, HEADS, cond_dim=8)(torch.randn(1, 3, DIM))
    with pytest.raises(ValueError, match="without cond_dim"):
        RelativePositionTransformer(DIM, 1, HEADS)(torch.randn(1, 3, DIM), torch.randn(1, 8))


def test_identity_at_init_with_dit_blocks() -> None:
    m = RelativePositionTransformer(DIM, 2, HEADS, cond_dim=8)
    x = torch.randn(2, 5, DIM)
    assert torch.equal(m(x, torch.randn(2, 8)), x)
