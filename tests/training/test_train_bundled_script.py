"""Helpers of scripts/train_bundled.py: the --compare settings, the numeric targets and the
training stages behind a model."""

from __future__ import annotations

import math

import pytest

from tests.scripts_support import load_script

bundled = load_script("train_bundled")


def test_compare_settings_name_a_sampler_the_model_own_or_options_over_either():
    assert bundled.compare_setting("euler:50") == ("euler", 50, "euler 50 steps")
    assert bundled.compare_setting(":50") == (None, 50, "own sampler 50 steps")
    assert bundled.compare_setting(":100:distortion=identity") == (
        {"distortion": "identity"}, 100, "own sampler 100 steps distortion=identity")
    assert bundled.compare_setting("heun:10:final_euler=true,distortion=power:2") == (
        {"name": "heun", "final_euler": True, "distortion": "power:2"}, 10,
        "heun 10 steps final_euler=True distortion=power:2")
    with pytest.raises(SystemExit, match="integer"):
        bundled.compare_setting("euler:many")
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        bundled.compare_setting("euler:10:final_euler")


def test_compare_sample_rows_take_one_or_several_options():
    assert bundled.sample_options("clash_guidance=0") == {"clash_guidance": "0"}
    assert bundled.sample_options("clash_guidance=0,clash_relax=0") == {"clash_guidance": "0", "clash_relax": "0"}
    assert bundled.sample_options("length=50..128") == {"length": "50..128"}
    for bad in ("", "clash_guidance", "a=1,b"):
        with pytest.raises(SystemExit, match="KEY=VALUE"):
            bundled.sample_options(bad)


def test_numeric_targets_are_mean_minus_and_plus_one_std_within_range():
    low, high = bundled.numeric_targets({"mean": 1.0, "std": 0.5, "low": 0.0, "high": 1.2})
    assert (low, high) == (0.5, 1.2)
    a, b = bundled.numeric_targets({"mean": math.log(10.0), "std": 1.0, "scale": "log"})
    assert a == pytest.approx(10.0 / math.e) and b == pytest.approx(10.0 * math.e)


def test_training_stages_follow_init_weights_through_runs_and_bundled_records(tmp_path):
    """A fine-tuned model's stages: its run's legs, after those behind its ``init_weights`` (a
    run's ``train_seconds.json``, or the ``train_seconds_stages`` of a bundled record beside the
    weights, which ends the walk)."""
    import json

    import torch

    from gensci.checkpoint import save_checkpoint

    def run(name: str, legs: list[float], init: str | None = None):
        folder = tmp_path / name
        folder.mkdir()
        config = {"init_weights": init} if init else {}
        path = save_checkpoint(folder / "model.pt", config, {"w": torch.zeros(1)}, {})
        (folder / "train_seconds.json").write_text(json.dumps(legs))
        return path

    first = run("first", [10.0, 5.0])
    second = run("second", [7.0], init=str(first))
    assert bundled.training_stages(second, second.parent / "train_seconds.json") == [15.0, 7.0]
    # a copy of a bundled checkpoint with its record: the record's stages, not the config's chain
    copied = tmp_path / "bundle"
    copied.mkdir()
    weights = save_checkpoint(copied / "model.pt", {"init_weights": str(tmp_path / "gone" / "model.pt")},
                              {"w": torch.zeros(1)}, {})
    (copied / "model.json").write_text(json.dumps({"train_seconds_stages": [100.0, 200.0]}))
    third = run("third", [3.0, 4.0], init=str(weights))
    assert bundled.training_stages(third, third.parent / "train_seconds.json") == [100.0, 200.0, 7.0]
    # one stage fine-tuned from a bundle (stages.<name>.init_weights), bundled over that bundle:
    # the earlier record's stages first; a later re-evaluation finds the run's own record there
    stage_run = tmp_path / "stage_run"
    stage_run.mkdir()
    stage_model = save_checkpoint(stage_run / "model.pt", {}, {"w": torch.zeros(1)}, {}, stages={
        "encoder": {"state_dict": {}, "metrics": {}, "config": {"init_weights": str(weights)}}})
    (stage_run / "train_seconds.json").write_text(json.dumps([20.0, 30.0]))
    (stage_run / "commands.json").write_text(json.dumps(["python train a", "python train a --resume"]))
    legs = stage_run / "train_seconds.json"
    assert bundled.training_stages(stage_model, legs) == [100.0, 200.0, 50.0]
    (copied / "model.json").write_text(json.dumps({"command": "python train a",
                                                   "train_seconds_stages": [100.0, 200.0, 50.0]}))
    assert bundled.training_stages(stage_model, legs) == [100.0, 200.0, 50.0]
    # a stage trained again in a later leg of the same run (--resume after the record was written)
    legs.write_text(json.dumps([20.0, 30.0, 40.0]))
    assert bundled.training_stages(stage_model, legs) == [100.0, 200.0, 90.0]
    alone = run("alone", [])
    (nothing,) = bundled.training_stages(alone, tmp_path / "missing.json")  # no record of its legs
    assert math.isnan(nothing)


def test_refresh_copies_sampling_keys_into_a_checkpoint_and_keeps_its_weights(tmp_path):
    import torch
    from omegaconf import OmegaConf

    from gensci.checkpoint import load_checkpoint, save_checkpoint

    path = tmp_path / "model.pt"
    config = {"sampler": {"_target_": "samplers.ode.EulerSampler", "steps": 100},
              "domain": {"crop_length": 128, "clash_guidance": 0.2}}
    weights = {"w": torch.arange(3.0)}
    save_checkpoint(path, config, weights, {"mean": 1.0}, {"loss": 0.5})
    current = OmegaConf.create({"sampler": {"_target_": "samplers.ode.MidpointSampler", "steps": 10},
                                "domain": {"crop_length": 64, "clash_guidance": 0.2, "clash_relax": 8}})
    changed = bundled.refresh_config(path, current, "sampler,domain.clash_relax")
    payload = load_checkpoint(path)
    assert payload["config"]["sampler"] == {"_target_": "samplers.ode.MidpointSampler", "steps": 10}
    assert payload["config"]["domain"] == {"crop_length": 128, "clash_guidance": 0.2, "clash_relax": 8}  # only the keys named
    assert torch.equal(payload["state_dict"]["w"], weights["w"]) and payload["stats"] == {"mean": 1.0}
    assert len(changed) == 2 and changed[1] == "domain.clash_relax: None -> 8"
    with pytest.raises(SystemExit, match="no 'domain.nothing'"):
        bundled.refresh_config(path, current, "domain.nothing")
