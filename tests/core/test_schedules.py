"""Schedules against closed forms: derivatives, variance preservation, endpoints."""

import math

import pytest
import torch

from gensci.core.schedules import (
    CondOTSchedule,
    CosineSchedule,
    LinearSchedule,
    PolynomialSchedule,
    MoleculePolynomialSchedule,
    VPSchedule,
    make_schedule,
)

SCHEDULES = [CosineSchedule(), LinearSchedule(), PolynomialSchedule(), MoleculePolynomialSchedule(), CondOTSchedule()]
IDS = ["cosine", "linear", "polynomial", "molecule_polynomial", "condot"]


@pytest.mark.parametrize("sched", SCHEDULES, ids=IDS)
def test_derivatives_match_finite_differences(sched):
    t = torch.linspace(0.02, 0.98, 97, dtype=torch.float64)
    h = 1e-6
    for f, df in [(sched.alpha, sched.d_alpha), (sched.sigma, sched.d_sigma)]:
        fd = (f(t + h) - f(t - h)) / (2 * h)
        torch.testing.assert_close(df(t), fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("sched", SCHEDULES[:3], ids=IDS[:3])
def test_variance_preserving(sched):
    assert isinstance(sched, VPSchedule)
    t = torch.linspace(0.0, 1.0, 1001, dtype=torch.float64)
    a, s = sched.alpha(t), sched.sigma(t)
    torch.testing.assert_close(a**2 + s**2, torch.ones_like(t), rtol=0, atol=1e-12)
    torch.testing.assert_close(sched.alpha_bar(t), a**2)
    assert torch.isfinite(sched.log_snr(t[:-1])).all()
    assert (sched.log_snr(t[1:-1]).diff() > 0).all(), "SNR must increase towards the data"
    assert torch.isfinite(sched.d_alpha(t)).all()


def test_cosine_closed_form_and_endpoints():
    sched = CosineSchedule(s=0.008)
    t = torch.linspace(0.1, 1.0, 10, dtype=torch.float64)
    tau = 1 - t
    expected = torch.cos((tau + 0.008) / 1.008 * math.pi / 2) ** 2 / math.cos(0.008 / 1.008 * math.pi / 2) ** 2
    torch.testing.assert_close(sched.alpha_bar(t), expected)
    one = torch.ones(1, dtype=torch.float64)
    assert sched.alpha(one).item() == 1.0 and sched.sigma(one).item() == 0.0
    zero = torch.zeros(1, dtype=torch.float64)
    # floored, never exactly zero: alpha(0) = sqrt(1e-8)
    assert sched.alpha(zero).item() == pytest.approx(1e-4)
    assert sched.d_alpha(zero).item() == 0.0 and sched.d_sigma(zero).item() == 0.0
    # float32 keeps sigma accurate near the data (no 1 - alpha_bar cancellation)
    t32 = torch.tensor([1 - 1e-5, 1 - 1e-4])
    torch.testing.assert_close(sched.sigma(t32).double(), sched.sigma(t32.double()), rtol=1e-4, atol=0)


def test_linear_closed_form_and_endpoints():
    sched = LinearSchedule(0.1, 20.0)
    t = torch.tensor([0.0, 0.3, 1.0], dtype=torch.float64)
    tau = 1 - t
    expected = torch.exp(-(0.1 * tau + 19.9 * tau**2 / 2))
    torch.testing.assert_close(sched.alpha_bar(t), expected)
    assert sched.alpha_bar(t[:1]).item() == pytest.approx(math.exp(-10.05))
    torch.testing.assert_close(sched.beta(t), 0.1 + 19.9 * tau)


def test_polynomial_edm_levels():
    sched = PolynomialSchedule(0.002, 80.0, 7.0)
    ends = torch.tensor([0.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(sched.sigma_edm(ends), torch.tensor([80.0, 0.002], dtype=torch.float64))
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    se = sched.sigma_edm(t)
    torch.testing.assert_close(sched.sigma(t) / sched.alpha(t), se)  # x_t / alpha = x1 + sigma_edm x0
    fd = (sched.sigma_edm(t[1:-1] + 1e-6) - sched.sigma_edm(t[1:-1] - 1e-6)) / 2e-6
    torch.testing.assert_close(sched.d_sigma_edm(t[1:-1]), fd, rtol=1e-6, atol=1e-6)


def test_make_schedule():
    assert isinstance(make_schedule("cosine"), CosineSchedule)
    assert isinstance(make_schedule("linear", beta_max=10.0), LinearSchedule)
    assert isinstance(make_schedule("polynomial"), PolynomialSchedule)
    assert isinstance(make_schedule("condot"), CondOTSchedule)
    inst = CosineSchedule()
    assert make_schedule(inst) is inst
    with pytest.raises(ValueError, match="cosine.*linear|condot"):
        make_schedule("sigmoid")


def test_molecule_polynomial_matches_hoogeboom_closed_form():
    """alpha_bar(tau) = (1 - 2s)(1 - tau^2)^2 + s; at tau = 0.5: (1 - 2e-5) 0.5625 + 1e-5."""
    sched = MoleculePolynomialSchedule()
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    expect = torch.tensor([1e-5, (1 - 2e-5) * 0.5625 + 1e-5, 1 - 1e-5], dtype=torch.float64)
    assert torch.allclose(sched.alpha_bar(t), expect, atol=1e-12)
    assert torch.allclose(sched.alpha_bar(t) + sched.one_minus_alpha_bar(t), torch.ones(3, dtype=torch.float64))
    assert isinstance(make_schedule("molecule_polynomial"), MoleculePolynomialSchedule)
