"""Circular-mean centring, splits, crops and padding of the angle data."""

import math

import pytest
import torch

from domains.proteins.angles import backbone_to_angles, defined_mask
from domains.proteins.dataset import AngleDataset, centre, circular_mean, collate_angles, split_counts, uncentre
from gensci.errors import GensciError


def test_circular_mean_across_the_seam():
    a = torch.tensor([[math.pi - 0.1] * 6, [-math.pi + 0.1] * 6, [float("nan")] * 6])
    mu = circular_mean([a])
    assert torch.allclose(torch.cos(mu), torch.full((6,), -1.0, dtype=torch.float64))


def test_centre_then_uncentre_round_trip(real_chains):
    angles = [backbone_to_angles(c.coords) for c in real_chains]
    mu = circular_mean(angles)
    for a in angles:
        x = centre(a, mu)
        ok = defined_mask(len(a))
        assert (x[~ok] == 0).all() and (x.abs() <= math.pi).all()
        back = uncentre(x, mu)
        d = torch.remainder(back[ok] - a[ok] + math.pi, 2 * math.pi) - math.pi
        assert d.abs().max() < 1e-9


def test_split_counts():
    assert split_counts(5, (0.8, 0.1, 0.1)) == (3, 1, 1)
    assert sum(split_counts(50, (0.8, 0.1, 0.1))) == 50
    with pytest.raises(GensciError, match="at least 3"):
        split_counts(2, (0.8, 0.1, 0.1))


def test_crops_masks_and_padding():
    data = AngleDataset([torch.randn(50, 6), torch.randn(10, 6)], crop_length=20, random_crop=True, seed=1)
    items = [data[0], data[1]]
    assert items[0]["x"].shape == (20, 6) and items[1]["x"].shape == (10, 6)
    assert not items[0]["mask"][0, 0] and not items[0]["mask"][-1, 1]
    assert (items[0]["x"][~items[0]["mask"]] == 0).all()
    batch = collate_angles(items)
    assert batch.x.shape == (2, 20, 6) and batch.mask.shape == (2, 20, 6)
    assert not batch.mask[1, 10:].any()
    fixed = AngleDataset([torch.randn(50, 6)], crop_length=20, random_crop=False)
    assert torch.equal(fixed[0]["x"], fixed[0]["x"])
