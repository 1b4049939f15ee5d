"""Readers (QM9, MOSES, CSV, SDF), splits, featurisation and the on-disk cache."""

import importlib.util

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from rdkit import Chem

from domains.molecules.data import HARTREE_TO_EV, read_csv, read_moses, read_qm9, read_sdf, split_indices, table_splits
from domains.molecules.decode import canonical_smiles, decode_strict
from domains.molecules.graph import MolecularVocabulary
from domains.molecules.store import MolecularGraphs, featurise, load_graphs
from gensci.errors import GensciError

requires_moses = pytest.mark.skipif(
    importlib.util.find_spec("moses") is None, reason="molsets (MOSES data) is not installed: pip install --no-deps molsets"
)


CSV = "SMILES,logp,label,fold\nCCO,0.5,a,train\nnot_a_smiles,1.0,b,train\nc1ccccc1,,b,test\nC1CC,2.0,,val\nC[NH3+],3.5,,val\n"


def _csv(tmp_path: Path, text: str = CSV) -> Path:
    path = tmp_path / "mols.csv"
    path.write_text(text)
    return path


def test_csv_skips_bad_smiles_with_one_warning_and_keeps_missing_values(tmp_path: Path):
    with pytest.warns(UserWarning) as record:
        table = read_csv(_csv(tmp_path), smiles_column="smiles", numeric=["logp"], categorical=["label"], split_column="fold")
    messages = [str(w.message) for w in record]
    assert len(messages) == 1 and "skipped 2 of 5 rows" in messages[0]
    assert table.smiles == ["CCO", "c1ccccc1", "C[NH3+]"] and table.skipped == 2
    np.testing.assert_array_equal(np.isnan(table.numeric["logp"]), [False, True, False])
    assert table.numeric["logp"][2] == 3.5 and table.categorical["label"] == ["a", "b", None]
    assert table.split == ["train", "test", "val"]


@pytest.mark.filterwarnings("ignore:.*skipped 2 of 5 rows")
def test_csv_guesses_property_kinds_and_reports_user_mistakes(tmp_path: Path):
    table = read_csv(_csv(tmp_path))
    assert set(table.numeric) == {"logp"} and set(table.categorical) == {"label", "fold"}
    with pytest.raises(GensciError, match="no SMILES column 'smi'"):
        read_csv(_csv(tmp_path), smiles_column="smi")
    with pytest.raises(GensciError, match="property 'label' holds 'a', which is not a number"):
        read_csv(_csv(tmp_path), numeric=["label"])
    with pytest.raises(GensciError, match="does not exist"):
        read_csv(tmp_path / "missing.csv")
    with pytest.raises(GensciError, match="split column 'label' holds 'a'"):
        read_csv(_csv(tmp_path, "smiles,label\nCC,a\n"), split_column="label")


def test_sdf_round_trip_with_properties(tmp_path: Path):
    path = tmp_path / "mols.sdf"
    writer = Chem.SDWriter(str(path))
    rows = [("CCO", 1.5, "x"), ("c1ccncc1", None, "y"), ("CC(=O)[O-]", -2.0, None)]
    for smiles, value, label in rows:
        mol = Chem.MolFromSmiles(smiles)
        if value is not None:
            mol.SetProp("energy", str(value))
        if label is not None:
            mol.SetProp("kind", label)
        writer.write(mol)
    writer.close()
    with open(path, "a") as handle:  # a broken record at the end
        handle.write("broken\n  RDKit\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\n$$$$\n")
    with pytest.warns(UserWarning, match="skipped 1 of 4 records"):
        table = read_sdf(path, numeric=["energy"], categorical=["kind"])
    assert table.smiles == [canonical_smiles(s) for s, _, _ in rows]
    assert table.numeric["energy"][0] == 1.5 and math.isnan(table.numeric["energy"][1]) and table.numeric["energy"][2] == -2.0
    assert table.categorical["kind"] == ["x", "y", None]


