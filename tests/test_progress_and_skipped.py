"""The engine's progress lines and its record of what was skipped: quiet unless asked,
every skip named with its reason, never silent."""

import warnings

import pytest

from gensci.progress import progress_enabled, showing_progress, stage, track
from gensci.skipped import INPUT, METRIC, Skipped, collecting_skips, skip, skip_all, summary_lines


def test_progress_prints_only_when_shown(capsys):
    stage("reading 3 files")
    assert list(track([1, 2, 3], "DSSP")) == [1, 2, 3]
    assert capsys.readouterr().err == ""
    with showing_progress():
        assert progress_enabled()
        stage("reading 3 files")
        assert list(track(iter("abc"), "DSSP", total=3)) == ["a", "b", "c"]
    err = capsys.readouterr().err
    assert "reading 3 files" in err and "DSSP" in err and "3/3" in err
    assert not progress_enabled()
    with showing_progress(False):
        stage("hidden")
    assert capsys.readouterr().err == ""


def test_skips_are_recorded_inside_a_collection_and_warned_outside():
    with collecting_skips() as found:
        skip("a.pdb", "unreadable\n(garbage)")
        skip("novelty_*", "no reference set", METRIC)
        skip_all([("b.pdb", "chain break"), ("c.pdb", "bond length")], "read 3 files: skipped 2")
    assert found == [Skipped("a.pdb", "unreadable (garbage)", INPUT), Skipped("novelty_*", "no reference set", METRIC),
                     Skipped("b.pdb", "chain break"), Skipped("c.pdb", "bond length")]
    assert found[0].as_dict() == {"what": "a.pdb", "reason": "unreadable (garbage)", "kind": "input"}
    with pytest.warns(UserWarning, match="skipped a.pdb: unreadable"):
        skip("a.pdb", "unreadable")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        skip_all([("b.pdb", "x"), ("c.pdb", "y")], "read 3 files: skipped 2")
        skip_all([], "nothing")
    assert [str(w.message) for w in caught] == ["read 3 files: skipped 2"]


def test_the_summary_groups_inputs_and_metrics_and_caps_long_lists():
    items = [Skipped(f"s{i}.pdb", "unreadable") for i in range(25)] + [Skipped("kl_*", "no reference", METRIC)]
    lines = summary_lines(items, limit=20)
    assert lines[0] == "skipped 25 inputs:" and lines[1] == "  s0.pdb: unreadable"
    assert lines[21] == "  ... and 5 more (all in the JSON)"
    assert lines[22:] == ["skipped 1 metric:", "  kl_*: no reference"]
    assert summary_lines([]) == []
