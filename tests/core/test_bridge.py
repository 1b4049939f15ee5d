"""Schrödinger bridge: closed-form targets, and the Gaussian → Gaussian bridge learnt end to end."""

import math
import time

import pytest
import torch

from gensci.core.bridge import SchrodingerBridge, gaussian_sb_coupling, gaussian_sb_marginal_cov
from gensci.core.couplings import ExactOTCoupling, IndependentCoupling, PairedCoupling, SinkhornCoupling
from gensci.core.spaces import Torus
from samplers.sde import EulerMaruyamaSampler
from tests.nets import seeded_model

GOLDEN = (math.sqrt(5) - 1) / 2  # C_sigma for A = B = I, sigma = 1


def test_closed_form_coupling():
    c = gaussian_sb_coupling(torch.eye(3), torch.eye(3), 1.0)
    assert torch.allclose(c, GOLDEN * torch.eye(3, dtype=torch.float64), atol=1e-12)
    a, b, s = torch.tensor([0.5, 2.0]), torch.tensor([3.0, 0.2]), 0.7  # commuting: per axis
    c = gaussian_sb_coupling(torch.diag(a), torch.diag(b), s)
    expected = (torch.sqrt(4 * a * b + s**4) - s**2) / 2
    assert torch.allclose(c, torch.diag(expected).double(), atol=1e-12)
    # sigma -> 0: the OT map between equal covariances is the identity, C -> A
    m = torch.tensor([[2.0, 0.5], [0.5, 1.0]])
    assert torch.allclose(gaussian_sb_coupling(m, m, 1e-4), m.double(), atol=1e-6)
    sig = gaussian_sb_marginal_cov(torch.eye(2), torch.eye(2), 1.0, 0.5)
    assert torch.allclose(sig, (0.5 + 0.25 * (2 * GOLDEN + 1)) * torch.eye(2, dtype=torch.float64))


def test_construction():
    with pytest.raises(ValueError, match="sigma > 0"):
        SchrodingerBridge(sigma=0.0)
    sb = SchrodingerBridge(sigma=0.8)
    assert isinstance(sb.coupling, SinkhornCoupling) and sb.coupling.reg == pytest.approx(2 * 0.64)
    assert sb.heads == 2
    assert isinstance(SchrodingerBridge(coupling="exact").coupling, ExactOTCoupling)
    assert isinstance(SchrodingerBridge(coupling="paired").coupling, PairedCoupling)
    assert isinstance(SchrodingerBridge(coupling=IndependentCoupling()).coupling, IndependentCoupling)
    with pytest.raises(ValueError, match="unknown coupling"):
        SchrodingerBridge(coupling="greedy")
    with pytest.raises(TypeError):
        SchrodingerBridge(space=Torus())


def test_bridge_targets_in_closed_form(generator):
    sb = SchrodingerBridge(sigma=0.5, coupling="paired", t_eps=1e-3)
    x0, x1 = torch.randn(6, 3, generator=generator), torch.randn(6, 3, generator=generator)
    t = torch.tensor([0.0, 0.1, 0.3, 0.5, 0.8, 1.0])
    c = sb.corrupt(x1, x0=x0, t=t, generator=generator)
    tc = t.clamp(1e-3, 1 - 1e-3)
    assert torch.allclose(c.t, tc)
    tt = tc[:, None]
    mu, std = (1 - tt) * x0 + tt * x1, 0.5 * torch.sqrt(tt * (1 - tt))
    z = c.extras["noise"]
    assert torch.allclose(c.x_t, mu + std * z, atol=1e-6)
    assert torch.allclose(c.target, (1 - 2 * tt) / (2 * tt * (1 - tt)) * std * z + x1 - x0, atol=1e-4)
    assert torch.allclose(c.extras["lambda"], 2 * std / 0.25)
    # the ideal conditional prediction has zero loss; velocity and sde read the heads
    pred = torch.cat([c.target, -z / c.extras["lambda"]], dim=-1)
    loss, logs = sb.loss(pred, c)
    assert loss.item() < 1e-10 and {"flow_loss", "score_loss"} <= set(logs)
    assert torch.equal(sb.velocity(pred, c.x_t, c.t), c.target)
    f, g = sb.sde(pred, c.x_t, c.t)
    assert torch.allclose(f, c.target - z / c.extras["lambda"]) and float(g) == 0.5
    assert sb.sample_time(1000, generator).min() >= 1e-3


def test_source_sampler(generator):
    sb = SchrodingerBridge(source=lambda n, g: 5.0 + torch.randn(n, 2, generator=g))
    assert sb.prior((4000, 2), generator=generator).mean().item() == pytest.approx(5.0, abs=0.05)
    with pytest.raises(ValueError, match="source returned shape"):
        sb.prior((10, 3), generator=generator)


def test_gaussian_bridge_matches_the_closed_form():
    """Learn the SB between N(-1, A) and N(1, B) in d = 3 ([SF]²M, Sinkhorn reg = 2 sigma^2),
    simulate its SDE and compare the coupling and the t = 0.5 marginal with the closed form."""
    start = time.time()
    d, sigma = 3, 1.0
    g = torch.Generator().manual_seed(0)
    a_cov, b_cov = torch.diag(torch.tensor([0.5, 1.0, 1.5])), torch.diag(torch.tensor([1.5, 1.0, 0.5]))
    a_half, b_half = a_cov.sqrt(), b_cov.sqrt()

    def source(n, gen):
        return -1.0 + torch.randn(n, d, generator=gen) @ a_half

    def target(n, gen):
        return 1.0 + torch.randn(n, d, generator=gen) @ b_half

    sb = SchrodingerBridge(sigma=sigma, source=source)
    model = seeded_model(d, 2 * d, hidden=64)
    steps = 2000
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=1.5e-4)
    for _ in range(steps):
        c = sb.corrupt(target(256, g), generator=g)
        loss, _ = sb.loss(model(c.x_t, c.t), c)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()

    n = 20000
    x0 = source(n, g)
    res = EulerMaruyamaSampler(steps=100, progress=False).sample(
        model, sb, (n, d), generator=g, x_init=x0, return_trajectory=True
    )
    x0c, x1c = x0.double() - x0.double().mean(0), res.x.double() - res.x.double().mean(0)
    cross = x0c.T @ x1c / n
    mid = res.trajectory[50].double()
    mid = mid - mid.mean(0)
    sigma_half = mid.T @ mid / n
    c_true = gaussian_sb_coupling(a_cov, b_cov, sigma)
    s_true = gaussian_sb_marginal_cov(a_cov, b_cov, sigma, 0.5)
    print(f"\nCov(X0, X1) diag {cross.diagonal().numpy().round(3)} vs {c_true.diagonal().numpy().round(3)}; "
          f"max |err| {(cross - c_true).abs().max():.3f}; Sigma_0.5 max |err| {(sigma_half - s_true).abs().max():.3f}; "
          f"{time.time() - start:.1f} s")
    assert c_true[1, 1].item() == pytest.approx(GOLDEN, abs=1e-12)
    assert torch.allclose(cross, c_true, atol=0.05)
    assert torch.allclose(sigma_half, s_true, atol=0.06)
    assert torch.allclose(res.x.double().mean(0), torch.ones(d, dtype=torch.float64), atol=0.08)
