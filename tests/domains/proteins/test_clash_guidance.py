"""Clash guidance: the energy on hand-built CA traces, exactness on clash-free chains, a
corrected endpoint with less overlap, and the sampling option's checks."""

import math

import pytest
import torch
from torch import nn

from domains.proteins.angles import defined_mask
from domains.proteins.clash_guidance import ClashGuidedNetwork, clash_energy
from domains.proteins.domain import ProteinsDomain
from domains.proteins.nerf import angles_to_backbone
from gensci.core.flow import FlowMatching
from gensci.core.gaussian import GaussianDiffusion
from gensci.core.spaces import Torus, wrap_angle
from gensci.errors import GensciError

torch.set_num_threads(1)


def test_energy_counts_only_pairs_three_apart_within_the_chain():
    # residues 0..4 on a line 3.8 A apart, except residue 3 folded back 3.0 A from residue 0
    ca = torch.tensor([[[0.0, 0, 0], [3.8, 0, 0], [7.6, 0, 0], [0.0, 3.0, 0], [20.0, 0, 0]]])
    residues = torch.ones(1, 5, dtype=torch.bool)
    # pairs |i-j| >= 3: (0,3) at 3.0 A, (0,4) at 20, (1,4) at 16.2: only (0,3) overlaps
    assert clash_energy(ca, residues).item() == pytest.approx((3.8 - 3.0) ** 2)
    # residue 1 sits 1 A from residue 0 but is adjacent: never counted
    close = ca.clone()
    close[0, 1] = torch.tensor([1.0, 0, 0])
    assert clash_energy(close, residues).item() == pytest.approx((3.8 - 3.0) ** 2)
    # a padded residue 3 is ignored
    residues[0, 3:] = False
    assert clash_energy(ca, residues).item() == 0.0


class _ConstantVelocity(nn.Module):
    """The velocity that carries the state at time ``t`` to ``target`` at time 1 along the torus."""

    def __init__(self, target: torch.Tensor):
        super().__init__()
        self.target = target
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x, t, cond=None, mask=None):
        return (torch.remainder(self.target - x + math.pi, 2 * math.pi) - math.pi) / (1 - t).view(-1, 1, 1)


