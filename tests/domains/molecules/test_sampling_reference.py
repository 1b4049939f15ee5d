"""Guided categorical sampling of graphs against a written-out reference of every step.

The sampler's float32 path (fused network routes under no_grad, short-axis softmax, the tabulated
joint bond posterior) must draw the same graphs, for the same seed, as the plain formulas: the
network on its autograd routes, classifier-free guidance as three ``torch.log_softmax``, and the
bond posterior as the explicit mixture over the clean end atoms of rank-one posteriors.
"""

import torch

from domains.molecules.network import GraphDiT
from domains.molecules.process import GraphDiffusion, rank_one_posterior
from domains.molecules.space import GraphSpace, slot_mask, unpack_graph
from gensci.core.categorical import mixing_posterior, sample_categorical
from gensci.core.guidance import Guidance, drop_all
from samplers.categorical import CategoricalSampler

A, E, N, B = 5, 4, 7, 6
SCALE = 2.0


def _setup():
    g = torch.Generator().manual_seed(0)
    counts = torch.rand(A, A, E, generator=g, dtype=torch.float64) + 0.05
    table = counts + counts.transpose(0, 1)
    process = GraphDiffusion(GraphSpace(A, E), torch.rand(A, generator=g, dtype=torch.float64) + 0.1,
                             torch.tensor([0.7, 0.2, 0.07, 0.03]), bond_given_pair=table, timesteps=500)
    net = GraphDiT(num_atom_types=A, num_bond_classes=E, max_atoms=9, hidden=32, depth=2, attention_heads=4,
                   pair_dim=8, conditions=[{"name": "gap", "kind": "numeric", "low": 0.1, "high": 0.6,
                                            "mean": 0.25, "std": 0.05}])
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
    nodes = torch.arange(N)[None] < torch.tensor([7, 7, 6, 5, 3, 7])[:, None]
    cond = {"gap": torch.linspace(0.15, 0.45, B)}
    return process, net.eval(), slot_mask(nodes), cond


def _reference_posterior(process: GraphDiffusion, x, p1, t, s):
    """``p(z_s | z_t)``: DiGress's posterior for atoms, the explicit (a, b) mixture for bonds."""
    kt, ks = process.kappa(t).reshape(B, 1, 1, 1), process.kappa(s).reshape(B, 1, 1, 1)
    atoms, bonds = unpack_graph(x)
    p_atoms, p_bonds = p1[..., 0, :A], p1[..., 1:, :E]
    post_atoms = mixing_posterior(torch.nn.functional.one_hot(atoms, A).float(), p_atoms, kt[..., 0], ks[..., 0],
                                  process.atom_marginal.float().expand(A, -1))
    oh = torch.nn.functional.one_hot(bonds, E).float()
    table = process.bond_given_pair.float()
    per_pair = rank_one_posterior(oh[:, :, :, None, None], p_bonds[:, :, :, None, None], kt[..., None, None],
                                  ks[..., None, None], table)  # (B, N, N, A, A, E)
    weights = p_atoms[:, :, None, :, None] * p_atoms[:, None, :, None, :]
    post_bonds = torch.einsum("bijxy,bijxye->bije", weights, per_pair)
    out = torch.zeros(p1.shape)
    out[..., 0, :A] = post_atoms
    out[..., 1:, :E] = post_bonds / post_bonds.sum(-1, keepdim=True)
    return out


def test_guided_sampling_draws_the_reference_graphs():
    process, net, mask, cond = _setup()
    steps = 5
    result = CategoricalSampler(steps, progress=False).sample(
        net, process, (B, N, N + 1), cond=cond, mask=mask, guidance=Guidance(scale=SCALE),
        generator=torch.Generator().manual_seed(7), return_trajectory=True)

    g = torch.Generator().manual_seed(7)
    x = process.prior((B, N, N + 1), generator=g, mask=mask)
    path = [x]
    grid = process.time_grid(steps)
    both_cond = {"gap": torch.cat([cond["gap"], drop_all(cond)["gap"]])}
    for i in range(steps):
        t, s = grid[i].expand(B), grid[i + 1].expand(B)
        with torch.enable_grad():  # the network's plain (autograd) routes
            both = net(torch.cat([x, x]), torch.cat([t, t]), cond=both_cond, mask=torch.cat([mask, mask])).detach()
        log_pc, log_pu = torch.log_softmax(both[:B], -1), torch.log_softmax(both[B:], -1)
        p1 = torch.softmax(torch.log_softmax((1 - SCALE) * log_pu + SCALE * log_pc, -1), -1)
        probs = p1 if bool((s >= 1).all()) else _reference_posterior(process, x, p1, t, s)
        x = process.space.project(sample_categorical(probs, g), mask)
        path.append(x)
    assert len(result.trajectory) == len(path)
    for got, want in zip(result.trajectory, path):
        assert torch.equal(got, want)
    assert not torch.equal(path[1], path[-1])  # the chain moved
