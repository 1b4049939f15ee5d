"""The Langevin-corrected Euler sampler keeps the flow's marginals (Gaussian data, exact x̂_1)."""

import pytest
import torch

from gensci.core.flow import FlowMatching
from gensci.core.spaces import Torus
from samplers.langevin import LangevinEulerSampler
from samplers.ode import EulerSampler

MU, S = 1.5, 0.4  # data N(MU, S^2) in each coordinate; source N(0, 1), independent coupling


def exact_clean(x, t, cond=None, mask=None):
    """E[x_1 | x_t] for x_t = t x_1 + (1 - t) x_0: Gaussian conditioning, written out."""
    tb = t.to(x.dtype)[:, None]
    var_t = tb**2 * S**2 + (1 - tb) ** 2
    return MU + tb * S**2 * (x - tb * MU) / var_t


def run(sampler, n=20000, seed=0):
    process = FlowMatching(prediction="data")
    return sampler.sample(exact_clean, process, (n, 2), x_init=torch.randn(n, 2, dtype=torch.float64,
                          generator=torch.Generator().manual_seed(seed)),
                          generator=torch.Generator().manual_seed(seed + 1), return_trajectory=True)


@pytest.mark.parametrize("eta", [1.0, 4.0])
def test_marginals_along_the_path_and_at_the_data(eta):
    steps = 200
    res = run(LangevinEulerSampler(steps, progress=False, noise=eta))
    for k in (50, 100, 150):
        t = k / steps
        mean, std = res.trajectory[k].mean(0), res.trajectory[k].std(0)
        assert torch.allclose(mean, torch.full_like(mean, t * MU), atol=0.03), (t, mean)
        assert torch.allclose(std, torch.full_like(std, (t**2 * S**2 + (1 - t) ** 2) ** 0.5), rtol=0.03), (t, std)
    assert torch.allclose(res.x.mean(0), torch.full((2,), MU, dtype=torch.float64), atol=0.02)
    assert torch.allclose(res.x.std(0), torch.full((2,), S, dtype=torch.float64), rtol=0.03)


def test_the_correction_forgets_a_wrong_start():
    """Started from N(0, 2^2) instead of the source, the ODE carries the error to the data; the
    Langevin chain pulls the spread back toward the path's."""
    n, steps = 20000, 200
    x0 = 2.0 * torch.randn(n, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    process = FlowMatching(prediction="data")
    ode = EulerSampler(steps, progress=False).sample(exact_clean, process, (n, 2), x_init=x0).x
    sde = LangevinEulerSampler(steps, progress=False, noise=4.0).sample(
        exact_clean, process, (n, 2), x_init=x0, generator=torch.Generator().manual_seed(4)).x
    assert abs(ode.std().item() - S) > 0.15  # the ODE keeps the error
    assert abs(sde.std().item() - S) < 0.03


def test_zero_noise_is_the_euler_step_and_seeding_repeats():
    euler = run(EulerSampler(20, progress=False), n=64)
    zero = run(LangevinEulerSampler(20, progress=False, noise=0.0), n=64)
    assert torch.equal(euler.x, zero.x)
    a, b = (run(LangevinEulerSampler(20, progress=False, noise=1.0), n=64, seed=5) for _ in range(2))
    assert torch.equal(a.x, b.x)


def test_refuses_what_it_cannot_drive():
    assert not LangevinEulerSampler.drives(FlowMatching(space=Torus()))
    assert LangevinEulerSampler.drives(FlowMatching())
    with pytest.raises(ValueError, match="noise"):
        LangevinEulerSampler(noise=-1.0)


def test_the_refusal_says_what_it_needs():
    from gensci.errors import IncompatibleSampler

    with pytest.raises(IncompatibleSampler, match="'langevin' needs flow matching on an affine path off the torus"):
        LangevinEulerSampler(progress=False).check(FlowMatching(space=Torus()))