def _ideal(phi: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
    """Angles (mean 0, so also centred) with these torsions, trans omega and ideal bond angles."""
    a = torch.zeros(len(phi), 6)
    a[:, 0], a[:, 1], a[:, 2] = phi, psi, math.pi
    a[:, 3], a[:, 4], a[:, 5] = math.radians(111), math.radians(116), math.radians(122)
    return a


def _helix_and_tangle(length: int = 30) -> tuple[torch.Tensor, torch.Tensor]:
    """An alpha helix (closest CA pair 3 apart: 5.2 A) and a seeded random chain that
    overlaps itself (closest pair 1.1 A)."""
    helix = _ideal(torch.full((length,), math.radians(-57)), torch.full((length,), math.radians(-47)))
    g = torch.Generator().manual_seed(0)
    phi = math.radians(-60) + torch.randn(length, generator=g)
    psi = math.radians(-45) + torch.randn(length, generator=g)
    return helix, _ideal(phi, psi)


def test_clash_free_endpoint_is_left_exactly_as_drawn():
    helix, _ = _helix_and_tangle()
    residues = torch.ones(1, len(helix), dtype=torch.bool)
    ca = angles_to_backbone(helix[None], residues)[:, :, 1]
    assert clash_energy(ca, residues).item() == 0.0
    net = _ConstantVelocity(helix[None])
    guided = ClashGuidedNetwork(net, torch.zeros(6), strength=0.1)
    x = torch.zeros(1, len(helix), 6)
    t = torch.tensor([0.5])
    mask = defined_mask(torch.tensor([len(helix)]), len(helix))
    assert torch.equal(guided(x, t, mask=mask), net(x, t, mask=mask))


def test_a_clashing_endpoint_is_moved_to_less_overlap():
    _, tight = _helix_and_tangle()
    n = len(tight)
    residues = torch.ones(1, n, dtype=torch.bool)
    before = clash_energy(angles_to_backbone(tight[None], residues)[:, :, 1], residues).item()
    assert before > 0
    mask = defined_mask(torch.tensor([n]), n)
    x = torch.zeros(1, n, 6)
    t = torch.tensor([0.9])
    net = _ConstantVelocity(tight[None])
    guided = ClashGuidedNetwork(net, torch.zeros(6), strength=0.05)
    v = guided(x, t, mask=mask)
    endpoint = x + (1 - t) * v
    # only phi and psi move, by at most the strength
    moved = wrap_angle(endpoint - tight[None]).abs()
    assert moved[..., 2:].max().item() < 1e-6
    assert moved[..., :2].max().item() == pytest.approx(0.05, rel=1e-4)
    after = clash_energy(angles_to_backbone(endpoint, residues)[:, :, 1], residues).item()
    assert after < before


def test_option_checks_and_process_check(domain):
    with pytest.raises(GensciError, match="clash-guidance"):
        domain.plan(2, length=50, clash_guidance="lots")
    with pytest.raises(GensciError, match="non-negative"):
        domain.plan(2, length=50, clash_guidance=-1)
    off = domain.plan(2, length=50)
    net = nn.Linear(6, 6)
    assert domain.wrap_network(net, off, FlowMatching(Torus())) is net
    on = domain.plan(2, length=50, clash_guidance=0.1)
    assert isinstance(domain.wrap_network(net, on, FlowMatching(Torus())), ClashGuidedNetwork)
    with pytest.raises(GensciError, match="flow-matching"):
        domain.wrap_network(net, on, GaussianDiffusion(Torus()))


def test_the_domain_default_applies_unless_the_call_overrides_it(data_dir):
    d = ProteinsDomain(paths=[str(data_dir)], crop_length=64, seed=0, clash_guidance=0.3)
    d.prepare()
    assert d.plan(1, length=50).info["clash_guidance"] == 0.3
    assert d.plan(1, length=50, clash_guidance="0").info["clash_guidance"] == 0.0
    with pytest.raises(GensciError, match="non-negative"):
        ProteinsDomain(paths=[str(data_dir)], clash_guidance=-0.1)


def _endpoint_energy(guided: ClashGuidedNetwork, x: torch.Tensor, t: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per chain, the clash energy of the endpoint ``x + (1 - t) v`` the guided velocity points at."""
    endpoint = x + (1 - t).view(-1, 1, 1) * guided(x, t, mask=mask)
    residues = mask[..., 3] > 0
    return clash_energy(angles_to_backbone(endpoint, residues)[:, :, 1], residues)


def test_iterations_repeat_the_descent_step_from_where_the_last_one_landed():
    helix, tight = _helix_and_tangle()
    n = len(tight)
    target = torch.stack([helix, tight])
    mask = defined_mask(torch.tensor([n, n]), n)
    x = torch.zeros(2, n, 6)
    t = torch.tensor([0.9, 0.9])
    net = _ConstantVelocity(target)
    once = ClashGuidedNetwork(net, torch.zeros(6), strength=0.05)
    # two iterations = one step, then one step from the endpoint it reached (written out)
    first = x + (1 - t).view(-1, 1, 1) * once(x, t, mask=mask)
    second = x + (1 - t).view(-1, 1, 1) * ClashGuidedNetwork(_ConstantVelocity(first), torch.zeros(6), 0.05)(
        x, t, mask=mask)
    twice = x + (1 - t).view(-1, 1, 1) * ClashGuidedNetwork(net, torch.zeros(6), 0.05, iterations=2)(x, t, mask=mask)
    assert wrap_angle(twice - second).abs().max().item() < 1e-5
    assert wrap_angle(twice - first).abs().max().item() > 0.01  # the second step moved it
    # the helix never clashed: left exactly as drawn however many iterations
    many = ClashGuidedNetwork(net, torch.zeros(6), strength=0.05, iterations=8)
    v = many(x, t, mask=mask)
    assert torch.equal(v[0], net(x, t, mask=mask)[0])
    # the tangle: each torsion moves at most 8 x 0.05, and the overlap falls below one step's
    moved = wrap_angle(x + (1 - t).view(-1, 1, 1) * v - target).abs()[1]
    assert moved[:, 2:].max().item() < 1e-5
    assert 0.05 < moved[:, :2].max().item() <= 8 * 0.05 + 1e-5
    assert _endpoint_energy(many, x, t, mask)[1] < _endpoint_energy(once, x, t, mask)[1]


def test_descent_reaches_a_clash_free_chain_and_stops_there():
    from domains.proteins.clash_guidance import clash_descent

    _, tight = _helix_and_tangle()
    n = len(tight)
    residues = torch.ones(1, n, dtype=torch.bool)

    def energy_after(moved):
        angles = tight[None].clone()
        angles[..., :2] += moved
        return clash_energy(angles_to_backbone(angles, residues)[:, :, 1], residues).item()

    short = clash_descent(tight[None], residues, torch.zeros(6), 0.05, iterations=8)
    long = clash_descent(tight[None], residues, torch.zeros(6), 0.05, iterations=30)
    assert 0 < energy_after(short) < energy_after(torch.zeros(1, n, 2))
    assert energy_after(long) == 0.0, "projected descent should reach a clash-free chain of this 30-residue tangle"
    # more iterations than needed change nothing: the chain stopped at its first clash-free state
    assert torch.equal(clash_descent(tight[None], residues, torch.zeros(6), 0.05, iterations=40), long)


def test_iteration_option_checks(domain):
    assert domain.plan(1, length=50).info["clash_iterations"] == 1
    assert domain.plan(1, length=50, clash_iterations="4").info["clash_iterations"] == 4
    for bad in ("two", "0", -1, "2.5"):
        with pytest.raises(GensciError, match="clash-iterations"):
            domain.plan(1, length=50, clash_iterations=bad)
    with pytest.raises(ValueError, match="iterations"):
        ClashGuidedNetwork(nn.Linear(6, 6), torch.zeros(6), 0.1, iterations=0)
    on = domain.plan(2, length=50, clash_guidance=0.1, clash_iterations=3)
    assert domain.wrap_network(nn.Linear(6, 6), on, FlowMatching(Torus())).iterations == 3


def test_relaxation_moves_only_clashing_chains_and_leaves_them_clash_free(domain):
    """finish() with clash_relax: the helix is returned exactly, the tangle's phi / psi move
    (the other angles never) by at most RELAX_STEP a step, to a lower clash energy."""
    from domains.proteins.clash_guidance import RELAX_STEP

    helix, tight = _helix_and_tangle()
    n = len(tight)
    mean = domain._mean()
    x = wrap_angle(torch.stack([helix, tight]) - mean)  # the state is centred angles
    residues = torch.ones(2, n, dtype=torch.bool)

    def energies(state):
        ca = angles_to_backbone(state + mean, residues)[:, :, 1]
        return clash_energy(ca, residues)

    plan = domain.plan(2, length=n, clash_relax=0)
    assert domain.finish(x, plan) is x
    plan = domain.plan(2, length=n, clash_relax=12)
    out = domain.finish(x, plan)
    assert torch.equal(out[0], x[0])
    moved = wrap_angle(out[1] - x[1]).abs()
    assert moved[:, 2:].max().item() == 0.0
    assert 0 < moved[:, :2].max().item() <= 12 * RELAX_STEP + 1e-5
    before, after = energies(x), energies(out)
    assert before[0] == after[0] == 0 and after[1] < before[1]


def test_relax_option_checks(domain):
    assert domain.plan(1, length=50).info["clash_relax"] == 0
    assert domain.plan(1, length=50, clash_relax="8").info["clash_relax"] == 8
    for bad in ("many", "-1", 1.5):
        with pytest.raises(GensciError, match="clash-relax"):
            domain.plan(1, length=50, clash_relax=bad)
