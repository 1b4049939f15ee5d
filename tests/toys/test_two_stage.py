"""A model trained in two stages (an autoencoder, then a flow prior on its latent), end to end."""

from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

import gensci
from gensci.checkpoint import load_checkpoint
from gensci.config import compose
from gensci.errors import GensciError
from gensci.training.train import train
from tests.toys.two_stage import TwoStageDomain, make_annulus

TWO_STAGE = {
    "domain": {"_target_": "tests.toys.two_stage.TwoStageDomain"},
    "model": {"_target_": "gensci.nn.mlp.VectorFieldMLP", "hidden": 64, "depth": 3},
    "stages": {
        "autoencoder": {
            "model": {"_target_": "tests.toys.two_stage.Autoencoder", "hidden": 64},
            "objective": {"_target_": "gensci.training.objective.Reconstruction", "kind": "mse"},
            "trainer": {"max_steps": 1500},
            "optim": {"lr": 3e-3},
        },
    },
}


def two_stage_config(run_dir: Path, *extra: str):
    cfg = compose("points/moons", ["trainer.max_steps=1000", "trainer.enable_progress_bar=false",
                                   "trainer.val_check_interval=500", "trainer.limit_val_batches=1", "batch_size=128",
                                   f"run_dir={run_dir}", "threads=1", "optim.lr=2e-3", "checkpoint_every=500"])
    for key in ("domain", "model"):
        OmegaConf.update(cfg, key, TWO_STAGE[key], merge=False)
    OmegaConf.update(cfg, "stages", TWO_STAGE["stages"], merge=False, force_add=True)
    cfg.name = "annulus"
    return OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(extra)))


@pytest.fixture(scope="module")
def annulus_model(tmp_path_factory) -> Path:
    return train(two_stage_config(tmp_path_factory.mktemp("annulus") / "run"))


def test_one_file_holds_every_stage_and_loads_weights_only(annulus_model: Path):
    payload = load_checkpoint(annulus_model)  # torch.load(weights_only=True) inside
    assert payload["trained"] == ["autoencoder", "generative"]
    stage = payload["stages"]["autoencoder"]
    assert set(stage) == {"state_dict", "config", "metrics"}
    assert stage["config"]["objective"]["_target_"].endswith("Reconstruction")
    assert stage["metrics"]["steps"] == 1500 and stage["metrics"]["val_loss"] < 0.01
    assert {"latent_mean", "latent_std"} <= set(payload["stats"])


def test_the_prior_samples_through_the_frozen_decoder(annulus_model: Path, tmp_path: Path):
    model = gensci.load(annulus_model)
    decoder = model.domain.module("autoencoder")
    assert not decoder.training and not any(p.requires_grad for p in decoder.parameters())
    samples = model.sample(1000, seed=0, progress=False)
    metrics = model.evaluate(samples)
    data = TwoStageDomain().evaluate(make_annulus(1000, torch.Generator().manual_seed(5)).numpy())
    # decoded samples lie near the data's plane and fill its annulus; a Gaussian with the
    # latents' mean and spread, decoded, does not (0.63 of it falls in the annulus)
    stats = model.domain.stats()
    z = torch.randn(1000, 2, generator=torch.Generator().manual_seed(0))
    blind = TwoStageDomain().evaluate(model.domain.decode(z, None))
    assert metrics["off_manifold"] < data["off_manifold"], (metrics, data)
    assert metrics["in_annulus"] > 0.9, metrics
    assert blind["in_annulus"] < metrics["in_annulus"] - 0.2, blind
    assert len(stats["latent_mean"]) == 2
    path = model.write(samples, tmp_path / "annulus.csv")
    assert np.loadtxt(path, delimiter=",", skiprows=1).shape == (1000, 8)


def test_each_stage_trains_with_one_command_and_a_later_stage_reads_the_earlier_one(annulus_model: Path, tmp_path: Path):
    first = train(two_stage_config(tmp_path / "ae", "stage=autoencoder", "stages.autoencoder.trainer.max_steps=50"))
    payload = load_checkpoint(first)
    assert payload["trained"] == ["autoencoder"] and payload["state_dict"] == {}
    with pytest.raises(GensciError, match="holds only the stage"):
        gensci.load(first)
    prior = train(two_stage_config(tmp_path / "prior", "stage=generative", f"stages_from={annulus_model}",
                                   "trainer.max_steps=20"))
    both = load_checkpoint(prior)
    assert both["trained"] == ["autoencoder", "generative"]
    given = load_checkpoint(annulus_model)["stages"]["autoencoder"]["state_dict"]
    assert all(torch.equal(v, given[k]) for k, v in both["stages"]["autoencoder"]["state_dict"].items())
    with pytest.raises(GensciError, match="needs its 'autoencoder' stage"):
        train(two_stage_config(tmp_path / "nothing", "stage=generative", "trainer.max_steps=5"))


