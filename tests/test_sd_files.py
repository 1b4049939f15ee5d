"""SD files: a record declaring an absurd size is refused before RDKit reserves memory for it."""

from __future__ import annotations

import pytest
from rdkit import Chem

from gensci.errors import GensciError
from gensci.sd_files import check_declared_counts, sd_supplier

V3000 = """
     RDKit          3D

  0  0  0  0  0  0  0  0  0  0999 V3000
M  V30 BEGIN CTAB
M  V30 COUNTS {atoms} 1 0 0 0
M  V30 BEGIN ATOM
M  V30 1 C 0.000000 0.000000 0.000000 0
M  V30 2 O 1.200000 0.000000 0.000000 0
M  V30 END ATOM
M  V30 BEGIN BOND
M  V30 1 2 1 2
M  V30 END BOND
M  V30 END CTAB
M  END
$$$$
"""


def test_a_sane_file_reads_as_rdkit_reads_it(tmp_path):
    path = tmp_path / "ok.sdf"
    path.write_text(V3000.format(atoms=2))
    mols = list(sd_supplier(path, removeHs=False, sanitize=False))
    assert len(mols) == 1 and mols[0].GetNumAtoms() == 2
    assert Chem.MolToSmiles(mols[0]) == Chem.MolToSmiles(next(iter(Chem.SDMolSupplier(str(path), sanitize=False))))


def test_an_absurd_declared_count_is_refused_at_once_with_its_line(tmp_path):
    path = tmp_path / "damaged.sdf"
    path.write_text(V3000.format(atoms=99_999_999))
    with pytest.raises(GensciError, match=r"line 6: the record declares 99,999,999 atoms"):
        sd_supplier(path)
    check_declared_counts(path, limit=100_000_000)  # a higher limit lets it through
