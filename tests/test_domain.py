"""The domain contract's shared parts: the size-range parser and the statistics defaults."""

from typing import Any

import pytest
import torch

from gensci.domain import Domain, SamplePlan, parse_count_range
from gensci.errors import GensciError


def test_count_ranges_parse_one_way_for_every_option():
    assert parse_count_range(None, 1, 9) is None
    assert parse_count_range(9, 1, 9) == (9, 9)
    assert parse_count_range(" 5..9 ", 1, 9) == (5, 9)
    assert parse_count_range("3..3", 3, 9999, what="--length", unit="residues") == (3, 3)
    with pytest.raises(GensciError, match=r"--atoms must be a number of heavy atoms \(N\) or a range \(LO\.\.HI\), got 'x'"):
        parse_count_range("x", 1, 9)
    with pytest.raises(GensciError, match="--length must be a number of residues"):
        parse_count_range("10..x", 3, 9999, what="--length", unit="residues")
    for bad in ("9.0", "5..", "..5", "True", "5...9"):
        with pytest.raises(GensciError, match="must be a number"):
            parse_count_range(bad, 1, 9)
    with pytest.raises(GensciError, match="the range is empty"):
        parse_count_range("7..5", 1, 9)
    with pytest.raises(GensciError, match="'40': the model makes 1 to 29 heavy atoms"):
        parse_count_range("40", 1, 29)
    with pytest.raises(GensciError, match="the model makes 3 to 9999 residues"):
        parse_count_range("2", 3, 9999, what="--length", unit="residues")


class _Counts(Domain):
    """The least a domain writes: prepare() sets self._stats; the rest are defaults."""

    name = "counts"

    def __init__(self):
        self.prepared = 0

    def prepare(self) -> None:
        self.prepared += 1
        self._stats = {"dim": 2, "conditions": [{"name": "kind", "kind": "categorical", "num_classes": 2,
                                                  "classes": ["a", "b"]}]}

    def dataset(self, split: str):
        return []

    def network_kwargs(self) -> dict[str, Any]:
        return {"dim": self._require_stats()["dim"], "conditions": self.conditions}

    def plan(self, n: int, conditions=None, **options: Any) -> SamplePlan:
        return SamplePlan(shape=(n, 2))

    def decode(self, x, plan):
        return x

    def write(self, samples, path):
        return path

    def evaluate(self, samples, split: str = "test") -> dict[str, float]:
        return {}


def test_statistics_defaults_prepare_lazily_and_restore_without_data():
    d = _Counts()
    assert d.conditions[0]["classes"] == ["a", "b"] and d.prepared == 1
    s = d.stats()
    assert s["dim"] == 2 and d.prepared == 1  # computed once
    s["dim"] = 99
    assert d.stats()["dim"] == 2  # a copy
    fresh = _Counts()
    fresh.load_stats(d.stats())
    assert fresh.network_kwargs() == d.network_kwargs() and fresh.prepared == 0
    d.conditions[0]["name"] = "changed"
    assert d.conditions[0]["name"] == "kind"


def test_a_domain_without_conditions_and_one_whose_prepare_forgets_the_statistics():
    d = _Counts()
    d.load_stats({"dim": 3})
    assert d.conditions == []

    class Forgetful(_Counts):
        def prepare(self) -> None:
            pass

    with pytest.raises(GensciError, match=r"Forgetful.prepare\(\) computed no statistics"):
        Forgetful().stats()


def test_a_mask_covers_the_leading_axes_of_the_state():
    from gensci.core.spaces import expand_mask

    x = torch.zeros(2, 4, 4, 3)
    for mask in (torch.ones(2, 4), torch.ones(2, 4, 4), torch.ones(2, 4, 4, 3)):
        m = expand_mask(mask, x)
        assert m.shape[: mask.ndim] == mask.shape and m.ndim == x.ndim and (m * x).shape == x.shape


def test_outputs_are_checked_before_sampling(tmp_path):
    import gensci

    points = gensci.load("points/moons").domain
    assert points.check_output(tmp_path / "new" / "x.csv") == tmp_path / "new" / "x.csv"
    assert (tmp_path / "new").is_dir()  # made, and probed with a scratch file that is gone again
    assert list((tmp_path / "new").iterdir()) == []
    with pytest.raises(GensciError, match="writes .csv, .png, not .sdf"):
        points.check_output(tmp_path / "x.sdf")
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(GensciError, match="is a folder"):
        points.check_output(tmp_path / "folder.csv")
    (tmp_path / "afile").write_text("")
    with pytest.raises(GensciError, match="is a file, so nothing can be written below it"):
        points.check_output(tmp_path / "afile" / "x.csv")
    with pytest.raises(GensciError, match="cannot be written"):
        points.check_output("/proc/no-such-folder/x.csv")


def test_a_folder_domain_refuses_a_file_name(tmp_path):
    from domains.proteins.domain import ProteinsDomain

    proteins = ProteinsDomain.__new__(ProteinsDomain)  # the check needs no data
    assert proteins.check_output(tmp_path / "chains") == tmp_path / "chains"
    assert proteins.check_output(tmp_path / "one.pdb") == tmp_path / "one.pdb"
    with pytest.raises(GensciError, match="writes a folder, .pdb, not .csv"):
        proteins.check_output(tmp_path / "x.csv")
    (tmp_path / "taken").write_text("")
    with pytest.raises(GensciError, match="is a file; the proteins domain writes a folder"):
        proteins.check_output(tmp_path / "taken")
