import pytest

from domains.points.data import read_csv
from domains.points.io import read_points
from gensci.errors import GensciError


@pytest.mark.parametrize("content", [b"\x80\x00\xff", b"x,y\n1.0,\xff\xfe\n"])
def test_files_that_are_not_utf8_text_are_one_clear_error(tmp_path, content):
    path = tmp_path / "bin.csv"
    path.write_bytes(content)
    with pytest.raises(GensciError, match="not a readable CSV file"):
        read_points(path, ["x", "y"], [])
    with pytest.raises(GensciError, match="not a readable CSV file"):
        read_csv(path, columns=["x", "y"])


def test_a_points_file_reads_back(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text("x,y,size\n1.5,2.0,3\n-1,0.25,\n")
    table = read_points(path, ["x", "y"], [{"name": "size", "kind": "numeric"}])
    assert table.x.tolist() == [[1.5, 2.0], [-1.0, 0.25]]
    assert table.conditions["size"][0] == 3.0 and table.conditions["size"][1] != table.conditions["size"][1]
