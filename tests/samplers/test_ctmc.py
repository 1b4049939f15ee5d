"""The CTMC sampler of discrete flow matching on mixture-path processes (samplers/ctmc.py)."""

from __future__ import annotations

import pytest
import torch

from gensci.core.categorical import CategoricalDiffusion
from gensci.core.flow import FlowMatching
from gensci.core.guidance import Guidance
from gensci.core.mixture_path import euler_jump_probs, mixture_rates
from gensci.core.product import ProductProcess
from gensci.core.spaces import Euclidean
from gensci.errors import GensciError, IncompatibleSampler
from samplers.ctmc import DiscreteFlowSampler
from samplers.grids import DISTORTIONS

K = 4
MARGINAL = torch.tensor([0.5, 0.25, 0.15, 0.10])
TARGETS = torch.tensor([[0.70, 0.10, 0.10, 0.10],
                        [0.05, 0.05, 0.10, 0.80],
                        [0.25, 0.25, 0.25, 0.25]])  # one target law per dimension


def oracle(process: CategoricalDiffusion, targets: torch.Tensor):
    """The exact ``log p(x1 | x_t)`` of a factorised target: ``pi(x1) q(x_t | x1)``."""

    def model(x, t, cond=None, mask=None):
        law = targets if cond is None or "swap" not in cond else targets.flip(-1)
        kappa = process.kappa(t.double()).reshape(-1, 1, 1)
        # like[b, d, x1] = q(x_t = x[b, d] | x1) = kappa delta + (1 - kappa) m[x_t]
        like = kappa * (x[..., None] == torch.arange(K)).double() + (1 - kappa) * MARGINAL.double()[x][..., None]
        return (law.double()[None].log() + like.log()).float()

    return model


def chi_square_ok(samples: torch.Tensor, expected: torch.Tensor) -> None:
    """Counts per dimension against ``expected`` (D, K): chi-square below the 0.999 quantile (df 3: 16.3)."""
    n = samples.shape[0]
    for d in range(samples.shape[1]):
        counts = torch.bincount(samples[:, d], minlength=K).double()
        e = n * expected[d].double()
        chi2 = float(((counts - e) ** 2 / e).sum())
        assert chi2 < 16.3, (d, counts.tolist(), e.tolist(), chi2)


