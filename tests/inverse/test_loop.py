"""The design loop on the bundled points models: budget, dedup, failures, resume, strategies."""

import json

import numpy as np
import pytest

import gensci
from domains.points.oracles import VectorExpression
from gensci.errors import GensciError
from gensci.inverse import (BestOfN, Candidate, ConditionalSteering, Constraint, FineTuning, GradientGuidance, Objective,
                            Strategy, design, select_elites)
from gensci.inverse.strategies import Proposal


@pytest.fixture(scope="module")
def moons():
    return gensci.load("points/moons")


def corner() -> Objective:
    return Objective("closeness", VectorExpression("-((x0 - 2)**2 + (x1 - 0.5)**2)"), goal="maximize", threshold=-0.1,
                     transform={"name": "sigmoid", "low": -1.0, "high": 0.0})


def strip_time(history):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


def test_budget_is_spent_exactly_and_the_report_is_written(moons, tmp_path):
    result = design(moons, [corner()], BestOfN(), budget=250, batch=100, out=tmp_path, progress=False)
    calls = [h["oracle_calls"] for h in result.history]
    assert calls == [100, 200, 250]
    report = json.loads((tmp_path / "report.json").read_text())
    assert [h["oracle_calls"] for h in report["history"]] == calls
    for h in report["history"]:
        assert {"best", "top10_mean", "oracle_calls", "hits"} <= set(h)
    assert all(b >= a for a, b in zip(calls, calls[1:]))
    best = result.best(3)
    assert best[0].score >= best[1].score >= best[2].score
    # every candidate's file holds the vector that was scored
    x = np.asarray(result.item(best[0]))
    assert VectorExpression("-((x0 - 2)**2 + (x1 - 0.5)**2)")([x])[0] == pytest.approx(best[0].values["closeness"])
    for name in ("candidates.csv", "progress.png", "histograms.png", "best.csv"):
        assert (tmp_path / name).is_file()


class Repeat(Strategy):
    """Proposes the same three vectors every round."""

    name = "repeat"

    def propose(self, ctx, n, round, seed):
        return [Proposal(ctx.domain.collect([np.array([0.0, 0.0]), np.array([1.0, 0.0]), np.array([0.0, 0.0])]))]


def test_duplicates_are_never_scored_twice(moons, tmp_path):
    result = design(moons, [corner()], Repeat(), budget=10, batch=3, rounds=3, out=tmp_path, progress=False)
    status = [c.status for c in result.candidates]
    assert status[:3] == ["scored", "scored", "duplicate"]
    assert status[3:] == ["duplicate"] * 6
    assert result.oracle_calls == 2
    assert result.candidates[2].duplicate_of == 0


def test_a_failing_oracle_is_recorded_and_the_loop_goes_on(moons, tmp_path):
    calls = {"n": 0}

    def flaky(items):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("license server down")
        return [float("nan") if i % 2 else 1.0 for i in range(len(items))]

    objectives = [Objective("flaky", flaky, goal="maximize", transform="identity")]
    result = design(moons, objectives, BestOfN(), budget=40, batch=20, out=tmp_path, progress=False)
    first = [c for c in result.candidates if c.round == 0]
    assert all(c.status == "failed" and "license server down" in c.failures[0] for c in first)
    second = [c for c in result.candidates if c.round == 1]
    assert [c.status for c in second[:2]] == ["scored", "failed"]
    assert result.oracle_calls == 40
    assert json.loads((tmp_path / "report.json").read_text())["failed_evaluations"] == 20 + 10


def test_constraints_filter_before_scoring(moons, tmp_path):
    right = Constraint("right", lambda items: [float(x[0] > 0.5) for x in items])
    result = design(moons, [corner()], BestOfN(), constraints=[right], budget=50, batch=50, rounds=1, out=tmp_path,
                    progress=False)
    for c in result.candidates:
        assert (c.status == "scored") == (result.item(c)[0] > 0.5)
        if c.status == "infeasible":
            assert c.failures == ["constraint right"]


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("make", [BestOfN, lambda: FineTuning(BestOfN(), steps=5, lr=1e-3, batch_size=16)],
                         ids=["best_of_n", "finetune"])
