"""The bundled models load, sample and carry the record of how they were made."""

import json
from pathlib import Path

import numpy as np
import pytest

import gensci
from gensci.cli import main
from gensci.model import bundled_models

BUNDLED = bundled_models()


def test_the_quickstart_models_are_bundled():
    assert {"points/moons", "points/labelled_moons"} <= set(BUNDLED)


@pytest.mark.parametrize("name", sorted(n for n in BUNDLED if n.startswith("points/")))
def test_bundled_model_samples_and_has_its_record(name: str, tmp_path: Path):
    path = BUNDLED[name]
    assert path.stat().st_size < 20 * 2**20
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["experiment"] == name and "w2" in record["metrics"]["unconditional"]
    model = gensci.load(name)
    pts = model.sample(300, seed=0, progress=False)
    assert np.isfinite(pts.x).all()
    # the model still reaches the quality recorded beside it (same sampler, fresh draw)
    w2 = model.evaluate(model.sample(2000, seed=1, progress=False))["w2"]
    assert w2 < record["metrics"]["unconditional"]["w2"] * 1.1 + 0.02


def test_quickstart_command_writes_a_csv(tmp_path: Path):
    out = tmp_path / "moons.csv"
    assert main(["sample", "points/moons", "-n", "1000", "-o", str(out), "-q"]) == 0
    rows = out.read_text().strip().splitlines()
    assert rows[0] == "x0,x1" and len(rows) == 1001
