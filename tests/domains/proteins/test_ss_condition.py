"""Secondary-structure composition as a condition: crop labels, specs, plan errors, guidance."""

import numpy as np
import pytest
import torch

import gensci
from domains.proteins.dataset import AngleDataset, collate_angles
from domains.proteins.domain import ProteinsDomain
from domains.proteins.secondary import dssp_labels, ss_fractions
from domains.proteins.ss_condition import crop_conditions, encode_ss_conditions, ss_condition_specs
from gensci.config import compose
from gensci.core.guidance import Guidance, GuidedModel
from gensci.errors import GensciError
from gensci.training.train import train


def test_each_crop_carries_its_own_fractions(real_chains):
    labels = [dssp_labels(c.coords, c.sequence) for c in real_chains]
    angles = [torch.zeros(len(c), 6) for c in real_chains]
    data = AngleDataset(angles, crop_length=40, random_crop=True, seed=3, labels=labels)
    for i in range(len(data)):
        item = data[i]
        h, e, c = (float(item["cond"][k]) for k in ("helix", "strand", "coil"))
        assert h + e + c == pytest.approx(1.0)
        # the fractions are those of some 40-residue window of the chain's labels
        windows = {ss_fractions(labels[i][s : s + 40]) for s in range(len(labels[i]) - 39)}
        assert min(abs(h - w[0]) + abs(e - w[1]) for w in windows) < 1e-6
    batch = collate_angles([data[0], data[1]])
    assert set(batch.cond) == {"helix", "strand", "coil"} and batch.cond["helix"].shape == (2,)
    assert torch.isnan(crop_conditions(None)["helix"])
    assert collate_angles([AngleDataset(angles, 40, False)[0]]).cond is None


def test_specs_span_the_window_fractions_and_requests_are_checked():
    labels = [np.array(list("HHHHHHHHHH----------EEEEEEEEEE"))]
    specs = {s["name"]: s for s in ss_condition_specs(labels, crop_length=10)}
    # windows of 10 at stride 8 (0, 8, 16, 20): helix fractions 1, 0.2, 0, 0
    assert specs["helix"]["low"] == 0.0 and specs["helix"]["high"] == 1.0
    assert specs["strand"]["high"] == 1.0 and specs["coil"]["high"] == pytest.approx(0.8)
    specs = list(specs.values())
    cond = encode_ss_conditions({"helix": "0.6"}, specs, 3)
    assert torch.equal(cond["helix"], torch.full((3,), 0.6)) and torch.isnan(cond["strand"]).all()
    for request, message in [({"sheet": 0.5}, "unknown condition 'sheet'.*helix"), ({"helix": "lots"}, "fraction"),
                             ({"helix": 1.5}, "not a fraction"), ({"helix": 0.7, "strand": 0.6}, "more than 1")]:
        with pytest.raises(GensciError, match=message):
            encode_ss_conditions(request, specs, 3)
    narrow = [dict(s, high=0.5) for s in specs]
    with pytest.raises(GensciError, match=r"outside the training range \[0.00, 0.50\]"):
        encode_ss_conditions({"helix": 0.6}, narrow, 3)
    with pytest.raises(GensciError, match="unconditional; train with domain.ss_condition=true"):
        encode_ss_conditions({"helix": 0.6}, [], 3)
    with pytest.raises(GensciError, match="no training chain"):
        ss_condition_specs([None], 10)


def test_domain_turns_the_condition_on(data_dir):
    off = ProteinsDomain(paths=[str(data_dir)], crop_length=64)
    assert off.conditions == [] and off.network_kwargs()["conditions"] == []
    with pytest.raises(GensciError, match="unknown condition 'helix'"):
        off.plan(2, {"helix": 0.5})
    on = ProteinsDomain(paths=[str(data_dir)], crop_length=64, ss_condition=True)
    names = [c["name"] for c in on.network_kwargs()["conditions"]]
    assert names == ["helix", "strand", "coil"] and on.stats()["conditions"][0]["kind"] == "numeric"
    assert collate_angles([on.dataset("val")[0]]).cond["helix"].shape == (1,)
    restored = ProteinsDomain(paths=["/nonexistent"])
    restored.load_stats(on.stats())
    assert restored.conditions == on.conditions  # specs travel in the checkpoint statistics


@pytest.fixture(scope="module")
def model(tmp_path_factory, data_dir):
    run = tmp_path_factory.mktemp("ss") / "run"
    cfg = compose("proteins/ss_tiny", ["trainer.max_steps=30", f"domain.paths=[{data_dir}]", f"run_dir={run}",
                                       "trainer.enable_progress_bar=false", "model.hidden=32", "model.depth=1"])
    return gensci.load(train(cfg))


def test_a_tiny_conditional_model_trains_and_scale_zero_is_unconditional(model):
    assert [c["name"] for c in model.conditions] == ["helix", "strand", "coil"]
    helix = model.conditions[0]
    value = f"{(helix['low'] + helix['high']) / 2:.3f}"
    guided = model.sample(3, conditions={"helix": value}, guidance=0.0, length=30, steps=4, seed=1, progress=False)
    plain = model.sample(3, length=30, steps=4, seed=1, progress=False)
    assert all(np.array_equal(a, b) for a, b in zip(guided, plain))
    pushed = model.sample(3, conditions={"helix": value}, guidance=2.0, length=30, steps=4, seed=1, progress=False)
    assert not all(np.array_equal(a, b) for a, b in zip(pushed, plain))
    with pytest.warns(UserWarning, match="skipped sctm"):
        m = model.evaluate(pushed)
    achieved = np.array([ss_fractions(dssp_labels(bb))[0] for bb in pushed])
    assert m["condition_helix_target"] == float(value)
    assert m["condition_helix_mae"] == pytest.approx(np.abs(achieved - float(value)).mean())
    net = model.network
    x, t = torch.randn(2, 30, 6), torch.rand(2)
    cond = {"helix": torch.full((2,), float(value)), "strand": torch.full((2,), float("nan")),
            "coil": torch.full((2,), float("nan"))}
    assert torch.equal(GuidedModel(net, Guidance(scale=0.0))(x, t, cond), net(x, t, None))
    with pytest.raises(GensciError, match="outside the training range|not a fraction"):
        model.sample(1, conditions={"helix": "1.01"}, length=30, steps=2, progress=False)