def test_a_stage_fine_tunes_from_another_run_and_stages_from_supplies_only_earlier_stages(annulus_model: Path,
                                                                                          tmp_path: Path):
    given = load_checkpoint(annulus_model)["stages"]["autoencoder"]["state_dict"]
    # stages.autoencoder.init_weights: with a zero learning rate the export is the given stage
    tuned = train(_init_from(annulus_model, two_stage_config(tmp_path / "tuned", "stage=autoencoder", "seed=7",
                                                             "stages.autoencoder.optim.lr=0.0",
                                                             "stages.autoencoder.trainer.max_steps=3")))
    got = load_checkpoint(tuned)["stages"]["autoencoder"]["state_dict"]
    assert all(torch.equal(v, given[k]) for k, v in got.items())
    # stage=autoencoder with stages_from: the stage is trained, not taken from that file
    fresh = train(two_stage_config(tmp_path / "fresh", "stage=autoencoder", f"stages_from={annulus_model}",
                                   "stages.autoencoder.optim.lr=0.0", "stages.autoencoder.trainer.max_steps=3", "seed=7"))
    got = load_checkpoint(fresh)["stages"]["autoencoder"]["state_dict"]
    assert not all(torch.equal(v, given[k]) for k, v in got.items())
    with pytest.raises(GensciError, match="holds no 'autoencoder' stage"):
        plain = train(compose("points/moons", [f"run_dir={tmp_path / 'plain'}", "trainer.max_steps=3",
                                               "trainer.val_check_interval=3", "trainer.enable_progress_bar=false"]))
        train(_init_from(plain, two_stage_config(tmp_path / "none", "stage=autoencoder",
                                                 "stages.autoencoder.trainer.max_steps=3")))


def test_a_stage_with_keep_best_exports_its_lowest_validation(tmp_path: Path):
    import csv

    run = tmp_path / "best"
    cfg = two_stage_config(run, "stage=autoencoder", "stages.autoencoder.trainer.max_steps=40")
    for key, value in (("keep_best", True), ("trainer.val_check_interval", 10), ("optim.ema_decay", 0.0)):
        OmegaConf.update(cfg, f"stages.autoencoder.{key}", value, force_add=True)
    model = train(cfg)
    stage = load_checkpoint(model)["stages"]["autoencoder"]
    with open(run / "autoencoder" / "metrics.csv") as f:
        rows = [(int(r["step"]), float(r["val/loss"])) for r in csv.DictReader(f) if r.get("val/loss")]
    step, loss = min(rows, key=lambda r: r[1])
    assert len(rows) == 4 and stage["metrics"]["best_step"] == step + 1
    assert stage["metrics"]["best_val_loss"] == torch.tensor(loss).item() <= stage["metrics"]["val_loss"]
    exported = load_checkpoint(run / "stages" / "autoencoder.pt")["stages"]["autoencoder"]["state_dict"]
    assert all(torch.equal(v, exported[k]) for k, v in stage["state_dict"].items())


def _init_from(path: Path, cfg):
    OmegaConf.update(cfg, "stages.autoencoder.init_weights", str(path), force_add=True)
    return cfg


def test_a_staged_run_killed_in_its_second_stage_resumes_exactly(tmp_path: Path):
    from tests.training.test_resume import Killed, KillAt

    # the autoencoder takes 100 steps and the prior 150: only the prior reaches step 120
    small = ("stages.autoencoder.trainer.max_steps=100", "trainer.max_steps=150", "checkpoint_every=1",
             "trainer.val_check_interval=50")
    whole = load_checkpoint(train(two_stage_config(tmp_path / "whole", *small)))
    run = tmp_path / "legs"
    with pytest.raises(Killed):
        train(two_stage_config(run, *small), callbacks=[KillAt(120)])
    assert (run / "stages" / "autoencoder.pt").is_file() and not (run / "model.pt").exists()
    resumed = load_checkpoint(train(two_stage_config(run, *small, f"resume={run / 'checkpoints' / 'last.ckpt'}")))
    for part in (lambda p: p["state_dict"], lambda p: p["stages"]["autoencoder"]["state_dict"]):
        a, b = part(whole), part(resumed)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