@requires_moses
def test_qm9_and_moses_readers():
    qm9 = read_qm9(["mu", "gap"], limit=30)
    assert len(qm9) == 30 and qm9.smiles[:3] == ["C", "N", "O"]
    assert qm9.units == {"mu": "D", "gap": "Ha"} and qm9.numeric["gap"][0] == pytest.approx(0.5048)
    ev = read_qm9(["gap"], limit=1, energy_unit="eV")
    assert ev.units["gap"] == "eV" and ev.numeric["gap"][0] == pytest.approx(0.5048 * HARTREE_TO_EV)
    with pytest.raises(GensciError, match="unknown QM9 properties"):
        read_qm9(["bandgap"])
    moses = read_moses("test_scaffolds", limit=20)
    assert len(moses) == 20 and moses.skipped == 0 and not moses.numeric
    with pytest.raises(GensciError, match="unknown MOSES split"):
        read_moses("valid")


def test_splits_are_seeded_disjoint_and_follow_a_user_column():
    a, b = split_indices(100, (0.8, 0.1, 0.1), seed=3), split_indices(100, (0.8, 0.1, 0.1), seed=3)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert [len(a[k]) for k in ("train", "val", "test")] == [80, 10, 10]
    assert sorted(np.concatenate(list(a.values())).tolist()) == list(range(100))
    assert not np.array_equal(a["test"], split_indices(100, (0.8, 0.1, 0.1), seed=4)["test"])
    user = table_splits(["test", "train", "train", "val"], 4)
    assert user["train"].tolist() == [1, 2] and user["val"].tolist() == [3] and user["test"].tolist() == [0]
    with pytest.raises(GensciError, match="summing to 1"):
        split_indices(10, (0.5, 0.1, 0.1))


def test_featurise_drops_molecules_that_do_not_fit_with_one_warning():
    from domains.molecules.data import MoleculeTable

    table = MoleculeTable(smiles=["CCO", "CCCCCCCC", "CS"], numeric={"y": np.array([1.0, 2.0, 3.0])})
    vocab = MolecularVocabulary((("C", 0), ("O", 0)))
    with pytest.warns(UserWarning, match="dropped 2 of 3 molecules"):
        graphs = featurise(table, vocab=vocab, max_atoms=5)
    assert graphs.smiles == ["CCO"] and graphs.numeric["y"].tolist() == [1.0]
    atoms, bonds, mask = graphs.dense([0, 0])
    assert atoms.shape == (2, 5) and bonds.shape == (2, 5, 5) and mask.sum().item() == 6
    assert decode_strict(vocab, *graphs[0]).smiles == "CCO"


@pytest.mark.filterwarnings("ignore:.*skipped 2 of 5 rows")
def test_cache_is_hit_on_second_load_and_invalidated_when_the_file_changes(tmp_path: Path):
    path, cache = _csv(tmp_path), tmp_path / "cache"
    options = dict(numeric=["logp"], categorical=["label"], split_column="fold")
    first = load_graphs(str(path), cache_dir=cache, **options)
    second = load_graphs(str(path), cache_dir=cache, **options)
    assert not first.from_cache and second.from_cache
    assert len(list((cache / "molecules").glob("*.pt"))) == 1 and not list((cache / "molecules").glob(".*tmp"))
    assert second.smiles == first.smiles and second.vocab == first.vocab and second.split == first.split
    assert torch.equal(second.edges, first.edges) and second.categorical == first.categorical
    assert torch.allclose(second.numeric["logp"], first.numeric["logp"], equal_nan=True)
    other_vocab = load_graphs(str(path), cache_dir=cache, max_atoms=9, **options)
    assert not other_vocab.from_cache and other_vocab.max_atoms == 9
    path.write_text(CSV.replace("CCO,0.5", "CCN,0.7"))
    changed = load_graphs(str(path), cache_dir=cache, **options)
    assert not changed.from_cache and changed.smiles[0] == "CCN"
    assert load_graphs(str(path), cache_dir=cache, **options).from_cache
    with pytest.raises(GensciError, match="neither 'qm9'"):
        load_graphs(str(tmp_path / "nothing.csv"), cache_dir=cache)


@requires_moses
def test_cache_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GENSCI_CACHE", str(tmp_path / "env"))
    graphs = load_graphs("moses:test", limit=10)
    assert isinstance(graphs, MolecularGraphs) and len(graphs) == 10
    assert len(list((tmp_path / "env" / "molecules").glob("*.pt"))) == 1
