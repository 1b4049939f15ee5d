"""GraphDiffusion against closed forms: noise laws, stationarity, posteriors, loss."""

import pytest
import torch

from domains.molecules.data import read_qm9
from domains.molecules.process import GraphDiffusion, rank_one_posterior
from domains.molecules.space import GraphSpace, pack_graph, slot_mask, unpack_graph
from domains.molecules.statistics import dataset_statistics, pair_bond_counts
from domains.molecules.store import featurise


@pytest.fixture(scope="module")
def qm9_graphs():
    return featurise(read_qm9(properties=[], limit=1500))


@pytest.fixture(scope="module")
def qm9_process(qm9_graphs):
    stats = dataset_statistics(qm9_graphs)
    e = 4  # kekulised: no aromatic class
    bond_marginal = torch.tensor(stats["bond_marginal"][:e])
    table = torch.tensor(stats["bond_given_pair"])[..., :e]
    space = GraphSpace(len(stats["atom_marginal"]), e)
    return GraphDiffusion(space, stats["atom_marginal"], bond_marginal, table), stats


def test_pair_table_rows_are_distributions_and_average_to_the_bond_marginal(qm9_graphs, qm9_process):
    process, stats = qm9_process
    table = process.bond_given_pair
    assert torch.allclose(table.sum(-1), torch.ones(table.shape[:2], dtype=table.dtype))
    counts = pair_bond_counts(qm9_graphs)
    weights = counts.sum(-1) / counts.sum()
    # E_data[u_ij] = m_E exactly: the data's bond marginal is stationary under the joint noise
    assert torch.allclose(process.stationary_bond_law(weights), process.bond_marginal, atol=1e-12)
    # independent check of the counts: bonded ordered pairs are twice the bonds
    assert counts[..., 1:].sum() == 2 * len(qm9_graphs.edges)
    n = qm9_graphs.num_atoms.double()
    assert counts.sum() == (n * (n - 1)).sum()


def test_corruption_at_full_noise_matches_the_marginals(qm9_graphs, qm9_process, generator):
    process, stats = qm9_process
    dense = qm9_graphs.dense(range(1500))
    x1, mask = pack_graph(dense.atoms, dense.bonds), slot_mask(dense.mask)
    counts_b = torch.zeros(4)
    counts_a = torch.zeros(process.space.num_atom_types)
    for _ in range(4):
        c = process.corrupt(x1, mask=mask, t=torch.zeros(len(x1)), generator=generator)
        atoms, bonds = unpack_graph(c.x_t)
        n = bonds.shape[-1]
        real_pairs = mask[..., 1:] & torch.triu(torch.ones(n, n, dtype=torch.bool), 1)
        counts_b += torch.bincount(bonds[real_pairs], minlength=4).float()
        counts_a += torch.bincount(atoms[dense.mask], minlength=len(counts_a)).float()
    assert process.kappa(torch.zeros(1)).item() < 1e-3
    # Monte Carlo over ~100k pairs: within 1 % absolute of the stationary laws
    assert torch.allclose(counts_b / counts_b.sum(), process.bond_marginal.float(), atol=0.01)
    assert torch.allclose(counts_a / counts_a.sum(), process.atom_marginal.float(), atol=0.01)


def test_corruption_keeps_clean_slots_at_kappa_one(qm9_graphs, qm9_process):
    process, _ = qm9_process
    dense = qm9_graphs.dense(range(50))
    x1, mask = pack_graph(dense.atoms, dense.bonds), slot_mask(dense.mask)
    c = process.corrupt(x1, mask=mask, t=torch.ones(50))
    assert torch.equal(c.x_t, x1)


def _mixing(kappa: float, law: torch.Tensor) -> torch.Tensor:
    k = law.shape[0]
    return kappa * torch.eye(k, dtype=law.dtype) + (1 - kappa) * law[None, :].expand(k, k)


