"""A folder of atom sample files: what can be read is read, each unreadable file is named
with its reason, and a folder of nothing readable is a one-line error."""

import pytest

from domains.atoms.files import read_molecules
from gensci.errors import GensciError
from gensci.skipped import collecting_skips

WATER = "3\nwater\nO 0 0 0\nH 0.96 0 0\nH -0.24 0.93 0\n"


def test_unreadable_files_in_a_folder_are_listed_with_their_reason(tmp_path):
    (tmp_path / "sample_0.xyz").write_text(WATER)
    (tmp_path / "sample_1.xyz").write_text("x\nnot a count\n")
    with collecting_skips() as skipped:
        molecules = read_molecules(tmp_path)
    assert len(molecules) == 1 and len(molecules[0]) == 3
    assert [s.what for s in skipped] == ["sample_1.xyz"]
    assert "should be an atom count" in skipped[0].reason
    with pytest.raises(GensciError, match="should be an atom count"):  # a file on its own is refused
        read_molecules(tmp_path / "sample_1.xyz")
    (tmp_path / "sample_0.xyz").unlink()
    with pytest.raises(GensciError, match="none of its 1 molecule files can be read"):
        read_molecules(tmp_path)
