from pathlib import Path

import numpy as np
import pytest
import torch

from domains.points.data import make_toy, read_csv, split_indices
from gensci.errors import GensciError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "data.csv"
    path.write_text(text)
    return path


def test_reads_features_and_conditions_with_missing_values(tmp_path: Path):
    path = _write(tmp_path, "a,b,label,y\n1,2,cat,0.5\n3,4,,\n5,6,dog,1.5\n\n")
    table = read_csv(path, numeric_conditions=["y"], categorical_conditions=["label"])
    assert table.columns == ["a", "b"]
    np.testing.assert_array_equal(table.x, [[1, 2], [3, 4], [5, 6]])
    assert np.isnan(table.conditions["y"][1]) and table.conditions["y"][2] == 1.5
    assert list(table.conditions["label"]) == ["cat", None, "dog"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("a,b\n1,2\n3\n", "line 3: 1 fields, but the header has 2"),
        ("a,b\n1,2\n3,x\n", "line 3: column 'b' holds 'x', which is not a number"),
        ("a,b\n1,\n", "line 2: column 'b' is empty"),
        ("", "empty"),
        ("a,b\n", "no data rows"),
    ],
)
def test_malformed_files_give_one_clear_error(tmp_path: Path, text: str, message: str):
    with pytest.raises(GensciError, match=message):
        read_csv(_write(tmp_path, text))


def test_unknown_columns_and_bad_split_values(tmp_path: Path):
    path = _write(tmp_path, "a,b,s\n1,2,train\n3,4,later\n")
    with pytest.raises(GensciError, match="no column 'zzz'"):
        read_csv(path, numeric_conditions=["zzz"])
    with pytest.raises(GensciError, match="split column 's' holds 'later'"):
        read_csv(path, split_column="s")


def test_toys_are_seeded_and_labelled():
    a = make_toy("labelled_moons", 100, torch.Generator().manual_seed(1))
    b = make_toy("labelled_moons", 100, torch.Generator().manual_seed(1))
    np.testing.assert_array_equal(a.x, b.x)
    assert set(a.conditions["label"]) == {"0", "1"}
    with pytest.raises(GensciError, match="unknown toy"):
        make_toy("spirals?", 10, torch.Generator())


def test_split_is_a_seeded_partition():
    parts = split_indices(100, (0.8, 0.1, 0.1), torch.Generator().manual_seed(0))
    assert [len(parts[s]) for s in ("train", "val", "test")] == [80, 10, 10]
    assert sorted(torch.cat(list(parts.values())).tolist()) == list(range(100))
