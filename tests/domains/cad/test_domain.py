"""The CAD domain end to end on the hand-written fixtures (a folder of DeepCAD JSON): both
stages train, sampling writes a folder of STEP / STL / JSON with a summary that accounts for
every part, and the folder reads back."""

import json
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

pytest.importorskip("OCP")

import gensci  # noqa: E402
from domains.cad.domain import CADDomain  # noqa: E402
from domains.cad.export import read_step  # noqa: E402
from gensci.config import compose  # noqa: E402
from gensci.errors import GensciError  # noqa: E402
from gensci.training.train import train  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


def test_a_json_folder_is_a_data_set_and_bad_files_are_counted():
    domain = CADDomain(source=str(FIXTURES), progress=False)
    parts = domain.parts()
    n_json = len(list(FIXTURES.glob("*.json")))
    assert len(parts) + sum(parts.skipped.values()) == n_json  # every file is a part or a counted reason
    assert sum(parts.skipped.values()) >= 5  # the files made to be rejected (and golden.json)
    assert parts.vectors.shape[1:] == (60, 17) and np.all(parts.size > 0)
    assert sum(len(domain.split(s)) for s in ("train", "val", "test")) == len(parts)
    domain.prepare()
    names = [c["name"] for c in domain.conditions]
    assert names == ["width", "depth", "height"]  # no family in DeepCAD files


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("cad") / "run"
    cfg = compose("cad/tiny", [f"domain.source={FIXTURES}", "domain.progress=false", "batch_size=16",
                               "stages.autoencoder.trainer.max_steps=40", "trainer.max_steps=40",
                               "trainer.enable_progress_bar=false", f"run_dir={run}", "threads=1"])
    return train(cfg)


def test_sampling_writes_steps_the_kernel_reads_and_a_summary_of_every_part(tiny_model, tmp_path):
    model = gensci.load(tiny_model)
    model.domain.progress = False
    samples = model.sample(6, seed=0, progress=False, redraws=1)
    assert len(samples) == 6
    out = model.write(samples, tmp_path / "parts")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 6 and len(summary["attempts"]) == 6
    failed = {f["part"] for f in summary["failures"]}
    assert len(failed) == 6 - summary["strict_valid"]
    for i in range(6):
        step = out / f"part_{i:03d}.step"
        if i in failed:
            cause = next(f["cause"] for f in summary["failures"] if f["part"] == i)
            assert cause  # a reason for every failure
        else:
            assert step.is_file() and (out / f"part_{i:03d}.stl").is_file() and (out / f"part_{i:03d}.json").is_file()
            read_step(step)  # the kernel reads it back
    back = model.domain.read(out)
    assert len(back) == 6
    assert sum(p.sequence is not None for p in back) == summary["decoded"]
    metrics = model.evaluate(back)
    assert 0.0 <= metrics["strict_validity"] <= 1.0 and metrics["n"] == 6


def test_a_single_file_output_is_refused(tiny_model, tmp_path):
    model = gensci.load(tiny_model)
    samples = model.sample(1, seed=0, progress=False, redraws=0)
    with pytest.raises(GensciError, match="folder"):
        model.write(samples, tmp_path / "part.step")


def test_unknown_conditions_are_named(tiny_model):
    model = gensci.load(tiny_model)
    with pytest.raises(GensciError, match="width"):
        model.sample(2, conditions={"family": "flange"}, progress=False)
