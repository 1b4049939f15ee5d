"""Equivariance of the atoms network around either trunk, probed from outside: rotations and
reflections separately, translations, permutations within a molecule, padding and batching;
float64 to 1e-9 and float32 to 1e-4 relative."""

from __future__ import annotations

import functools

import pytest
import torch

from domains.atoms.network import AtomsNetwork
from domains.atoms.space import BondSpace
from gensci.core.spaces import ZeroCoM
from gensci.core.state import State

FIELDS = {"pos": {"kind": "positions"}, "types": {"kind": "categorical", "classes": 5},
          "charges": {"kind": "categorical", "classes": 3}, "bonds": {"kind": "categorical", "classes": 5}}
TRUNKS = {"egnn": {"layers": 2}, "e3nn": {"layers": 2, "vectors": 4}}
TOL = {torch.float64: 1e-9, torch.float32: 1e-4}


@functools.lru_cache(maxsize=None)
def _net(trunk: str, dtype: torch.dtype) -> AtomsNetwork:
    """One network per trunk and dtype for the whole module (an e3nn trunk takes seconds to build)."""
    torch.manual_seed(0)
    net = AtomsNetwork(FIELDS, trunk=trunk, hidden=16, edge_dim=8, trunk_kwargs=TRUNKS[trunk],
                       conditions=[{"name": "gap", "kind": "numeric", "mean": 0.25, "std": 0.05, "low": 0.1, "high": 0.6}])
    return net.to(dtype).eval()


def _batch(dtype: torch.dtype, b: int = 3, n: int = 7, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    counts = torch.tensor([n, n - 2, n - 3])[:b]
    atoms = torch.arange(n)[None] < counts[:, None]
    pos = ZeroCoM().project(torch.randn(b, n, 3, generator=g, dtype=dtype) * 1.5, atoms)
    x = State(pos=pos, types=torch.randint(0, 5, (b, n), generator=g) * atoms,
              charges=torch.randint(0, 3, (b, n), generator=g) * atoms,
              bonds=BondSpace(5).project(torch.randint(0, 5, (b, n, n), generator=g), atoms[:, :, None] & atoms[:, None]))
    mask = {"pos": atoms, "types": atoms, "charges": atoms, "bonds": atoms[:, :, None] & atoms[:, None]}
    return x, torch.full((b,), 0.4, dtype=dtype), {"gap": torch.full((b,), 0.3)}, mask


def _orthogonal(dtype: torch.dtype, proper: bool) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if (torch.det(q) > 0) != proper:
        q = q @ torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))
    return q.to(dtype)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def _with_pos(x: State, pos: torch.Tensor) -> State:
    return State({k: (pos if k == "pos" else v) for k, v in x.items()})


@pytest.mark.parametrize("trunk", list(TRUNKS))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("proper", [True, False], ids=["rotation", "reflection"])
def test_outputs_transform_with_the_positions(trunk: str, dtype: torch.dtype, proper: bool):
    net = _net(trunk, dtype)
    x, t, cond, mask = _batch(dtype)
    q = _orthogonal(dtype, proper)
    with torch.no_grad():
        out = net(x, t, cond, mask)
        turned = net(_with_pos(x, x["pos"] @ q.T), t, cond, mask)
        moved = net(_with_pos(x, x["pos"] + torch.tensor([3.0, -2.0, 1.0], dtype=dtype) * mask["pos"][..., None]), t, cond, mask)
    tol = TOL[dtype]
    assert _rel(turned["pos"], out["pos"] @ q.T) < tol  # equivariant displacement
    for k in ("types", "charges", "bonds"):
        assert _rel(turned[k], out[k]) < tol, k  # invariant logits
    # a translation of the real atoms changes nothing (the network sees differences only)
    for k in out.keys():
        assert _rel(moved[k], out[k]) < tol, k
    assert out["pos"].abs().max() > 0 and out["bonds"].abs().max() > 0  # the checks compare non-trivial outputs


@pytest.mark.parametrize("trunk", list(TRUNKS))
def test_permuting_atoms_permutes_the_outputs_and_bond_logits_stay_symmetric(trunk: str):
    net = _net(trunk, torch.float64)
    x, t, cond, mask = _batch(torch.float64, b=1)
    perm = torch.tensor([3, 0, 6, 1, 5, 2, 4])
    px = State(pos=x["pos"][:, perm], types=x["types"][:, perm], charges=x["charges"][:, perm],
               bonds=x["bonds"][:, perm][:, :, perm])
    with torch.no_grad():
        out = net(x, t, cond, mask)
        pout = net(px, t, cond, mask)
    assert _rel(pout["pos"], out["pos"][:, perm]) < 1e-9
    assert _rel(pout["types"], out["types"][:, perm]) < 1e-9
    assert _rel(pout["bonds"], out["bonds"][:, perm][:, :, perm]) < 1e-9
    assert _rel(out["bonds"].transpose(1, 2), out["bonds"]) < 1e-12


@pytest.mark.parametrize("trunk", list(TRUNKS))
def test_padding_and_batch_neighbours_do_not_change_a_molecule(trunk: str):
    net = _net(trunk, torch.float64)
    x, t, cond, mask = _batch(torch.float64, b=3, n=7)
    with torch.no_grad():
        together = net(x, t, cond, mask)
        n = int(mask["pos"][1].sum())
        alone_x = State({k: (v[1:2, :n, :n] if k == "bonds" else v[1:2, :n]) for k, v in x.items()})
        alone_mask = {k: (v[1:2, :n, :n] if k == "bonds" else v[1:2, :n]) for k, v in mask.items()}
        alone = net(alone_x, t[1:2], {"gap": cond["gap"][1:2]}, alone_mask)
    for k in together.keys():
        got = together[k][1:2, :n, :n] if k == "bonds" else together[k][1:2, :n]
        assert _rel(got, alone[k]) < 1e-9, k
        pads = ~mask["pos"][1]
        assert (together[k][1][pads] == 0).all(), k  # padded atoms stay exactly zero
    assert together["pos"][:, :, :].sum(1).abs().max() < 1e-9  # zero CoM displacement
