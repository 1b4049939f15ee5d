"""DDPM and DDIM samplers with the exact denoiser of Gaussian data N(mu, s2 I).

For such data ``E[x1 | x_t] = mu + alpha s2 (x_t - alpha mu) / (alpha^2 s2 + sigma^2)``, so the
samplers' only error is the time discretisation: the samples must have mean ``mu`` and
variance ``s2``, and fewer steps may only lose accuracy smoothly.
"""

import math

import pytest
import torch

from gensci.core.categorical import CategoricalDiffusion
from gensci.core.gaussian import GaussianDiffusion
from gensci.core.spaces import Euclidean, Torus, ZeroCoM
from gensci.errors import IncompatibleSampler
from samplers.ddim import DDIMSampler
from samplers.ddpm import DDPMSampler

F64 = torch.float64
MU = torch.tensor([1.5, -0.5], dtype=F64)
S2 = torch.tensor([0.25, 2.0], dtype=F64)


def exact_model(proc):
    """The optimal network for N(MU, S2) in the process's own parameterisation."""

    def model(x, t, cond=None, mask=None):
        a, s = proc.coefficients(t, x)
        x1 = MU + a * S2 * (x - a * MU) / (a**2 * S2 + s**2)
        eps = (x - a * x1) / s
        return {"eps": eps, "x0": x1, "v": a * eps - s * x1}[proc.prediction]

    return model


def ddim_moments(proc, steps):
    """DDIM (eta = 0) with a linear denoiser is an affine map x_out = A x_in + b. Fed the exact
    marginal at the first grid time, N(m0, V0) with m0 = alpha_0 MU, V0 = alpha_0^2 S2 +
    sigma_0^2, its output law is N(A m0 + b, A^2 V0) exactly, with no Monte Carlo noise."""
    x_in = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=F64)
    out = DDIMSampler(steps, progress=False).sample(exact_model(proc), proc, (2, 2), x_init=x_in).x
    a0, s0 = proc.coefficients(torch.zeros(1, dtype=F64), MU[None])
    slope = out[1] - out[0]
    return out[0] + slope * a0[0] * MU, slope**2 * (a0[0] ** 2 * S2 + s0[0] ** 2)


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_ddpm_matches_gaussian_moments(prediction):
    proc = GaussianDiffusion(Euclidean(), "cosine", prediction=prediction, timesteps=1000)
    n = 8000
    g = torch.Generator().manual_seed(0)
    x_init = torch.randn(n, 2, generator=g, dtype=F64)
    x = DDPMSampler(1000, progress=False).sample(exact_model(proc), proc, (n, 2), generator=g, x_init=x_init).x
    torch.testing.assert_close(x.mean(0), MU, rtol=0, atol=4 * (S2 / n).sqrt().max().item())
    torch.testing.assert_close(x.var(0), S2, rtol=0.06, atol=0)


@pytest.mark.parametrize("schedule", ["cosine", "linear", "polynomial"])
def test_ddim_deterministic_matches_gaussian_moments(schedule):
    proc = GaussianDiffusion(Euclidean(), schedule, prediction="v")
    mean, var = ddim_moments(proc, 400)
    torch.testing.assert_close(mean, MU, rtol=0, atol=1e-3)
    torch.testing.assert_close(var, S2, rtol=0.02, atol=0)


def test_fewer_steps_degrade_gracefully():
    proc = GaussianDiffusion(Euclidean(), "cosine")
    errors = []
    for steps in (2, 5, 10, 25, 100):
        mean, var = ddim_moments(proc, steps)
        assert torch.isfinite(var).all() and (var > 0).all()
        assert (mean - MU).abs().max() < 1e-3  # the mean is nearly exact at any step count
        errors.append(((var - S2).abs() / S2).max().item())
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert errors[0] < 1.0 and errors[-1] < 0.05
    # the ancestral sampler too (variance shrinks monotonically towards S2)
    g = torch.Generator().manual_seed(1)
    rel = []
    for steps in (5, 25, 100):
        x = DDPMSampler(steps, progress=False).sample(exact_model(proc), proc, (4000, 2), generator=g).x
        assert torch.isfinite(x).all()
        rel.append(((x.var(0) - S2).abs() / S2).max().item())
    assert rel[0] > rel[1] > rel[2] and rel[0] < 1.0, rel


def test_same_seed_same_samples_and_eta_one_is_ddpm():
    proc = GaussianDiffusion(Euclidean(), "linear", prediction="x0")
    model = exact_model(proc)

    def run(sampler, seed):
        return sampler.sample(model, proc, (64, 2), generator=torch.Generator().manual_seed(seed)).x

    ddpm = DDPMSampler(30, progress=False)
    assert torch.equal(run(ddpm, 7), run(ddpm, 7))
    assert not torch.equal(run(ddpm, 7), run(ddpm, 8))
    ddim = DDIMSampler(30, eta=0.0, progress=False)
    assert torch.equal(run(ddim, 7), run(ddim, 7))
    noisy = DDIMSampler(30, eta=0.5, progress=False)
    assert torch.equal(run(noisy, 3), run(noisy, 3))
    # eta = 1 takes exactly the ancestral step (same noise draws in the same order)
    torch.testing.assert_close(run(DDIMSampler(30, eta=1.0, progress=False), 5), run(ddpm, 5), rtol=1e-9, atol=1e-9)


def test_states_stay_on_their_space():
    g = torch.Generator().manual_seed(2)
    torus = GaussianDiffusion(Torus(), "cosine", timesteps=200)
    shrink = lambda x, t, cond=None, mask=None: 0.3 * x  # noqa: E731
    x = DDPMSampler(20, progress=False).sample(shrink, torus, (256, 4), generator=g).x
    assert (x >= -math.pi).all() and (x < math.pi).all()

    com = GaussianDiffusion(ZeroCoM(), "cosine", prediction="x0")
    mask = torch.arange(6)[None, :] < torch.tensor([[3], [6], [4]])
    for sampler in (DDPMSampler(10, progress=False), DDIMSampler(10, eta=0.3, progress=False)):
        out = sampler.sample(lambda x, t, cond=None, mask=None: x + 1.0, com, (3, 6, 3), mask=mask, generator=g).x
        assert out[~mask].abs().max() == 0
        centre = (out * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        assert centre.abs().max() < 1e-5


def test_errors():
    with pytest.raises(IncompatibleSampler, match="'ddpm' needs a process with 'gaussian_posterior'.*samplers that can drive it: categorical, ctmc$"):
        DDPMSampler(5, progress=False).sample(lambda *a, **k: None, CategoricalDiffusion(3), (2,))
    with pytest.raises(IncompatibleSampler, match="CategoricalDiffusion offers categorical_posterior"):
        DDIMSampler(5, progress=False).check(CategoricalDiffusion(3))
    proc = GaussianDiffusion(Euclidean(), timesteps=10)
    with pytest.raises(ValueError, match="exceeds"):
        DDPMSampler(11, progress=False).sample(exact_model(proc), proc, (2, 2))
