import math

import numpy as np
import pytest
import torch

from gensci.core.guidance import Guidance, GuidedModel, cfg_linear, cfg_probability, tcfg


class ToyConditional(torch.nn.Module):
    """pred = W x + t + e(cond) with a distinct null embedding for NaN / None."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = torch.randn(3, 3, generator=g)
        self.emb = torch.randn(3, 3, generator=g)  # rows: class 0, class 1, null
        self.calls = 0

    def forward(self, x, t, cond=None, mask=None):
        self.calls += 1
        idx = torch.full((x.shape[0],), 2, dtype=torch.long)
        if cond is not None:
            lab = cond["label"]
            idx = torch.where(torch.isnan(lab), idx, lab.nan_to_num(0).long())
        return x @ self.w + t[:, None] + self.emb[idx]


def test_linear_cfg_endpoints_and_extrapolation():
    g = torch.Generator().manual_seed(0)
    c, u = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    assert torch.equal(cfg_linear(c, u, 0.0), u)
    assert torch.equal(cfg_linear(c, u, 1.0), c)
    # (1 - s) u + s c and u + s (c - u) round differently in float32; near zero the
    # difference is absolute, so the tolerance is too
    assert torch.allclose(cfg_linear(c, u, 3.0), u + 3 * (c - u), atol=1e-6)
    # the failing draw of an unseeded run: an extrapolated value near zero
    c, u = torch.tensor([0.2746]), torch.tensor([0.4121])
    assert torch.allclose(cfg_linear(c, u, 3.0), u + 3 * (c - u), atol=1e-6)


@pytest.mark.parametrize("s", [0.0, 0.5, 1.0, 2.5])
def test_probability_cfg_is_the_normalised_geometric_mix(s):
    c, u = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    out = cfg_probability(c, u, s).exp()
    pc, pu = c.softmax(-1), u.softmax(-1)
    mix = pu ** (1 - s) * pc**s
    assert torch.allclose(out, mix / mix.sum(-1, keepdim=True))
    assert torch.allclose(out.sum(-1), torch.ones(5, dtype=torch.float64))


def test_tcfg_keeps_only_the_dominant_direction_of_the_unconditional_branch():
    g = torch.Generator().manual_seed(1)
    c = torch.randn(6, 8, generator=g, dtype=torch.float64)
    u = torch.randn(6, 8, generator=g, dtype=torch.float64)
    out = tcfg(c, u, 2.0)
    for i in range(6):
        _, _, vh = np.linalg.svd(np.stack([c[i].numpy(), u[i].numpy()]), full_matrices=False)
        v1 = vh[0]
        u_proj = (u[i].numpy() @ v1) * v1
        np.testing.assert_allclose(out[i].numpy(), u_proj + 2.0 * (c[i].numpy() - u_proj), atol=1e-10)
    # when both branches are parallel nothing is damped: TCFG equals CFG
    assert torch.allclose(tcfg(c, 0.5 * c, 3.0), cfg_linear(c, 0.5 * c, 3.0), atol=1e-10)
    assert torch.allclose(tcfg(c, u, 1.0), c)


def _inputs(n=6):
    x = torch.randn(n, 3, generator=torch.Generator().manual_seed(2))
    t = torch.rand(n, generator=torch.Generator().manual_seed(3))
    return x, t, {"label": torch.tensor([0.0, 1.0] * (n // 2))}


def test_scale_zero_is_exactly_the_unconditional_model():
    model = ToyConditional()
    x, t, cond = _inputs()
    out = GuidedModel(model, Guidance(scale=0.0))(x, t, cond)
    assert torch.equal(out, model(x, t, None))
    nan_cond = {"label": torch.full((6,), math.nan)}
    assert torch.equal(model(x, t, nan_cond), model(x, t, None))


def test_guided_batch_equals_the_two_branches_combined():
    model = ToyConditional()
    x, t, cond = _inputs()
    model.calls = 0
    out = GuidedModel(model, Guidance(scale=2.0))(x, t, cond)
    assert model.calls == 1, "both branches run as one batch"
    expected = model(x, t, None) + 2.0 * (model(x, t, cond) - model(x, t, None))
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.equal(GuidedModel(model, Guidance(scale=1.0))(x, t, cond), model(x, t, cond))
    assert torch.equal(GuidedModel(model, None)(x, t, cond), model(x, t, cond))


def test_prior_swap_takes_the_unconditional_branch_from_another_model():
    model, prior = ToyConditional(), ToyConditional()
    with torch.no_grad():
        prior.emb.mul_(-3.0)
    x, t, cond = _inputs()
    out = GuidedModel(model, Guidance(scale=1.5, unconditional_model=prior))(x, t, cond)
    expected = prior(x, t, None) + 1.5 * (model(x, t, cond) - prior(x, t, None))
    assert torch.allclose(out, expected, atol=1e-6)


def test_bad_guidance_specs_are_refused():
    with pytest.raises(ValueError, match="unknown guidance method"):
        Guidance(method="apg")
    with pytest.raises(ValueError, match="TCFG"):
        GuidedModel(ToyConditional(), Guidance(method="tcfg"), space="probability")


def test_outside_the_interval_the_conditional_model_runs_alone_at_half_the_batch():
    model = ToyConditional()
    x, _, cond = _inputs()
    t = torch.full((6,), 0.1)
    model.calls = 0
    seen = []
    counting = lambda x, t, cond=None, mask=None: seen.append(x.shape[0]) or model(x, t, cond, mask)  # noqa: E731
    out = GuidedModel(counting, Guidance(scale=2.0, interval=(0.3, 0.8)))(x, t, cond)
    assert seen == [6], "one call on the conditional half only"
    assert torch.equal(out, model(x, t, cond))


def test_inside_the_interval_it_is_full_guidance_and_the_ends_are_inside():
    model = ToyConditional()
    x, _, cond = _inputs()
    for time in (0.3, 0.55, 0.8):
        t = torch.full((6,), time)
        limited = GuidedModel(model, Guidance(scale=2.0, interval=(0.3, 0.8)))(x, t, cond)
        assert torch.equal(limited, GuidedModel(model, Guidance(scale=2.0))(x, t, cond))


def test_rows_straddling_the_interval_are_guided_row_by_row():
    model = ToyConditional()
    x, _, cond = _inputs()
    t = torch.tensor([0.0, 0.2, 0.4, 0.6, 0.9, 1.0])
    out = GuidedModel(model, Guidance(scale=3.0, interval=(0.25, 0.75)))(x, t, cond)
    c, u = model(x, t, cond), model(x, t, None)
    expected = torch.where(torch.tensor([False, False, True, True, False, False])[:, None], u + 3.0 * (c - u), c)
    assert torch.allclose(out, expected, atol=1e-6)
    # scale 0 inside the interval is the unconditional model there, still conditional outside
    out = GuidedModel(model, Guidance(scale=0.0, interval=(0.25, 0.75)))(x, t, cond)
    assert torch.allclose(out[2:4], u[2:4], atol=1e-6) and torch.allclose(out[[0, 1, 4, 5]], c[[0, 1, 4, 5]], atol=1e-6)


def test_the_interval_applies_to_every_field_of_a_record_in_its_own_space():
    from gensci.core.state import State

    model = ToyConditional()

    def record(x, t, cond=None, mask=None):
        out = model(x, t, cond, mask)
        return State(pos=out, types=out * 2.0)

    x, _, cond = _inputs()
    t = torch.tensor([0.1, 0.5, 0.5, 0.9, 0.5, 0.1])
    guided = GuidedModel(record, Guidance(scale=2.0, interval=(0.4, 0.6)), space={"pos": "linear", "types": "probability"})
    out = guided(x, t, cond)
    c, u = record(x, t, cond), record(x, t, None)
    inside = torch.tensor([False, True, True, False, True, False])
    assert torch.allclose(out["pos"][inside], (u["pos"] + 2.0 * (c["pos"] - u["pos"]))[inside], atol=1e-6)
    assert torch.equal(out["pos"][~inside], c["pos"][~inside])
    assert torch.allclose(out["types"][inside], cfg_probability(c["types"], u["types"], 2.0)[inside], atol=1e-6)
    assert torch.equal(out["types"][~inside], c["types"][~inside])  # the conditional logits, as the model gave them


@pytest.mark.parametrize("bad", [(0.8, 0.2), (-0.1, 0.5), (0.2, 1.5), "0.2", "a,b", (0.1, 0.2, 0.3), 0.5])
def test_bad_intervals_are_refused_in_words(bad):
    with pytest.raises(ValueError, match="guidance interval"):
        Guidance(scale=2.0, interval=bad)


def test_an_interval_reads_from_a_string():
    assert Guidance(scale=2.0, interval="0.2, 0.7").interval == (0.2, 0.7)


def test_a_grid_time_an_ulp_off_an_end_is_still_inside():
    t = torch.tensor([0.7, 0.7, 0.6999], dtype=torch.float32)
    t[1] = torch.nextafter(t[1], torch.tensor(0.0))  # one float32 ulp below 0.7
    assert Guidance(scale=2.0, interval=(0.7, 1.0)).inside(t).tolist() == [True, True, False]
