r"""An E(n)-equivariant graph network with edge states (EGNN; Satorras, Hoogeboom & Welling
2021, arXiv 2102.09844, as EDM uses it, with the bond-carrying edge features of MiDi /
SemlaFlow).

On a fully connected molecule (dense, padded, with masks), every layer computes

.. math::
    m_{ij} &= \phi_m(h_i, h_j, \mathrm{rbf}(\lVert x_i - x_j\rVert), e_{ij}) \\
    e_{ij} &\leftarrow \mathrm{LN}\big(e_{ij} + \tfrac12(\phi_e(m_{ij}) + \phi_e(m_{ji}))\big) \\
    h_i &\leftarrow \mathrm{LN}\big(h_i + \phi_h(h_i, \tfrac1Z \textstyle\sum_j \sigma(w^\top m_{ij})\, m_{ij})\big) \\
    x_i &\leftarrow x_i + \tfrac1Z \textstyle\sum_j \frac{x_i - x_j}{\lVert x_i - x_j\rVert + 1} \tanh(\phi_x(m_{ij}))

with sums over real partners ``j != i`` and ``Z`` the mean partner count. Features ``h``
and ``e`` see positions only through distances, so they are E(3)-invariant; ``x`` moves
along difference vectors, so it is E(3)-equivariant and the output displacement
``x_L - x_0`` is translation-invariant. ``e`` stays symmetric in ``(i, j)``.

On CPU a layer runs its per-pair work (the message MLP, the gate, the edge update and the
coordinate MLP) a few whole molecules at a time, :data:`PAIR_CHUNK_ROWS` pairs: each chunk's
``(pairs, hidden)`` activations stay in cache from one operation to the next, forward and
backward, where the whole batch's (12 MB at 64 molecules of 19 atoms) would go to memory and back
between every two. The first coordinate layer and the edge update, which both read the
message, are one product; the pair mask multiplies the gate and the step (one number a pair)
instead of the messages (a masked message then reaches no output: its gate and step are zero,
and a masked pair's edge state is zeroed after the norm). On other devices the whole batch is
one chunk. tests/domains/atoms/test_egnn.py checks the layer against the formula written out.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from domains.atoms.gaussian_basis import gaussians

__all__ = ["PAIR_CHUNK_ROWS", "EGNNTrunk", "radial_basis"]

#: pairs per chunk on CPU (2,048 pairs x 128 features = 1 MiB)
PAIR_CHUNK_ROWS = 2048


def radial_basis(d: Tensor, count: int, r_max: float) -> Tensor:
    """Gaussian basis of distances: ``exp(-(d - mu_k)^2 / (2 w^2))``, ``mu_k`` on ``[0, r_max]``."""
    return gaussians(d, torch.linspace(0.0, r_max, count, device=d.device, dtype=d.dtype), r_max / max(count - 1, 1))


def _mlp(i: int, hidden: int, o: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(i, hidden), nn.SiLU(), nn.Linear(hidden, o))


class EGNNLayer(nn.Module):
    def __init__(self, hidden: int, edge_dim: int, radial: int, r_max: float, coord_scale: float):
        super().__init__()
        self.radial, self.r_max, self.coord_scale = radial, r_max, coord_scale
        # the first message layer split by input: W [h_i, h_j, rbf, e] = W_i h_i + W_j h_j + W_p [rbf, e],
        # so the (B, N, N, 2 hidden) concatenation is never built
        self.message_i = nn.Linear(hidden, hidden)
        self.message_j = nn.Linear(hidden, hidden, bias=False)
        self.message_pair = nn.Linear(radial + edge_dim, hidden, bias=False)
        self.message = nn.Sequential(nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU())
        self.gate = nn.Linear(hidden, 1)
        self.edge_update = nn.Linear(hidden, edge_dim)
        self.edge_norm = nn.LayerNorm(edge_dim)
        self.node_update = _mlp(2 * hidden, hidden, hidden)
        self.node_norm = nn.LayerNorm(hidden)
        self.coord = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))
        nn.init.xavier_uniform_(self.coord[-1].weight, gain=0.001)

    def forward(self, h: Tensor, x: Tensor, e: Tensor, node_mask: Tensor, pair: Tensor, norm: Tensor):
        b, n = h.shape[:2]
        diff = x[:, :, None, :] - x[:, None, :, :]  # (B, N, N, 3): x_i - x_j
        dist = diff.pow(2).sum(-1).add(1e-8).sqrt()
        unit = diff / (dist[..., None] + 1.0)
        pair_in = torch.cat([radial_basis(dist, self.radial, self.r_max), e], dim=-1)
        node_i, node_j = self.message_i(h), self.message_j(h)
        # the two products that read a message, as one: [coordinate hidden | edge update] (160 wide
        # at the defaults, a width the CPU's matrix product runs at full speed; the gate stays apart)
        w_out = torch.cat([self.coord[0].weight, self.edge_update.weight])
        b_out = torch.cat([self.coord[0].bias, self.edge_update.bias])
        hid, ed = self.coord[0].out_features, self.edge_update.out_features
        step = max(1, PAIR_CHUNK_ROWS // max(n * n, 1)) if h.device.type == "cpu" else max(b, 1)
        us, aggs, moves = [], [], []
        for s in range(0, max(b, 1), step):  # one empty chunk for an empty batch
            sl = slice(s, s + step)
            k = pair_in[sl].shape[0]
            m = self.message_pair(pair_in[sl])
            m = self.message(m.add_(node_i[sl, :, None, :]).add_(node_j[sl, None, :, :]))  # m_ij
            flat = m.reshape(k * n * n, m.shape[-1])
            out = torch.addmm(b_out, flat, w_out.t())
            us.append(out[:, hid:].reshape(k, n, n, ed))
            gate = torch.sigmoid(self.gate(flat)).view(k, n, n) * pair[sl]
            aggs.append(torch.matmul(gate.view(k, n, 1, n), m).squeeze(2))  # sum_j gate_ij m_ij
            move = torch.tanh(self.coord[2](self.coord[1](out[:, :hid]))).view(k, n, n) * (pair[sl] * self.coord_scale)
            moves.append(torch.matmul(move.view(k, n, 1, n), unit[sl]).squeeze(2))  # sum_j step_ij (x_i - x_j) / (d_ij + 1)
        u, agg, move = torch.cat(us), torch.cat(aggs), torch.cat(moves)
        e = self.edge_norm(e + 0.5 * (u + u.transpose(1, 2))) * pair[..., None]
        h = self.node_norm(h + self.node_update(torch.cat([h, agg / norm], dim=-1))) * node_mask[..., None]
        return h, (x + move / norm) * node_mask[..., None], e


class EGNNTrunk(nn.Module):
    """``trunk(h, pos, e, node_mask, pair_mask) -> (h, displacement, e)``.

    ``h`` (B, N, node_dim) and ``e`` (B, N, N, edge_dim) invariant inputs; ``pos`` (B, N, 3);
    masks bool. Returns invariant node features (B, N, hidden), the equivariant displacement
    ``x_L - x_0`` (B, N, 3) and invariant symmetric edge features (B, N, N, edge_out); pads zero.
    """

    def __init__(self, node_dim: int, edge_dim: int, hidden: int = 128, layers: int = 4, edge_out: int = 32,
                 radial_basis: int = 16, r_max: float = 10.0, coord_scale: float = 1.0):
        super().__init__()
        self.node_in = nn.Linear(node_dim, hidden)
        self.edge_in = nn.Linear(edge_dim, edge_out)
        self.layers = nn.ModuleList(EGNNLayer(hidden, edge_out, radial_basis, r_max, coord_scale) for _ in range(layers))
        self.hidden, self.edge_out = hidden, edge_out

    def forward(self, h: Tensor, pos: Tensor, e: Tensor, node_mask: Tensor, pair_mask: Tensor):
        nm, pm = node_mask.to(h.dtype), pair_mask.to(h.dtype)
        norm = (pm.sum(-1).sum(-1) / nm.sum(-1).clamp_min(1.0)).clamp_min(1.0)[:, None, None]  # mean partners
        h = self.node_in(h) * nm[..., None]
        e = self.edge_in(e) * pm[..., None]
        x = pos * nm[..., None]
        for layer in self.layers:
            h, x, e = layer(h, x, e, nm, pm, norm)
        return h, x - pos * nm[..., None], e
