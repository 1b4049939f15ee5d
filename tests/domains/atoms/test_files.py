"""SDF / XYZ writing and reading of 3D molecules, checked against RDKit's own reader."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from domains.atoms import files
from domains.atoms.files import (read_molecules, read_sdf, read_xyz, write_sdf, write_trajectory_sdf,
                                 write_xyz)
from domains.atoms.molecule import Molecule3D, from_rdkit
from gensci.errors import GensciError

SMILES = ["C[NH3+]", "CC(=O)[O-]", "[NH3+]CC([O-])=O", "c1ccccc1", "OCC#N"]


def _embedded(smiles: str, seed: int) -> Chem.Mol:
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert AllChem.EmbedMolecule(mol, randomSeed=seed) == 0
    AllChem.MMFFOptimizeMolecule(mol)
    return mol


@pytest.fixture(scope="module")
def real() -> list[Molecule3D]:
    """ETKDG + MMFF conformers; benzene keeps its aromatic bonds (class 4)."""
    return [from_rdkit(_embedded(s, i), properties={"energy": 1 / 3 + i, "step": i, "name": f"mol {i}"})
            for i, s in enumerate(SMILES)]


def _six_bond_carbon() -> Molecule3D:
    positions = np.vstack([np.zeros(3), np.eye(3) * 1.5, -np.eye(3) * 1.5])
    bonds = np.zeros((7, 7), dtype=int)
    bonds[0, 1:] = bonds[1:, 0] = 1
    return Molecule3D([6] * 7, positions, bonds=bonds, properties={"energy": -1.25})


def _same(a: Molecule3D, b: Molecule3D) -> None:
    np.testing.assert_array_equal(a.numbers, b.numbers)
    np.testing.assert_allclose(a.positions, b.positions, atol=1e-4, rtol=0)
    np.testing.assert_array_equal(a.charges, b.charges)
    if a.bonds is None:
        assert b.bonds is None
    else:
        np.testing.assert_array_equal(a.bonds, b.bonds)


@pytest.mark.parametrize("v3000", [False, True])
def test_sdf_round_trip_and_rdkit_reads_it(tmp_path, real, v3000):
    path = write_sdf(real, tmp_path / "out.sdf", v3000=v3000)
    text = path.read_text()
    assert ("V3000" in text) == v3000 and ("V2000" in text) != v3000
    assert ("M  CHG" in text) != v3000 and ("CHG=1" in text) == v3000
    assert [line for line in text.splitlines() if line.startswith("sample_")] == [f"sample_{i}" for i in range(5)]
    back = read_sdf(path)
    assert len(back) == len(real)
    for a, b in zip(real, back):
        _same(a, b)
        p = a.properties
        assert b.properties == {"energy": p["energy"], "step": float(p["step"]), "name": p["name"], "bonds_source": "generated"}
        assert b.properties["energy"] == p["energy"]   # full precision, not 6 digits
    assert back[3].bonds.max() == 4  # benzene written unkekulised
    independent = list(Chem.SDMolSupplier(str(path), sanitize=True, removeHs=False))
    for smiles, mol in zip(SMILES, independent):
        assert mol is not None
        assert mol.GetNumAtoms() == Chem.AddHs(Chem.MolFromSmiles(smiles)).GetNumAtoms()
        assert Chem.MolToSmiles(mol) == Chem.MolToSmiles(Chem.AddHs(Chem.MolFromSmiles(smiles)))


def test_v3000_chosen_for_large_molecules_and_refused_when_v2000_is_forced(tmp_path):
    rng = np.random.default_rng(0)
    big = Molecule3D(np.ones(1000, dtype=int), rng.normal(size=(1000, 3)) * 10)
    small = Molecule3D([8], [[0.0, 0.0, 0.0]])
    text = write_sdf([small, big], tmp_path / "big.sdf").read_text()
    assert text.count("V3000") == 2 and "V2000" not in text  # one version for the whole file
    back = read_sdf(tmp_path / "big.sdf")
    np.testing.assert_allclose(back[1].positions, big.positions, atol=1e-6)
    with pytest.raises(GensciError, match="molecule 1 has 1000 atoms"):
        write_sdf([small, big], tmp_path / "v2.sdf", v3000=False)
    nan = Molecule3D([6, 8], [[np.nan, 0, 0], [1.2, 0, 0]])
    assert "V3000" in write_sdf([nan], tmp_path / "nan.sdf").read_text()  # V2000's 'nan' is unreadable
    assert np.isnan(read_sdf(tmp_path / "nan.sdf")[0].positions[0, 0])


def test_invalid_molecule_is_written_with_its_bonds(tmp_path):
    bad = _six_bond_carbon()
    path = write_sdf([bad], tmp_path / "bad.sdf")
    (back,) = read_sdf(path)
    _same(bad, back)
    assert back.properties["energy"] == -1.25
    assert Chem.SDMolSupplier(str(path), sanitize=False, removeHs=False)[0].GetNumBonds() == 6
    assert Chem.SDMolSupplier(str(path), sanitize=True, removeHs=False)[0] is None  # RDKit's reader rejects it


def test_empty_molecule_keeps_its_record_and_missing_bonds_stay_missing(tmp_path, real):
    empty = Molecule3D(np.zeros(0, dtype=int), np.zeros((0, 3)))
    no_bonds = Molecule3D(real[0].numbers, real[0].positions, real[0].charges)
    inferred = Molecule3D(real[1].numbers, real[1].positions, real[1].charges, real[1].bonds)
    path = write_sdf([real[2], empty, no_bonds], tmp_path / "s.sdf", tags=[{"requested_gap": 0.25}, None, {}])
    write_sdf([inferred], tmp_path / "inferred.sdf", bonds_source=files.BONDS_INFERRED)
    back = read_sdf(path)
    assert [len(m) for m in back] == [len(real[2]), 0, len(real[0])]
    assert back[0].properties["requested_gap"] == 0.25
    assert back[1].properties["valid"] == 0.0 and "valid" not in back[0].properties
    assert back[2].bonds is None and back[2].properties["bonds_source"] == "none"
    independent = list(Chem.SDMolSupplier(str(path), sanitize=False, removeHs=False))
    assert len(independent) == 3 and independent[1].GetNumAtoms() == 0
    assert independent[2].GetNumAtoms() == len(real[0]) and independent[2].GetNumBonds() == 0
    (again,) = read_sdf(tmp_path / "inferred.sdf")
    assert again.properties["bonds_source"] == "inferred (EDM lookup)"
    np.testing.assert_array_equal(again.bonds, real[1].bonds)
    write_sdf([again], tmp_path / "rewritten.sdf")  # the label survives a read-write cycle
    assert read_sdf(tmp_path / "rewritten.sdf")[0].properties["bonds_source"] == "inferred (EDM lookup)"


def test_xyz_round_trip(tmp_path, real):
    mols = real + [Molecule3D([0], [[1.0, 2.0, 3.0]])]
    path = write_xyz(mols, tmp_path / "out.xyz")
    lines = path.read_text().splitlines()
    assert lines[0] == str(len(real[0])) and lines[1] == f'energy={1 / 3!r} step=0 name="mol 0"'
    back = read_xyz(path)
    assert len(back) == len(mols)
    for a, b in zip(mols, back):
        np.testing.assert_array_equal(a.numbers, b.numbers)
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-4, rtol=0)
        assert b.bonds is None
    assert back[2].properties == {"energy": real[2].properties["energy"], "step": 2.0, "name": "mol 2"}
    (tmp_path / "plain.xyz").write_text("2\nwater fragment\nO 0 0 0\nH 0.96 0 0\n\n")
    (plain,) = read_xyz(tmp_path / "plain.xyz")
    assert plain.properties == {"comment": "water fragment"} and plain.numbers.tolist() == [8, 1]


def test_trajectory_has_one_conformer_per_kept_time(tmp_path, real):
    times = [0.0, 0.5, 1.0]
    frames = [[Molecule3D(m.numbers, m.positions * (0.5 + t), m.charges, m.bonds if t == 1.0 else None)
               for m in real[:2]] for t in times]
    paths = write_trajectory_sdf(frames, tmp_path / "samples.sdf", times=times)
    assert [p.name for p in paths] == ["samples_000.sdf", "samples_001.sdf"]
    for i, p in enumerate(paths):
        records = list(Chem.SDMolSupplier(str(p), sanitize=False, removeHs=False))
        assert len(records) == 3 and {r.GetProp("_Name") for r in records} == {f"sample_{i}"}
        back = read_sdf(p)
        assert [m.properties["t"] for m in back] == times
        assert [m.bonds is None for m in back] == [True, True, False]
        np.testing.assert_allclose(back[1].positions, real[i].positions, atol=1e-4)
    assert len(read_molecules(tmp_path)) == 6
    with pytest.raises(GensciError, match="no time"):
        write_trajectory_sdf(frames, tmp_path / "again")


def test_failure_mid_write_leaves_no_file(tmp_path, real, monkeypatch):
    calls = {"n": 0}
    original = files.to_rdkit

    def failing(m, sanitize=False):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk on fire")
        return original(m, sanitize=sanitize)

    monkeypatch.setattr(files, "to_rdkit", failing)
    (tmp_path / "kept.sdf").write_text("old contents\n")
    for target in ("new.sdf", "kept.sdf"):
        calls["n"] = 0
        with pytest.raises(RuntimeError, match="disk on fire"):
            write_sdf(real, tmp_path / target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.sdf"]
    assert (tmp_path / "kept.sdf").read_text() == "old contents\n"
    calls["n"] = 0
    with pytest.raises(RuntimeError):  # all trajectory files or none
        write_trajectory_sdf([real[:2]] * 2, tmp_path / "traj", times=[0.0, 1.0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.sdf"]


def test_clear_errors(tmp_path, real):
    with pytest.raises(GensciError, match="does not exist"):
        read_molecules(tmp_path / "missing.sdf")
    (tmp_path / "mols.pdb").write_text("")
    with pytest.raises(GensciError, match="unknown molecule file type '.pdb'"):
        read_molecules(tmp_path / "mols.pdb")
    good = write_sdf(real[:2], tmp_path / "good.sdf").read_text()
    records = good.split("$$$$\n")
    lines = records[1].split("\n")
    lines[4] = "    not an atom line"
    records[1] = "\n".join(lines)
    (tmp_path / "broken.sdf").write_text("$$$$\n".join(records))
    first_record_lines = good.split("$$$$\n")[0].count("\n") + 1
    with pytest.raises(GensciError, match=rf"record 2 \(from line {first_record_lines + 1}\)"):
        read_sdf(tmp_path / "broken.sdf")
    (tmp_path / "bad.xyz").write_text("2\n\nC 0 0 0\nQq 1 0 0\n")
    with pytest.raises(GensciError, match="line 4"):
        read_xyz(tmp_path / "bad.xyz")
    (tmp_path / "short.xyz").write_text("3\n\nC 0 0 0\n")
    with pytest.raises(GensciError, match="promises 3 atoms"):
        read_xyz(tmp_path / "short.xyz")
    with pytest.raises(GensciError, match="formal charge"):
        write_sdf([Molecule3D([1], [[0, 0, 0]], charges=[2])], tmp_path / "h2plus.sdf")
    with pytest.raises(GensciError, match="blank"):
        write_sdf(real[:1], tmp_path / "tag.sdf", tags=[{"note": "two\n\nparagraphs"}])
