"""The categorical sampler driven by the exact posterior of a product categorical law.

For data ``p(x1) = prod_n pi_n(x1_n)`` and token-wise corruption, the exact denoiser is
``p(x1_n | x_t) ∝ pi_n(x1_n) Qbar_t[x1_n, x_t,n]``; ancestral sampling through the exact
posterior is then exact at any step count, so the samples must reproduce ``pi``.
"""

import pytest
import torch

from gensci.core.categorical import CategoricalDiffusion
from gensci.core.gaussian import GaussianDiffusion
from gensci.core.spaces import Euclidean
from samplers.categorical import CategoricalSampler

PI = torch.tensor([[0.7, 0.1, 0.1, 0.1], [0.05, 0.05, 0.6, 0.3], [0.25, 0.25, 0.25, 0.25]], dtype=torch.float64)
M = torch.tensor([0.4, 0.3, 0.2, 0.1], dtype=torch.float64)


def exact_model(proc):
    """Logits of p(x1 | x_t) for the product law PI (rank-one U = 1 m^T, so
    Qbar_t[k, j] = kappa delta_kj + (1 - kappa) m_j)."""
    m = proc.transition.stationary

    def model(x, t, cond=None, mask=None):
        kappa = proc.kappa(t.double())[:, None, None]
        like = kappa * torch.nn.functional.one_hot(x, 4).double() + (1 - kappa) * m[x][..., None]
        return (PI.log()[None] + like.log()).float()

    return model


@pytest.mark.parametrize("transition", ["uniform", "marginal"])
def test_reproduces_product_distribution(transition):
    proc = CategoricalDiffusion(4, transition=transition, marginal=M, timesteps=500)
    n = 20000
    g = torch.Generator().manual_seed(0)
    x = CategoricalSampler(8, progress=False).sample(exact_model(proc), proc, (n, 3), generator=g).x
    assert x.dtype == torch.long and x.shape == (n, 3)
    for j in range(3):
        freq = torch.bincount(x[:, j], minlength=4).double() / n
        tv = 0.5 * (freq - PI[j]).abs().sum().item()
        chi2 = (n * (freq - PI[j]) ** 2 / PI[j]).sum().item()
        assert tv < 0.02 and chi2 < 16.3, (j, tv, chi2)  # chi2(3 dof) 0.999 quantile
    # tokens stay independent: the joint of the first two is the product
    joint = torch.bincount(x[:, 0] * 4 + x[:, 1], minlength=16).double().reshape(4, 4) / n
    assert 0.5 * (joint - PI[0][:, None] * PI[1][None]).abs().sum() < 0.03


def test_argmax_last_and_same_seed():
    proc = CategoricalDiffusion(4, timesteps=100)
    model = exact_model(proc)
    sampler = CategoricalSampler(1, argmax_last=True, progress=False)
    x = sampler.sample(model, proc, (50, 3), generator=torch.Generator().manual_seed(0)).x
    # one step from t = 0: p(x1 | x_0) ~ PI, so the argmax is each token's mode (ties -> first)
    assert torch.equal(x, PI.argmax(-1).expand(50, 3))
    draw = CategoricalSampler(5, progress=False)
    a = draw.sample(model, proc, (64, 3), generator=torch.Generator().manual_seed(9)).x
    b = draw.sample(model, proc, (64, 3), generator=torch.Generator().manual_seed(9)).x
    c = draw.sample(model, proc, (64, 3), generator=torch.Generator().manual_seed(10)).x
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_mask_and_type_check():
    proc = CategoricalDiffusion(4, transition="marginal", marginal=M, timesteps=50)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    out = CategoricalSampler(5, progress=False).sample(
        exact_model(proc), proc, (2, 3), mask=mask, generator=torch.Generator().manual_seed(0)
    )
    assert (out.x[~mask] == 0).all()
    with pytest.raises(TypeError, match="'categorical' needs a process with 'categorical_posterior'.*ddim, ddpm, euler, heun, midpoint, sde"):
        CategoricalSampler(3, progress=False).check(GaussianDiffusion(Euclidean()))
