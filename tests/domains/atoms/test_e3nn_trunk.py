"""E3nnTrunk: E(3) equivariance (rotation, reflection, translation) in float64 and float32,
permutation, padding/batch invariance with exact zeros on pads, symmetry of e_out, training."""

from __future__ import annotations

import copy
from functools import lru_cache

import pytest
import torch
from e3nn import o3
from e3nn.util.test import assert_equivariant

from domains.atoms.e3nn_trunk import E3nnTrunk

NODE, EDGE, HIDDEN, EDGE_OUT = 5, 3, 8, 4
TOL = {torch.float64: 1e-9, torch.float32: 1e-4}


def _trunk(dtype: torch.dtype = torch.float64, lmax: int = 1, parity: bool = True) -> E3nnTrunk:
    """A tiny trunk, built once per shape and dtype (building costs ~1 s); tests only read it.
    float32 copies come from the float64 build, so every dtype checks the same weights."""
    return _cached(dtype, lmax, parity)


@lru_cache
def _cached(dtype: torch.dtype, lmax: int, parity: bool) -> E3nnTrunk:
    if dtype != torch.float64:
        return copy.deepcopy(_cached(torch.float64, lmax, parity)).to(dtype)
    torch.manual_seed(0)
    return E3nnTrunk(NODE, EDGE, hidden=HIDDEN, vectors=4, layers=2, lmax=lmax, radial_basis=8, r_max=5.0,
                     edge_out=EDGE_OUT, parity=parity).double()


def _batch(sizes: list[int], n: int, dtype: torch.dtype, seed: int = 1) -> tuple[torch.Tensor, ...]:
    """Random molecules, zero-CoM, symmetric e; pads hold garbage that must not matter."""
    g = torch.Generator().manual_seed(seed)
    B = len(sizes)
    node_mask = torch.arange(n)[None, :] < torch.tensor(sizes)[:, None]
    pair_mask = node_mask[:, :, None] & node_mask[:, None, :] & ~torch.eye(n, dtype=torch.bool)
    h = torch.randn(B, n, NODE, generator=g, dtype=dtype)
    pos = 1.5 * torch.randn(B, n, 3, generator=g, dtype=dtype)
    com = (pos * node_mask[..., None]).sum(1, keepdim=True) / node_mask.sum(1)[:, None, None]
    pos = torch.where(node_mask[..., None], pos - com, pos)
    e = torch.randn(B, n, n, EDGE, generator=g, dtype=dtype)
    e = e + e.transpose(1, 2)
    return h, pos, e, node_mask, pair_mask


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


def _mirror(dtype: torch.dtype) -> torch.Tensor:
    """A reflection through a random plane: R diag(1, 1, -1) Rᵀ (det = -1)."""
    R = o3.rand_matrix(dtype=dtype)
    return R @ torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=dtype)) @ R.T


def _errors(trunk: E3nnTrunk, Q: torch.Tensor, dtype: torch.dtype) -> tuple[float, float, float]:
    h, pos, e, nm, pm = _batch([7, 5], 7, dtype)
    h0, v0, e0 = trunk(h, pos, e, nm, pm)
    h1, v1, e1 = trunk(h, pos @ Q.T, e, nm, pm)
    return _rel(h1, h0), _rel(v1, v0 @ Q.T), _rel(e1, e0)


@pytest.mark.parametrize("lmax", [1, 2])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_rotation_equivariance(dtype: torch.dtype, lmax: int) -> None:
    torch.manual_seed(2)
    errs = _errors(_trunk(dtype, lmax=lmax), o3.rand_matrix(dtype=dtype), dtype)
    assert max(errs) <= TOL[dtype], errs


