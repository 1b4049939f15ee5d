"""ODE samplers integrate dx/dt = 3t^2 to exactly 1 at their order."""

import math

import pytest
import torch

from gensci.core.flow import FlowMatching
from gensci.core.process import Process
from gensci.core.spaces import Torus
from gensci.core.product import ProductProcess
from gensci.core.state import State
from samplers.ode import EulerSampler, HeunSampler, MidpointSampler, TwoStageSampler


def three_t_squared(x, t, cond=None, mask=None):
    return (3 * t.double() ** 2)[:, None].expand_as(x).to(x.dtype)


def integrate(sampler, n=4):
    x0 = torch.zeros(n, 1, dtype=torch.float64)
    return sampler.sample(three_t_squared, FlowMatching(), (n, 1), x_init=x0).x


@pytest.mark.parametrize("steps", [4, 10, 40])
def test_euler_and_heun_errors_are_the_quadrature_errors(steps):
    # left Riemann sum of 3t^2: 1 - (3N - 1) / (2N^2); trapezoid rule: 1 + 1 / (2N^2)
    # (to 1e-7: the time grid is float32)
    euler = integrate(EulerSampler(steps, progress=False))
    heun = integrate(HeunSampler(steps, progress=False))
    assert torch.allclose(euler, torch.full_like(euler, 1 - (3 * steps - 1) / (2 * steps**2)), atol=1e-7, rtol=0)
    assert torch.allclose(heun, torch.full_like(heun, 1 + 1 / (2 * steps**2)), atol=1e-7, rtol=0)
    # midpoint rule of 3t^2: 1 - 1 / (4N^2)
    midpoint = integrate(MidpointSampler(steps, progress=False))
    assert torch.allclose(midpoint, torch.full_like(midpoint, 1 - 1 / (4 * steps**2)), atol=1e-7, rtol=0)


def test_error_ratios_when_steps_double():
    err = {name: [] for name in ("euler", "heun", "midpoint")}
    for steps in (8, 16, 32):
        for make in (EulerSampler, HeunSampler, MidpointSampler):
            err[make.name].append(abs(integrate(make(steps, progress=False))[0, 0].item() - 1))
    for a, b in zip(err["euler"], err["euler"][1:]):
        assert a / b == pytest.approx(2.0, rel=0.06)  # first order
    for name in ("heun", "midpoint"):
        for a, b in zip(err[name], err[name][1:]):
            assert a / b == pytest.approx(4.0, rel=1e-5), name  # second order


def test_midpoint_never_calls_the_network_at_the_end():
    seen = []

    def singular(x, t, cond=None, mask=None):
        seen.append(t.clone())
        return torch.where((t >= 1)[:, None], torch.full_like(x, math.inf), three_t_squared(x, t))

    x = MidpointSampler(10, progress=False).sample(singular, FlowMatching(), (2, 1),
                                                   x_init=torch.zeros(2, 1, dtype=torch.float64)).x
    assert len(seen) == 20 and max(float(t.max()) for t in seen) == pytest.approx(0.95)
    assert torch.allclose(x, torch.full_like(x, 1 - 1 / 400), atol=1e-7, rtol=0)

    # final_euler: the midpoint rule on [0, 0.9], then one Euler step from 0.9 on the velocity there
    seen.clear()
    y = MidpointSampler(10, progress=False, final_euler=True).sample(
        singular, FlowMatching(), (2, 1), x_init=torch.zeros(2, 1, dtype=torch.float64)).x
    expected = 0.9**3 - 9 * 0.1**3 / 4 + 0.1 * 3 * 0.9**2
    assert len(seen) == 19 and torch.allclose(y, torch.full_like(y, expected), atol=1e-7, rtol=0)


