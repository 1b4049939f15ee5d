"""The EGNN trunk's float32 inference route against its plain route (domains/atoms/egnn.py)."""

from __future__ import annotations

import pytest
import torch

import domains.atoms.egnn as egnn
from domains.atoms.egnn import EGNNTrunk


def _trunk(seed: int = 0) -> EGNNTrunk:
    torch.manual_seed(seed)
    trunk = EGNNTrunk(24, 8, hidden=32, layers=3, edge_out=8, coord_scale=10.0).eval()
    with torch.no_grad():  # move every weight off its initial value (the coordinate head starts near zero)
        for p in trunk.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return trunk


def _inputs(b: int = 7, n: int = 9, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    counts = torch.randint(2, n + 1, (b,), generator=g)
    counts[0] = n
    atoms = torch.arange(n)[None] < counts[:, None]
    pairs = atoms[:, :, None] & atoms[:, None, :] & ~torch.eye(n, dtype=torch.bool)
    h = torch.randn(b, n, 24, generator=g) * atoms[..., None]
    pos = torch.randn(b, n, 3, generator=g) * 1.5 * atoms[..., None]
    e = torch.randn(b, n, n, 8, generator=g)
    e = (e + e.transpose(1, 2)) * pairs[..., None]
    return h, pos, e, atoms, pairs


@pytest.mark.parametrize("chunk_rows", [1, 100, 10_000], ids=["one-molecule", "some-molecules", "whole-batch"])
def test_inference_route_matches_the_plain_route(monkeypatch: pytest.MonkeyPatch, chunk_rows: int):
    trunk, inputs = _trunk(), _inputs()
    plain = trunk(*inputs)  # autograd on: the plain route
    monkeypatch.setattr(egnn, "PAIR_CHUNK_ROWS", chunk_rows)
    with torch.no_grad():
        fast = trunk(*inputs)
    for name, a, b in zip(("h", "displacement", "e"), fast, plain):
        assert a.shape == b.shape
        scale = b.abs().max()
        assert scale > 0.1, name  # a real output, not zeros
        assert (a - b.detach()).abs().max() <= 1e-5 * scale, name


def test_inference_route_keeps_pads_zero_and_edges_symmetric():
    trunk, (h, pos, e, atoms, pairs) = _trunk(), _inputs()
    with torch.no_grad():
        h_out, disp, e_out = trunk(h, pos, e, atoms, pairs)
    assert h_out[~atoms].abs().max() == 0 and disp[~atoms].abs().max() == 0
    assert e_out[~pairs].abs().max() == 0
    assert torch.allclose(e_out, e_out.transpose(1, 2), atol=1e-6)


def test_a_molecule_does_not_see_its_batch_neighbours_on_the_inference_route(monkeypatch: pytest.MonkeyPatch):
    """Chunks hold several molecules: one molecule alone gives the outputs it gives in the batch."""
    monkeypatch.setattr(egnn, "PAIR_CHUNK_ROWS", 3 * 81)
    trunk, (h, pos, e, atoms, pairs) = _trunk(), _inputs()
    with torch.no_grad():
        batch = trunk(h, pos, e, atoms, pairs)
        for i in (0, 4):
            alone = trunk(h[i:i + 1], pos[i:i + 1], e[i:i + 1], atoms[i:i + 1], pairs[i:i + 1])
            for a, b in zip(alone, batch):
                assert torch.allclose(a[0], b[i], atol=1e-5)


def test_training_takes_the_plain_route_and_gradients_reach_every_layer():
    trunk, inputs = _trunk(), _inputs()
    trunk.train()
    h, disp, e = trunk(*inputs)
    (h.square().sum() + disp.square().sum() + e.square().sum()).backward()
    for layer in trunk.layers:
        for name in ("message_pair", "message_i", "gate", "edge_update"):
            assert getattr(layer, name).weight.grad.abs().sum() > 0, name
        assert layer.coord[0].weight.grad.abs().sum() > 0
