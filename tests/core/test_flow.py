"""Flow matching: paths and targets in closed form, weighted loss, and a 2D benchmark."""

import math

import pytest
import torch

from domains.points.toys import eight_gaussians, moons
from gensci.core.couplings import ExactOTCoupling, GibbsWeightedCoupling, IndependentCoupling, PairedCoupling
from gensci.core.flow import FlowMatching
from gensci.core.schedules import Schedule
from gensci.core.spaces import Torus, ZeroCoM
from gensci.core.transport import wasserstein2
from samplers.ode import EulerSampler
from tests.nets import seeded_model


class TrigSchedule(Schedule):
    """``alpha = sin(pi t / 2)``, ``sigma = cos(pi t / 2)`` (a VP path)."""

    def alpha(self, t):
        return torch.sin(math.pi * t / 2)

    def sigma(self, t):
        return torch.cos(math.pi * t / 2)

    def d_alpha(self, t):
        return math.pi / 2 * torch.cos(math.pi * t / 2)

    def d_sigma(self, t):
        return -math.pi / 2 * torch.sin(math.pi * t / 2)


def test_condot_path_and_target(generator):
    x0, x1 = torch.randn(8, 3, generator=generator), torch.randn(8, 3, generator=generator)
    t = torch.rand(8, generator=generator)
    c = FlowMatching().corrupt(x1, x0=x0, t=t, generator=generator)
    assert torch.allclose(c.x_t, t[:, None] * x1 + (1 - t[:, None]) * x0, atol=1e-6)
    assert torch.allclose(c.target, x1 - x0, atol=1e-6)
    assert torch.equal(c.t, t) and c.weight is None


def test_general_schedule_path_and_target(generator):
    x0, x1 = torch.randn(8, 2, generator=generator), torch.randn(8, 2, generator=generator)
    t = torch.rand(8, generator=generator)
    c = FlowMatching(schedule=TrigSchedule()).corrupt(x1, x0=x0, t=t)
    a, s = torch.sin(math.pi * t / 2)[:, None], torch.cos(math.pi * t / 2)[:, None]
    assert torch.allclose(c.x_t, a * x1 + s * x0, atol=1e-6)
    assert torch.allclose(c.target, math.pi / 2 * (s * x1 - a * x0), atol=1e-6)


@pytest.mark.parametrize("schedule", [None, TrigSchedule()])
def test_clean_estimate_inverts_the_path_given_the_conditional_velocity(generator, schedule):
    x0, x1 = torch.randn(8, 3, generator=generator), torch.randn(8, 3, generator=generator)
    t = 0.05 + 0.9 * torch.rand(8, generator=generator)
    process = FlowMatching(schedule=schedule)
    c = process.corrupt(x1, x0=x0, t=t)
    assert torch.allclose(process.clean_estimate(c.target, c.x_t, t), x1, atol=1e-5)
    # a velocity off by d moves the estimate by the path's factor: (1 - t) d on straight lines
    if schedule is None:
        d = torch.randn(8, 3, generator=generator)
        assert torch.allclose(process.clean_estimate(c.target + d, c.x_t, t), x1 + (1 - t)[:, None] * d, atol=1e-5)


def test_torus_geodesic_path_stays_wrapped(generator):
    fm = FlowMatching(space=Torus())
    x0, x1 = torch.tensor([[2.9, -1.0]]), torch.tensor([[-3.0, 1.0]])
    c = fm.corrupt(x1, x0=x0, t=torch.tensor([0.9]))
    arc = 2 * math.pi - 5.9  # the short way from 2.9 to -3.0 crosses pi
    assert torch.allclose(c.target, torch.tensor([[arc, 2.0]]), atol=1e-6)
    assert torch.allclose(c.x_t, torch.tensor([[2.9 + 0.9 * arc - 2 * math.pi, 0.8]]), atol=1e-5)
    x0, x1 = fm.prior((512, 4), generator=generator), 10 * torch.randn(512, 4, generator=generator)
    x1 = Torus().project(x1)
    c = fm.corrupt(x1, x0=x0, generator=generator)
    assert c.x_t.min() >= -math.pi and c.x_t.max() < math.pi
    assert torch.allclose(c.target, torch.remainder(x1 - x0 + math.pi, 2 * math.pi) - math.pi, atol=1e-6)
    with pytest.raises(ValueError, match="alpha \\+ sigma = 1"):
        FlowMatching(space=Torus(), schedule=TrigSchedule())


def test_zero_com_and_masks(generator):
    fm = FlowMatching(space=ZeroCoM())
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    x1 = ZeroCoM().project(torch.randn(2, 4, 3, generator=generator), mask)
    c = fm.corrupt(x1, mask=mask, generator=generator)
    assert torch.allclose((c.x_t * mask[..., None]).sum(1), torch.zeros(2, 3), atol=1e-5)
    assert torch.all(c.target[~mask] == 0)


