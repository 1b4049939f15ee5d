import subprocess
import sys
from pathlib import Path

from gensci.cli import main


def test_help_runs_from_any_directory(tmp_path: Path):
    gensci = str(Path(sys.executable).parent / "gensci")
    out = subprocess.run([gensci, "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    for command in ("train", "sample", "evaluate", "models"):
        assert command in out.stdout


def test_train_lists_experiments(capsys):
    assert main(["train", "--list"]) == 0
    assert "points/moons" in capsys.readouterr().out.split()


def test_unknown_extra_arguments_are_user_errors(capsys):
    assert main(["models", "--nope"]) == 2
    assert capsys.readouterr().err.startswith("error: unexpected arguments")


def test_trajectory_needs_a_domain_that_writes_them(tmp_path, capsys):
    assert main(["sample", "points/moons", "-n", "5", "-o", str(tmp_path / "m.csv"), "--trajectory"]) == 2
    assert "cannot write trajectories" in capsys.readouterr().err
    assert not (tmp_path / "m.csv").exists()  # refused before sampling


def test_a_sampler_that_cannot_drive_the_model_is_refused_in_one_line(tmp_path, capsys):
    assert main(["sample", "points/moons", "-n", "5", "-o", str(tmp_path / "x.csv"), "--sampler", "ddpm", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err == ("error: sampler 'ddpm' needs a process with 'gaussian_posterior' and FlowMatching offers velocity; "
                   "samplers that can drive it: euler, heun, langevin, midpoint")
    assert not (tmp_path / "x.csv").exists()


def test_models_lists_headline_metrics_and_full_lists_all(capsys):
    assert main(["models"]) == 0
    short = capsys.readouterr().out.splitlines()
    line = next(row for row in short if row.startswith("molecules/qm9"))
    assert "validity=" in line and "fcd=" in line and "gensci models --full" in line and len(line) < 220
    assert main(["models", "--full"]) == 0
    full = capsys.readouterr().out
    assert "molecules/qm9  (conditions: gap, mu, aromatic)" in full and "    intdiv " in full


def test_sample_help_lists_the_domain_options(capsys):
    assert main(["sample", "proteins/bundled", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--guidance" in out and "options of the proteins domain" in out and "--length " in out
    assert main(["sample", "molecules/qm9", "-h"]) == 0
    out = capsys.readouterr().out
    assert "--3d" in out and "--oracle" in out
    assert main(["sample", "points/moons", "--help"]) == 0
    assert "takes no options of its own" in capsys.readouterr().out


def test_models_reads_the_json_records_without_torch_or_domains():
    code = ("import sys; from gensci.cli import main; main(['models']); "
            "print(sorted(m for m in ('torch', 'domains', 'hydra', 'lightning') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.splitlines()[-1] == "[]"
    assert "points/labelled_moons  conditions: label " in out.stdout


def test_a_checkpoint_without_a_record_is_listed_from_its_own_metrics(tmp_path: Path):
    from gensci.checkpoint import save_checkpoint
    from gensci.cli_models import bundled_records, model_lines

    save_checkpoint(tmp_path / "toy" / "a.pt", {}, {}, {"conditions": [{"name": "size"}]}, {"w2": 0.5, "n_samples": 9})
    save_checkpoint(tmp_path / "toy" / "b.pt", {}, {}, {}, {"w2": 0.25})
    (tmp_path / "toy" / "b.json").write_text('{"conditions": [], "train_seconds": 3, "metrics": {"unconditional": {"w2": 0.125}}}')
    records = bundled_records(tmp_path)
    assert [(r.name, r.conditions, r.metrics) for r in records] == [
        ("toy/a", ["size"], {"w2": 0.5}), ("toy/b", [], {"train_seconds": 3, "w2": 0.125})]
    assert model_lines(records)[1].startswith("toy/b                  conditions: unconditional")


def test_train_names_the_one_resume_syntax(capsys):
    assert main(["train", "points/moons", "--resume", "runs/x/checkpoints/last.ckpt"]) == 2
    assert "resume=PATH" in capsys.readouterr().err


def test_precision_is_chosen_told_once_and_bad_values_are_one_line(tmp_path, capsys, monkeypatch):
    import gensci.machine as machine

    monkeypatch.setattr(machine, "bf16_hardware", lambda device="cpu", flags=None: "AVX-512 BF16")
    out = str(tmp_path / "m.csv")
    assert main(["sample", "points/moons", "-n", "5", "-o", out, "-q"]) == 0  # auto, and moons records no check
    assert capsys.readouterr().err.strip() == ("precision: fp32 (auto: AVX-512 BF16, but no precision check is "
                                               "recorded for points/moons)")
    for flags in (["--precision", "bf16"], ["--bf16"]):
        assert main(["sample", "points/moons", "-n", "5", "-o", out, "-q", *flags]) == 0
        assert capsys.readouterr().err.strip() == "precision: bf16 (as asked)"
    assert main(["sample", "points/moons", "-n", "5", "-o", out, "-q", "--precision", "fp8"]) == 2
    assert capsys.readouterr().err.strip() == "error: --precision must be auto, fp32 or bf16, got 'fp8'"


def test_refine_and_evaluate_take_the_precision_too():
    from gensci.cli import _parser

    args, _ = _parser().parse_known_args(["refine", "atoms/conformers", "in.sdf", "-o", "x.sdf", "--precision", "fp32"])
    assert args.precision == "fp32"
    args, _ = _parser().parse_known_args(["evaluate", "points/moons", "--bf16"])
    assert args.precision == "bf16"
    args, _ = _parser().parse_known_args(["sample", "points/moons", "-o", "x.csv"])
    assert args.precision == "auto"


def test_sampler_options_reach_the_sampler_and_bad_ones_are_one_line(tmp_path, capsys):
    import numpy as np

    out = tmp_path / "m.csv"
    base = ["sample", "points/moons", "-n", "50", "-o", str(out), "-q", "--steps", "5", "--precision", "fp32"]
    assert main(base) == 0
    plain = np.loadtxt(out, delimiter=",", skiprows=1)
    assert main(base + ["--sampler-option", "distortion=polydec"]) == 0
    bent = np.loadtxt(out, delimiter=",", skiprows=1)
    assert not np.allclose(plain, bent)  # another grid, another path from the same noise
    assert main(base + ["--sampler", "heun", "--sampler-option", "final_euler=true"]) == 0
    capsys.readouterr()
    assert main(base + ["--sampler-option", "final_euler=true"]) == 2  # the moons model samples with Euler
    assert capsys.readouterr().err.strip() == ("error: sampler EulerSampler takes no option 'final_euler'; it takes "
                                               "distortion, steps")
    assert main(base + ["--sampler-option", "distortion"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert main(base + ["--sampler-option", "distortion=sigmoid"]) == 2
    assert "unknown time distortion 'sigmoid'" in capsys.readouterr().err


def test_a_guidance_interval_limits_the_guided_steps_and_bad_ones_are_one_line(tmp_path, capsys):
    import numpy as np

    out = tmp_path / "m.csv"
    base = ["sample", "points/labelled_moons", "-n", "40", "-o", str(out), "-q", "--steps", "8", "--precision", "fp32",
            "--condition", "label=1"]
    runs = {}
    for name, extra in {"conditional": [], "guided": ["--guidance", "3"],
                        "never": ["--guidance", "3", "--guidance-interval", "0.99,1"],
                        "always": ["--guidance", "3", "--guidance-interval", "0,1"]}.items():
        assert main(base + extra) == 0
        runs[name] = np.loadtxt(out, delimiter=",", skiprows=1)
    capsys.readouterr()
    np.testing.assert_array_equal(runs["always"], runs["guided"])
    np.testing.assert_array_equal(runs["never"], runs["conditional"])  # the grid's times (< 0.99) lie outside it
    assert not np.allclose(runs["guided"], runs["conditional"])
    assert main(base + ["--guidance-interval", "0.2,0.6"]) == 2
    assert capsys.readouterr().err.strip() == "error: --guidance-interval limits a guidance scale: give --guidance S too"
    assert main(base + ["--guidance", "2", "--guidance-interval", "0.6,0.2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --guidance-interval: a guidance interval needs 0 <= LO <= HI <= 1") and "\n" not in err
