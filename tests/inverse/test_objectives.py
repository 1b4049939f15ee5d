"""Objectives, constraints, the geometric-mean combination and failing oracles."""

import math
import sys

import numpy as np
import pytest

from gensci.errors import GensciError
from gensci.inverse.objectives import CommandOracle, Objective, call_oracle, combine


def test_weighted_geometric_mean_by_hand():
    d = np.array([[0.25, 1.0], [0.5, 0.5], [0.0, 1.0], [np.nan, 1.0]])
    s = combine(d, [1.0, 3.0])
    # exp((1 log 0.25 + 3 log 1) / 4) = 0.25 ** 0.25
    assert s[0] == pytest.approx(0.25 ** 0.25)
    assert s[1] == pytest.approx(0.5)
    assert s[2] == 0.0
    assert math.isnan(s[3])


def test_objective_hits_and_orientation():
    up = Objective("a", lambda xs: xs, goal="maximize", threshold=0.3, transform="identity")
    np.testing.assert_array_equal(up.hit(np.array([0.2, 0.3, np.nan])), [False, True, False])
    down = Objective("b", lambda xs: xs, goal="minimize", threshold=1.0, transform={"name": "reverse_sigmoid", "low": 0, "high": 2})
    np.testing.assert_array_equal(down.hit(np.array([0.5, 1.5])), [True, False])
    np.testing.assert_array_equal(down.oriented(np.array([2.0])), [-2.0])
    window = Objective("c", lambda xs: xs, goal=[1.0, 2.0])
    np.testing.assert_array_equal(window.desirability(np.array([0.5, 1.5])), [0.0, 1.0])  # a step by default
    np.testing.assert_allclose(window.oriented(np.array([0.5, 1.5, 3.0])), [-0.5, 0.0, -1.0])


def test_bad_objectives_are_clear_errors():
    with pytest.raises(GensciError, match="goal"):
        Objective("a", lambda xs: xs, goal="bigger")
    with pytest.raises(GensciError, match="callable"):
        Objective("a", 3)
    with pytest.raises(GensciError, match="empty"):
        Objective("a", lambda xs: xs, goal=[2, 1])


def test_an_oracle_that_raises_or_gives_nan_is_recorded_not_raised():
    def broken(items):
        raise RuntimeError("docking server down")

    out = call_oracle(broken, [1, 2, 3], "dock")
    assert np.isnan(out.values).all() and "docking server down" in out.error
    out = call_oracle(lambda items: [1.0, float("nan"), "x"], [1, 2, 3])
    np.testing.assert_array_equal(np.isnan(out.values), [False, True, True])
    out = call_oracle(lambda items: [1.0], [1, 2])
    assert "returned 1 values for 2" in out.error


def test_command_oracle_reads_numbers_printed_by_a_program(tmp_path):
    def writer(items, path):
        path.write_text("\n".join(str(i) for i in items))
        return path

    script = tmp_path / "square.py"
    script.write_text("import sys\nfor line in open(sys.argv[1]):\n    print(float(line) ** 2)\n")
    oracle = CommandOracle(f"{sys.executable} {script} {{input}}", suffix=".txt", writer=writer)
    assert oracle([1, 2, 3]) == [1.0, 4.0, 9.0]
    failing = CommandOracle(f"{sys.executable} -c 'import sys; sys.exit(3)'", writer=writer)
    out = call_oracle(failing, [1], "cmd")
    assert "status 3" in out.error
