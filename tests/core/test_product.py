"""The product process against closed forms and against its single-field processes."""

import math

import pytest
import torch

from gensci.core.categorical import CategoricalDiffusion
from gensci.core.couplings import ExactOTCoupling
from gensci.core.flow import FlowMatching
from gensci.core.guidance import Guidance, GuidedModel, cfg_linear, cfg_probability
from gensci.core.product import PowerTime, ProductProcess
from gensci.core.spaces import ZeroCoM
from gensci.core.state import State
from gensci.errors import IncompatibleSampler
from samplers.categorical import CategoricalSampler
from samplers.ddpm import DDPMSampler
from samplers.ode import EulerSampler, HeunSampler, MidpointSampler

N, K = 5, 4
MARGINAL = torch.tensor([0.4, 0.3, 0.2, 0.1])


def molecule_like(power: float = 2.0, weights=None) -> ProductProcess:
    return ProductProcess(
        {"pos": FlowMatching(ZeroCoM()), "types": CategoricalDiffusion(K, transition="marginal", marginal=MARGINAL, timesteps=None)},
        weights=weights, time_maps={"types": power},
    )


def data(n: int) -> State:
    pos = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.5, 0.0], [0.0, -0.5, 1.0], [0.5, 0.5, -0.5], [-0.5, -0.5, -0.5]])
    pos = pos - pos.mean(0)
    types = torch.tensor([0, 1, 2, 3, 1])
    return State(pos=pos.expand(n, N, 3).clone(), types=types.expand(n, N).clone())


def test_each_field_has_the_marginal_of_its_own_process():
    n, t0 = 40000, 0.6
    proc = molecule_like(power=2.0)
    x1 = data(n)
    c = proc.corrupt(x1, generator=torch.Generator().manual_seed(0), t=torch.full((n,), t0))
    # positions: x_t = t x1 + (1 - t) x0, x0 ~ N(0, I) projected to zero mean: Var = (1-t)^2 (N-1)/N
    pos = c.x_t["pos"]
    assert torch.allclose(pos.mean(0), t0 * x1["pos"][0], atol=0.01)
    assert abs(pos.var(0).mean().item() - (1 - t0) ** 2 * (N - 1) / N) < 0.004
    # types at tau = t^2: P(x_t = x1) = kappa + (1 - kappa) m[x1], P(x_t = j != x1) = (1 - kappa) m[j]
    cat = proc.fields["types"]
    kappa = float(cat.kappa(torch.tensor(t0**2)))
    assert float(proc.field_time("types", torch.tensor(t0))) == pytest.approx(t0**2)
    for slot, cls in enumerate(x1["types"][0].tolist()):
        freq = torch.bincount(c.x_t["types"][:, slot], minlength=K).double() / n
        expected = (1 - kappa) * MARGINAL.double()
        expected[cls] += kappa
        assert torch.allclose(freq, expected, atol=0.01), (slot, freq, expected)
    # and the single-field process at tau gives the same law
    alone = cat.corrupt(x1["types"], generator=torch.Generator().manual_seed(1), t=torch.full((n,), t0**2))
    assert torch.allclose(torch.bincount(alone.x_t[:, 0], minlength=K).double() / n,
                          torch.bincount(c.x_t["types"][:, 0], minlength=K).double() / n, atol=0.012)


def test_given_time_and_source_the_fields_are_the_single_field_corruptions():
    proc = molecule_like(power=1.0)
    x1 = data(8)
    g = torch.Generator().manual_seed(3)
    t = torch.rand(8, generator=g)
    x0 = State(pos=ZeroCoM().noise((8, N, 3), generator=g), types=torch.randint(0, K, (8, N), generator=g))
    c = proc.corrupt(x1, generator=torch.Generator().manual_seed(4), t=t, x0=x0)
    alone = FlowMatching(ZeroCoM()).corrupt(x1["pos"], t=t, x0=x0["pos"])
    assert torch.equal(c.x_t["pos"], alone.x_t) and torch.equal(c.target["pos"], alone.target)