def test_rank_one_posterior_is_bayes_rule():
    g = torch.Generator().manual_seed(3)
    law = torch.rand(4, generator=g, dtype=torch.float64)
    law /= law.sum()
    kt, ks = 0.3, 0.7
    q_ts = _mixing(kt / ks, law)  # rows x_s, columns x_t
    q_s = _mixing(ks, law)  # rows x1
    q_t = _mixing(kt, law)
    for x1 in range(4):
        for xt in range(4):
            brute = q_ts[:, xt] * q_s[x1] / q_t[x1, xt]
            got = rank_one_posterior(torch.eye(4, dtype=torch.float64)[xt], torch.eye(4, dtype=torch.float64)[x1],
                                     torch.tensor(kt, dtype=torch.float64), torch.tensor(ks, dtype=torch.float64), law)
            assert torch.allclose(got, brute / brute.sum(), atol=1e-12)
            # composition: Q(kt/ks) after Qbar_s is Qbar_t
    assert torch.allclose(q_s @ q_ts, q_t, atol=1e-12)


def test_posterior_jumps_are_marginally_consistent():
    """sum_{x_t} q(x_t | x1) q(x_s | x_t, x1) = q(x_s | x1) for any t < s (few-step sampling)."""
    g = torch.Generator().manual_seed(4)
    law = torch.rand(5, generator=g, dtype=torch.float64)
    law /= law.sum()
    for kt, ks in [(0.01, 0.2), (0.2, 0.9), (0.5, 0.51)]:
        for x1 in range(5):
            p1 = torch.eye(5, dtype=torch.float64)[x1]
            total = torch.zeros(5, dtype=torch.float64)
            for xt in range(5):
                prob_t = _mixing(kt, law)[x1, xt]
                total += prob_t * rank_one_posterior(torch.eye(5, dtype=torch.float64)[xt], p1, torch.tensor(kt, dtype=torch.float64),
                                                     torch.tensor(ks, dtype=torch.float64), law)
            assert torch.allclose(total, _mixing(ks, law)[x1], atol=1e-12)


def test_joint_posterior_with_a_certain_prediction_uses_the_true_atoms_noise_law(qm9_graphs, qm9_process, generator):
    process, _ = qm9_process
    dense = qm9_graphs.dense(range(6))
    x1, mask = pack_graph(dense.atoms, dense.bonds), slot_mask(dense.mask)
    t, s = torch.full((6,), 0.4), torch.full((6,), 0.6)
    c = process.corrupt(x1, mask=mask, t=t, generator=generator)
    k = process.space.num_classes
    p1 = torch.nn.functional.one_hot(x1, k).double()
    post = process.posterior_probs(c.x_t, p1, t, s)
    kt, ks = process.kappa(t[:1]).double(), process.kappa(s[:1]).double()
    atoms1, bonds1 = unpack_graph(x1)
    _, bonds_t = unpack_graph(c.x_t)
    for b in range(6):
        n = int(dense.mask[b].sum())
        for i in range(n):
            for j in range(n):
                if i == j:
                    continue
                law = process.bond_given_pair[atoms1[b, i], atoms1[b, j]]
                want = rank_one_posterior(torch.eye(4, dtype=torch.float64)[bonds_t[b, i, j]],
                                          torch.eye(4, dtype=torch.float64)[bonds1[b, i, j]], kt, ks, law)
                assert torch.allclose(post[b, i, 1 + j, :4], want, atol=1e-9)
        assert torch.allclose(post[b, :n, 0].sum(-1), torch.ones(n, dtype=torch.float64))


def test_marginal_transition_posterior_sums_to_one_and_is_symmetric(qm9_process, generator):
    _, stats = qm9_process
    space = GraphSpace(len(stats["atom_marginal"]), 4)
    process = GraphDiffusion(space, stats["atom_marginal"], stats["bond_marginal"][:4], transition="marginal")
    x = process.prior((3, 7, 8), generator=generator)
    logits = torch.randn(3, 7, 7, space.num_classes, generator=generator, dtype=torch.float64)
    logits = logits + logits.transpose(1, 2)
    p1 = torch.zeros(3, 7, 8, space.num_classes, dtype=torch.float64)
    p1[..., 0, :] = torch.softmax(torch.randn(3, 7, space.num_classes, generator=generator, dtype=torch.float64), -1)
    p1[..., 1:, :4] = torch.softmax(logits[..., :4], -1)
    post = process.posterior_probs(x, p1, torch.full((3,), 0.2), torch.full((3,), 0.5))
    assert torch.allclose(post.sum(-1), torch.ones(3, 7, 8, dtype=torch.float64))
    assert torch.allclose(post[..., 1:, :], post[..., 1:, :].transpose(1, 2))


