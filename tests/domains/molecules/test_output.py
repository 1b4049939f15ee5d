"""SDF / CSV output of generated molecules, read back by RDKit, csv and read_samples."""

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem, QED, Crippen, Descriptors, rdMolTransforms

from domains.molecules.decode import Decoded
from domains.molecules.oracle import fit_oracle
from domains.molecules.output import read_samples, record_tags, write_csv, write_sdf
from gensci.errors import GensciError

SMILES = ["CCO", "C1CC", None, "C[C@H](N)C(=O)O", "c1ccccc1"]  # two invalid ones
GAP = [0.25, 0.3, math.nan, 0.2, 0.35]


def _records(path: Path) -> list[Chem.Mol]:
    return list(Chem.SDMolSupplier(str(path), removeHs=False))


def test_2d_sdf_is_read_back_by_rdkit_with_its_tags(tmp_path: Path):
    path = tmp_path / "out" / "samples.sdf"
    written = write_sdf(SMILES, path, conditions={"gap": GAP, "hiv": "1"}, tags_per_record=[{"step": i} for i in range(5)])
    assert (written.n_records, written.n_invalid, written.n_fallback_2d) == (5, 2, 0)
    assert [p.name for p in path.parent.iterdir()] == ["samples.sdf"]  # no temporary left behind
    mols = _records(path)
    assert len(mols) == 5
    for i in (0, 3, 4):
        mol = mols[i]
        assert Chem.MolToSmiles(mol) == Chem.MolToSmiles(Chem.MolFromSmiles(SMILES[i]))
        assert mol.GetProp("SMILES") == Chem.MolToSmiles(Chem.MolFromSmiles(SMILES[i]))
        assert mol.GetProp("valid") == "1" and mol.GetProp("coordinates") == "2D"
        assert float(mol.GetProp("requested_gap")) == GAP[i] and mol.GetProp("requested_hiv") == "1"
        assert mol.GetProp("step") == str(i)
        assert not mol.GetConformer().Is3D()
        assert np.allclose(mol.GetConformer().GetPositions()[:, 2], 0.0)
        ref = Chem.MolFromSmiles(SMILES[i])
        assert float(mol.GetProp("mw")) == pytest.approx(Descriptors.MolWt(ref), abs=1e-3)
        assert float(mol.GetProp("logp")) == pytest.approx(Crippen.MolLogP(ref), abs=1e-4)
        assert float(mol.GetProp("qed")) == pytest.approx(QED.qed(ref), abs=1e-5)
        assert 1.0 <= float(mol.GetProp("sa")) <= 10.0
    for i in (1, 2):  # invalid: an empty record that keeps its place and its condition
        assert mols[i].GetNumAtoms() == 0 and mols[i].GetProp("valid") == "0" and mols[i].GetProp("SMILES") == ""
        assert not mols[i].HasProp("sa")
    assert mols[1].GetProp("requested_gap") == "0.3" and not mols[2].HasProp("requested_gap")


def test_3d_sdf_has_depth_and_sensible_bond_lengths(tmp_path: Path):
    path = tmp_path / "samples3d.sdf"
    written = write_sdf(["CCO", "c1ccccc1C(=O)O", None, "C#N"], path, three_d=True, seed=3)
    assert written.n_invalid == 1 and written.n_fallback_2d == 0
    mols = _records(path)
    expected = {frozenset("CC"): (1.38, 1.54), frozenset("CO"): (1.20, 1.44), frozenset("CH"): (1.05, 1.12),
                frozenset("OH"): (0.95, 0.99), frozenset("CN"): (1.14, 1.18)}
    for mol in (mols[0], mols[1], mols[3]):
        assert mol.GetProp("coordinates") == "3D (ETKDG+MMFF94)" and mol.GetConformer().Is3D()
        z = mol.GetConformer().GetPositions()[:, 2]
        assert np.ptp(z) > 0.1 or mol.GetNumAtoms() <= 3
        assert any(a.GetAtomicNum() == 1 for a in mol.GetAtoms())  # explicit hydrogens in 3D records
        for bond in mol.GetBonds():
            a, b = bond.GetBeginAtom(), bond.GetEndAtom()
            length = rdMolTransforms.GetBondLength(mol.GetConformer(), a.GetIdx(), b.GetIdx())
            low, high = expected[frozenset(a.GetSymbol() + b.GetSymbol())]
            assert low <= length <= high, (a.GetSymbol(), b.GetSymbol(), bond.GetBondType(), length)
    assert np.ptp(mols[1].GetConformer().GetPositions()[:, 2]) > 0.5
    # the same seed gives the same coordinates
    write_sdf(["CCO", "c1ccccc1C(=O)O", None, "C#N"], tmp_path / "again.sdf", three_d=True, seed=3)
    np.testing.assert_allclose(_records(tmp_path / "again.sdf")[1].GetConformer().GetPositions(),
                               mols[1].GetConformer().GetPositions())


def test_3d_falls_back_to_2d_with_a_tag_when_embedding_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(AllChem, "EmbedMolecule", lambda *a, **k: -1)
    written = write_sdf(["CCO"], tmp_path / "f.sdf", three_d=True)
    assert written.n_fallback_2d == 1
    mol = _records(tmp_path / "f.sdf")[0]
    assert mol.GetProp("coordinates") == "2D (3D embedding failed)" and not mol.GetConformer().Is3D()


