"""Sizing parts to requested box sides: the material box against the generator's exact labels,
the log least-squares scale, and the domain's correction on the built solid."""

from __future__ import annotations

import math

import numpy as np
import pytest

from domains.cad.data import part_dims
from domains.cad.families import generate
from domains.cad.sizing import fitted_scale, material_box, scale_for_sides

TRIMMED = {"freeform"}  # the family whose cuts may trim the outline


@pytest.fixture(scope="module")
def parts():
    return generate(120, seed=4, progress=False)


def test_the_material_box_is_the_labelled_box_where_no_cut_trims_the_outline(parts):
    checked = 0
    for p in parts:
        if p.labels["family"] in TRIMMED:
            continue
        lo, hi = material_box(p)
        np.testing.assert_allclose(hi - lo, part_dims(p), rtol=1e-9)
        checked += 1
    assert checked > 80


def test_one_requested_side_is_met_exactly_and_the_shape_is_kept(parts):
    p = next(q for q in parts if q.labels["family"] == "plate")
    f = fitted_scale(p, {"width": 40.0})
    scaled = p.transformed(f, np.zeros(3))
    lo, hi = material_box(scaled)
    lo0, hi0 = material_box(p)
    assert hi[0] - lo[0] == pytest.approx(40.0, rel=1e-12)
    np.testing.assert_allclose((hi - lo) / (hi0 - lo0), f, rtol=1e-12)  # uniform: the aspect ratios stay


def test_several_sides_are_met_in_the_least_squares_sense_of_log_ratios():
    measured = np.array([10.0, 20.0, 5.0])
    f = scale_for_sides(measured, {"width": 40.0, "height": 10.0})
    assert f == pytest.approx(math.exp((math.log(4.0) + math.log(2.0)) / 2))
    f3 = scale_for_sides(measured, {"width": 20.0, "depth": 40.0, "height": 10.0})
    assert f3 == pytest.approx(2.0)  # consistent requests: exact


def test_unmeasurable_or_unknown_sides():
    assert scale_for_sides(np.array([10.0, 0.0, 5.0]), {"depth": 4.0}) is None  # a flat part has no depth to scale
    assert scale_for_sides(np.array([10.0, 2.0, 5.0]), {}) is None
    with pytest.raises(KeyError, match="length"):
        scale_for_sides(np.ones(3), {"length": 3.0})
