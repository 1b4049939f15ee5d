"""Helpers of scripts/train_bundled.py: the --compare settings and the numeric targets."""

from __future__ import annotations

import math

import pytest

from tests.scripts_support import load_script

bundled = load_script("train_bundled")


def test_compare_settings_name_a_sampler_the_model_own_or_options_over_either():
    assert bundled.compare_setting("euler:50") == ("euler", 50, "euler 50 steps")
    assert bundled.compare_setting(":50") == (None, 50, "own sampler 50 steps")
    assert bundled.compare_setting(":100:distortion=identity") == (
        {"distortion": "identity"}, 100, "own sampler 100 steps distortion=identity")
    assert bundled.compare_setting("heun:10:final_euler=true,distortion=power:2") == (
        {"name": "heun", "final_euler": True, "distortion": "power:2"}, 10,
        "heun 10 steps final_euler=True distortion=power:2")
    with pytest.raises(SystemExit, match="integer"):
        bundled.compare_setting("euler:many")
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        bundled.compare_setting("euler:10:final_euler")


def test_numeric_targets_are_mean_minus_and_plus_one_std_within_range():
    low, high = bundled.numeric_targets({"mean": 1.0, "std": 0.5, "low": 0.0, "high": 1.2})
    assert (low, high) == (0.5, 1.2)
    a, b = bundled.numeric_targets({"mean": math.log(10.0), "std": 1.0, "scale": "log"})
    assert a == pytest.approx(10.0 / math.e) and b == pytest.approx(10.0 * math.e)
