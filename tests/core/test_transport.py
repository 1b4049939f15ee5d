"""OT helpers against brute force and closed forms."""

import itertools
import math
import warnings

import numpy as np
import ot
import pytest
import torch

from gensci.core.spaces import Torus
from gensci.core.transport import (
    condition_cost,
    exact_assignment,
    pairwise_sq_dist,
    sample_from_plan,
    sinkhorn_plan,
    wasserstein2,
)


def brute_w2(a, b):
    n = a.shape[0]
    cost = ((a[:, None] - b[None]) ** 2).sum(-1).double()
    best = min(sum(cost[i, p[i]].item() for i in range(n)) / n for p in itertools.permutations(range(n)))
    return math.sqrt(best)


def test_w2_equals_brute_force_and_pot(generator):
    a = torch.randn(6, 3, generator=generator, dtype=torch.float64)
    b = torch.randn(6, 3, generator=generator, dtype=torch.float64)
    assert wasserstein2(a, b) == pytest.approx(brute_w2(a, b), rel=1e-9)
    m = ot.dist(a.double().numpy(), b.double().numpy())
    assert wasserstein2(a, b) == pytest.approx(math.sqrt(ot.emd2(np.ones(6) / 6, np.ones(6) / 6, m)), rel=1e-9)


def test_w2_closed_forms(generator):
    x = torch.randn(50, 2, 2, generator=generator, dtype=torch.float64)
    shift = torch.tensor([[0.3, -1.2], [0.5, 2.0]], dtype=torch.float64)
    assert wasserstein2(x, x + shift) == pytest.approx(shift.norm().item(), rel=1e-9)  # translation
    point = torch.zeros(1, 3, dtype=torch.float64)
    cloud = torch.randn(40, 3, generator=generator, dtype=torch.float64)
    assert wasserstein2(point, cloud) == pytest.approx(cloud.pow(2).sum(1).mean().sqrt().item(), rel=1e-9)


def test_pairwise_sq_dist_plain_and_wrapped(generator):
    a, b = torch.randn(5, 2, 3, generator=generator), torch.randn(4, 2, 3, generator=generator)
    ref = ((a.reshape(5, 1, -1).double() - b.reshape(1, 4, -1).double()) ** 2).sum(-1)
    assert torch.allclose(pairwise_sq_dist(a, b), ref, atol=1e-10)
    x = torch.tensor([[3.0], [-3.0]])
    d = pairwise_sq_dist(x, x, Torus())
    assert d[0, 1].item() == pytest.approx((2 * math.pi - 6.0) ** 2, rel=1e-6)


def test_condition_cost_numeric_categorical_nan():
    a = {"y": torch.tensor([0.0, 1.0, float("nan")]), "k": torch.tensor([0.0, 1.0, 2.0])}
    b = {"y": torch.tensor([2.0, 1.0]), "k": torch.tensor([0.0, 2.0])}
    d = condition_cost(a, b, categorical={"k"})
    expected = torch.tensor([[4.0 + 0, 1 + 1], [1 + 1, 0 + 1], [0 + 1, 0 + 0]], dtype=torch.float64)
    assert torch.equal(d, expected)
    assert condition_cost(None, b) is None


def test_exact_assignment_brute_force_and_forbidden(generator):
    for _ in range(5):
        cost = torch.rand(5, 5, generator=generator, dtype=torch.float64)
        idx = exact_assignment(cost)
        best = min(sum(cost[p[j], j].item() for j in range(5)) for p in itertools.permutations(range(5)))
        assert cost[idx, torch.arange(5)].sum().item() == pytest.approx(best)
    cost = torch.zeros(3, 3, dtype=torch.float64)
    cost[0, 0] = cost[1, 1] = cost[2, 2] = math.inf
    assert not torch.any(exact_assignment(cost) == torch.arange(3))


def test_exact_assignment_square_matches_the_hungarian_optimum(generator):
    from scipy.optimize import linear_sum_assignment

    cost = pairwise_sq_dist(torch.randn(200, 2, generator=generator), torch.randn(200, 2, generator=generator))
    idx = exact_assignment(cost)
    assert torch.equal(idx.sort().values, torch.arange(200))
    rows, cols = linear_sum_assignment(cost.numpy())
    assert cost[idx, torch.arange(200)].sum().item() == pytest.approx(cost.numpy()[rows, cols].sum(), rel=1e-12)


def test_sinkhorn_marginals_and_limits(generator):
    x0, x1 = torch.randn(30, 2, generator=generator), torch.randn(20, 2, generator=generator)
    cost = pairwise_sq_dist(x0, x1)
    plan = sinkhorn_plan(cost, reg=0.5)
    assert torch.allclose(plan.sum(1), torch.full((30,), 1 / 30, dtype=torch.float64), rtol=1e-6)
    assert torch.allclose(plan.sum(0), torch.full((20,), 1 / 20, dtype=torch.float64), rtol=1e-6)
    wide = sinkhorn_plan(cost, reg=1e6)
    assert torch.allclose(wide, torch.full_like(wide, 1 / 600), rtol=1e-4)
    # a tiny reg needs the log-domain solver and approaches the permutation of exact OT
    sq = pairwise_sq_dist(x0[:8], x1[:8])
    sharp = sinkhorn_plan(sq, reg=1e-2)
    assert torch.equal(sharp.argmax(0), exact_assignment(sq))


def test_sinkhorn_warns_and_falls_back_when_infeasible():
    cost = torch.ones(3, 3, dtype=torch.float64)
    cost[0, :] = math.inf  # the first source point may go nowhere
    with pytest.warns(RuntimeWarning, match="Sinkhorn failed"):
        plan = sinkhorn_plan(cost, reg=1.0)
    assert torch.allclose(plan[1:], torch.full((2, 3), 1 / 6, dtype=torch.float64))
    assert torch.all(plan[0] == 0)


def test_sample_from_plan_frequencies():
    plan = torch.tensor([[0.1, 0.0], [0.3, 0.2], [0.1, 0.3]], dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    draws = torch.stack([sample_from_plan(plan, g) for _ in range(4000)])  # (4000, 2)
    for j in range(2):
        freq = torch.bincount(draws[:, j], minlength=3).double() / 4000
        assert torch.allclose(freq, plan[:, j] / plan[:, j].sum(), atol=0.025)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(sample_from_plan(torch.eye(3, dtype=torch.float64), g), torch.arange(3))
