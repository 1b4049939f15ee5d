"""Circular histogram KLs: a von Mises closed form, and the independent-marginal baseline."""

import numpy as np
import pytest
import torch
from scipy.special import i0e, i1e

from domains.proteins.angles import ANGLE_NAMES, backbone_to_angles
from domains.proteins.distributions import (
    angle_kls,
    angle_pairs,
    angle_values,
    circular_density,
    independent_marginal_baseline,
    kl_divergence,
)
from gensci.errors import GensciError


def test_kl_of_two_von_mises_matches_the_closed_form():
    """KL(VM(mu1, k) || VM(mu2, k)) = k A(k) (1 - cos(mu1 - mu2)), A = I1 / I0."""
    rng = np.random.default_rng(0)
    kappa, shift = 2.0, 1.0
    a, b = rng.vonmises(0.0, kappa, 200_000), rng.vonmises(shift, kappa, 200_000)
    exact = kappa * i1e(kappa) / i0e(kappa) * (1 - np.cos(shift))
    measured = kl_divergence(circular_density(a, 72, 1.0), circular_density(b, 72, 1.0))
    assert measured == pytest.approx(exact, rel=0.05)
    assert kl_divergence(circular_density(a, 72), circular_density(a, 72)) == 0.0


def test_density_wraps_around_the_torus():
    p = circular_density(np.array([np.pi - 1e-3]), bins=36, sigma=1.0)
    assert p[0] == pytest.approx(p[-2]) and p[-1] > p[0]  # -pi and pi are one neighbourhood
    assert p.sum() == pytest.approx(1.0)
    shifted = circular_density(np.array([np.pi - 1e-3 + 2 * np.pi / 36]), bins=36, sigma=1.0)
    np.testing.assert_allclose(shifted, np.roll(p, 1), atol=1e-12)
    q = circular_density(np.array([[0.0, np.pi - 1e-3]]), bins=12, sigma=0.0)
    assert q.shape == (12, 12) and q[6, 11] > 0.99
    with pytest.raises(GensciError, match="finite"):
        circular_density(np.array([np.nan]))


def test_pairs_follow_the_row_convention(real_chains):
    angles = [backbone_to_angles(c.coords) for c in real_chains]
    rama = angle_pairs(angles, "phi", "psi")
    nxt = angle_pairs(angles, "psi", "phi", shift=1)
    assert len(rama) == sum(len(a) - 2 for a in angles)  # phi[0] and psi[-1] undefined
    assert len(nxt) == sum(len(a) - 1 for a in angles)
    np.testing.assert_allclose(nxt[0], [angles[0][0, 1], angles[0][1, 0]])
    assert len(angle_values(angles, "tau")) == sum(len(a) for a in angles)


def test_independent_baseline_keeps_marginals_and_breaks_the_ramachandran_coupling(real_chains):
    """The baseline's 1-D KLs are near 0 but its (phi, psi) KL is large; real chains give 0."""
    train = [backbone_to_angles(c.coords) for c in real_chains]
    lengths = [len(a) for a in train] * 8
    base = independent_marginal_baseline(train, lengths, torch.Generator().manual_seed(0))
    assert [len(a) for a in base] == lengths
    assert torch.isnan(base[0][0, 0]) and torch.isnan(base[0][-1, 1:3]).all() and torch.isfinite(base[0][1:-1]).all()
    for k, name in enumerate(ANGLE_NAMES):  # every value is a training value of its column
        assert np.isin(angle_values(base, name), angle_values(train, name)).all()
    same = angle_kls(train, train)
    assert all(v == pytest.approx(0.0, abs=1e-12) for v in same.values())
    kl = angle_kls(base, train)
    assert kl["kl_angles_mean"] < 0.02
    assert kl["kl_ramachandran"] > 0.2 > 10 * kl["kl_angles_mean"]
    # phi and psi of a residue are coupled in real chains (helix vs strand), not in the baseline
    corr = lambda p: abs(np.corrcoef(np.sin(p[:, 0]), np.sin(p[:, 1]))[0, 1])  # noqa: E731
    assert corr(angle_pairs(base, "phi", "psi")) < 0.05 < corr(angle_pairs(train, "phi", "psi"))
    with pytest.raises(GensciError, match="shaped"):
        angle_kls([np.zeros((4, 5))], train)
