"""Couplings against brute force, their defining formulas and their marginals."""

import itertools
import math

import pytest
import torch

from gensci.core.couplings import (
    ExactOTCoupling,
    GibbsWeightedCoupling,
    IndependentCoupling,
    PairedCoupling,
    SinkhornCoupling,
)
from gensci.core.transport import pairwise_sq_dist


def test_independent_keeps_the_order(generator):
    x0, x1 = torch.randn(7, 2, generator=generator), torch.randn(7, 2, generator=generator)
    p = IndependentCoupling()(x0, x1, generator=generator)
    assert torch.equal(p.x0, x0) and torch.equal(p.x1, x1) and p.weight is None
    q = IndependentCoupling()(x0[:3], x1, generator=generator)
    assert q.x0.shape == x1.shape and torch.equal(q.x0, x0[:3][q.index])


@pytest.mark.parametrize("n", [3, 5, 6])
def test_exact_ot_is_the_brute_force_minimum(n, generator):
    for _ in range(3):
        x0, x1 = torch.randn(n, 2, 2, generator=generator), torch.randn(n, 2, 2, generator=generator)
        p = ExactOTCoupling()(x0, x1)
        assert sorted(p.index.tolist()) == list(range(n))  # a permutation
        assert torch.equal(p.x1, x1) and torch.equal(p.x0, x0[p.index])
        cost = pairwise_sq_dist(x0, x1)
        best = min(sum(cost[perm[j], j].item() for j in range(n)) for perm in itertools.permutations(range(n)))
        assert (p.x0 - x1).pow(2).sum((1, 2)).sum().item() == pytest.approx(best, rel=1e-5)
        assert p.logs["coupling/cost"].item() == pytest.approx(best / n, rel=1e-5)


def test_sinkhorn_plan_marginals_and_sampling(generator):
    x0, x1 = torch.randn(40, 3, generator=generator), torch.randn(40, 3, generator=generator)
    cp = SinkhornCoupling(reg=2.0)
    plan = cp.plan(x0, x1)
    assert plan.sum().item() == pytest.approx(1.0, rel=1e-9)
    assert torch.allclose(plan.sum(0), torch.full((40,), 1 / 40, dtype=torch.float64), rtol=1e-6)
    assert torch.allclose(plan.sum(1), torch.full((40,), 1 / 40, dtype=torch.float64), rtol=1e-3)
    p = cp(x0, x1, generator=generator)
    assert torch.equal(p.x0, x0[p.index]) and torch.equal(p.x1, x1)
    # same generator state, same draws
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(cp(x0, x1, generator=g1).index, cp(x0, x1, generator=g2).index)
    # a sharp plan samples the exact OT permutation
    sharp = SinkhornCoupling(reg=1e-2)(x0[:6], x1[:6], generator=generator)
    assert torch.equal(sharp.index, ExactOTCoupling()(x0[:6], x1[:6]).index)


def test_paired_is_the_identity(generator):
    x0, x1 = torch.randn(4, 2, generator=generator), torch.randn(4, 2, generator=generator)
    p = PairedCoupling()(x0, x1)
    assert torch.equal(p.x0, x0) and PairedCoupling.requires_x0
    with pytest.raises(ValueError, match="equal batch sizes"):
        PairedCoupling()(x0[:3], x1)


def test_wcfm_naive_weights_are_the_gibbs_formula(generator):
    x0, x1 = torch.randn(16, 2, 3, generator=generator), torch.randn(16, 2, 3, generator=generator)
    eps = 0.7 * math.sqrt(6)
    raw = torch.exp(-(x0 - x1).reshape(16, -1).double().norm(dim=1) / eps)
    p = GibbsWeightedCoupling(kappa=0.7, normalize=False)(x0, x1)
    assert torch.allclose(p.weight.double(), raw, rtol=1e-6)
    q = GibbsWeightedCoupling(kappa=0.7)(x0, x1)
    assert torch.allclose(q.weight.double(), raw / raw.mean(), rtol=1e-6)
    assert q.weight.mean().item() == pytest.approx(1.0, rel=1e-6)
    ess = raw.sum() ** 2 / (16 * raw.pow(2).sum())
    assert q.logs["coupling/ess"].item() == pytest.approx(ess.item(), rel=1e-5)
    assert 0 < q.logs["coupling/ess"].item() <= 1
    assert q.logs["coupling/mean_weight"].item() == pytest.approx(raw.mean().item(), rel=1e-5)
    assert torch.equal(q.x0, x0)  # pairs are not reordered
    assert GibbsWeightedCoupling(eps=2.5).epsilon(x1) == 2.5