def test_midpoint_stays_second_order_on_a_bent_field_clock():
    # field "b" runs on tau = t^2: the half step of t is the half step of tau up to O(h^2)
    proc = ProductProcess({"a": FlowMatching(), "b": FlowMatching()}, time_maps={"b": 2.0})

    def model(x, t, cond=None, mask=None):
        tau = t.double() ** 2
        return State(a=(3 * t.double() ** 2)[:, None].expand_as(x["a"]).to(x["a"].dtype),
                     b=(3 * tau**2)[:, None].expand_as(x["b"]).to(x["b"].dtype))

    errors = []
    for steps in (16, 32, 64):
        x0 = State(a=torch.zeros(2, 1, dtype=torch.float64), b=torch.zeros(2, 1, dtype=torch.float64))
        out = MidpointSampler(steps, progress=False).sample(model, proc, None, x_init=x0).x
        assert torch.allclose(out["a"], torch.full_like(out["a"], 1 - 1 / (4 * steps**2)), atol=1e-7, rtol=0)
        errors.append(abs(out["b"][0, 0].item() - 1))
    for a, b in zip(errors, errors[1:]):
        assert a / b == pytest.approx(4.0, rel=0.05)


def test_heun_final_euler_and_singular_velocity():
    steps, h = 10, 0.1
    # trapezoid on [0, 1 - h], then one Euler step from 1 - h
    expected = (1 - h) ** 3 + h**2 * (1 - h) / 2 + h * 3 * (1 - h) ** 2
    forced = HeunSampler(steps, progress=False, final_euler=True)
    x = forced.sample(three_t_squared, FlowMatching(), (2, 1), x_init=torch.zeros(2, 1, dtype=torch.float64)).x
    assert torch.allclose(x, torch.full_like(x, expected), atol=1e-7, rtol=0)

    def singular(x, t, cond=None, mask=None):
        v = three_t_squared(x, t)
        return torch.where((t >= 1)[:, None], torch.full_like(v, math.inf), v)

    x_init = torch.zeros(2, 1, dtype=torch.float64)
    y = HeunSampler(steps, progress=False).sample(singular, FlowMatching(), (2, 1), x_init=x_init).x
    assert torch.allclose(y, x, atol=1e-7, rtol=0)


def test_torus_states_stay_wrapped():
    fm = FlowMatching(space=Torus())

    def spin(x, t, cond=None, mask=None):
        return torch.full_like(x, 7.0)

    x0 = torch.tensor([[3.0, -3.0]])
    for sampler in (EulerSampler(13, progress=False), HeunSampler(13, progress=False), MidpointSampler(13, progress=False)):
        res = sampler.sample(spin, fm, (1, 2), x_init=x0, return_trajectory=True)
        path = torch.stack(res.trajectory)
        assert path.min() >= -math.pi and path.max() < math.pi
        expected = torch.remainder(x0 + 7.0 + math.pi, 2 * math.pi) - math.pi
        assert torch.allclose(res.x, expected, atol=1e-5)


def test_same_seed_same_samples_and_check():
    model = lambda x, t, cond=None, mask=None: -x  # noqa: E731
    s = EulerSampler(5, progress=False)
    a = s.sample(model, FlowMatching(), (8, 2), generator=torch.Generator().manual_seed(1)).x
    b = s.sample(model, FlowMatching(), (8, 2), generator=torch.Generator().manual_seed(1)).x
    assert torch.equal(a, b)

    class NoVelocity(Process):
        def corrupt(self, x1, **kw):
            raise AssertionError("a sampler never trains")

        def loss(self, prediction, c):
            raise AssertionError("a sampler never trains")

    with pytest.raises(TypeError, match="'heun' needs a process with 'velocity' and NoVelocity offers none; samplers that can drive it: none"):
        HeunSampler(progress=False).check(NoVelocity())
    assert EulerSampler.name == "euler" and HeunSampler.name == "heun" and MidpointSampler.name == "midpoint"
    # each name is registered by its own class, not by a base that inherits it
    from samplers.base import Sampler
    assert Sampler.registry["euler"] is EulerSampler and Sampler.registry["midpoint"] is MidpointSampler
    assert TwoStageSampler not in Sampler.registry.values()
    assert EulerSampler(progress=False).steps == EulerSampler.default_steps