def test_weighted_loss_and_forwarded_logs(generator):
    cp = GibbsWeightedCoupling(kappa=1.0)
    fm = FlowMatching(coupling=cp)
    x0, x1 = torch.randn(16, 2, generator=generator), torch.randn(16, 2, generator=generator)
    c = fm.corrupt(x1, x0=x0, generator=generator)
    pred = torch.randn(16, 2, generator=generator)
    loss, logs = fm.loss(pred, c)
    w = torch.exp(-(x0 - x1).norm(dim=1) / math.sqrt(2))
    expected = ((pred - (x1 - x0)).pow(2).mean(1) * w / w.mean()).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert "coupling/ess" in logs and "coupling/mean_weight" in logs


def test_smoothing_noise_has_std_sigma_min(generator):
    fm = FlowMatching(sigma_min=0.1)
    x0, x1 = torch.randn(20000, 2, generator=generator), torch.randn(20000, 2, generator=generator)
    t = torch.rand(20000, generator=generator)
    c = fm.corrupt(x1, x0=x0, t=t, generator=generator)
    resid = c.x_t - (t[:, None] * x1 + (1 - t[:, None]) * x0)
    assert resid.std().item() == pytest.approx(0.1, rel=0.03)
    assert torch.allclose(c.target, x1 - x0)


def test_same_seed_same_corruption_and_paired_needs_x0():
    fm = FlowMatching(coupling=ExactOTCoupling())
    x1 = torch.randn(32, 2, generator=torch.Generator().manual_seed(0))
    a = fm.corrupt(x1, generator=torch.Generator().manual_seed(3))
    b = fm.corrupt(x1, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a.x_t, b.x_t) and torch.equal(a.t, b.t)
    with pytest.raises(ValueError, match="paired x0"):
        FlowMatching(coupling=PairedCoupling()).corrupt(x1)
    assert fm.velocity(x1, x1, a.t) is x1


def _train_and_score(coupling, seed: int = 0, steps: int = 1200, batch: int = 256, euler_steps: int = 1) -> float:
    g = torch.Generator().manual_seed(seed)
    fm = FlowMatching(coupling=coupling)
    model = seeded_model(2, 2, hidden=64, seed=seed)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(steps):
        c = fm.corrupt(moons(batch, g), x0=eight_gaussians(batch, g), generator=g)
        loss, _ = fm.loss(model(c.x_t, c.t), c)
        opt.zero_grad()
        loss.backward()
        opt.step()
    ge = torch.Generator().manual_seed(123)
    x0, target = eight_gaussians(1000, ge), moons(1000, ge)
    x = EulerSampler(steps=euler_steps, progress=False).sample(model, fm, (1000, 2), x_init=x0).x
    return wasserstein2(x, target)


def test_ot_and_corrected_wcfm_are_straighter_than_icfm():
    """8 gaussians → moons at one Euler step: OT-CFM and W-CFM (marginal-corrected) beat I-CFM."""
    w_i = _train_and_score(IndependentCoupling())
    w_ot = _train_and_score(ExactOTCoupling())
    w_w = _train_and_score(GibbsWeightedCoupling(kappa=0.5, marginal_correction=20))
    print(f"W2 at 1 Euler step: I-CFM {w_i:.3f}, OT-CFM {w_ot:.3f}, W-CFM corrected {w_w:.3f}")
    assert w_ot < 0.5 * w_i
    assert w_w < 0.5 * w_i


@pytest.mark.slow
def test_marginal_correction_removes_the_wcfm_tilt():
    """At many Euler steps the naive W-CFM's tilted marginals show; the corrected weights fix them."""
    naive = _train_and_score(GibbsWeightedCoupling(kappa=0.5), steps=1500, euler_steps=100)
    corrected = _train_and_score(GibbsWeightedCoupling(kappa=0.5, marginal_correction=20), steps=1500, euler_steps=100)
    print(f"W2 at 100 Euler steps: naive W-CFM {naive:.3f}, corrected {corrected:.3f}")
    assert corrected < naive


@pytest.mark.parametrize("schedule", [None, TrigSchedule()])
def test_data_prediction_implies_the_conditional_velocity(generator, schedule):
    """Predicting x1 exactly gives back the conditional velocity, on straight and curved paths."""
    x0, x1 = torch.randn(8, 3, generator=generator), torch.randn(8, 3, generator=generator)
    t = 0.05 + 0.9 * torch.rand(8, generator=generator)
    process = FlowMatching(schedule=schedule, prediction="data")
    velocity = FlowMatching(schedule=schedule).corrupt(x1, x0=x0, t=t).target
    c = process.corrupt(x1, x0=x0, t=t)
    assert torch.equal(c.target, x1)
    assert torch.allclose(process.velocity(x1, c.x_t, t), velocity, atol=1e-5)
    assert torch.equal(process.clean_estimate(x1, c.x_t, t), x1)