def test_wcfm_marginal_correction_untilts_the_plan(generator):
    b = 32
    x0, x1 = torch.randn(b, 2, generator=generator), 3.0 + torch.randn(b, 2, generator=generator)
    naive = GibbsWeightedCoupling(kappa=0.5)
    k_plan = torch.exp(naive.log_kernel(x0, x1))
    tilt = (k_plan / k_plan.sum()).sum(1) * b  # the naive plan's row sums, times B
    assert tilt.max() / tilt.min() > 2.0  # the naive weighting tilts the marginal
    cp = GibbsWeightedCoupling(kappa=0.5, marginal_correction=200)
    plan = cp.plan(x0, x1)
    uniform = torch.full((b,), 1.0 / b, dtype=torch.float64)
    assert torch.allclose(plan.sum(0), uniform, rtol=1e-9)
    assert torch.allclose(plan.sum(1), uniform, rtol=1e-3)
    p = cp(x0, x1)
    diag = plan.diagonal()
    assert torch.allclose(p.weight.double(), diag / diag.mean(), rtol=1e-5)
    raw = b * b * diag
    assert p.logs["coupling/mean_weight"].item() == pytest.approx(raw.mean().item(), rel=1e-5)
    assert p.logs["coupling/ess"].item() == pytest.approx((raw.sum() ** 2 / (b * raw.pow(2).sum())).item(), rel=1e-5)


def _log_domain_scalings(log_k, iters):
    n, m = log_k.shape
    log_f, log_g = log_k.new_zeros(n), log_k.new_zeros(m)
    for _ in range(iters):
        log_f = -math.log(n) - torch.logsumexp(log_k + log_g[None, :], dim=1)
        log_g = -math.log(m) - torch.logsumexp(log_k + log_f[:, None], dim=0)
    return log_f, log_g


def test_wcfm_kernel_sweeps_match_the_log_domain_and_fall_back_on_underflow(generator):
    cp = GibbsWeightedCoupling(kappa=0.5, marginal_correction=15)
    x0, x1 = torch.randn(40, 3, generator=generator), 2.0 + torch.randn(40, 3, generator=generator)
    log_k = cp.log_kernel(x0, x1)
    for got, want in zip(cp.scalings(log_k), _log_domain_scalings(log_k, 15)):
        assert torch.allclose(got, want, rtol=0, atol=1e-10)
    # a far-away source point: its kernel row underflows to 0, so the sweeps use log-sum-exp
    far = torch.cat([x0[:-1], torch.full((1, 3), 1e3)])
    log_k = cp.log_kernel(far, x1)
    assert torch.exp(log_k[-1]).max() == 0
    for got, want in zip(cp.scalings(log_k), _log_domain_scalings(log_k, 15)):
        assert torch.isfinite(got).all() and torch.allclose(got, want, rtol=0, atol=1e-10)


def test_condition_cost_inf_never_pairs_across_classes(generator):
    n = 24
    x0, x1 = torch.randn(n, 2, generator=generator), torch.randn(n, 2, generator=generator)
    label = torch.randint(0, 3, (n,), generator=generator).float()
    cond = {"label": label}
    kw = dict(cond_weight=math.inf, categorical={"label"})
    for cp in (ExactOTCoupling(**kw), SinkhornCoupling(reg=0.5, **kw)):
        p = cp(x0, x1, cond=cond, generator=generator)
        assert torch.equal(label[p.index], label), type(cp).__name__
        assert p.cond is cond
    plan = GibbsWeightedCoupling(marginal_correction=20, **kw).plan(x0, x1, cond)
    assert torch.all(plan[label[:, None] != label[None, :]] == 0)
    # without the condition cost, OT pairs across classes
    free = ExactOTCoupling()(x0, x1, cond=cond)
    assert not torch.equal(label[free.index], label)


def test_condition_cost_adds_lambda_times_distance(generator):
    x0, x1 = torch.randn(5, 2, generator=generator), torch.randn(5, 2, generator=generator)
    y = torch.tensor([0.0, 1.0, float("nan"), 2.0, 0.5])
    cp = ExactOTCoupling(cond_weight=3.0)
    d = (y[:, None] - y[None, :]).double().pow(2).nan_to_num(0.0)
    assert torch.allclose(cp.cost(x0, x1, {"y": y}), pairwise_sq_dist(x0, x1) + 3.0 * d)
    with pytest.raises(ValueError):
        ExactOTCoupling(cond_weight=-1.0)
