"""GraphDiffusion's noise as a mixture path: its blocks, and the CTMC sampler on them."""

import torch

from domains.molecules.process import GraphDiffusion
from domains.molecules.space import GraphSpace, pack_graph, unpack_graph
from gensci.core.categorical import sample_categorical
from samplers.ctmc import DiscreteFlowSampler

A, E, N = 3, 3, 3


def joint_process() -> GraphDiffusion:
    g = torch.Generator().manual_seed(0)
    table = torch.rand(A, A, E, generator=g, dtype=torch.float64) + 0.05
    table = (table + table.transpose(0, 1)) / 2
    return GraphDiffusion(GraphSpace(A, E), [0.5, 0.3, 0.2], [0.6, 0.3, 0.1], table, timesteps=None)


def test_joint_blocks_weights_marginalise_to_the_prediction():
    process = joint_process()
    g = torch.Generator().manual_seed(1)
    p1 = torch.softmax(torch.randn(2, N, 1 + N, max(A, E), generator=g), -1)
    atoms, bonds = process.mixture_blocks(torch.zeros(2, N, 1 + N, dtype=torch.long), p1)
    assert atoms.columns == slice(0, 1) and bonds.columns == slice(1, None)
    assert torch.allclose(bonds.weights.sum(-1), torch.ones(2, N, N))
    w = bonds.weights.reshape(2, N, N, A, A, E)
    assert torch.allclose(w.sum((3, 4)), p1[..., 1:, :E], atol=1e-6)  # the bond prediction
    assert torch.allclose(w.sum((4, 5))[:, :, 0], p1[:, :, 0, :A], atol=1e-6)  # atom i's prediction
    laws = bonds.laws.reshape(A, A, E, E)
    assert torch.allclose(laws[1, 2, 0], process.bond_given_pair[1, 2].float())
    assert bonds.clean.reshape(A, A, E)[2, 1].tolist() == list(range(E))


def test_chain_follows_the_joint_bond_path_of_a_known_graph():
    """With ``p1`` one-hot on a clean graph, the bond slot (0, 1) started from its noise law
    ``u(a_0, a_1)`` must follow ``tau delta + (1 - tau) u(a_0, a_1)`` along the chain."""
    process = joint_process()
    atoms1 = torch.tensor([0, 2, 1])
    bonds1 = torch.tensor([[0, 2, 0], [2, 0, 1], [0, 1, 0]])
    x1 = pack_graph(atoms1, bonds1)
    logits = torch.log(torch.nn.functional.one_hot(x1, max(A, E)).float() + 1e-12)

    def model(x, t, cond=None, mask=None):
        return logits.expand(x.shape[0], -1, -1, -1)

    n = 4000
    g = torch.Generator().manual_seed(3)
    law = process.bond_given_pair[0, 2].float()
    a0 = sample_categorical(process.atom_marginal.float().expand(n, N, -1), g)
    b0 = sample_categorical(process.bond_law(atoms1.expand(n, -1)), g)
    x0 = process.space.project(pack_graph(a0, b0))
    sampler = DiscreteFlowSampler(steps=60, distortion="identity", progress=False)
    res = sampler.sample(model, process, (n, N, 1 + N), generator=g, x_init=x0, return_trajectory=True)
    for k in (20, 50):
        tau = float(process.kappa(res.times[k]))
        expect = tau * torch.nn.functional.one_hot(torch.tensor(2), E).float() + (1 - tau) * law
        counts = torch.bincount(unpack_graph(res.trajectory[k])[1][:, 0, 1], minlength=E).float()
        e = n * expect
        assert float(((counts - e) ** 2 / e).sum()) < 13.8, (k, counts.tolist(), e.tolist())  # chi2 df 2, 0.999
    assert (res.x == x1).all()
