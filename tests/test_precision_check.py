"""The bf16 check's within-noise rule, on figures worked by hand."""

import math

import pytest

from gensci.errors import GensciError
from gensci.precision_check import band, compare, within_noise


def test_a_rate_may_move_two_binomial_standard_errors_and_half_a_point():
    # p = 0.9, n = 100: 2 sqrt(0.09 / 100) + 0.005 = 0.06 + 0.005
    assert band("rate", 0.9, 100) == pytest.approx(0.065)
    assert within_noise("rate", 0.9, 0.84, 100)
    assert within_noise("rate", 0.9, 0.965, 100)
    assert not within_noise("rate", 0.9, 0.83, 100)
    # a rate at 1 has no binomial spread: only the half point is left
    assert band("rate", 1.0, 500) == pytest.approx(0.005)
    assert within_noise("rate", 1.0, 0.996, 500) and not within_noise("rate", 1.0, 0.994, 500)
    # more samples, a narrower band: p = 0.5, n = 400 gives 2 * 0.025 + 0.005
    assert band("rate", 0.5, 400) == pytest.approx(0.055)


def test_a_distance_may_move_ten_percent_of_its_float32_figure():
    assert band("relative", 1.2, 10) == pytest.approx(0.12)
    assert within_noise("relative", 1.2, 1.31, 10) and not within_noise("relative", 1.2, 1.33, 10)
    assert within_noise("relative", 0.004, 0.0036, 10) and not within_noise("relative", 0.004, 0.0045, 10)


def test_a_figure_missing_in_one_run_is_a_change():
    assert not within_noise("relative", 1.0, math.nan, 10)
    assert not within_noise("rate", math.nan, 0.5, 10)


def test_the_verdict_needs_every_checked_metric_and_ignores_the_rest():
    fp32 = {"validity_nc": 0.92, "uniqueness": 1.0, "fcd": 1.0, "novelty": 0.5}
    close = {"validity_nc": 0.91, "uniqueness": 0.998, "fcd": 1.05, "novelty": 0.1}
    unchanged, per_metric = compare(fp32, close, 500)
    assert unchanged and set(per_metric) == {"validity_nc", "uniqueness", "fcd"}
    assert per_metric["fcd"]["delta"] == pytest.approx(0.05) and per_metric["fcd"]["band"] == pytest.approx(0.1)
    unchanged, per_metric = compare(fp32, {**close, "fcd": 1.2}, 500)
    assert not unchanged and [k for k, m in per_metric.items() if not m["within"]] == ["fcd"]


def test_a_domain_without_checked_metrics_cannot_be_judged():
    with pytest.raises(GensciError, match="none of the checked metrics"):
        compare({"novelty": 0.5}, {"novelty": 0.5}, 10)
    with pytest.raises(GensciError, match="'rate' or 'relative'"):
        band("absolute", 1.0, 10)
