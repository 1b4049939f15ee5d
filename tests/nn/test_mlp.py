"""VectorFieldMLP: the shared call shape, conditions, and that it learns."""

import io

import pytest
import torch

from gensci.nn.conditions import ConditionSpec
from gensci.nn.mlp import VectorFieldMLP

CONDS = [{"name": "label", "kind": "categorical", "num_classes": 2}, ConditionSpec("size", mean=1.0, std=0.5)]


def test_shapes_and_heads() -> None:
    m = VectorFieldMLP(3, hidden=32, depth=2, heads=2)
    out = m(torch.randn(5, 3), torch.rand(5), mask=None)
    assert out.shape == (5, 6)
    assert m(torch.randn(5, 3), torch.tensor(0.5)).shape == (5, 6)  # scalar time broadcasts


def test_time_matters_after_training_starts() -> None:
    torch.manual_seed(0)
    m = VectorFieldMLP(2, hidden=32, depth=2)
    x = torch.randn(4, 2)
    assert torch.equal(m(x, torch.zeros(4)), m(x, torch.ones(4)))  # FiLM starts at zero
    (m(x, torch.rand(4)) - 1).square().mean().backward()
    torch.optim.SGD(m.parameters(), lr=0.1).step()
    assert not torch.allclose(m(x, torch.zeros(4)), m(x, torch.ones(4)))


@pytest.mark.parametrize("training", [False, True])
def test_cond_none_equals_all_nan(training: bool) -> None:
    torch.manual_seed(0)
    m = VectorFieldMLP(2, hidden=32, conditions=CONDS, cond_dropout=0.5).train(training)
    x, t = torch.randn(6, 2), torch.rand(6)
    nan = {"label": torch.full((6,), float("nan")), "size": torch.full((6,), float("nan"))}
    m.generator = torch.Generator().manual_seed(0)
    assert torch.equal(m(x, t), m(x, t, cond=nan))


def test_unconditional_model_rejects_conditions() -> None:
    m = VectorFieldMLP(2, hidden=16)
    with pytest.raises(ValueError, match="unknown condition"):
        m(torch.randn(2, 2), torch.rand(2), cond={"label": torch.zeros(2)})
    with pytest.raises(ValueError, match="activation"):
        VectorFieldMLP(2, activation="swish2")


def test_dropout_generator_reproducible() -> None:
    torch.manual_seed(0)
    m = VectorFieldMLP(2, hidden=16, conditions=CONDS, cond_dropout=0.5).train()
    for p in m.film.parameters():  # let the conditions reach the output
        torch.nn.init.normal_(p, std=0.5)
    x, t = torch.randn(64, 2), torch.rand(64)
    cond = {"label": torch.randint(0, 2, (64,)).float(), "size": torch.rand(64)}
    outs = []
    for seed in (3, 3, 4):
        m.generator = torch.Generator().manual_seed(seed)
        outs.append(m(x, t, cond=cond))
    assert torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], outs[2])


def test_learns_a_conditional_regression() -> None:
    """Target: (1 + 2 label) * x * t; the class must come through the condition embedding."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    m = VectorFieldMLP(2, hidden=32, depth=3, conditions=CONDS[:1], cond_dropout=0.0)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    losses = []
    for _ in range(250):
        x, t = torch.randn(128, 2, generator=g), torch.rand(128, generator=g)
        label = torch.randint(0, 2, (128,), generator=g).float()
        target = (1 + 2 * label)[:, None] * x * t[:, None]
        loss = (m(x, t, cond={"label": label}) - target).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.2 * first
    m.eval()
    x = torch.ones(1, 2)
    t = torch.ones(1)
    y0 = m(x, t, cond={"label": torch.zeros(1)})
    y1 = m(x, t, cond={"label": torch.ones(1)})
    assert (y1 - y0).mean() > 1.0  # true difference is 2


def test_state_dict_and_specs_round_trip() -> None:
    m = VectorFieldMLP(2, hidden=16, conditions=CONDS, time_embedding="fourier").eval()
    buf = io.BytesIO()
    torch.save({"state": m.state_dict(), "conditions": m.conditions}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    m2 = VectorFieldMLP(2, hidden=16, conditions=ckpt["conditions"], time_embedding="fourier").eval()
    m2.load_state_dict(ckpt["state"])
    x, t = torch.randn(4, 2), torch.rand(4)
    cond = {"label": torch.tensor([0.0, 1.0, float("nan"), 1.0]), "size": torch.rand(4)}
    assert torch.equal(m(x, t, cond=cond), m2(x, t, cond=cond))