def single_context_flux(tau: float, eta: float, omega: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``sum_x p(x) R(x -> j) - p(j) sum_k R(j -> k)`` and ``dp/dtau`` for one context."""
    laws = MARGINAL[None].double()
    clean = torch.tensor([2])
    p = tau * torch.eye(K, dtype=torch.float64)[2] + (1 - tau) * MARGINAL.double()
    onehot = torch.eye(K, dtype=torch.float64)  # every current class at once
    rates = mixture_rates(onehot, torch.ones(K, 1, dtype=torch.float64), clean, laws, torch.tensor(tau), eta, omega)
    flux = p @ rates - p * rates.sum(-1)
    return flux, torch.eye(K, dtype=torch.float64)[2] - MARGINAL.double()


@pytest.mark.parametrize("eta", [0.0, 0.7])
def test_rates_solve_the_kolmogorov_equation(eta):
    for tau in (0.0, 0.3, 0.9):
        flux, dp = single_context_flux(tau, eta, 0.0)
        assert torch.allclose(flux, dp, atol=1e-12)


def test_target_guidance_biases_the_path():
    flux, dp = single_context_flux(0.3, 0.0, 1.0)
    assert not torch.allclose(flux, dp, atol=1e-3)
    assert flux[2] > dp[2]  # more mass flows into the clean class


def test_rates_nonnegative_and_jump_rows_are_distributions():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, K, (64,), generator=g)
    onehot = torch.nn.functional.one_hot(x, K).double()
    weights = torch.rand(64, 6, generator=g, dtype=torch.float64)
    weights = weights / weights.sum(-1, keepdim=True)
    laws = torch.rand(6, K, generator=g, dtype=torch.float64)
    laws[0, 1] = 0.0  # a law with a zero class: some contexts cannot produce x = 1
    laws = laws / laws.sum(-1, keepdim=True)
    clean = torch.tensor([0, 1, 2, 3, 0, 1])
    for eta, omega in [(0.0, 0.0), (2.0, 0.0), (0.0, 3.0)]:
        rates = mixture_rates(onehot, weights, clean, laws, torch.tensor(0.6), eta, omega)
        assert (rates >= 0).all() and torch.isfinite(rates).all()
        assert (rates * onehot).abs().max() == 0  # no rate to the current class
        for dtau in (1e-3, 0.4, 50.0):
            probs = euler_jump_probs(onehot, rates, torch.tensor(dtau))
            assert (probs >= -1e-12).all()
            assert torch.allclose(probs.sum(-1), torch.ones(64, dtype=torch.float64))


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_oracle_chain_reproduces_the_target(eta):
    process = CategoricalDiffusion(K, transition="marginal", marginal=MARGINAL, timesteps=None)
    sampler = DiscreteFlowSampler(steps=100, distortion="identity", eta=eta, progress=False)
    g = torch.Generator().manual_seed(1)
    res = sampler.sample(oracle(process, TARGETS), process, (4000, 3), generator=g, return_trajectory=True)
    chi_square_ok(res.x, TARGETS)
    # the chain itself follows q_t = kappa_t pi + (1 - kappa_t) m, not only its last draw
    for k in (40, 90):
        kappa = float(process.kappa(res.times[k]))
        chi_square_ok(res.trajectory[k], kappa * TARGETS + (1 - kappa) * MARGINAL)


def test_guidance_goes_through_the_engine():
    process = CategoricalDiffusion(K, transition="marginal", marginal=MARGINAL, timesteps=None)
    sampler = DiscreteFlowSampler(steps=40, progress=False)
    cond = {"swap": torch.ones(3000)}
    out = {}
    for scale in (0.0, 1.0):
        g = torch.Generator().manual_seed(2)
        out[scale] = sampler.sample(oracle(process, TARGETS), process, (3000, 3), cond=cond,
                                    guidance=Guidance(scale=scale), generator=g).x
    chi_square_ok(out[0.0], TARGETS)
    chi_square_ok(out[1.0], TARGETS.flip(-1))


def test_distortions_are_grids_in_flow_time_on_the_T_grid():
    process = CategoricalDiffusion(K, transition="marginal", marginal=MARGINAL, timesteps=500)
    for name in DISTORTIONS:
        grid = DiscreteFlowSampler(steps=10, distortion=name).time_grid(process)
        assert float(grid[0]) == 0.0 and float(grid[-1]) == 1.0 and (grid[1:] > grid[:-1]).all()
        assert torch.allclose(grid * 500, (grid * 500).round(), atol=1e-3)  # on the T grid


def test_polydec_puts_small_flow_steps_near_the_data():
    process = CategoricalDiffusion(K, transition="marginal", marginal=MARGINAL, timesteps=None)
    tau = process.kappa(DiscreteFlowSampler(steps=10, distortion="polydec").time_grid(process))
    steps = tau[1:] - tau[:-1]
    assert steps[-1] < steps[0] / 5


def test_continuous_fields_and_bad_options_are_refused():
    with pytest.raises(IncompatibleSampler):
        DiscreteFlowSampler(steps=4).check(FlowMatching(Euclidean()))
    both = ProductProcess({"x": FlowMatching(Euclidean()),
                           "c": CategoricalDiffusion(K, transition="marginal", marginal=MARGINAL)})
    with pytest.raises(IncompatibleSampler, match="'x'"):
        DiscreteFlowSampler(steps=4).check(both)
    with pytest.raises(GensciError, match="distortion"):
        DiscreteFlowSampler(distortion="sigmoid")
    with pytest.raises(GensciError, match="eta"):
        DiscreteFlowSampler(eta=-1.0)


def test_posterior_rule_on_a_distorted_grid_keeps_the_target():
    process = CategoricalDiffusion(K, transition="marginal", marginal=MARGINAL, timesteps=None)
    sampler = DiscreteFlowSampler(steps=5, distortion="polydec", rule="posterior", progress=False)
    g = torch.Generator().manual_seed(4)
    res = sampler.sample(oracle(process, TARGETS), process, (4000, 3), generator=g, return_trajectory=True)
    chi_square_ok(res.x, TARGETS)  # the exact posterior is exact at any step size
    kappa = float(process.kappa(res.times[2]))
    chi_square_ok(res.trajectory[2], kappa * TARGETS + (1 - kappa) * MARGINAL)
    with pytest.raises(GensciError, match="rule"):
        DiscreteFlowSampler(rule="tau-leap")
