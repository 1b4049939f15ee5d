"""Gaussian diffusion against closed forms: conversions, posterior, marginals, velocity, SDE."""

import math

import pytest
import torch

from gensci.core.gaussian import GaussianDiffusion
from gensci.core.schedules import CosineSchedule, LinearSchedule, PolynomialSchedule
from gensci.core.spaces import Categorical, Euclidean, Torus, ZeroCoM

F64 = torch.float64
KINDS = ("eps", "x0", "v")


def convert(proc, pred, src, dst, x_t, t):
    fn = {"eps": proc.to_eps, "x0": proc.to_x0, "v": proc.to_v}[dst]
    return fn(pred, x_t, t, kind=src)


def truth(proc, x1, eps, t):
    """(x_t, {kind: value}) for a known pair."""
    c = proc.corrupt(x1, t=t, x0=eps)
    alpha, sigma = proc.coefficients(t, x1)
    return c.x_t, {"eps": eps, "x0": c.x1, "v": alpha * eps - sigma * c.x1}


def gaussian_data_eps(mu, s2, proc):
    """Exact eps-prediction for data N(mu, s2 I): x1_hat = mu + alpha s2 (x - alpha mu) / (alpha^2 s2 + sigma^2)."""

    def model(x, t, cond=None, mask=None):
        a, s = proc.coefficients(t, x)
        x1_hat = mu + a * s2 * (x - a * mu) / (a**2 * s2 + s**2)
        return (x - a * x1_hat) / s

    return model


def _repredict(proc, eps_model, x, t):
    """The exact model's output in the process's own parameterisation."""
    return convert(proc, eps_model(x, t), "eps", proc.prediction, x, t)


@pytest.mark.parametrize(
    "schedule", [CosineSchedule(), LinearSchedule(), PolynomialSchedule()], ids=["cos", "lin", "poly"]
)
@pytest.mark.parametrize("space_name", ["euclidean", "zerocom"])
def test_conversions_exact_and_round_trip(schedule, space_name):
    g = torch.Generator().manual_seed(1)
    if space_name == "euclidean":
        space, shape, mask = Euclidean(), (64, 5), None
    else:
        space, shape = ZeroCoM(), (64, 7, 3)
        mask = torch.arange(7)[None, :] < torch.randint(2, 8, (64, 1), generator=g)
    proc = GaussianDiffusion(space, schedule)
    x1 = space.project(torch.randn(shape, generator=g, dtype=F64), mask)
    eps = space.noise(shape, generator=g, dtype=F64, mask=mask)
    t = torch.rand(64, generator=g, dtype=F64) * 0.9 + 0.05
    x_t, true = truth(proc, x1, eps, t)
    for src in KINDS:
        for dst in KINDS:
            torch.testing.assert_close(convert(proc, true[src], src, dst, x_t, t), true[dst], rtol=1e-9, atol=1e-9)
            back = convert(proc, convert(proc, true[src], src, dst, x_t, t), dst, src, x_t, t)
            torch.testing.assert_close(back, true[src], rtol=1e-9, atol=1e-9)


