"""GraphDiT: symmetric bond logits, blocked classes, padding invariance, conditions."""

import math

import pytest
import torch

from domains.molecules.network import BLOCKED_LOGIT, GraphDiT
from domains.molecules.space import GraphSpace, slot_mask

CONDITIONS = [{"name": "gap", "kind": "numeric", "low": 0.1, "high": 0.6, "mean": 0.25, "std": 0.05},
              {"name": "aromatic", "kind": "categorical", "num_classes": 2}]


def _randomise(net: GraphDiT, seed: int = 0) -> GraphDiT:
    """Give the zero-initialised layers random weights so the outputs depend on the inputs."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
    return net.eval()


@pytest.fixture
def net():
    return _randomise(GraphDiT(num_atom_types=5, num_bond_classes=4, max_atoms=9, hidden=32, depth=2,
                               attention_heads=4, pair_dim=8, conditions=CONDITIONS))


def _batch(generator, b=3, n=7, counts=(7, 5, 2)):
    space = GraphSpace(5, 4)
    nodes = torch.arange(n)[None] < torch.tensor(counts)[:, None]
    mask = slot_mask(nodes)
    return space.noise((b, n, n + 1), generator=generator, mask=mask), mask


def test_bond_logits_are_symmetric_and_foreign_classes_blocked(net, generator):
    x, mask = _batch(generator)
    out = net(x, torch.full((3,), 0.3), mask=mask)
    assert out.shape == (3, 7, 8, 5)
    bonds = out[..., 1:, :]
    assert torch.allclose(bonds, bonds.transpose(1, 2), atol=1e-5)
    assert (out[..., 1:, 4] == BLOCKED_LOGIT).all()  # 4 bond classes, 5 atom types
    assert (out[..., 0, :5] != BLOCKED_LOGIT).all()


def test_logits_do_not_depend_on_padding(net, generator):
    x, mask = _batch(generator, b=1, n=5, counts=(5,))
    t = torch.full((1,), 0.6)
    small = net(x, t, mask=mask)
    big_x = torch.zeros(1, 8, 9, dtype=torch.long)
    big_x[:, :5, 0] = x[:, :, 0]
    big_x[:, :5, 1:6] = x[:, :, 1:]
    big_x[:, 5:, 0] = 3  # junk in the padded slots must not matter
    big_mask = slot_mask(torch.arange(8)[None] < 5)
    big = net(big_x, t, mask=big_mask)
    assert torch.allclose(big[:, :5, 0, :5], small[:, :, 0, :5], atol=1e-5)
    assert torch.allclose(big[:, :5, 1:6, :4], small[:, :, 1:, :4], atol=1e-5)


def test_conditions_change_outputs_and_nan_means_the_null_embedding(net, generator):
    x, mask = _batch(generator)
    t = torch.full((3,), 0.5)
    none = net(x, t, mask=mask)
    nan = net(x, t, cond={"gap": torch.full((3,), math.nan), "aromatic": torch.full((3,), math.nan)}, mask=mask)
    assert torch.equal(none, nan)
    given = net(x, t, cond={"gap": torch.full((3,), 0.3), "aromatic": torch.full((3,), math.nan)}, mask=mask)
    assert not torch.allclose(given, none)


def test_rejects_bad_shapes_and_oversized_graphs(net, generator):
    with pytest.raises(ValueError, match=r"\(B, N, 1 \+ N\)"):
        net(torch.zeros(2, 4, 4, dtype=torch.long), torch.zeros(2))
    with pytest.raises(ValueError, match="max_atoms=9"):
        net(torch.zeros(1, 10, 11, dtype=torch.long), torch.zeros(1))
    with pytest.raises(ValueError, match="heads"):
        GraphDiT(5, 4, 9, hidden=32, attention_heads=4, heads=2)


def test_fresh_network_predicts_the_noisy_input_free_zero_logits(generator):
    fresh = GraphDiT(num_atom_types=5, num_bond_classes=4, max_atoms=9, hidden=32, depth=1, attention_heads=4)
    x, mask = _batch(generator)
    out = fresh(x, torch.zeros(3), mask=mask)
    assert torch.equal(out[..., 0, :5], torch.zeros_like(out[..., 0, :5]))
    assert torch.equal(out[..., 1:, :4], torch.zeros_like(out[..., 1:, :4]))


def test_inference_routes_give_the_logits_of_the_plain_routes(net, generator):
    """Under no_grad in float32 the blocks take their fused routes; the logits stay those of the
    autograd (plain) routes to float rounding."""
    x, mask = _batch(generator)
    t = torch.full((3,), 0.4)
    cond = {"gap": torch.tensor([0.2, float("nan"), 0.3]), "aromatic": torch.tensor([1.0, 0.0, float("nan")])}
    plain = net(x, t, cond=cond, mask=mask).detach()
    with torch.no_grad():
        fast = net(x, t, cond=cond, mask=mask)
    torch.testing.assert_close(fast, plain, atol=1e-4, rtol=1e-5)
