"""Desirability transforms against hand-computed values."""

import math

import numpy as np
import pytest
import torch

from gensci.errors import GensciError
from gensci.inverse.transforms import DoubleSigmoid, Identity, ReverseSigmoid, Sigmoid, Step, make_transform


def test_sigmoid_is_one_percent_at_low_and_99_percent_at_high():
    s = Sigmoid(0.2, 0.4)
    np.testing.assert_allclose(s(np.array([0.2, 0.3, 0.4])), [0.01, 0.5, 0.99], atol=1e-12)
    # by hand: k = ln 99, x = 0.35 -> 1 / (1 + exp(-ln99 * 0.05 / 0.1)) = 1 / (1 + 99^-0.5)
    assert s(np.array([0.35]))[0] == pytest.approx(1 / (1 + 99 ** -0.5))


def test_reverse_sigmoid_mirrors_and_torch_agrees():
    r = ReverseSigmoid(0.5, 2.5)
    x = np.array([0.5, 1.5, 2.5, 3.0])
    np.testing.assert_allclose(r(x), 1 - Sigmoid(0.5, 2.5)(x))
    np.testing.assert_allclose(r.torch(torch.as_tensor(x)).numpy(), r(x), atol=1e-12)


def test_step_window_and_open_bounds():
    np.testing.assert_array_equal(Step(0.3, 0.5)(np.array([0.2, 0.3, 0.4, 0.5, 0.6])), [0, 1, 1, 1, 0])
    np.testing.assert_array_equal(Step(low=1.0)(np.array([0.0, 1.0, 9.0])), [0, 1, 1])
    assert math.isnan(Step(high=1.0)(np.array([np.nan]))[0])
    assert Step(0, 1).torch(torch.zeros(2)) is None


def test_double_sigmoid_half_at_edges_one_inside():
    d = DoubleSigmoid(0.0, 10.0, width=1.0)
    v = d(np.array([0.0, 5.0, 10.0, -3.0]))
    assert v[0] == pytest.approx(0.5, abs=1e-6) and v[2] == pytest.approx(0.5, abs=1e-6)
    assert v[1] == pytest.approx(1.0, abs=1e-6) and v[3] < 1e-5


def test_identity_rejects_values_outside_unit_interval():
    np.testing.assert_array_equal(Identity()(np.array([0.0, 0.7])), [0.0, 0.7])
    with pytest.raises(GensciError, match="sigmoid"):
        Identity()(np.array([1.5]))


def test_make_transform_from_names_and_dicts():
    assert isinstance(make_transform(None), Identity)
    assert isinstance(make_transform({"name": "sigmoid", "low": 0, "high": 1}), Sigmoid)
    with pytest.raises(GensciError, match="unknown transform"):
        make_transform("cubic")
    with pytest.raises(GensciError, match="low < high"):
        make_transform({"name": "sigmoid", "low": 1, "high": 1})


def test_log_desirability_matches_and_keeps_its_gradient_in_the_tails():
    x = torch.linspace(-2.0, 3.0, 11, dtype=torch.float64)
    for t in (Sigmoid(0.0, 1.0), ReverseSigmoid(0.0, 1.0), DoubleSigmoid(0.0, 1.0, width=0.5), Identity()):
        v = x.clamp(0.01, 1.0) if isinstance(t, Identity) else x
        np.testing.assert_allclose(t.log_torch(v).numpy(), np.log(t.torch(v).numpy()), rtol=1e-7, atol=1e-12)
    assert Step(0, 1).log_torch(x) is None
    # far in the tail d underflows in float32, yet d/dx log d = k / half (ln 99 / 0.5) stays
    for t, at, slope in ((Sigmoid(0.0, 1.0), -50.0, 2 * math.log(99)), (ReverseSigmoid(0.0, 1.0), 50.0, -2 * math.log(99))):
        v = torch.tensor([at], requires_grad=True)
        assert float(t.torch(v.detach())) < 1e-30
        (grad,) = torch.autograd.grad(t.log_torch(v).sum(), v)
        assert float(grad) == pytest.approx(slope, rel=1e-5)
