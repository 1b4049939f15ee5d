"""Proposal strategies on a stand-in loop: what they ask the model for."""

from types import SimpleNamespace

from gensci.inverse.strategies import ConditionalSteering, arm_seed


class RecordingContext(SimpleNamespace):
    """Records every ``sample`` call's seed and conditions."""

    def sample(self, n, seed, conditions=None, guidance=None, network_wrapper=None):
        self.calls.append((seed, dict(conditions or {})))
        return list(range(n))


def round_seed(r: int) -> int:  # as DesignContext.round_seed with seed 0
    return 7_919 * r


def test_conditional_arms_never_reuse_another_rounds_noise():
    strategy = ConditionalSteering({"helix": 0.5}, arms=3)
    # a collapsed search distribution: every arm asks for nearly the same condition
    strategy.search = {"helix": {"kind": "numeric", "low": 0.0, "high": 1.0, "mean": 0.5, "std": 1e-9}}
    ctx = RecordingContext(calls=[])
    for r in range(6):
        strategy.propose(ctx, 30, r, round_seed(r))
    seeds = [seed for seed, _ in ctx.calls]
    assert len(seeds) == 18 and len(set(seeds)) == 18
    assert arm_seed(round_seed(2), 1) == arm_seed(round_seed(2), 1)  # still a function of (seed, arm)
