"""2D toys and Gaussian mixtures: seeded, typed, and on their defining sets."""

import math

import pytest
import torch

from domains.points.toys import TOYS, checkerboard, eight_gaussians, gaussian_mixture, labelled_moons, moons


@pytest.mark.parametrize("name", sorted(TOYS))
def test_seeded_and_typed(name):
    a = TOYS[name](300, generator=torch.Generator().manual_seed(4))
    b = TOYS[name](300, generator=torch.Generator().manual_seed(4))
    a, b = (a if isinstance(a, tuple) else (a,)), (b if isinstance(b, tuple) else (b,))
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert a[0].dtype == torch.float32 and a[0].shape == (300, 2)
    if len(a) > 1:
        assert a[1].dtype == torch.long


def test_eight_gaussians_lie_on_the_circle(generator):
    x = eight_gaussians(400, generator, scale=4.0, std=0.0)
    assert torch.allclose(x.norm(dim=1), torch.full((400,), 4.0), atol=1e-5)
    angle = torch.atan2(x[:, 1], x[:, 0]) / (math.pi / 4)
    assert torch.allclose(angle, angle.round(), atol=1e-5)
    assert len(set(angle.round().remainder(8).tolist())) == 8
    y = eight_gaussians(20000, generator, scale=100.0, std=0.5)  # clusters far apart
    k = torch.round(torch.atan2(y[:, 1], y[:, 0]) / (math.pi / 4))
    centres = 100.0 * torch.stack([torch.cos(k * math.pi / 4), torch.sin(k * math.pi / 4)], dim=1)
    assert (y - centres).std(dim=0).mean().item() == pytest.approx(0.5, rel=0.03)

def test_moons_lie_on_their_arcs(generator):
    x, label = labelled_moons(500, generator, noise=0.0, scale=2.0)
    raw = x / 2.0 + torch.tensor([0.5, 0.25])
    upper, lower = raw[label == 0], raw[label == 1]
    assert torch.allclose(upper.norm(dim=1), torch.ones(len(upper)), atol=1e-5) and (upper[:, 1] >= -1e-6).all()
    centre = torch.tensor([1.0, 0.5])
    assert torch.allclose((lower - centre).norm(dim=1), torch.ones(len(lower)), atol=1e-5)
    assert (lower[:, 1] <= 0.5 + 1e-6).all()
    assert set(label.tolist()) == {0, 1}
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert torch.equal(moons(50, g1), labelled_moons(50, g2)[0])


def test_checkerboard_only_dark_squares(generator):
    x = checkerboard(5000, generator, cell=1.5)
    cells = torch.floor(x / 1.5).long() + 2
    assert cells.min() >= 0 and cells.max() <= 3
    assert torch.all((cells.sum(1) % 2) == 0)
    assert len({tuple(c) for c in cells.tolist()}) == 8


@pytest.mark.parametrize("dim", [2, 5, 64])
def test_gaussian_mixture(dim, generator):
    x, k = gaussian_mixture(2000, dim, generator, components=6, radius=3.0, std=0.0, return_labels=True)
    assert x.shape == (2000, dim) and x.dtype == torch.float32 and k.dtype == torch.long
    assert torch.allclose(x.norm(dim=1), torch.full((2000,), 3.0), atol=1e-4)
    g9 = torch.Generator().manual_seed(9)
    y, j = gaussian_mixture(50, dim, g9, components=6, radius=3.0, std=0.0, return_labels=True)
    means = {int(a): tuple(b.tolist()) for a, b in zip(k, x)}
    assert all(torch.allclose(torch.tensor(means[int(a)]), b) for a, b in zip(j, y))  # one shared layout