def test_oracle_predictions_become_tags(tmp_path: Path):
    oracle = fit_oracle(["CC", "CCC", "CCCC", "CO"], {"y": [1.0, 2.0, 3.0, 0.5]}, ["CCO"], {"y": [1.5]},
                        n_estimators=3, cache_dir=tmp_path)
    tags = record_tags(["CCC", None], oracle=oracle, rdkit=False)
    assert tags[0] == {"SMILES": "CCC", "valid": "1", "predicted_y": f"{oracle.predict(['CCC'])['y'][0]:.6g}"}
    assert tags[1] == {"SMILES": "", "valid": "0"}


def test_csv_and_read_samples_round_trip(tmp_path: Path):
    decoded = [Decoded(Chem.MolFromSmiles(s) if s else None) for s in ["CCO", None, "c1ccccc1"]]
    written = write_csv(decoded, tmp_path / "s.csv", conditions={"gap": [0.1, 0.2, 0.3], "kind": ["a", "b", None]})
    assert written.n_invalid == 1
    with open(tmp_path / "s.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["SMILES"] for r in rows] == ["CCO", "", "c1ccccc1"] and rows[1]["valid"] == "0"
    assert float(rows[2]["mw"]) == pytest.approx(78.114, abs=1e-3)
    samples = read_samples(tmp_path / "s.csv")
    assert samples.smiles == ["CCO", None, "c1ccccc1"]
    cond = samples.conditions()
    np.testing.assert_array_equal(cond["gap"], [0.1, 0.2, 0.3])
    assert cond["kind"] == ["a", "b", None]


def test_read_samples_of_3d_sdf_keeps_the_sampled_smiles_and_reads_folders(tmp_path: Path):
    write_sdf(["CC(O)CC", None], tmp_path / "a.sdf", three_d=True, conditions={"gap": [0.2, 0.3]})
    (tmp_path / "b.smi").write_text("SMILES\nc1ccccc1\nNone\n")
    (tmp_path / "notes.md").write_text("ignored")
    one = read_samples(tmp_path / "a.sdf")
    assert one.smiles == ["CCC(C)O", None]  # no stereo from the 3D coordinates
    np.testing.assert_array_equal(one.conditions()["gap"], [0.2, 0.3])
    both = read_samples(tmp_path)
    assert both.smiles == ["CCC(C)O", None, "c1ccccc1", None] and len(both) == 4
    assert np.isnan(both.conditions()["gap"][2:]).all()


def test_user_mistakes_raise_clear_errors(tmp_path: Path):
    with pytest.raises(GensciError, match="condition 'gap' has 2 values for 3 molecules"):
        write_sdf(["C", "CC", "CCC"], tmp_path / "x.sdf", conditions={"gap": [1.0, 2.0]})
    assert not (tmp_path / "x.sdf").exists()
    with pytest.raises(GensciError, match="does not exist"):
        read_samples(tmp_path / "missing.sdf")
    (tmp_path / "x.pdb").write_text("")
    with pytest.raises(GensciError, match="unknown sample file type"):
        read_samples(tmp_path / "x.pdb")
    (tmp_path / "bad.csv").write_text("mol,value\nCC,1\n")
    with pytest.raises(GensciError, match="needs one SMILES column"):
        read_samples(tmp_path / "bad.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GensciError, match="no sample files"):
        read_samples(tmp_path / "empty")


def test_requested_classes_that_look_like_numbers_stay_classes(tmp_path: Path):
    from domains.molecules.samples import GeneratedMolecules

    path = write_sdf(["CCO", "c1ccccc1"], tmp_path / "s.sdf", conditions={"gap": [0.3, 0.3], "hiv": ["1", "1"]}).path
    assert GeneratedMolecules.read(path).requested == {"gap": 0.3, "hiv": 1.0}
    assert GeneratedMolecules.read(path, categorical=["hiv"]).requested == {"gap": 0.3, "hiv": "1"}


def test_empty_and_garbage_sample_files_are_refused_in_one_line(tmp_path: Path):
    from gensci.errors import GensciError

    (tmp_path / "empty.sdf").write_text("")
    with pytest.raises(GensciError, match="is empty"):
        read_samples(tmp_path / "empty.sdf")
    (tmp_path / "noise.sdf").write_bytes(bytes(range(1, 255)) * 40)
    with pytest.raises(GensciError, match="is not an SDF") as err:
        read_samples(tmp_path / "noise.sdf")
    assert "\n" not in str(err.value)
    (tmp_path / "header.csv").write_text("smiles\n")
    with pytest.raises(GensciError, match="holds no molecule records"):
        read_samples(tmp_path / "header.csv")


@pytest.mark.parametrize("name", ["s.sdf", "s.csv"])
def test_written_files_say_which_records_were_valence_corrected(tmp_path: Path, name: str):
    from domains.molecules.decode import Decoded
    from domains.molecules.samples import GeneratedMolecules

    mols = [Chem.MolFromSmiles(s) for s in ("CCO", "c1ccccc1", "CC(=O)O")]
    samples = GeneratedMolecules(strict=[Decoded(mols[0]), Decoded(None), Decoded(mols[2])],
                                 corrected=[Decoded(mols[0]), Decoded(mols[1], corrected=True), Decoded(mols[2])])
    samples.write(tmp_path / name)
    back = GeneratedMolecules.read(tmp_path / name)
    assert [d.corrected for d in back.corrected] == [False, True, False]
    assert [d.mol is not None for d in back.strict] == [True, False, True]  # validity without correction: 2 of 3
    assert [d.mol is not None for d in back.corrected] == [True, True, True]
