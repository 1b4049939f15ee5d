"""Euler–Maruyama: the Brownian bridge's marginal variance, pinning, and seeding."""

import pytest
import torch

from gensci.core.flow import FlowMatching
from gensci.core.process import Process
from gensci.core.spaces import Euclidean
from samplers.sde import EulerMaruyamaSampler


class BrownianBridgeTo0(Process):
    """``dx = -x / (1 - t) dt + sigma dW`` from x0 = 0: pinned at 0 at t = 1, Var_t = sigma^2 t(1-t)."""

    capabilities = frozenset({"sde"})

    def __init__(self, sigma: float):
        self.space = Euclidean()
        self.sigma = sigma

    def corrupt(self, x1, **kw):
        raise AssertionError("a sampler never trains")

    def loss(self, prediction, c):
        raise AssertionError("a sampler never trains")

    def sde(self, prediction, x_t, t):
        return -x_t / (1 - t)[:, None], torch.tensor(self.sigma)


def zero_model(x, t, cond=None, mask=None):
    return torch.zeros_like(x)


def test_brownian_bridge_marginal_variance():
    sigma, n = 1.5, 20000
    res = EulerMaruyamaSampler(100, progress=False).sample(
        zero_model, BrownianBridgeTo0(sigma), (n, 2), x_init=torch.zeros(n, 2, dtype=torch.float64),
        generator=torch.Generator().manual_seed(0), return_trajectory=True,
    )
    for k, t in ((50, 0.5), (25, 0.25)):
        var = res.trajectory[k].var(dim=0)
        assert torch.allclose(var, torch.full_like(var, sigma**2 * t * (1 - t)), rtol=0.04), (t, var)
    # the last step lands exactly on the pin (drift -x / h over h, no noise on the final step)
    assert res.x.abs().max().item() < 1e-12


def test_final_noise_option_and_seeding():
    proc = BrownianBridgeTo0(1.0)
    x_init = torch.zeros(64, 1)
    noisy = EulerMaruyamaSampler(10, progress=False, final_noise=True)
    out = noisy.sample(zero_model, proc, (64, 1), x_init=x_init, generator=torch.Generator().manual_seed(0)).x
    assert out.std().item() == pytest.approx(0.1**0.5, rel=0.3)
    a, b = (
        EulerMaruyamaSampler(10, progress=False).sample(
            zero_model, proc, (64, 1), x_init=x_init, generator=torch.Generator().manual_seed(2), return_trajectory=True
        )
        for _ in range(2)
    )
    assert all(torch.equal(u, v) for u, v in zip(a.trajectory, b.trajectory))


def test_check_needs_an_sde():
    with pytest.raises(TypeError, match="'sde' needs a process with 'sde'.*offers velocity; samplers that can drive it: euler, heun"):
        EulerMaruyamaSampler(progress=False).check(FlowMatching())
    assert EulerMaruyamaSampler.name == "sde"