def test_loss_weights_bonds_and_vanishes_for_confident_correct_logits(qm9_graphs, qm9_process):
    process, _ = qm9_process
    dense = qm9_graphs.dense(range(20, 28))  # molecules with at least two heavy atoms
    x1, mask = pack_graph(dense.atoms, dense.bonds), slot_mask(dense.mask)
    c = process.corrupt(x1, mask=mask)
    k = process.space.num_classes
    perfect = 50.0 * torch.nn.functional.one_hot(x1, k).float()
    value, logs = process.loss(perfect, c)
    assert value.item() < 1e-6 and logs["accuracy_bonds"].item() == 1.0
    n_atoms = process.space.num_atom_types
    flat = torch.zeros(x1.shape + (k,))
    flat[..., 0, n_atoms:] = -1e4  # uniform over each slot's own classes
    flat[..., 1:, 4:] = -1e4
    value, logs = process.loss(flat, c)
    a = torch.log(torch.tensor(float(n_atoms)))
    e = torch.log(torch.tensor(4.0))
    assert torch.allclose(logs["loss_atoms"], a, atol=1e-5) and torch.allclose(logs["loss_bonds"], e, atol=1e-5)
    assert torch.allclose(value, a + process.bond_weight * e, atol=1e-4)


def _explicit_joint_posterior(bonds_t, p1, weights, kt4, ks4, table):
    """The bond posterior as the written-out mixture over both atoms' clean types."""
    oh = torch.nn.functional.one_hot(bonds_t, p1.shape[-1]).double()
    explicit = rank_one_posterior(oh[:, :, :, None, None], p1[:, :, :, None, None], kt4[..., None, None],
                                  ks4[..., None, None], table)
    want = torch.einsum("bijxy,bijxye->bije", weights, explicit)
    return want / want.sum(-1, keepdim=True)


def test_joint_bond_posterior_equals_the_explicit_mixture(qm9_process):
    """Shared times and a time per graph take the tables; a shared time given once broadcasts."""
    process, _ = qm9_process
    from domains.molecules.process import joint_bond_posterior

    g = torch.Generator().manual_seed(6)
    b, n, e = 4, 6, 4
    a = process.space.num_atom_types
    table = process.bond_given_pair
    bonds_t = torch.randint(0, e, (b, n, n), generator=g)
    p1 = torch.softmax(3 * torch.randn(b, n, n, e, generator=g, dtype=torch.float64), -1)
    pa = torch.softmax(3 * torch.randn(b, n, a, generator=g, dtype=torch.float64), -1)
    weights = pa[:, :, None, :, None] * pa[:, None, :, None, :]
    for kt, ks in [(0.05, 0.3), (0.4, 0.6), (0.9, 0.99)]:
        kt4 = torch.full((b, 1, 1, 1), kt, dtype=torch.float64)
        ks4 = torch.full((b, 1, 1, 1), ks, dtype=torch.float64)
        want = _explicit_joint_posterior(bonds_t, p1, weights, kt4, ks4, table)
        assert torch.allclose(joint_bond_posterior(bonds_t, p1, weights, kt4, ks4, table), want, atol=1e-10)
    kt4 = torch.tensor([0.0, 0.05, 0.5, 0.97], dtype=torch.float64).reshape(b, 1, 1, 1)
    ks4 = torch.tensor([0.02, 0.3, 0.55, 1.0], dtype=torch.float64).reshape(b, 1, 1, 1)
    want = _explicit_joint_posterior(bonds_t, p1, weights, kt4, ks4, table)
    got = joint_bond_posterior(bonds_t, p1, weights, kt4, ks4, table)
    assert torch.allclose(got, want, atol=1e-10)
    # one time for the whole batch, given as one value: the same as repeating it per graph
    shared = joint_bond_posterior(bonds_t, p1, weights, kt4[2:3], ks4[2:3], table)
    repeated = joint_bond_posterior(bonds_t, p1, weights, kt4[2:3].expand(b, 1, 1, 1), ks4[2:3].expand(b, 1, 1, 1),
                                    table)
    assert torch.allclose(shared, repeated, atol=1e-12)
    assert torch.allclose(shared[2], want[2], atol=1e-10)
    with pytest.raises(ValueError, match="one value per graph"):
        joint_bond_posterior(bonds_t, p1, weights, kt4[:2], ks4[:2], table)
