import math

import pytest
import torch

from gensci.core.spaces import Categorical, Euclidean, Torus, ZeroCoM, wrap_angle


def test_wrap_lands_in_the_half_open_interval():
    x = torch.tensor([-math.pi, math.pi, 3 * math.pi, -3 * math.pi - 0.1, 0.0, 7.0, -100.0], dtype=torch.float64)
    w = wrap_angle(x)
    assert ((w >= -math.pi) & (w < math.pi)).all()
    assert torch.allclose(torch.cos(w), torch.cos(x)) and torch.allclose(torch.sin(w), torch.sin(x), atol=1e-12)
    assert w[1].item() == -math.pi, "pi wraps to -pi"


def test_torus_difference_is_the_shortest_signed_arc():
    torus = Torus()
    a = torch.tensor([3.0, -3.0, 0.5])
    b = torch.tensor([-3.0, 3.0, 0.2])
    d = torus.difference(a, b)
    assert torch.allclose(d, torch.tensor([6.0 - 2 * math.pi, -6.0 + 2 * math.pi, 0.3]), atol=1e-6)
    assert torch.allclose(torus.add(b, d), torus.project(a), atol=1e-6)


def test_torus_noise_is_wrapped_and_tangent_noise_is_not(generator):
    torus = Torus()
    x = torus.noise((20000,), generator=generator) * 1.0
    assert x.min() >= -math.pi and x.max() < math.pi
    z = torus.tangent_noise((20000,), generator=torch.Generator().manual_seed(1))
    assert z.abs().max() > math.pi, "tangent noise is a plain normal, scaled before it is wrapped"
    assert abs(z.std().item() - 1.0) < 0.03


def test_zero_com_is_mean_free_over_real_points_only(generator):
    space = ZeroCoM()
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    x = space.noise((2, 4, 3), generator=generator, mask=mask)
    for b in range(2):
        real = x[b][mask[b]]
        assert torch.allclose(real.mean(0), torch.zeros(3), atol=1e-6)
        assert (x[b][~mask[b]] == 0).all()
    y = space.project(x + torch.tensor([5.0, -2.0, 1.0]), mask)
    assert torch.allclose(y, x, atol=1e-5), "projection removes any translation"


def test_euclidean_masks_and_categorical_classes(generator):
    mask = torch.tensor([[True, False]])
    assert (Euclidean().noise((1, 2, 3), generator=generator, mask=mask)[0, 1] == 0).all()
    cat = Categorical(5)
    draws = cat.noise((10000,), generator=generator)
    assert draws.min() == 0 and draws.max() == 4
    counts = torch.bincount(draws, minlength=5).float() / 10000
    assert torch.allclose(counts, torch.full((5,), 0.2), atol=0.02)
    assert torch.equal(cat.one_hot(torch.tensor([2])), torch.tensor([[0.0, 0.0, 1.0, 0.0, 0.0]]))
    with pytest.raises(ValueError):
        Categorical(1)


def test_same_seed_same_noise():
    for space in (Euclidean(), Torus(), ZeroCoM()):
        a = space.noise((4, 5, 3), generator=torch.Generator().manual_seed(7))
        b = space.noise((4, 5, 3), generator=torch.Generator().manual_seed(7))
        assert torch.equal(a, b)
