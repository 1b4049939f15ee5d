"""AngleTransformer: shapes, masking, periodicity, conditions."""

import math

import pytest
import torch

from domains.proteins.angles import defined_mask
from domains.proteins.network import AngleTransformer

torch.set_num_threads(1)


def _net(**kw) -> AngleTransformer:
    torch.manual_seed(0)
    net = AngleTransformer(hidden=32, depth=2, attention_heads=4, max_relative_distance=16, **kw)
    for p in net.final.parameters():  # the zero-initialised head would hide everything
        torch.nn.init.normal_(p, std=0.1)
    return net.eval()


def test_shapes_long_chains_and_heads():
    net = _net(heads=2)
    x = torch.rand(2, 200, 6) * 2 * math.pi - math.pi
    out = net(x, torch.rand(2))
    assert out.shape == (2, 200, 12)
    assert torch.isfinite(out).all()


def test_padding_does_not_change_real_outputs():
    net = _net()
    x = torch.rand(1, 20, 6) * 2 - 1
    mask = torch.ones(1, 20, dtype=torch.bool)
    t = torch.tensor([0.3])
    ref = net(x, t, mask=mask)
    padded = torch.cat([x, torch.randn(1, 7, 6) * 3], dim=1)
    pmask = torch.cat([mask, torch.zeros(1, 7, dtype=torch.bool)], dim=1)
    out = net(padded, t, mask=pmask)
    torch.testing.assert_close(out[:, :20], ref, atol=1e-5, rtol=1e-5)
    assert (out[:, 20:] == 0).all()


def test_per_angle_mask_zeroes_undefined_entries():
    net = _net()
    mask = defined_mask(torch.tensor([10, 7]), 10)
    out = net(torch.randn(2, 10, 6), torch.rand(2), mask=mask)
    assert (out[~mask] == 0).all()
    assert (out[mask] != 0).any()


def test_periodic_in_the_angles():
    net = _net()
    x = torch.rand(2, 15, 6) * 2 - 1
    t = torch.rand(2)
    shift = 2 * math.pi * torch.randint(-2, 3, x.shape).float()
    torch.testing.assert_close(net(x + shift, t), net(x, t), atol=1e-4, rtol=1e-4)


def test_conditions_and_unconditional_errors():
    net = _net(conditions=[{"name": "y", "kind": "numeric"}])
    out = net(torch.randn(2, 5, 6), torch.rand(2), cond={"y": torch.tensor([0.1, float("nan")])})
    assert out.shape == (2, 5, 6)
    with pytest.raises(ValueError, match="unconditional"):
        _net()(torch.randn(1, 5, 6), torch.rand(1), cond={"y": torch.ones(1)})
    with pytest.raises(ValueError, match="divisible"):
        AngleTransformer(hidden=30, attention_heads=4)
