"""Fine-tuning: ``init_weights=PATH`` starts a run from an exported model's weights."""

from pathlib import Path

import pytest
import torch

from gensci.checkpoint import load_checkpoint
from gensci.config import compose
from gensci.errors import GensciError
from gensci.training.train import train


def _train(run: Path, *overrides: str) -> Path:
    cfg = compose("points/moons", [f"run_dir={run}", "trainer.max_steps=3", "trainer.val_check_interval=3",
                                   "trainer.enable_progress_bar=false", *overrides])
    return train(cfg)


def test_a_fine_tune_starts_from_the_given_weights(tmp_path: Path) -> None:
    first = _train(tmp_path / "first")
    # with a zero learning rate nothing moves, so the export must be the initial weights
    second = _train(tmp_path / "second", f"init_weights={first}", "optim.lr=0.0", "seed=11")
    a, b = load_checkpoint(first)["state_dict"], load_checkpoint(second)["state_dict"]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    fresh = _train(tmp_path / "fresh", "optim.lr=0.0", "seed=11")
    c = load_checkpoint(fresh)["state_dict"]
    assert not all(torch.equal(a[k], c[k]) for k in a), "without init_weights the seed decides the weights"


def test_weights_of_another_architecture_are_refused(tmp_path: Path) -> None:
    first = _train(tmp_path / "first")
    with pytest.raises(GensciError, match="does not fit this network"):
        _train(tmp_path / "wide", f"init_weights={first}", "model.hidden=48")
    with pytest.raises(GensciError, match="does not exist"):
        _train(tmp_path / "none", f"init_weights={tmp_path / 'missing.pt'}")