def test_an_interrupted_run_resumes_with_the_same_history(moons, tmp_path, make):
    objective = corner()
    whole = design(gensci.load("points/moons"), [objective], make(), budget=400, batch=100, out=tmp_path / "whole",
                   progress=False)

    calls = {"n": 0}
    inner = objective.oracle

    def dies_in_round_2(items):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # not an oracle failure: the whole run stops
        return inner(items)

    broken = Objective("closeness", dies_in_round_2, goal="maximize", threshold=-0.1,
                       transform={"name": "sigmoid", "low": -1.0, "high": 0.0})
    with pytest.raises(KeyboardInterrupt):
        design(gensci.load("points/moons"), [broken], make(), budget=400, batch=100, out=tmp_path / "cut", progress=False)
    state = json.loads((tmp_path / "cut" / "state.json").read_text())
    assert len(state["history"]) == 2
    resumed = design(gensci.load("points/moons"), [objective], make(), budget=400, batch=100, out=tmp_path / "cut",
                     progress=False)
    assert strip_time(resumed.history) == strip_time(whole.history)
    assert [c.to_dict() for c in resumed.candidates] == [c.to_dict() for c in whole.candidates]


def test_resume_refuses_other_settings(moons, tmp_path):
    design(moons, [corner()], BestOfN(), budget=100, batch=100, out=tmp_path, progress=False)
    with pytest.raises(GensciError, match="other settings"):
        design(moons, [corner()], BestOfN(), budget=100, batch=50, out=tmp_path, progress=False)


def test_gradient_guidance_beats_best_of_n_at_equal_calls(moons, tmp_path):
    base = design(moons, [corner()], BestOfN(), budget=300, batch=100, out=tmp_path / "b", progress=False)
    guided = design(moons, [corner()], GradientGuidance(scale=2.0), budget=300, batch=100, out=tmp_path / "g", progress=False)
    mean = lambda r: np.mean([c.values["closeness"] for c in r.candidates if c.scored])  # noqa: E731
    assert mean(guided) > mean(base) + 0.3
    assert guided.hits > 3 * max(1, base.hits)


def test_conditional_steering_moves_toward_the_class_that_scores(tmp_path):
    model = gensci.load("points/labelled_moons")
    # the lower moon (label 1 in the toy) has x1 < 0.25
    low = Objective("low", VectorExpression("-x1"), goal="maximize", threshold=0.0,
                    transform={"name": "sigmoid", "low": -1.0, "high": 0.3})
    steer = ConditionalSteering(["label"], arms=4, guidance=2.0)
    result = design(model, [low], steer, budget=400, batch=100, out=tmp_path, progress=False)
    p = dict(zip(steer.search["label"]["classes"], steer.search["label"]["p"]))
    assert p["1"] > 0.8
    last = [c for c in result.candidates if c.round == 3 and c.scored]
    assert np.mean([c.hit for c in last]) > 0.7


def test_gradient_guidance_needs_a_differentiable_oracle(moons, tmp_path):
    plain = Objective("plain", lambda items: [0.5] * len(items), transform="identity")
    with pytest.raises(GensciError, match="differentiable"):
        design(moons, [plain], GradientGuidance(), budget=10, batch=10, out=tmp_path, progress=False)


def test_diversity_filter_caps_elites_per_bucket():
    cands = [Candidate(id=i, round=0, strategy="s", file="f", index=i, key=str(i), bucket="ab"[i % 2], status="scored",
                       score=1.0 - i / 10) for i in range(6)]
    elites = select_elites(cands, k=10, bucket_size=2)
    assert [c.id for c in elites] == [0, 1, 2, 3]
    assert [c.id for c in select_elites(cands, k=3, bucket_size=None)] == [0, 1, 2]


def test_finetuning_skips_candidates_the_domain_cannot_featurise(moons, tmp_path):
    from gensci.inverse.adapt import _featurisable

    result = design(moons, [corner()], BestOfN(), budget=20, batch=20, out=tmp_path, progress=False)
    ctx = result.ctx
    original = ctx.domain.featurise

    def picky(items):
        if any(np.asarray(x)[0] < 0 for x in items):
            raise GensciError("not in the vocabulary")
        return original(items)

    ctx.domain.featurise = picky
    try:
        kept = _featurisable(ctx, result.candidates)
    finally:
        ctx.domain.featurise = original
    assert kept and all(result.item(c)[0] >= 0 for c in kept)
    assert len(kept) == sum(result.item(c)[0] >= 0 for c in result.candidates)
