"""Given (context) fields in a product process, and paired starts through training and sampling."""

from __future__ import annotations

import pytest
import torch

from gensci.core.bridge import SchrodingerBridge
from gensci.core.context import Context
from gensci.core.product import ProductProcess
from gensci.core.spaces import Categorical, ZeroCoM
from gensci.core.state import State
from gensci.domain import Batch, BatchDataset
from gensci.training.objective import ProcessObjective
from samplers.ode import EulerSampler
from samplers.sde import EulerMaruyamaSampler


def _process(t_eps: float = 1e-3) -> ProductProcess:
    return ProductProcess({"pos": SchrodingerBridge(sigma=0.2, space=ZeroCoM(), coupling="paired", t_eps=t_eps),
                           "types": Context(Categorical(3))})


def _pair(b: int = 4, n: int = 5, seed: int = 0) -> tuple[State, State, dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    atoms = torch.ones(b, n, dtype=torch.bool)
    atoms[0, -2:] = False
    mask = {"pos": atoms, "types": atoms}
    x1 = ZeroCoM().project(torch.randn(b, n, 3, generator=g), atoms)
    x0 = ZeroCoM().project(x1 + 0.3 * torch.randn(b, n, 3, generator=g), atoms)
    types = torch.randint(0, 3, (b, n), generator=g) * atoms
    return State(pos=x0, types=types), State(pos=x1, types=types.clone()), mask


def test_context_field_is_the_data_at_every_time_and_costs_nothing():
    x0, x1, mask = _pair()
    process = _process()
    c = process.corrupt(x1, x0=x0, mask=mask, generator=torch.Generator().manual_seed(1))
    assert torch.equal(c.x_t["types"], x1["types"])
    # the network predicts only the generated field; the loss is the bridge's alone
    pred = State(pos=torch.zeros(4, 5, 6))
    total, logs = process.loss(pred, c)
    alone, _ = process.fields["pos"].loss(pred["pos"], c.parts["pos"])
    assert torch.allclose(total, alone)
    assert "types/loss" not in logs


def test_context_field_refuses_a_prior_and_a_start_that_differs():
    process = _process()
    with pytest.raises(ValueError, match="no prior"):
        process.prior({"pos": (2, 3, 3), "types": (2, 3)})
    x0, x1, mask = _pair()
    x0["types"][1, 0] = (x1["types"][1, 0] + 1) % 3
    with pytest.raises(ValueError, match="same values"):
        process.corrupt(x1, x0=x0, mask=mask)


def test_bridge_marginals_at_the_ends_are_the_paired_endpoints():
    x0, x1, mask = _pair()
    process = _process(t_eps=1e-6)
    near0 = process.corrupt(x1, x0=x0, mask=mask, t=torch.zeros(4), generator=torch.Generator().manual_seed(2))
    near1 = process.corrupt(x1, x0=x0, mask=mask, t=torch.ones(4), generator=torch.Generator().manual_seed(2))
    # std at t_eps is sigma * sqrt(t_eps (1 - t_eps)) = 2e-4, plus the mean's t_eps shift
    assert (near0.x_t["pos"] - x0["pos"]).abs().max() < 2e-3
    assert (near1.x_t["pos"] - x1["pos"]).abs().max() < 2e-3


def test_training_takes_the_batch_paired_start():
    x0, x1, mask = _pair()
    data = BatchDataset(x1, mask=mask, x0=x0)
    batch = data.__getitems__([0, 2])
    assert torch.equal(batch.x0["pos"], x0["pos"][[0, 2]])
    seen = {}

    class Recorder(torch.nn.Module):
        def forward(self, x_t, t, cond=None, mask=None):
            seen["x_t"], seen["t"] = x_t, t
            return State(pos=torch.zeros(x_t["pos"].shape[:-1] + (6,)))

    class NoSource:
        def source(self, n, generator=None):
            raise AssertionError("a paired batch must not draw a source")

    ProcessObjective(_process(), NoSource()).loss(Recorder(), batch, torch.Generator().manual_seed(0))
    t = seen["t"][:, None, None]
    mean = (1 - t) * batch.x0["pos"] + t * batch.x["pos"]
    # x_t lies within a few bridge standard deviations of the paired interpolation
    std = 0.2 * torch.sqrt(t * (1 - t))
    assert ((seen["x_t"]["pos"] - mean).abs() <= 6 * std + 1e-6).all()
    assert isinstance(Batch(x=x1, x0=x0).to("cpu").x0, State)


@pytest.mark.parametrize("sampler", [EulerSampler(steps=4, progress=False), EulerMaruyamaSampler(steps=4, progress=False)])
def test_samplers_keep_context_and_follow_the_exact_velocity(sampler):
    """With the exact paired velocity ``(x1 - x_t) / (1 - t)`` (and no score), the ODE lands on
    ``x1``; the context field never changes."""
    x0, x1, mask = _pair()
    target = x1["pos"]

    def exact(x_t, t, cond=None, mask=None):
        v = (target - x_t["pos"]) / (1 - t)[:, None, None].clamp_min(1e-6)
        return State(pos=torch.cat([v, torch.zeros_like(v)], dim=-1))

    process = ProductProcess({"pos": SchrodingerBridge(sigma=1e-3, space=ZeroCoM(), coupling="paired"),
                              "types": Context(Categorical(3))})
    out = sampler.sample(exact, process, {"pos": (4, 5, 3), "types": (4, 5)}, mask=mask, x_init=x0,
                         generator=torch.Generator().manual_seed(0)).x
    assert torch.equal(out["types"], x0["types"])
    assert (out["pos"] - target).abs().max() < 0.05


def test_a_domain_clean_loss_is_added_on_the_predicted_clean_sample():
    """With ``clean_loss_weight > 0`` the objective adds the domain's loss of ``x̂_1``: for the
    conditional velocity ``x̂_1`` is the data, so a loss of ``|x̂_1 - x_1|^2`` adds nothing;
    a velocity off by ``d`` adds ``(1 - t)^2 d^2`` on top of the flow loss ``d^2``."""
    from gensci.core.couplings import PairedCoupling
    from gensci.core.flow import FlowMatching

    x0, x1, mask = _pair()
    process = ProductProcess({"pos": FlowMatching(space=ZeroCoM(), coupling=PairedCoupling()),
                              "types": Context(Categorical(3))})
    batch = Batch(x=x1, mask=mask, x0=x0)
    seen: dict[str, torch.Tensor] = {}

    class Domain:
        clean_loss_weight = 2.0

        def clean_loss(self, x1_hat, b):
            seen["x1_hat"] = x1_hat["pos"]
            err = (x1_hat["pos"] - b.x["pos"]).pow(2).mean()
            return err, {"err": err.detach()}

    def network(offset: float):
        def call(x_t, t, cond=None, mask=None):
            v = (x1["pos"] - x_t["pos"]) / (1 - t)[:, None, None]
            return State(pos=v + offset)
        return call

    objective = ProcessObjective(process, Domain())
    exact, logs = objective.loss(network(0.0), batch, torch.Generator().manual_seed(0))
    assert exact.abs() < 1e-8 and "clean/err" in logs
    assert torch.allclose(seen["x1_hat"], x1["pos"], atol=1e-5)
    off, logs = objective.loss(network(0.1), batch, torch.Generator().manual_seed(0))
    t = torch.rand(4, generator=torch.Generator().manual_seed(0))  # the objective's own draw of t
    expected = 0.01 * (1 + 2.0 * ((1 - t) ** 2).mean())
    assert float(off) == pytest.approx(float(expected), rel=0.05)
