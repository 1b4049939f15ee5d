"""Training-time distributions: draws against their closed-form densities and means."""

import pytest
import torch

from gensci.core.flow import FlowMatching
from gensci.core.product import ProductProcess
from gensci.core.categorical import CategoricalDiffusion
from gensci.core.time_distributions import BetaTime, LogitNormalTime, UniformTime


def _histogram_matches(dist, n=200_000, bins=20, tol=0.03):
    t = dist.sample(n, generator=torch.Generator().manual_seed(0))
    assert t.shape == (n,) and t.min() >= 0 and t.max() < 1
    edges = torch.linspace(0, 1, bins + 1)
    counts = torch.histc(t, bins=bins, min=0, max=1) / n
    mids = (edges[:-1] + edges[1:]) / 2
    # density at the bin centre times the width, by Simpson's rule on the bin
    lo, hi = edges[:-1].clamp(1e-6, 1 - 1e-6), edges[1:].clamp(1e-6, 1 - 1e-6)
    expected = (dist.density(lo) + 4 * dist.density(mids) + dist.density(hi)) / 6 / bins
    assert torch.allclose(counts, expected, atol=tol * expected.max().item())


@pytest.mark.parametrize("dist", [UniformTime(), BetaTime(2, 1), BetaTime(3, 2), LogitNormalTime(0.5, 1.0)])
def test_draws_follow_the_density(dist):
    _histogram_matches(dist)


def test_beta_means_and_density_normalisation():
    for a, b in [(1, 1), (2, 1), (3, 2), (1, 4)]:
        d = BetaTime(a, b)
        t = d.sample(100_000, generator=torch.Generator().manual_seed(1))
        assert abs(t.mean().item() - a / (a + b)) < 0.005
        grid = torch.linspace(0, 1, 20_001)
        assert abs(torch.trapezoid(d.density(grid), grid).item() - 1.0) < 1e-4
    assert torch.allclose(BetaTime(2, 1).density(torch.tensor([0.25, 0.5])), torch.tensor([0.5, 1.0]))


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="whole"):
        BetaTime(1.5, 1)
    with pytest.raises(ValueError, match="std"):
        LogitNormalTime(0.0, 0.0)


def test_processes_draw_their_training_times_from_it():
    g = torch.Generator().manual_seed(0)
    flow = FlowMatching(time_distribution=BetaTime(4, 1))
    c = flow.corrupt(torch.randn(4000, 2), generator=g)
    assert abs(c.t.mean().item() - 0.8) < 0.01
    product = ProductProcess({"x": FlowMatching(), "y": CategoricalDiffusion(3, timesteps=None)},
                             time_distribution=BetaTime(2, 1))
    assert abs(product.sample_time(20_000, generator=g).mean().item() - 2 / 3) < 0.01
    with pytest.raises(ValueError, match="continuous time"):
        ProductProcess({"y": CategoricalDiffusion(3, timesteps=100)}, time_distribution=BetaTime(2, 1))
