"""A domain whose state has two fields, end to end: train, export, load, sample, write, read."""

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

import gensci
from gensci.checkpoint import load_checkpoint
from gensci.config import compose
from gensci.core.product import ProductProcess
from gensci.core.state import State
from gensci.errors import IncompatibleSampler
from gensci.training.train import train

TWO_FIELD = {
    "name": "squares",
    "domain": {"_target_": "tests.toys.two_field.TwoFieldDomain", "n_train": 2000},
    "process": {
        "_target_": "gensci.core.product.ProductProcess",
        "fields": {
            "pos": {"_target_": "gensci.core.flow.FlowMatching"},
            "types": {"_target_": "gensci.core.categorical.CategoricalDiffusion", "timesteps": None},
        },
        "weights": {"types": 0.5},
        "time_maps": {"types": 2.0},
    },
    "model": {"_target_": "tests.toys.record_mlp.RecordMLP", "hidden": 128, "depth": 3},
    "sampler": {"_target_": "samplers.ode.EulerSampler", "steps": 40},
}


def two_field_config(tmp_path: Path, steps: int = 1200):
    cfg = compose("points/moons", [f"trainer.max_steps={steps}", "trainer.enable_progress_bar=false",
                                   "trainer.val_check_interval=400", "trainer.limit_val_batches=1", "batch_size=128",
                                   f"run_dir={tmp_path / 'run'}", "threads=1", "optim.lr=2e-3"])
    for key in ("domain", "process", "model", "sampler"):
        OmegaConf.update(cfg, key, TWO_FIELD[key], merge=False)
    cfg.name = TWO_FIELD["name"]
    return cfg


@pytest.fixture(scope="module")
def squares_model(tmp_path_factory) -> Path:
    return train(two_field_config(tmp_path_factory.mktemp("squares")))


def test_a_two_field_model_trains_and_generates_both_fields_jointly(squares_model: Path, tmp_path: Path):
    payload = load_checkpoint(squares_model)  # weights only
    assert payload["trained"] == ["generative"]
    model = gensci.load(squares_model)
    assert isinstance(model.process, ProductProcess)
    samples = model.sample(400, seed=0, progress=False)
    metrics = model.evaluate(samples)
    # chance is 0.5 for the classes; an untrained model's squares are not squares
    assert metrics["type_agreement"] > 0.9, metrics
    assert metrics["edge_error"] < 0.25, metrics
    assert abs(samples.pos.mean(axis=1)).max() < 1e-5  # ZeroCoM positions
    again = model.sample(400, seed=0, progress=False)
    assert (again.pos == samples.pos).all() and (again.types == samples.types).all()
    path = model.write(samples, tmp_path / "squares.csv")
    back = model.domain.read(path)
    assert (back.types == samples.types).all() and abs(back.pos - samples.pos).max() < 1e-5


def test_records_travel_through_heun_trajectories_and_guidance_free_sampling(squares_model: Path):
    model = gensci.load(squares_model)
    samples, frames = model.sample(8, seed=1, sampler="heun", steps=10, progress=False, return_trajectory=True,
                                   trajectory_frames=4)
    assert len(frames) == 4 and len(frames[-1]) == 8
    assert (frames[-1].types == samples.types).all()
    with pytest.raises(IncompatibleSampler, match="field 'pos' .*samplers that can drive it: euler, heun"):
        model.sample(4, sampler="ddpm", progress=False)


def test_a_record_batch_moves_as_one():
    from gensci.domain import Batch

    x = State(pos=torch.zeros(2, 4, 2), types=torch.zeros(2, 4, dtype=torch.long))
    batch = Batch(x=x, mask={"pos": torch.ones(2, 4, dtype=torch.bool), "types": None}).to("cpu")
    assert len(batch) == 2 and batch.mask["types"] is None
