"""Equivariant OT alignment: closed forms, optimality order, symmetries and the marginal."""

import itertools
import math

import pytest
import torch
from scipy import stats

from gensci.core.alignment import AlignedCoupling, hungarian_permutation, kabsch, principal_axes_rotations
from gensci.core.couplings import IndependentCoupling
from gensci.core.flow import FlowMatching
from gensci.core.spaces import ZeroCoM

F64 = torch.float64


def rotations(b: int, d: int, generator: torch.Generator, proper: bool = True) -> torch.Tensor:
    """Haar-random rotations ``(b, d, d)`` (det +1, or det -1 if not ``proper``)."""
    q, r = torch.linalg.qr(torch.randn(b, d, d, generator=generator, dtype=F64))
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]
    want = 1.0 if proper else -1.0
    q[:, :, 0] *= (torch.linalg.det(q) * want)[:, None]
    return q


def clouds(b: int, n: int, d: int, generator: torch.Generator, mask=None, scale=None, dtype=F64) -> torch.Tensor:
    x = torch.randn(b, n, d, generator=generator, dtype=F64)
    if scale is not None:
        x = x * torch.tensor(scale, dtype=F64)
    return ZeroCoM().project(x, mask).to(dtype)


def rot(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    return x @ r.transpose(-1, -2).to(x.dtype)


def perms(b: int, n: int, generator: torch.Generator, mask=None) -> torch.Tensor:
    """Random permutations of the real atoms of each molecule, pads fixed."""
    out = torch.arange(n).repeat(b, 1)
    for k in range(b):
        real = torch.arange(n) if mask is None else mask[k].nonzero().squeeze(1)
        out[k, real] = real[torch.randperm(real.numel(), generator=generator)]
    return out


def gather(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return torch.gather(x, 1, index[..., None].expand_as(x))


def sq_cost(y: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    return (y.double() - x1.double()).pow(2).sum((1, 2))


MASK = torch.tensor([[1] * 7, [1] * 5 + [0] * 2, [1, 1, 0, 1, 1, 1, 0], [1] * 4 + [0] * 3], dtype=torch.bool)


@pytest.mark.parametrize("d", [2, 3])
def test_kabsch_recovers_the_inverse_rotation(d, generator):
    x1 = clouds(6, 8, d, generator)
    q = rotations(6, d, generator)
    r = kabsch(rot(x1, q), x1)
    assert torch.allclose(r, q.transpose(-1, -2), atol=1e-10)
    assert torch.allclose(torch.linalg.det(r), torch.ones(6, dtype=F64), atol=1e-12)


def test_kabsch_stays_proper_unless_reflections_are_allowed(generator):
    x1 = clouds(5, 9, 3, generator)
    refl = rotations(5, 3, generator, proper=False)
    x0 = rot(x1, refl)
    r = kabsch(x0, x1)
    assert torch.allclose(torch.linalg.det(r), torch.ones(5, dtype=F64), atol=1e-12)
    assert (sq_cost(rot(x0, r), x1) > 1e-2).all()  # a mirror image is no rotation
    r_e3 = kabsch(x0, x1, reflect=True)
    assert torch.allclose(r_e3, refl.transpose(-1, -2), atol=1e-10)
    y = AlignedCoupling(reflect=True).align(gather(x0, perms(5, 9, generator)), x1)[0]
    assert (sq_cost(y, x1) < 1e-9).all()


def test_hungarian_is_the_brute_force_assignment_and_fixes_pads(generator):
    x0, x1 = clouds(4, 7, 3, generator, MASK), clouds(4, 7, 3, generator, MASK)
    idx = hungarian_permutation(x0, x1, MASK)
    for k in range(4):
        real = MASK[k].nonzero().squeeze(1).tolist()
        assert sorted(idx[k, real].tolist()) == real
        assert idx[k, ~MASK[k]].tolist() == (~MASK[k]).nonzero().squeeze(1).tolist()
        c = torch.cdist(x1[k], x0[k]).pow(2)
        best = min(sum(c[j, p[i]].item() for i, j in enumerate(real)) for p in itertools.permutations(real))
        assert sum(c[j, idx[k, j]].item() for j in real) == pytest.approx(best, rel=1e-10)


@pytest.mark.parametrize("d,dtype,tol", [(3, F64, 1e-9), (2, F64, 1e-9), (3, torch.float32, 1e-4)])
def test_a_permuted_rotated_copy_aligns_back_exactly(d, dtype, tol, generator):
    x1 = clouds(4, 7, d, generator, MASK, dtype=dtype)
    q = rotations(4, d, generator)
    order = perms(4, 7, generator, MASK)
    x0 = gather(rot(x1, q), order)
    y, idx, r, before, cost = AlignedCoupling().align(x0, x1, MASK)
    assert y.dtype == dtype and (before > 1.0).all()
    assert (cost < tol).all() and torch.allclose(y, x1, atol=math.sqrt(tol))
    assert torch.allclose(r, q.transpose(-1, -2), atol=math.sqrt(tol))  # R = Q^-1
    assert torch.equal(idx, torch.argsort(order, dim=1))  # the inverse permutation, pads fixed


@pytest.mark.parametrize("d", [2, 3])
def test_aligned_cost_is_below_every_partial_alignment(d, generator):
    x0, x1 = clouds(64, 12, d, generator), clouds(64, 12, d, generator, scale=[2.0, 1.0, 0.5][:d])
    full = AlignedCoupling().align(x0, x1)
    rot_only = AlignedCoupling(permute=False).align(x0, x1)[4]
    perm_only = AlignedCoupling(rotate=False).align(x0, x1)[4]
    before = full[3]
    assert torch.allclose(before, sq_cost(x0, x1))
    assert torch.allclose(full[4], sq_cost(full[0], x1))
    assert (full[4] <= rot_only + 1e-9).all() and (rot_only <= before + 1e-9).all()
    assert (perm_only <= before + 1e-9).all()
    # an equivariant start set can miss the permutation-only optimum in rare molecules
    assert (full[4] <= perm_only + 1e-9).double().mean() >= 0.95
    assert full[4].mean() < 0.8 * min(perm_only.mean(), rot_only.mean())


def test_costs_never_rise_with_more_rounds(generator):
    x0, x1 = clouds(32, 10, 3, generator), clouds(32, 10, 3, generator, scale=[2.0, 1.0, 0.5])
    costs = [AlignedCoupling(rounds=k).align(x0, x1)[4] for k in range(5)]
    for a, b in zip(costs, costs[1:]):
        assert (b <= a + 1e-12).all()


def test_pads_rows_and_centre_of_mass(generator):
    x1 = clouds(4, 7, 3, generator, MASK, dtype=torch.float32)
    x0 = clouds(4, 7, 3, generator, MASK, dtype=torch.float32)
    x0[~MASK] = 5.0  # pad rows that are not zero must come back as they were
    p = AlignedCoupling()(x0, x1, mask=MASK, space=ZeroCoM())
    assert torch.equal(p.x0[~MASK], x0[~MASK]) and torch.equal(p.x1, x1)
    assert torch.equal(p.index, torch.arange(4))
    com = (p.x0 * MASK[..., None]).sum(1) / MASK.sum(1, keepdim=True)
    assert com.abs().max() < 1e-5
    # the real points are the same set, moved rigidly: pairwise distances are kept
    for k in range(4):
        a, b = x0[k, MASK[k]], p.x0[k, MASK[k]]
        assert torch.allclose(torch.cdist(a, a).flatten().sort()[0], torch.cdist(b, b).flatten().sort()[0], atol=1e-5)
    logs = p.logs
    assert logs["coupling/cost"] < logs["coupling/cost_before"]
    assert logs["coupling/cost_before"].item() == pytest.approx(sq_cost(x0 * MASK[..., None], x1).mean().item(), rel=1e-5)
    x0.requires_grad_(True)
    with torch.no_grad():
        q = AlignedCoupling()(x0, x1, mask=MASK)
    assert not q.x0.requires_grad
    assert torch.equal(AlignedCoupling(permute=False, rotate=False)(x0.detach(), x1, mask=MASK).x0, x0.detach())


@pytest.mark.parametrize("reflect,principal_axes", [(False, True), (True, True), (False, False)])
def test_rotating_the_data_rotates_the_aligned_noise(reflect, principal_axes, generator):
    mask = MASK.repeat(8, 1)
    x0, x1 = clouds(32, 7, 3, generator, mask), clouds(32, 7, 3, generator, mask, scale=[2.0, 1.0, 0.5])
    q = rotations(32, 3, generator, proper=not reflect)  # with reflect, an improper Q
    cp = AlignedCoupling(reflect=reflect, principal_axes=principal_axes)
    y = cp(x0, x1, mask=mask).x0
    assert torch.allclose(cp(x0, rot(x1, q), mask=mask).x0, rot(y, q), atol=1e-9)
    # relabelling the atoms of both clouds relabels the aligned noise
    order = perms(32, 7, generator, mask)
    y_perm = cp(gather(x0, order), gather(x1, order), mask=mask).x0
    assert torch.allclose(y_perm, gather(y, order), atol=1e-9)


def test_principal_axis_starts_are_proper_and_sign_free(generator):
    x0, x1 = clouds(5, 9, 3, generator), clouds(5, 9, 3, generator)
    r = principal_axes_rotations(x0, x1)
    assert r.shape == (4, 5, 3, 3)
    assert torch.allclose(torch.linalg.det(r), torch.ones(4, 5, dtype=F64), atol=1e-10)
    assert principal_axes_rotations(x0, x1, reflect=True).shape == (8, 5, 3, 3)


def test_marginal_over_invariant_data_is_the_zero_com_gaussian(generator):
    n, d, b = 5, 3, 3000
    x0 = clouds(b, n, d, generator)
    shape = clouds(b, n, d, generator, scale=[2.5, 1.0, 0.4])
    x1 = rot(shape, rotations(b, d, generator))  # random orientation; iid points: random order
    y = AlignedCoupling().align(x0, x1)[0]
    assert sq_cost(y, x1).mean() < 0.4 * sq_cost(x0, x1).mean()  # the alignment does something
    flat = y.reshape(b, -1)
    cov = flat.T @ flat / b
    target = torch.kron(torch.eye(n, dtype=F64) - 1.0 / n, torch.eye(d, dtype=F64))  # Π ⊗ I
    assert flat.mean(0).abs().max() < 4.0 / math.sqrt(b)
    assert (cov - target).abs().max() < 0.1
    assert torch.diagonal(cov).mean().item() == pytest.approx((n - 1) / n, abs=0.02)
    assert stats.kstest(y[:, 0, 0].numpy() / math.sqrt((n - 1) / n), "norm").pvalue > 1e-3
    # without the invariance the marginal leans towards the data's frame
    y_fixed = AlignedCoupling().align(x0, shape)[0]
    var = y_fixed.pow(2).mean((0, 1))
    assert var[0] > 1.3 * (n - 1) / n > var[2] * 1.3


def test_flow_matching_with_aligned_pairs_has_shorter_paths():
    mask = MASK.repeat(4, 1)
    x1 = clouds(16, 7, 3, torch.Generator().manual_seed(1), mask, scale=[2.0, 1.0, 0.5], dtype=torch.float32)
    norms = {}
    for name, cp in (("aligned", AlignedCoupling()), ("independent", IndependentCoupling())):
        fm = FlowMatching(space=ZeroCoM(), coupling=cp)
        c = fm.corrupt(x1, generator=torch.Generator().manual_seed(7), mask=mask)
        assert torch.equal(c.target[~mask], torch.zeros_like(c.target[~mask]))
        assert ((c.x_t * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)).abs().max() < 1e-5
        norms[name] = c.target.norm(dim=-1)[mask].mean()
        if name == "aligned":
            assert {"coupling/cost", "coupling/cost_before"} <= set(c.logs)
    assert norms["aligned"] < 0.85 * norms["independent"]


def test_config_target_and_bad_inputs():
    from hydra.utils import instantiate

    cp = instantiate({"_target_": "gensci.core.alignment.AlignedCoupling", "rounds": 2, "reflect": True})
    assert isinstance(cp, AlignedCoupling) and cp.rounds == 2 and cp.reflect
    with pytest.raises(ValueError):
        AlignedCoupling(rounds=-1)
    with pytest.raises(ValueError):
        AlignedCoupling()(torch.zeros(2, 3, 3), torch.zeros(3, 3, 3))