def test_the_loss_is_the_weighted_sum_of_the_field_losses():
    proc = molecule_like(weights={"pos": 3.0, "types": 0.5})
    c = proc.corrupt(data(16), generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    pred = State(pos=torch.randn(16, N, 3, generator=g), types=torch.randn(16, N, K, generator=g))
    total, logs = proc.loss(pred, c)
    pos_loss, _ = proc.fields["pos"].loss(pred["pos"], c.parts["pos"])
    type_loss, type_logs = proc.fields["types"].loss(pred["types"], c.parts["types"])
    assert torch.allclose(total, 3.0 * pos_loss + 0.5 * type_loss)
    assert torch.allclose(logs["types/accuracy"], type_logs["accuracy"]) and "pos/loss" in logs
    with pytest.raises(ValueError, match="lacks fields"):
        proc.loss(State(pos=pred["pos"]), c)


class FieldModel:
    """A conditional model of records: fixed functions of (x, t, cond) per field."""

    def __init__(self):
        g = torch.Generator().manual_seed(7)
        self.w = torch.randn(3, 3, generator=g)
        self.logit_table = torch.randn(K, K, generator=g)

    def pos(self, x, t, cond):
        shift = torch.zeros(x.shape[0]) if cond is None else torch.nan_to_num(cond["c"], nan=0.0)
        return x @ self.w * 0.1 - x + shift[:, None, None]

    def types(self, x, t, cond):
        shift = torch.zeros(x.shape[0]) if cond is None else torch.nan_to_num(cond["c"], nan=0.0)
        return self.logit_table[x] + shift[:, None, None] * torch.arange(K)

    def __call__(self, x, t, cond=None, mask=None):
        return State(pos=self.pos(x["pos"], t, cond), types=self.types(x["types"], t, cond))


def test_guidance_mixes_each_field_in_its_own_space():
    proc = molecule_like()
    model = FieldModel()
    x = proc.prior({"pos": (6, N, 3), "types": (6, N)}, generator=torch.Generator().manual_seed(0))
    t = torch.full((6,), 0.4)
    cond = {"c": torch.tensor([1.0, 2.0, float("nan"), 0.5, -1.0, 3.0])}
    uncond = model(x, t, None)
    at_zero = GuidedModel(model, Guidance(0.0), proc.guidance_space)(x, t, cond)
    assert at_zero == uncond  # scale 0 is the unconditional model, every field exactly
    guided = GuidedModel(model, Guidance(2.0), proc.guidance_space)(x, t, cond)
    c = model(x, t, cond)
    assert torch.allclose(guided["pos"], cfg_linear(c["pos"], uncond["pos"], 2.0), atol=1e-6)
    assert torch.allclose(guided["types"], cfg_probability(c["types"], uncond["types"], 2.0), atol=1e-6)


def test_samplers_step_each_field_by_its_own_rule():
    proc = molecule_like(power=1.0)
    model = FieldModel()
    x_init = proc.prior({"pos": (5, N, 3), "types": (5, N)}, generator=torch.Generator().manual_seed(0))
    for sampler in (EulerSampler(8, progress=False), HeunSampler(8, progress=False), MidpointSampler(8, progress=False)):
        out = sampler.sample(model, proc, None, x_init=x_init, generator=torch.Generator().manual_seed(1)).x
        pos_alone = type(sampler)(8, progress=False).sample(
            lambda x, t, cond=None, mask=None: model.pos(x, t, cond), proc.fields["pos"], None, x_init=x_init["pos"]).x
        jumps = 16 if sampler.name == "midpoint" else 8  # the midpoint rule jumps at every half step
        types_alone = CategoricalSampler(jumps, progress=False).sample(
            lambda x, t, cond=None, mask=None: model.types(x, t, cond), proc.fields["types"], None,
            x_init=x_init["types"], generator=torch.Generator().manual_seed(1)).x
        assert torch.allclose(out["pos"], pos_alone, atol=1e-6), sampler.name
        assert torch.equal(out["types"], types_alone), sampler.name
        assert out["pos"].mean(dim=1).abs().max() < 1e-5  # ZeroCoM kept
    traj = EulerSampler(4, progress=False).sample(model, proc, {"pos": (2, N, 3), "types": (2, N)},
                                                  return_trajectory=True, generator=torch.Generator().manual_seed(0))
    assert len(traj.trajectory) == 5 and isinstance(traj.trajectory[0], State)


def test_a_sampler_that_cannot_drive_a_field_says_which_can():
    proc = molecule_like()
    with pytest.raises(IncompatibleSampler, match=r"field 'pos' \(FlowMatching\) offers velocity; samplers that can drive it: euler, heun, langevin, midpoint$"):
        DDPMSampler(5, progress=False).check(proc)
    with pytest.raises(IncompatibleSampler, match="'categorical' needs .*field 'pos'"):
        CategoricalSampler(5, progress=False).check(proc)


def test_a_record_coupling_pairs_whole_records_by_their_continuous_fields():
    torch.manual_seed(0)
    proc = ProductProcess({"pos": FlowMatching(ZeroCoM()), "types": CategoricalDiffusion(K, timesteps=None)},
                          coupling=ExactOTCoupling())
    g = torch.Generator().manual_seed(2)
    x1 = State(pos=ZeroCoM().noise((32, N, 3), generator=g) * 3, types=torch.randint(0, K, (32, N), generator=g))
    draws = State(pos=ZeroCoM().noise((32, N, 3), generator=g), types=torch.randint(0, K, (32, N), generator=g))
    c = proc.corrupt(x1, generator=g, x0=draws)
    chosen = c.parts["pos"].x0
    # the paired sources are the draws, reordered, at no more cost than the given order
    order = torch.cdist(chosen.reshape(32, -1), draws["pos"].reshape(32, -1)).argmin(dim=1)
    assert sorted(order.tolist()) == list(range(32))
    cost = lambda a: (a - x1["pos"]).pow(2).sum()  # noqa: E731
    assert cost(chosen) < cost(draws["pos"])
    assert "coupling/cost" in c.logs


def test_bad_products_are_refused():
    with pytest.raises(ValueError, match="unknown fields"):
        ProductProcess({"pos": FlowMatching()}, weights={"types": 1.0})
    with pytest.raises(ValueError, match="power > 0"):
        PowerTime(0.0)
    with pytest.raises(ValueError, match="needs a State with fields"):
        molecule_like().corrupt(torch.zeros(3, 2))
    assert math.isclose(float(PowerTime(0.5)(torch.tensor(0.25))), 0.5)


def test_gaussian_fields_take_ddpm_ddim_and_sde_steps_beside_categorical_jumps():
    from gensci.core.gaussian import GaussianDiffusion
    from samplers.ddim import DDIMSampler
    from samplers.sde import EulerMaruyamaSampler

    proc = ProductProcess({"pos": GaussianDiffusion(ZeroCoM()), "types": CategoricalDiffusion(K, timesteps=None)})
    model = FieldModel()
    x_init = proc.prior({"pos": (5, N, 3), "types": (5, N)}, generator=torch.Generator().manual_seed(0))
    for make in (DDPMSampler, DDIMSampler, EulerMaruyamaSampler):
        out = make(6, progress=False).sample(model, proc, None, x_init=x_init, generator=torch.Generator().manual_seed(2)).x
        pos_alone = make(6, progress=False).sample(
            lambda x, t, cond=None, mask=None: model.pos(x, t, cond), proc.fields["pos"], None, x_init=x_init["pos"],
            generator=torch.Generator().manual_seed(2)).x
        scale = out["pos"].abs().max()  # the toy model is no denoiser: states grow large
        assert out["pos"].mean(dim=1).abs().max() < 1e-6 * scale, make.name
        assert out["types"].dtype == torch.long and int(out["types"].max()) < K
        if make is DDIMSampler:  # deterministic: the field moves exactly as it does alone
            assert torch.allclose(out["pos"], pos_alone, atol=1e-6)