@pytest.mark.parametrize("kind", ["inversion", "mirror"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_reflection_equivariance(dtype: torch.dtype, kind: str) -> None:
    torch.manual_seed(3)
    Q = -torch.eye(3, dtype=dtype) if kind == "inversion" else _mirror(dtype)
    errs = _errors(_trunk(dtype), Q, dtype)
    assert max(errs) <= TOL[dtype], errs


def test_without_parity_rotation_only() -> None:
    """parity=False: SE(3)-equivariant, but a mirror image gives a different vec (chirality)."""
    torch.manual_seed(4)
    trunk = _trunk(parity=False)
    assert max(_errors(trunk, o3.rand_matrix(dtype=torch.float64), torch.float64)) <= 1e-9
    assert _errors(trunk, _mirror(torch.float64), torch.float64)[1] >= 1e-3


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_translation_invariance(dtype: torch.dtype) -> None:
    trunk = _trunk(dtype)
    h, pos, e, nm, pm = _batch([6, 4], 6, dtype)
    shift = 10.0 * torch.randn(2, 1, 3, generator=torch.Generator().manual_seed(5), dtype=dtype)
    for a, b in zip(trunk(h, pos + shift, e, nm, pm), trunk(h, pos, e, nm, pm)):
        assert _rel(a, b) <= TOL[dtype]


@pytest.fixture
def default_float64():
    """e3nn builds its Wigner D matrices in the default dtype: float64 for a 1e-9 check."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def test_assert_equivariant_e3nn(default_float64: None) -> None:
    """e3nn's own check, rotations with and without parity and 10·randn translations."""
    trunk = _trunk(torch.float64, lmax=2)
    h, pos, e, nm, pm = _batch([6], 6, torch.float64)

    def f(p: torch.Tensor) -> tuple[torch.Tensor, ...]:
        h_out, vec, e_out = trunk(h, p[None], e, nm, pm)
        return h_out[0], vec[0], e_out[0].reshape(-1, EDGE_OUT)

    irreps_out = [o3.Irreps(f"{HIDDEN}x0e"), o3.Irreps("1o"), o3.Irreps(f"{EDGE_OUT}x0e")]
    errors = assert_equivariant(f, args_in=[pos[0]], irreps_in=["cartesian_points"], irreps_out=irreps_out,
                                ntrials=2, tolerance=1e-9)
    assert max(err.max().item() for err in errors.values()) <= 1e-9


def test_permutation_equivariance() -> None:
    trunk = _trunk()
    h, pos, e, nm, pm = _batch([7, 5], 7, torch.float64)
    perm = torch.cat([torch.randperm(5, generator=torch.Generator().manual_seed(6)), torch.arange(5, 7)])
    out = trunk(h, pos, e, nm, pm)
    b = 1                                                     # permute the second molecule only
    hp, pp, ep = h.clone(), pos.clone(), e.clone()
    hp[b], pp[b], ep[b] = h[b, perm], pos[b, perm], e[b][perm][:, perm]
    h1, v1, e1 = trunk(hp, pp, ep, nm, pm)
    assert _rel(h1[b], out[0][b, perm]) <= 1e-12
    assert _rel(v1[b], out[1][b, perm]) <= 1e-12
    assert _rel(e1[b], out[2][b][perm][:, perm]) <= 1e-12
    for got, ref in zip((h1, v1, e1), out):
        assert torch.equal(got[0], ref[0])


def test_padding_and_batch_invariance() -> None:
    trunk = _trunk()
    alone = _batch([5], 5, torch.float64, seed=7)
    h, pos, e, nm, pm = _batch([5, 8], 8, torch.float64, seed=8)
    h[0, :5], pos[0, :5], e[0, :5, :5] = alone[0][0], alone[1][0], alone[2][0]
    ref = trunk(*alone)
    h_out, vec, e_out = trunk(h, pos, e, nm, pm)
    assert _rel(h_out[0, :5], ref[0][0]) <= 1e-12
    assert _rel(vec[0, :5], ref[1][0]) <= 1e-12
    assert _rel(e_out[0, :5, :5], ref[2][0]) <= 1e-12
    assert h_out[~nm].abs().max() == 0 and vec[~nm].abs().max() == 0
    assert e_out[~pm].abs().max() == 0                      # pads and the diagonal
    assert e_out[pm].abs().min() > 0 and h_out[nm].abs().max() > 0


def test_edge_output_symmetric() -> None:
    trunk = _trunk()
    _, _, e_out = trunk(*_batch([6, 3], 6, torch.float64, seed=9))
    assert (e_out - e_out.transpose(1, 2)).abs().max() <= 1e-12 * e_out.abs().max()


def test_training_lowers_loss() -> None:
    trunk = copy.deepcopy(_trunk(torch.float32))
    h, pos, e, nm, pm = _batch([6, 4], 6, torch.float32, seed=10)
    g = torch.Generator().manual_seed(11)
    targets = [torch.randn(t.shape, generator=g) * m for t, m in
               zip(trunk(h, pos, e, nm, pm), (nm[..., None], nm[..., None], pm[..., None]))]
    opt = torch.optim.Adam(trunk.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = sum(((o - t) ** 2).mean() for o, t in zip(trunk(h, pos, e, nm, pm), targets))
        opt.zero_grad()
        loss.backward()
        if not losses:
            grads = [p.grad for p in trunk.parameters()]
            assert all(gr is not None and torch.isfinite(gr).all() for gr in grads)
            assert sum(gr.abs().sum().item() for gr in grads) > 0
        opt.step()
        losses.append(loss.item())
    assert losses[-1] <= 0.8 * losses[0], losses


def test_coincident_atoms_stay_finite() -> None:
    trunk = _trunk()
    h, pos, e, nm, pm = _batch([5], 5, torch.float64, seed=12)
    pos = pos.clone()
    pos[0, 1] = pos[0, 0]
    pos.requires_grad_(True)
    out = trunk(h, pos, e, nm, pm)
    sum(o.sum() for o in out).backward()
    assert all(torch.isfinite(o).all() for o in out) and torch.isfinite(pos.grad).all()
