"""Design presets and the ``gensci design`` command."""

import json

from gensci.cli import main
from gensci.inverse.presets import build_preset, compose_preset, list_presets


def test_every_preset_composes_and_builds_its_objectives():
    names = list_presets()
    assert {"molecules/qm9_gap_mu_qed", "proteins/helical_compact", "proteins/helical_rg16", "points/moons_corner"} <= set(names)
    for name in names:
        cfg = compose_preset(name)
        for strategy in cfg.strategies:
            kwargs = build_preset(compose_preset(name, [f"strategy={strategy}"]))
            assert kwargs["objectives"] and kwargs["strategy"].name


def test_cli_runs_a_preset_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["design", "points/moons_corner", "-o", str(out), "budget=200", "-q"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["oracle_calls"] == 200 and len(report["history"]) == 2
    # a larger budget in the same folder continues the run where it stopped
    assert main(["design", "points/moons_corner", "-o", str(out), "budget=300", "-q"]) == 0
    again = json.loads((out / "report.json").read_text())
    assert len(again["history"]) == 3
    assert [h["best"] for h in again["history"][:2]] == [h["best"] for h in report["history"]]
    # other settings in the same folder are refused with one clear line
    assert main(["design", "points/moons_corner", "-o", str(out), "batch=50", "-q"]) == 2
    assert "other settings" in capsys.readouterr().err


def test_cli_lists_presets_and_rejects_unknown_ones(capsys):
    assert main(["design", "--list"]) == 0
    assert "molecules/qm9_gap_mu_qed" in capsys.readouterr().out
    assert main(["design", "molecules/nope", "-o", "x"]) == 2
    assert "unknown design preset" in capsys.readouterr().err
