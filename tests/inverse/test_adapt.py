"""Fine-tuning between design rounds: elite weights by hand, and adaptation of a protein
backbone model (angles on the torus, with its secondary-structure conditions)."""

import math

import numpy as np
import pytest
import torch

import gensci
from domains.proteins.design_oracles import SecondaryStructure
from gensci.errors import GensciError
from gensci.inverse import BestOfN, ConditionalSteering, FineTuning, Objective, design
from gensci.inverse.adapt import elite_weights, finetune
from gensci.training.objective import ProcessObjective


def test_elite_weights_by_hand():
    w = elite_weights(np.array([1.0, 0.9, 0.5]), temperature=0.1)
    expected = np.array([1.0, math.exp(-1.0), math.exp(-5.0)])
    assert w == pytest.approx(expected / expected.sum())
    assert elite_weights(np.array([0.2, 0.7]), temperature=math.inf) == pytest.approx([0.5, 0.5])
    with pytest.raises(GensciError, match="temperature must be positive"):
        elite_weights(np.array([1.0]), temperature=0.0)


def _loss(ctx, cands, network) -> float:
    """The process loss of ``cands``, averaged over 16 fixed draws of time and noise."""
    objective = ProcessObjective(ctx.model.process, ctx.model.domain)
    batch = ctx.training_batch(cands)
    generator = torch.Generator().manual_seed(123)
    with torch.no_grad():
        return float(np.mean([float(objective.loss(network, batch, generator)[0]) for _ in range(16)]))


def test_finetuning_a_protein_model_fits_its_elites_and_the_loop_records_it(tmp_path):
    model = gensci.load("proteins/bundled")
    helix = Objective("helix", SecondaryStructure("helix"), goal="maximize", threshold=0.5,
                      transform={"name": "sigmoid", "low": 0.1, "high": 0.6})
    strategy = FineTuning(ConditionalSteering({"helix": 0.6}, arms=2), steps=2, lr=1e-4, batch_size=4)
    result = design(model, [helix], strategy, budget=8, batch=4, elites=4, out=tmp_path, progress=False,
                    sample={"length": 24, "steps": 5})
    assert [h["oracle_calls"] for h in result.history] == [4, 8]
    assert sorted(p.name for p in tmp_path.glob("adapted_*.pt")) == ["adapted_002.pt"]
    ctx = result.ctx
    elites = [c for c in result.candidates if c.scored]
    # every candidate carries the condition setting it was drawn with, and trains with it
    assert all(set(c.conditions) == {"helix"} for c in elites)
    cond = ctx.training_batch(elites).cond
    assert torch.isfinite(cond["helix"]).all() and torch.isnan(cond["strand"]).all()

    before = _loss(ctx, elites, model.network)
    logs = finetune(ctx, elites, replay=[], steps=30, lr=1e-4, batch_size=8, temperature=math.inf, replay_weight=0.0,
                    seed=0)
    assert math.isfinite(logs["elite_loss"])
    # a flow-matching loss keeps a large irreducible part (the pairing with noise): it falls slowly
    assert _loss(ctx, elites, model.network) < before
    assert not model.network.training  # back in evaluation mode for sampling
    assert model.precision_check is None  # fine-tuned weights are not those the bf16 check was made on


def test_finetuning_refuses_to_wrap_itself():
    with pytest.raises(GensciError, match="not another fine-tuning"):
        FineTuning(FineTuning(BestOfN()))
