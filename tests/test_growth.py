import math

import pytest

from gensci.errors import GensciError
from gensci.growth import growth_exponent, local_exponents


def test_exact_power_laws_give_their_exponent():
    sizes = [8, 16, 32, 64, 128]
    for k in (0.0, 1.0, 1.5, 2.0):
        costs = [3.7 * n**k for n in sizes]
        assert growth_exponent(sizes, costs) == pytest.approx(k, abs=1e-12)
        assert local_exponents(sizes, costs) == pytest.approx([k] * 4, abs=1e-12)


def test_least_squares_slope_against_a_hand_computed_case():
    # x = (0, 1, 2) ln 2, y = (0, 1, 3) ln 2: sum(dx dy) = (-1)(-4/3) + 0 + (1)(5/3) = 3 and
    # sum(dx^2) = 2 (both in units of ln 2 squared), so k = 3 / 2
    assert growth_exponent([1, 2, 4], [1, 2, 8]) == pytest.approx(1.5)
    assert local_exponents([4, 1, 2], [8, 1, 2]) == pytest.approx([1.0, 2.0])


def test_a_fixed_cost_lowers_the_exponent():
    sizes = [10, 20, 40, 80]
    pure = growth_exponent(sizes, [n**2 for n in sizes])
    with_overhead = growth_exponent(sizes, [1000 + n**2 for n in sizes])
    assert with_overhead < pure and math.isclose(pure, 2.0)


@pytest.mark.parametrize("sizes,costs", [([1, 2], [1]), ([1, 2], [0, 1]), ([3, 3], [1, 2]), ([1, 2], [1, float("nan")])])
def test_bad_inputs_say_what_is_wrong(sizes, costs):
    with pytest.raises(GensciError):
        growth_exponent(sizes, costs)
