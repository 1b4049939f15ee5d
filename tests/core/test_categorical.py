"""Categorical diffusion against closed forms: composition, stationarity, Bayes posterior."""

import pytest
import torch
import torch.nn.functional as F

from gensci.core.categorical import (
    CategoricalDiffusion,
    MarginalTransition,
    MixingTransition,
    UniformTransition,
    mixing_matrix,
)
from gensci.core.spaces import Categorical

F64 = torch.float64
M = torch.tensor([0.5, 0.2, 0.2, 0.1], dtype=F64)


def block_transition():
    """A non-rank-one idempotent U (two blocks of classes, each with its own marginal):
    the shape a joint atom-bond transition takes."""
    u = torch.zeros(5, 5, dtype=F64)
    u[:2, :2] = torch.tensor([0.3, 0.7], dtype=F64)
    u[2:, 2:] = torch.tensor([0.2, 0.5, 0.3], dtype=F64)
    m = torch.tensor([0.3, 0.7, 0.0, 0.0, 0.0], dtype=F64)  # stationary for the first block
    return MixingTransition(u, m)


TRANSITIONS = [UniformTransition(4), MarginalTransition(M * 10), block_transition()]
TIDS = ["uniform", "marginal", "block"]


@pytest.mark.parametrize("tr", TRANSITIONS, ids=TIDS)
def test_transitions_compose_in_closed_form(tr):
    proc = CategoricalDiffusion(tr.num_classes, transition=tr)
    t, u, s = (torch.tensor(v, dtype=F64) for v in (0.2, 0.55, 0.9))
    q_ts = proc.step_matrix(t, s)
    torch.testing.assert_close(proc.step_matrix(u, s) @ proc.step_matrix(t, u), q_ts, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(proc.marginal_matrix(s) @ q_ts, proc.marginal_matrix(t), rtol=1e-12, atol=1e-12)
    for q in (q_ts, proc.marginal_matrix(t)):
        torch.testing.assert_close(q.sum(-1), torch.ones(tr.num_classes, dtype=F64))
        assert (q >= 0).all()
    m = tr.stationary
    torch.testing.assert_close(m @ proc.marginal_matrix(t), m)
    torch.testing.assert_close(m @ q_ts, m)
    torch.testing.assert_close(proc.marginal_matrix(torch.tensor(1.0, dtype=F64)), torch.eye(tr.num_classes, dtype=F64))
    torch.testing.assert_close(mixing_matrix(torch.tensor(0.0, dtype=F64), tr.limit), tr.limit)


def test_kappa_endpoints_and_uniform_limit():
    proc = CategoricalDiffusion(4)
    assert proc.kappa(torch.tensor(1.0)).item() == 1.0
    assert proc.kappa(torch.tensor(0.0)).item() < 1e-6
    q0 = proc.marginal_matrix(torch.tensor(0.0, dtype=F64))
    torch.testing.assert_close(q0, torch.full((4, 4), 0.25, dtype=F64), atol=1e-7, rtol=0)


@pytest.mark.parametrize("tr", TRANSITIONS, ids=TIDS)
def test_posterior_probs_equals_brute_force_bayes(tr):
    k = tr.num_classes
    proc = CategoricalDiffusion(k, transition=tr, timesteps=None)
    g = torch.Generator().manual_seed(0)
    b, n = 3, 4
    t = torch.tensor([0.1, 0.4, 0.7], dtype=F64)
    s = torch.tensor([0.3, 0.45, 1.0], dtype=F64)
    x1 = torch.randint(0, 2, (b, n), generator=g)  # classes every transition can reach
    x_t = proc.corrupt(x1, t=t, generator=g).x_t
    p1 = torch.softmax(torch.randn(b, n, k, generator=g, dtype=F64), -1)
    post = proc.posterior_probs(x_t, p1, t, s)
    torch.testing.assert_close(post.sum(-1), torch.ones(b, n, dtype=F64))
    for i in range(b):
        qt, qs, qts = proc.marginal_matrix(t[i]), proc.marginal_matrix(s[i]), proc.step_matrix(t[i], s[i])
        for j in range(n):
            xt = int(x_t[i, j])
            want = torch.zeros(k, dtype=F64)
            for xs in range(k):
                for c in range(k):  # sum over x1 of q(x_s | x_t, x1) p1(x1)
                    if qt[c, xt] > 0:
                        want[xs] += qts[xs, xt] * qs[c, xs] / qt[c, xt] * p1[i, j, c]
            torch.testing.assert_close(post[i, j], want / want.sum(), rtol=1e-10, atol=1e-12)
    if tr.limit.min() > 0:  # every x1 can reach every x_t: at s = 1 the posterior is p1 itself
        torch.testing.assert_close(post[2], p1[2])


def test_corrupt_draws_the_forward_marginal():
    proc = CategoricalDiffusion(4, transition="marginal", marginal=M, timesteps=None)
    g = torch.Generator().manual_seed(1)
    n = 40000
    x1 = torch.full((n, 1), 2)
    t0 = 0.45
    c = proc.corrupt(x1, t=torch.full((n,), t0), generator=g)
    freq = torch.bincount(c.x_t.flatten(), minlength=4).double() / n
    want = proc.marginal_matrix(torch.tensor(t0, dtype=F64))[2]
    assert (freq - want).abs().max() < 4 * (0.25 / n) ** 0.5
    assert torch.equal(c.target, x1)


def test_prior_is_stationary_law_and_grid():
    proc = CategoricalDiffusion(4, transition="marginal", marginal=M, timesteps=50)
    g = torch.Generator().manual_seed(2)
    x = proc.prior((20000, 3), generator=g)
    assert x.dtype == torch.long
    freq = torch.bincount(x.flatten(), minlength=4).double() / x.numel()
    assert (freq - M).abs().max() < 0.01
    t = proc.sample_time(500, generator=g)
    torch.testing.assert_close(t * 50, (t * 50).round())
    assert t.max() < 1
    grid = proc.time_grid(10)
    assert grid[0] == 0 and grid[-1] == 1 and (grid.diff() > 0).all()
    with pytest.raises(ValueError, match="exceeds"):
        proc.time_grid(51)


def test_loss_is_masked_weighted_cross_entropy():
    weights = torch.tensor([1.0, 2.0, 1.0])
    proc = CategoricalDiffusion(3, class_weights=weights)
    g = torch.Generator().manual_seed(3)
    x1 = torch.randint(0, 3, (2, 4), generator=g)
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    c = proc.corrupt(x1, mask=mask, generator=g)
    logits = torch.randn(2, 4, 3, generator=g)
    loss, logs = proc.loss(logits, c)
    per = F.cross_entropy(logits.permute(0, 2, 1), c.target, weight=weights, reduction="none")
    want = ((per[0, :2].mean()) + per[1].mean()) / 2
    assert loss.item() == pytest.approx(want.item(), rel=1e-6)
    assert "accuracy" in logs


def test_construction_errors():
    with pytest.raises(ValueError, match="marginal"):
        CategoricalDiffusion(3, transition="marginal")
    with pytest.raises(ValueError, match="idempotent"):
        MixingTransition(torch.tensor([[0.5, 0.5], [1.0, 0.0]]), torch.tensor([2 / 3, 1 / 3]))
    with pytest.raises(ValueError, match="classes"):
        CategoricalDiffusion(Categorical(3), transition=UniformTransition(4))


def test_a_state_the_prediction_cannot_explain_falls_back_to_the_forward_law():
    """x_t in a class of zero marginal that p1 gives no weight: the exact posterior row is all
    zeros; the row falls back to p1 Qbar_s (a distribution), other rows unchanged."""
    from gensci.core.categorical import MarginalTransition, mixing_posterior

    trans = MarginalTransition(torch.tensor([0.7, 0.3, 0.0]))
    onehot_t = torch.nn.functional.one_hot(torch.tensor([2, 0]), 3).double()
    p1 = torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.8, 0.0]], dtype=torch.float64)
    kt, ks = torch.tensor([[0.3], [0.3]], dtype=torch.float64), torch.tensor([[0.6], [0.6]], dtype=torch.float64)
    limit = trans.limit.double()
    post = mixing_posterior(onehot_t, p1, kt, ks, limit)
    assert torch.allclose(post.sum(-1), torch.ones(2, dtype=torch.float64))
    want = 0.6 * p1[0] + 0.4 * (p1[0] @ limit)
    assert torch.allclose(post[0], want / want.sum())
    # the explainable row is the exact posterior, normalised as before
    like = 0.5 * onehot_t[1] + 0.5 * (onehot_t[1] @ limit.T)
    exact = like * (0.6 * (p1[1] / (0.3 * onehot_t[1] + 0.7 * (onehot_t[1] @ limit.T))) + 0.4 * ((p1[1] / (0.3 * onehot_t[1] + 0.7 * (onehot_t[1] @ limit.T))) @ limit))
    assert torch.allclose(post[1], exact / exact.sum())
