"""The EGNN layer (domains/atoms/egnn.py), which runs its pair work in chunks of molecules,
against its formula written out over the whole batch."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

import domains.atoms.egnn as egnn
from domains.atoms.egnn import EGNNLayer, EGNNTrunk, radial_basis


def reference_layer(layer: EGNNLayer, h: Tensor, x: Tensor, e: Tensor, node_mask: Tensor, pair: Tensor, norm: Tensor):
    """The layer's equations (module docstring) over the whole batch at once, messages masked."""
    diff = x[:, :, None, :] - x[:, None, :, :]
    dist = diff.pow(2).sum(-1).add(1e-8).sqrt()
    pre = layer.message_pair(torch.cat([radial_basis(dist, layer.radial, layer.r_max), e], dim=-1))
    pre = pre + layer.message_i(h)[:, :, None, :] + layer.message_j(h)[:, None, :, :]
    m = layer.message(pre) * pair[..., None]
    u = layer.edge_update(m)
    e = layer.edge_norm(e + 0.5 * (u + u.transpose(1, 2))) * pair[..., None]
    agg = (torch.sigmoid(layer.gate(m)) * m).sum(2) / norm
    h = layer.node_norm(h + layer.node_update(torch.cat([h, agg], dim=-1))) * node_mask[..., None]
    step = torch.tanh(layer.coord(m)) * layer.coord_scale * pair[..., None]
    x = x + (diff / (dist[..., None] + 1.0) * step).sum(2) / norm
    return h, x * node_mask[..., None], e


def reference_trunk(trunk: EGNNTrunk, h: Tensor, pos: Tensor, e: Tensor, atoms: Tensor, pairs: Tensor):
    nm, pm = atoms.to(h.dtype), pairs.to(h.dtype)
    norm = (pm.sum(-1).sum(-1) / nm.sum(-1).clamp_min(1.0)).clamp_min(1.0)[:, None, None]
    h, e, x = trunk.node_in(h) * nm[..., None], trunk.edge_in(e) * pm[..., None], pos * nm[..., None]
    for layer in trunk.layers:
        h, x, e = reference_layer(layer, h, x, e, nm, pm, norm)
    return h, x - pos * nm[..., None], e


def _trunk(dtype: torch.dtype = torch.float32, seed: int = 0) -> EGNNTrunk:
    torch.manual_seed(seed)
    trunk = EGNNTrunk(24, 8, hidden=32, layers=3, edge_out=8, coord_scale=10.0).to(dtype)
    with torch.no_grad():  # move every weight off its initial value (the coordinate head starts near zero)
        for p in trunk.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return trunk


def _inputs(dtype: torch.dtype = torch.float32, b: int = 7, n: int = 9, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    counts = torch.randint(2, n + 1, (b,), generator=g)
    counts[0] = n
    atoms = torch.arange(n)[None] < counts[:, None]
    pairs = atoms[:, :, None] & atoms[:, None, :] & ~torch.eye(n, dtype=torch.bool)
    h = torch.randn(b, n, 24, generator=g, dtype=dtype) * atoms[..., None]
    pos = torch.randn(b, n, 3, generator=g, dtype=dtype) * 1.5 * atoms[..., None]
    e = torch.randn(b, n, n, 8, generator=g, dtype=dtype)
    return h, pos, (e + e.transpose(1, 2)) * pairs[..., None], atoms, pairs


CHUNKS = pytest.mark.parametrize("chunk_rows", [1, 200, 10_000], ids=["one-molecule", "some-molecules", "whole-batch"])


@CHUNKS
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_the_trunk_computes_its_formula(monkeypatch: pytest.MonkeyPatch, chunk_rows: int, dtype: torch.dtype):
    monkeypatch.setattr(egnn, "PAIR_CHUNK_ROWS", chunk_rows)
    trunk, inputs = _trunk(dtype).eval(), _inputs(dtype)
    with torch.no_grad():
        got, want = trunk(*inputs), reference_trunk(trunk, *inputs)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    for name, a, b in zip(("h", "displacement", "e"), got, want):
        assert a.shape == b.shape
        assert b.abs().max() > 0.1, name  # a real output, not zeros
        assert (a - b).abs().max() <= tol * b.abs().max(), name


@CHUNKS
def test_gradients_are_those_of_the_formula(monkeypatch: pytest.MonkeyPatch, chunk_rows: int):
    """In float64: float32 sums taken in another order differ by cancellation in the smallest gradients."""
    monkeypatch.setattr(egnn, "PAIR_CHUNK_ROWS", chunk_rows)
    trunk, (h, pos, e, atoms, pairs) = _trunk(torch.float64).train(), _inputs(torch.float64)
    pos = pos.clone().requires_grad_(True)
    grads = []
    for forward in (trunk, lambda *a: reference_trunk(trunk, *a)):
        trunk.zero_grad()
        pos.grad = None
        out_h, disp, out_e = forward(h, pos, e, atoms, pairs)
        (out_h.square().sum() + (disp * torch.linspace(-1, 1, 3, dtype=disp.dtype)).sum() + out_e.square().sum()).backward()
        grads.append([p.grad.clone() for p in trunk.parameters()] + [pos.grad.clone()])
    for got, want in zip(*grads):
        assert want.abs().max() > 0
        assert (got - want).abs().max() <= 1e-9 * want.abs().max()


def test_pads_stay_zero_and_edges_symmetric():
    trunk, (h, pos, e, atoms, pairs) = _trunk().eval(), _inputs()
    with torch.no_grad():
        h_out, disp, e_out = trunk(h, pos, e, atoms, pairs)
    assert h_out[~atoms].abs().max() == 0 and disp[~atoms].abs().max() == 0
    assert e_out[~pairs].abs().max() == 0
    assert torch.allclose(e_out, e_out.transpose(1, 2), atol=1e-6)


def test_a_molecule_does_not_see_the_molecules_it_shares_a_chunk_with(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(egnn, "PAIR_CHUNK_ROWS", 3 * 81)
    trunk, (h, pos, e, atoms, pairs) = _trunk().eval(), _inputs()
    with torch.no_grad():
        batch = trunk(h, pos, e, atoms, pairs)
        for i in (0, 4):
            alone = trunk(h[i:i + 1], pos[i:i + 1], e[i:i + 1], atoms[i:i + 1], pairs[i:i + 1])
            for a, b in zip(alone, batch):
                assert torch.allclose(a[0], b[i], atol=1e-5)


def test_an_empty_batch_gives_empty_outputs():
    trunk, (h, pos, e, atoms, pairs) = _trunk().eval(), _inputs()
    with torch.no_grad():
        out = trunk(h[:0], pos[:0], e[:0], atoms[:0], pairs[:0])
    assert [tuple(o.shape) for o in out] == [(0, 9, 32), (0, 9, 3), (0, 9, 9, 8)]
