"""Classifier-free guidance on labelled moons, trained through the engine end to end."""

from pathlib import Path

import numpy as np
import pytest
import torch

import gensci
from gensci.config import compose
from gensci.core.guidance import Guidance, GuidedModel
from gensci.training.train import train


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    run = tmp_path_factory.mktemp("cfg") / "run"
    cfg = compose("points/labelled_moons", ["trainer.max_steps=1500", f"run_dir={run}", "trainer.val_check_interval=1500",
                                            "trainer.enable_progress_bar=false", "model.hidden=64"])
    return gensci.load(train(cfg))


def _accuracy(model, scale: float) -> float:
    accs = []
    for label in ("0", "1"):
        pts = model.sample(500, conditions={"label": label}, guidance=scale, steps=20, seed=0, progress=False)
        accs.append(model.evaluate(pts)["label_accuracy"])
    return float(np.mean(accs))


def test_class_accuracy_rises_with_the_guidance_scale(model):
    acc = {s: _accuracy(model, s) for s in (0.0, 0.5, 1.0, 2.0)}
    assert 0.4 < acc[0.0] < 0.6, f"scale 0 ignores the label: {acc}"
    assert acc[0.5] > acc[0.0] + 0.2, acc
    assert acc[1.0] > acc[0.5], acc
    assert acc[2.0] >= acc[1.0] - 0.005 and acc[2.0] > 0.97, acc


def test_scale_zero_is_the_unconditional_model_exactly(model):
    guided = model.sample(200, conditions={"label": "1"}, guidance=0.0, steps=10, seed=4, progress=False)
    plain = model.sample(200, steps=10, seed=4, progress=False)
    np.testing.assert_array_equal(guided.x, plain.x)
    x, t = torch.randn(16, 2), torch.rand(16)
    cond = {"label": torch.ones(16)}
    net = model.network
    assert torch.equal(GuidedModel(net, Guidance(scale=0.0))(x, t, cond), net(x, t, None))
    assert torch.equal(net(x, t, {"label": torch.full((16,), float("nan"))}), net(x, t, None))
