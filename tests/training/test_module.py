"""The learning-rate schedule of GenerativeModule: warm-up, constant middle, linear anneal."""

import pytest

from gensci.training.module import lr_factor


def test_constant_without_phases():
    assert [lr_factor(s) for s in (0, 10, 10_000)] == [1.0, 1.0, 1.0]


def test_warmup_is_linear_then_flat():
    assert lr_factor(0, warmup_steps=4) == pytest.approx(0.25)
    assert lr_factor(2, warmup_steps=4) == pytest.approx(0.75)
    assert lr_factor(3, warmup_steps=4) == 1.0
    assert lr_factor(50, warmup_steps=4) == 1.0


def test_anneal_is_linear_to_zero_at_the_last_step():
    total, anneal = 100, 20
    assert lr_factor(79, anneal_steps=anneal, total_steps=total) == 1.0
    assert lr_factor(80, anneal_steps=anneal, total_steps=total) == 1.0
    assert lr_factor(90, anneal_steps=anneal, total_steps=total) == pytest.approx(0.5)
    assert lr_factor(99, anneal_steps=anneal, total_steps=total) == pytest.approx(0.05)
    assert lr_factor(100, anneal_steps=anneal, total_steps=total) == 0.0
    # both phases multiply
    assert lr_factor(90, warmup_steps=200, anneal_steps=anneal, total_steps=total) == pytest.approx(91 / 200 * 0.5)
    # without a total the anneal is off
    assert lr_factor(90, anneal_steps=anneal) == 1.0
