"""gensci evaluate's own checks and records: paths first, --reference only where a domain
takes one, and the JSON's lists of what was skipped (empty when nothing was)."""

import json

from gensci.cli import main


def test_missing_paths_and_unsupported_references_are_one_line_errors(tmp_path, capsys):
    assert main(["evaluate", "points/moons", "--samples", str(tmp_path / "none.csv")]) == 2
    assert capsys.readouterr().err.strip() == f"error: --samples {str(tmp_path / 'none.csv')!r}: no such file or folder"
    samples = tmp_path / "m.csv"
    assert main(["sample", "points/moons", "-n", "20", "-o", str(samples), "-q"]) == 0
    assert main(["evaluate", "points/moons", "--samples", str(samples), "--reference", str(samples),
                 "-o", str(tmp_path / "x.json")]) == 2
    assert "takes no --reference" in capsys.readouterr().err


def test_the_json_records_what_was_skipped(tmp_path, capsys):
    samples, out = tmp_path / "m.csv", tmp_path / "metrics.json"
    assert main(["sample", "points/moons", "-n", "50", "-o", str(samples), "-q"]) == 0
    assert main(["evaluate", "points/moons", "--samples", str(samples), "-o", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["skipped"] == [] and record["reference"] is None and record["metrics"]
    captured = capsys.readouterr()
    assert "skipped" not in captured.out and f"reading samples from {samples}" in captured.err


def test_the_json_records_the_precision_the_samples_were_drawn_in(tmp_path):
    out = tmp_path / "metrics.json"
    assert main(["evaluate", "points/moons", "-n", "50", "--precision", "bf16", "-o", str(out), "-q"]) == 0
    assert json.loads(out.read_text())["precision"] == {"precision": "bf16", "requested": "bf16", "reason": "as asked"}
    samples = tmp_path / "m.csv"
    assert main(["sample", "points/moons", "-n", "20", "-o", str(samples), "-q"]) == 0
    assert main(["evaluate", "points/moons", "--samples", str(samples), "-o", str(out), "-q"]) == 0
    assert json.loads(out.read_text())["precision"] is None  # read back: not known here
