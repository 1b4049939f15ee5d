"""Pareto ranks and hypervolume against hand-computed fronts."""

import numpy as np
import pytest

from gensci.inverse.pareto import hypervolume, pareto_front, pareto_ranks


def test_front_and_ranks_of_a_hand_made_set():
    # larger is better on both objectives
    v = np.array([[3, 1], [2, 2], [1, 3], [1, 1], [2, 1], [np.nan, 5]])
    np.testing.assert_array_equal(pareto_front(v), [0, 1, 2])
    ranks = pareto_ranks(v)
    assert list(ranks[:5]) == [0, 0, 0, 2, 1] and ranks[5] == -1


def test_hypervolume_of_a_staircase():
    # points (3,1), (2,2), (1,3) above the origin dominate 3 + 2 + 1 = 6 unit squares
    v = np.array([[3.0, 1.0], [2.0, 2.0], [1.0, 3.0]])
    assert hypervolume(v, np.zeros(2)) == pytest.approx(6.0)
    assert hypervolume(v, np.array([5.0, 5.0])) == 0.0
