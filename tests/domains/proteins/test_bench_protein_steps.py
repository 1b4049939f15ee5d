"""The helpers of ``scripts/bench_protein_steps.py``: setting parsing, call counts, the warped grid, the noise band."""

from __future__ import annotations

import math

import pytest

from tests.scripts_support import load_script


@pytest.fixture(scope="module")
def bench():
    return load_script("bench_protein_steps")


def test_parse_setting(bench):
    assert bench.parse_setting("euler:20") == ("euler", 20, {})
    assert bench.parse_setting("heun:10:clash_guidance=0.4,sampler.final_euler=true") == (
        "heun", 10, {"clash_guidance": "0.4", "sampler.final_euler": "true"})
    assert bench.parse_setting("midpoint:10:sampler.distortion=power:2,clash_guidance=0.4") == (
        "midpoint", 10, {"sampler.distortion": "power:2", "clash_guidance": "0.4"})
    with pytest.raises(SystemExit):
        bench.parse_setting("euler")
    with pytest.raises(SystemExit):
        bench.parse_setting("euler:many")


def test_network_calls(bench):
    assert bench.network_calls("euler", 20) == 20
    assert bench.network_calls("heun", 10) == 20
    assert bench.network_calls("heun", 10, final_euler=True) == 19
    assert bench.network_calls("midpoint", 10) == 20
    assert bench.network_calls("midpoint", 10, final_euler=True) == 19


def test_summarise_noise_band(bench):
    rows = [{"count": 100.0, "sample_seconds": 2.0, "clash_free_fraction": 0.9, "kl_ramachandran": 0.004},
            {"count": 100.0, "sample_seconds": 4.0, "clash_free_fraction": 0.8, "kl_ramachandran": 0.006}]
    out = bench.summarise(rows)
    assert out["clash_free_fraction"] == pytest.approx(0.85)
    assert out["clash_free_se"] == pytest.approx(math.sqrt(0.85 * 0.15 / 200))
    assert out["kl_ramachandran"] == pytest.approx(0.005)
    assert out["kl_ramachandran_spread"] == pytest.approx(0.002)
    assert out["sample_seconds"] == pytest.approx(3.0)
