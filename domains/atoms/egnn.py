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

In float32 inference on CPU (no autograd, no autocast) a layer takes a faster route with the
same arithmetic: the per-pair work (the message MLP, the gate, the edge update's product and
the coordinate MLP) runs a few molecules at a time (:data:`PAIR_CHUNK_ROWS` pairs), so each
chunk's ``(pairs, hidden)`` activations stay in cache and are activated in place; the first
coordinate layer and the edge update, which both read the message, are one product; the mask
multiplies the gate and the step instead of the messages (a masked message reaches no output:
its gate and step are zeroed, and the edge state of a masked pair is zeroed after the norm).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from domains.atoms.gaussian_basis import gaussians
from gensci.nn.precision import inference_fp32

__all__ = ["PAIR_CHUNK_ROWS", "EGNNTrunk", "radial_basis"]

#: pairs per chunk on the float32 inference route (2,048 pairs x 128 features = 1 MiB)
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
        if inference_fp32(h) and self.message_i.weight.dtype == torch.float32:
            return self._forward_chunked(h, x, e, node_mask, pair, norm)
        diff = x[:, :, None, :] - x[:, None, :, :]  # (B, N, N, 3): x_i - x_j
        dist = diff.pow(2).sum(-1).add(1e-8).sqrt()
        pre = self.message_pair(torch.cat([radial_basis(dist, self.radial, self.r_max), e], dim=-1))
        pre = pre + self.message_i(h)[:, :, None, :] + self.message_j(h)[:, None, :, :]
        m = self.message(pre)
        m = m * pair[..., None]
        u = self.edge_update(m)
        e = self.edge_norm(e + 0.5 * (u + u.transpose(1, 2))) * pair[..., None]
        agg = (torch.sigmoid(self.gate(m)) * m).sum(2) / norm
        h = self.node_norm(h + self.node_update(torch.cat([h, agg], dim=-1))) * node_mask[..., None]
        step = torch.tanh(self.coord(m)) * self.coord_scale * pair[..., None]
        x = x + (diff / (dist[..., None] + 1.0) * step).sum(2) / norm
        return h, x * node_mask[..., None], e

    def _forward_chunked(self, h: Tensor, x: Tensor, e: Tensor, node_mask: Tensor, pair: Tensor, norm: Tensor):
        """:meth:`forward` for float32 inference: the per-pair work a few molecules at a time."""
        b, n = h.shape[:2]
        diff = x[:, :, None, :] - x[:, None, :, :]
        dist = diff.pow(2).sum(-1).add(1e-8).sqrt()
        unit = diff / (dist[..., None] + 1.0)
        pair_in = torch.cat([radial_basis(dist, self.radial, self.r_max), e], dim=-1)
        node_i, node_j = self.message_i(h), self.message_j(h)
        m_lin, c_out = self.message[1], self.coord[2]
        # two products that read a message, as one: [coordinate hidden | edge update] (160 wide at
        # the defaults, a width the CPU's matrix product runs at full speed; the gate stays apart)
        w_out = torch.cat([self.coord[0].weight, self.edge_update.weight])
        b_out = torch.cat([self.coord[0].bias, self.edge_update.bias])
        hid, ed = self.coord[0].out_features, self.edge_update.out_features
        u = e.new_empty(b, n, n, ed)
        agg = h.new_empty(b, n, h.shape[-1])
        move = x.new_empty(b, n, 3)
        step = max(1, PAIR_CHUNK_ROWS // max(n * n, 1))
        for s in range(0, b, step):
            sl = slice(s, s + step)
            k = pair_in[sl].shape[0]
            m = F.linear(pair_in[sl], self.message_pair.weight)
            m.add_(node_i[sl, :, None, :]).add_(node_j[sl, None, :, :])
            m = F.silu(F.linear(F.silu(m, inplace=True), m_lin.weight, m_lin.bias), inplace=True)
            flat = m.view(-1, m.shape[-1])
            out = torch.addmm(b_out, flat, w_out.t())  # (k n n, hid + ed)
            u[sl] = out[:, hid:].view(k, n, n, ed)
            g = torch.sigmoid(F.linear(flat, self.gate.weight, self.gate.bias)).view(k, n, n).mul_(pair[sl])
            torch.matmul(g.view(k, n, 1, n), m, out=agg[sl, :, None, :])  # sum_j g_ij m_ij
            c = F.linear(F.silu(out[:, :hid], inplace=True), c_out.weight, c_out.bias)
            c = torch.tanh(c).view(k, n, n).mul_(pair[sl] * self.coord_scale)
            torch.matmul(c.view(k, n, 1, n), unit[sl], out=move[sl, :, None, :])  # sum_j step_ij (x_i - x_j)/(d+1)
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
