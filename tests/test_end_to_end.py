"""The whole path a user takes: train from a preset, sample from the checkpoint, read the file back."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gensci.cli import main

GENSCI = str(Path(sys.executable).parent / "gensci")
FAST = ["trainer.max_steps=60", "trainer.val_check_interval=30", "checkpoint_every=30", "trainer.log_every_n_steps=10"]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TQDM_DISABLE": "1"}
    return subprocess.run([GENSCI, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("e2e")
    out = run("train", "points/moons", *FAST, f"run_dir={work / 'run'}", cwd=work)
    assert out.returncode == 0, out.stderr[-2000:]
    return work / "run"


def test_train_writes_a_weights_only_checkpoint(trained: Path):
    payload = torch.load(trained / "model.pt", weights_only=True)
    assert payload["metrics"]["steps"] == 60
    assert payload["config"]["domain"]["dataset"] == "moons"
    assert (trained / "checkpoints" / "last.ckpt").is_file()
    assert (trained / "config.yaml").is_file() and (trained / "metrics.csv").is_file()


def test_sample_from_another_directory_and_read_back(trained: Path, tmp_path: Path):
    out = run("sample", str(trained / "model.pt"), "-n", "500", "-o", "x.csv", "--seed", "3", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    with open(tmp_path / "x.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["x0", "x1"] and len(rows) == 501
    values = torch.tensor([[float(v) for v in r] for r in rows[1:]])
    assert torch.isfinite(values).all() and values.std() > 0.1


def test_same_seed_same_samples(trained: Path, tmp_path: Path):
    for name in ("a.csv", "b.csv"):
        assert main(["sample", str(trained / "model.pt"), "-n", "50", "-o", str(tmp_path / name), "--seed", "5", "-q"]) == 0
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    main(["sample", str(trained / "model.pt"), "-n", "50", "-o", str(tmp_path / "c.csv"), "--seed", "6", "-q"])
    assert (tmp_path / "a.csv").read_text() != (tmp_path / "c.csv").read_text()


def test_evaluate_prints_a_table_and_writes_json(trained: Path, tmp_path: Path, capsys):
    assert main(["evaluate", str(trained / "model.pt"), "-n", "300", "-o", str(tmp_path / "m.json"), "-q"]) == 0
    table = capsys.readouterr().out
    assert "w2" in table
    metrics = json.loads((tmp_path / "m.json").read_text())["metrics"]
    assert metrics["n_samples"] == 300 and metrics["w2"] > 0
    main(["sample", str(trained / "model.pt"), "-n", "200", "-o", str(tmp_path / "s.csv"), "-q"])
    assert main(["evaluate", str(trained / "model.pt"), "--samples", str(tmp_path / "s.csv"), "-o", str(tmp_path / "m2.json")]) == 0
    assert json.loads((tmp_path / "m2.json").read_text())["metrics"]["n_samples"] == 200


def test_resume_continues_from_the_lightning_checkpoint(trained: Path, tmp_path: Path):
    ckpt = trained / "checkpoints" / "last.ckpt"
    out = run("train", "points/moons", *FAST[1:], "trainer.max_steps=90", f"resume={ckpt}", f"run_dir={tmp_path / 'r2'}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert torch.load(tmp_path / "r2" / "model.pt", weights_only=True)["metrics"]["steps"] == 90


def _one_line_error(capsys, argv: list[str], match: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and "Traceback" not in err, err
    assert match in err, err


def test_user_mistakes_give_one_clear_line(trained: Path, tmp_path: Path, capsys):
    model = str(trained / "model.pt")
    out = str(tmp_path / "o.csv")
    _one_line_error(capsys, ["sample", model, "-n", "5", "-o", out, "--condition", "gap=1"], "unknown condition 'gap'")
    _one_line_error(capsys, ["sample", model, "-n", "5", "-o", out, "--condition", "gap"], "must look like name=value")
    _one_line_error(capsys, ["sample", model, "-n", "5", "-o", out, "--guidance", "2"], "guidance needs")
    _one_line_error(capsys, ["sample", model, "-n", "5", "-o", out, "--sampler", "rk45"], "unknown sampler 'rk45'")
    _one_line_error(capsys, ["sample", model, "-n", "5", "-o", out, "--sampler", "ddpm"], "samplers that can drive it: euler, heun")
    _one_line_error(capsys, ["sample", model, "-n", "5", "-o", out, "--steps", "0"], "steps")
    _one_line_error(capsys, ["sample", model, "-n", "0", "-o", out], "must be positive")
    _one_line_error(capsys, ["sample", str(tmp_path / "missing.pt"), "-n", "5", "-o", out], "no such file")
    broken = tmp_path / "broken.pt"
    broken.write_bytes((trained / "model.pt").read_bytes()[:2000])
    _one_line_error(capsys, ["sample", str(broken), "-n", "5", "-o", out], "corrupt or truncated")
    _one_line_error(capsys, ["train", "points/moons", "trainer.max_steps==3"], "bad config override")
    _one_line_error(capsys, ["train", "points/moons", "optim.lrr=1"], "did you mean 'optim.lr'?")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,oops\n")
    _one_line_error(capsys, ["train", "points/csv", f"domain.path={bad}", f"run_dir={tmp_path / 'bad'}"], "line 3: column 'b' holds 'oops'")
    _one_line_error(capsys, ["train", "points/csv", f"run_dir={tmp_path / 'none'}"], "domain.path=FILE.csv")
    assert not (tmp_path / "o.csv").exists(), "a failed command leaves no output file"