def test_data_prediction_loss_is_the_velocity_loss_times_one_minus_t_squared(generator):
    x0, x1 = torch.randn(16, 3, generator=generator), torch.randn(16, 3, generator=generator)
    t = torch.full((16,), 0.7)
    data, vel = FlowMatching(prediction="data"), FlowMatching()
    pred = x1 + 0.1 * torch.randn(16, 3, generator=generator)
    c = data.corrupt(x1, x0=x0, t=t)
    cv = vel.corrupt(x1, x0=x0, t=t)
    loss_data, _ = data.loss(pred, c)
    loss_vel, _ = vel.loss(data.velocity(pred, c.x_t, t), cv)
    assert torch.allclose(loss_data, 0.3**2 * loss_vel, rtol=1e-5)


def test_data_prediction_on_the_torus_follows_the_remaining_arc(generator):
    torus = Torus()
    x0 = torus.project(4 * torch.randn(8, 2, generator=generator))
    x1 = torus.project(4 * torch.randn(8, 2, generator=generator))
    t = 0.1 + 0.8 * torch.rand(8, generator=generator)
    c = FlowMatching(space=torus).corrupt(x1, x0=x0, t=t)
    data = FlowMatching(space=torus, prediction="data")
    assert torch.allclose(data.velocity(x1, c.x_t, t), c.target, atol=1e-5)
    # a prediction one full turn away is the same angle: no loss
    loss, _ = data.loss(x1 + 2 * math.pi, data.corrupt(x1, x0=x0, t=t))
    assert loss.item() < 1e-10


def test_euler_with_data_prediction_lands_on_the_prediction():
    """Euler's last step from t = 1 - dt moves by dt (x1_hat - x) / (1 - t): onto x1_hat."""
    target = torch.tensor([[1.5, -2.0]])
    process = FlowMatching(prediction="data")
    model = lambda x, t, cond=None, mask=None: target.expand_as(x)  # noqa: E731
    out = EulerSampler(steps=7).sample(model, process, (5, 2), generator=torch.Generator().manual_seed(0)).x
    assert torch.allclose(out, target.expand(5, 2), atol=1e-5)


def test_prediction_is_checked():
    with pytest.raises(ValueError, match="prediction"):
        FlowMatching(prediction="x0")


@pytest.mark.parametrize("schedule", [None, TrigSchedule()])
def test_velocity_weighted_data_loss_equals_the_velocity_loss_below_the_cap(generator, schedule):
    x0, x1 = torch.randn(16, 3, generator=generator), torch.randn(16, 3, generator=generator)
    t = 0.1 + 0.6 * torch.rand(16, generator=generator)
    data = FlowMatching(schedule=schedule, prediction="data", velocity_weight_max=1e6)
    vel = FlowMatching(schedule=schedule)
    pred = x1 + 0.1 * torch.randn(16, 3, generator=generator)
    c = data.corrupt(x1, x0=x0, t=t)
    loss_vel, _ = vel.loss(data.velocity(pred, c.x_t, t), vel.corrupt(x1, x0=x0, t=t))
    assert torch.allclose(data.loss(pred, c)[0], loss_vel, rtol=1e-4)
    # capped: at t = 0.99 the straight-path factor 1e4 is cut to 10
    capped = FlowMatching(prediction="data", velocity_weight_max=10.0)
    c = capped.corrupt(x1, x0=x0, t=torch.full((16,), 0.99))
    plain = FlowMatching(prediction="data").loss(pred, c)[0]
    assert torch.allclose(capped.loss(pred, c)[0], 10 * plain, rtol=1e-5)
    with pytest.raises(ValueError, match="velocity_weight_max"):
        FlowMatching(velocity_weight_max=10.0)


@pytest.mark.parametrize("space", [None, Torus()])
def test_displacement_prediction_is_the_step_to_the_data(generator, space):
    x0, x1 = torch.randn(8, 3, generator=generator), torch.randn(8, 3, generator=generator)
    if space is not None:
        x0, x1 = space.project(3 * x0), space.project(3 * x1)
    t = 0.05 + 0.9 * torch.rand(8, generator=generator)
    process = FlowMatching(space=space, prediction="displacement")
    c = process.corrupt(x1, x0=x0, t=t)
    step = c.x_t + c.target
    assert torch.allclose(step if space is None else space.project(step), x1, atol=1e-5)
    assert torch.allclose(process.clean_estimate(c.target, c.x_t, t), x1, atol=1e-5)
    velocity = FlowMatching(space=space).corrupt(x1, x0=x0, t=t).target
    assert torch.allclose(process.velocity(c.target, c.x_t, t), velocity, atol=1e-4)
    # its loss is the data loss of the moved point
    pred = c.target + 0.1 * torch.randn(8, 3, generator=generator)
    data = FlowMatching(space=space, prediction="data")
    moved = c.x_t + pred if space is None else space.project(c.x_t + pred)
    assert torch.allclose(process.loss(pred, c)[0], data.loss(moved, data.corrupt(x1, x0=x0, t=t))[0], rtol=1e-4)