def test_conversions_on_torus_round_trip():
    g = torch.Generator().manual_seed(2)
    proc = GaussianDiffusion(Torus(), "cosine")
    n = 4000
    x1 = (torch.rand(n, 1, generator=g, dtype=F64) * 2 - 1) * math.pi
    eps = (torch.rand(n, 1, generator=g, dtype=F64) * 2 - 1) * 3.0  # |sigma eps| < pi
    t = torch.rand(n, generator=g, dtype=F64) * 0.98 + 0.01
    x_t, true = truth(proc, x1, eps, t)
    assert (x_t >= -math.pi).all() and (x_t < math.pi).all()
    alpha, sigma = proc.coefficients(t, x1)
    wound = ((alpha * x1 + sigma * eps).abs() >= math.pi).squeeze(1)
    assert wound.sum() > 100, "the test must cover states that wrapped"
    # eps <-> x0: exact through wrapped differences, wound or not
    for src, dst in [("eps", "x0"), ("x0", "eps")]:
        torch.testing.assert_close(convert(proc, true[src], src, dst, x_t, t), true[dst], rtol=1e-9, atol=1e-9)
    # v: exact where the unwrapped state alpha x1 + sigma eps lies in [-pi, pi)
    keep = ~wound
    xt, tk = x_t[keep], t[keep]
    for src in KINDS:
        for dst in KINDS:
            out = convert(proc, true[src][keep], src, dst, xt, tk)
            torch.testing.assert_close(out, true[dst][keep], rtol=1e-9, atol=1e-9)
            back = convert(proc, out, dst, src, xt, tk)
            torch.testing.assert_close(back, true[src][keep], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("schedule", ["cosine", "linear", "polynomial"])
def test_posterior_equals_bayes_on_a_grid(schedule):
    proc = GaussianDiffusion(Euclidean(), schedule)
    pairs = torch.tensor([[0.05, 0.3], [0.3, 0.35], [0.5, 0.9], [0.8, 0.99]], dtype=F64)
    t, s = pairs[:, 0], pairs[:, 1]
    x_t = torch.tensor([[0.7], [-1.2], [0.1], [2.0]], dtype=F64)
    x1 = torch.tensor([[1.5], [-0.4], [0.3], [1.9]], dtype=F64)
    mean, std = proc.posterior(x_t, x1, t, s)
    sched = proc.schedule
    for i in range(4):
        a_t, s_t, a_s, s_s = (float(f(v[i])) for v in (t, s) for f in (sched.alpha, sched.sigma))
        # q(x_s | x1) N(alpha_s x1, sigma_s^2); q(x_t | x_s) from the marginals' consistency
        a_ts, v_ts = a_t / a_s, s_t**2 - (a_t / a_s) ** 2 * s_s**2
        grid = torch.linspace(-12, 12, 400001, dtype=F64)
        logp = -0.5 * (x_t[i, 0] - a_ts * grid) ** 2 / v_ts - 0.5 * (grid - a_s * x1[i, 0]) ** 2 / s_s**2
        w = torch.softmax(logp, 0)
        m = (w * grid).sum()
        var = (w * (grid - m) ** 2).sum()
        assert mean[i, 0].item() == pytest.approx(m.item(), abs=1e-7)
        assert std[i, 0].item() ** 2 == pytest.approx(var.item(), rel=1e-5)


def test_posterior_equals_textbook_ddpm():
    T = 1000
    proc = GaussianDiffusion(Euclidean(), "cosine", timesteps=T)
    n = torch.arange(1, T + 1, dtype=F64)
    abar = lambda k: proc.schedule.alpha_bar(1 - k / T)  # noqa: E731
    ab_n, ab_prev = abar(n), abar(n - 1)
    beta = 1 - ab_n / ab_prev
    g = torch.Generator().manual_seed(3)
    x_n = torch.randn(T, 2, generator=g, dtype=F64)
    x1 = torch.randn(T, 2, generator=g, dtype=F64)
    mean, std = proc.posterior(x_n, x1, 1 - n / T, 1 - (n - 1) / T)
    c1 = (ab_prev.sqrt() * beta / (1 - ab_n))[:, None]
    cn = ((1 - beta).sqrt() * (1 - ab_prev) / (1 - ab_n))[:, None]
    torch.testing.assert_close(mean, c1 * x1 + cn * x_n, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(std[:, 0] ** 2, beta * (1 - ab_prev) / (1 - ab_n), rtol=1e-9, atol=1e-15)
    assert beta.max() < 1 and torch.isfinite(mean).all()


def test_forward_marginal_mean_and_variance():
    g = torch.Generator().manual_seed(4)
    proc = GaussianDiffusion(Euclidean(), "cosine")
    n, t0 = 20000, 0.4
    x1 = torch.tensor([1.0, -2.0, 0.5], dtype=F64).expand(n, 3)
    c = proc.corrupt(x1, t=torch.full((n,), t0, dtype=F64), generator=g)
    a, s = (float(f(torch.tensor(t0, dtype=F64))) for f in (proc.schedule.alpha, proc.schedule.sigma))
    se = s / math.sqrt(n)
    torch.testing.assert_close(c.x_t.mean(0), a * x1[0], rtol=0, atol=4 * se)
    torch.testing.assert_close(c.x_t.var(0), torch.full((3,), s**2, dtype=F64), rtol=0.05, atol=0)
    torch.testing.assert_close(c.target, c.x0)


def test_torus_forward_marginal_is_wrapped_normal():
    g = torch.Generator().manual_seed(5)
    proc = GaussianDiffusion(Torus(), "cosine", prediction="v")
    n, t0 = 40000, 0.3
    x1 = torch.full((n, 2), 2.8, dtype=F64)
    c = proc.corrupt(x1, t=torch.full((n,), t0, dtype=F64), generator=g)
    assert (c.x_t >= -math.pi).all() and (c.x_t < math.pi).all()
    a, s = (float(f(torch.tensor(t0, dtype=F64))) for f in (proc.schedule.alpha, proc.schedule.sigma))
    # E[exp(i x_t)] = exp(i alpha x1) exp(-sigma^2 / 2) for a wrapped normal
    emp = torch.complex(torch.cos(c.x_t), torch.sin(c.x_t)).mean(0)
    want = complex(math.cos(a * 2.8), math.sin(a * 2.8)) * math.exp(-(s**2) / 2)
    for z in emp:
        assert abs(complex(z) - want) < 4 / math.sqrt(n)


def test_zerocom_forward_keeps_zero_mean_with_mask():
    g = torch.Generator().manual_seed(6)
    proc = GaussianDiffusion(ZeroCoM(), "linear", prediction="x0")
    n, N, real = 20000, 5, 3
    mask = torch.arange(N)[None, :].expand(n, N) < real
    x1 = torch.randn(1, N, 3, generator=g, dtype=F64).expand(n, N, 3)
    t0 = 0.5
    c = proc.corrupt(x1, t=torch.full((n,), t0, dtype=F64), mask=mask, generator=g)
    assert c.x_t[:, real:].abs().max() == 0
    torch.testing.assert_close(c.x_t[:, :real].mean(1), torch.zeros(n, 3, dtype=F64), rtol=0, atol=1e-12)
    torch.testing.assert_close(c.target[:, :real].mean(1), torch.zeros(n, 3, dtype=F64), rtol=0, atol=1e-12)
    s = float(proc.schedule.sigma(torch.tensor(t0, dtype=F64)))
    # mean-free noise over 3 real points: per-coordinate variance sigma^2 (1 - 1/3)
    var = c.x_t[:, :real].var(0)
    torch.testing.assert_close(var, torch.full_like(var, s**2 * (1 - 1 / real)), rtol=0.06, atol=0)


@pytest.mark.parametrize("prediction", KINDS)
def test_velocity_and_sde_transport_gaussian_marginals(prediction):
    """For data N(mu, s2) the marginal is N(alpha mu, V), V = alpha^2 s2 + sigma^2: the PF
    velocity must be alpha' mu + V'/(2V) (x - alpha mu), and the SDE drift f = a x + b with
    diffusion g must satisfy m' = a m + b, V' = 2 a V + g^2 (Fokker-Planck)."""
    proc = GaussianDiffusion(Euclidean(), "cosine", prediction=prediction)
    mu, s2 = 1.5, 0.25
    eps_model = gaussian_data_eps(mu, s2, proc)
    t = torch.linspace(0.05, 0.95, 19, dtype=F64)
    x = torch.linspace(-2, 2, 19, dtype=F64)[:, None]
    pred = _repredict(proc, eps_model, x, t)
    sch = proc.schedule
    a, s, da, ds = (f(t)[:, None] for f in (sch.alpha, sch.sigma, sch.d_alpha, sch.d_sigma))
    V, dV = a**2 * s2 + s**2, 2 * a * da * s2 + 2 * s * ds
    want = da * mu + dV / (2 * V) * (x - a * mu)
    torch.testing.assert_close(proc.velocity(pred, x, t), want, rtol=1e-9, atol=1e-9)
    f_x, gg = proc.sde(pred, x, t)
    f1, _ = proc.sde(_repredict(proc, eps_model, x + 1, t), x + 1, t)
    slope = f1 - f_x
    intercept = f_x - slope * x
    m = a * mu
    torch.testing.assert_close(slope * m + intercept, da * mu, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(2 * slope * V + gg**2, dV, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(gg**2, 2 * da / a, rtol=1e-9, atol=1e-9)  # VP: g^2 = beta = 2 dlog(alpha)/dt


def test_loss_masked_and_wrapped():
    proc = GaussianDiffusion(Torus(), "cosine", prediction="x0", loss="mse")
    x1 = torch.tensor([[0.1, 0.2, 3.0], [1.0, -1.0, 0.0]])
    mask = torch.tensor([[True, True, False], [True, True, True]])
    c = proc.corrupt(x1, mask=mask, generator=torch.Generator().manual_seed(0))
    pred = c.target + 2 * math.pi  # the same angles
    pred[1, 0] += 0.5
    loss, logs = proc.loss(pred, c)
    # per-sample mean over real entries: sample 0 -> 0, sample 1 -> 0.25 / 3
    assert loss.item() == pytest.approx(0.5 * 0.25 / 3, rel=1e-5)
    huber = GaussianDiffusion(Euclidean(), prediction="eps", loss="smooth_l1", beta=0.1)
    c2 = huber.corrupt(torch.zeros(2, 2), generator=torch.Generator().manual_seed(0))
    diff = torch.tensor([[0.05, 1.0], [0.0, -2.0]])
    value, _ = huber.loss(c2.target + diff, c2)
    assert value.item() == pytest.approx(((0.5 * 0.05**2 / 0.1 + 0.95) / 2 + 1.95 / 2) / 2, rel=1e-5)
    assert set(logs) >= {"loss"}


def test_discrete_grid_times():
    proc = GaussianDiffusion(Euclidean(), "cosine", timesteps=100)
    t = proc.sample_time(1000, generator=torch.Generator().manual_seed(0))
    k = t * 100
    torch.testing.assert_close(k, k.round())
    assert t.min() >= 0 and t.max() <= 0.99
    grid = proc.time_grid(7)
    assert grid[0] == 0 and grid[-1] == 1 and len(grid) == 8 and (grid.diff() > 0).all()
    torch.testing.assert_close(grid * 100, (grid * 100).round())
    assert len(proc.time_grid(100)) == 101
    with pytest.raises(ValueError, match="exceeds"):
        proc.time_grid(101)


def test_construction_errors():
    with pytest.raises(TypeError):
        GaussianDiffusion(Categorical(3))
    with pytest.raises(ValueError, match="prediction"):
        GaussianDiffusion(Euclidean(), prediction="score")
    with pytest.raises(ValueError, match="alpha"):
        GaussianDiffusion(Euclidean(), "condot", t_min=0.0)
