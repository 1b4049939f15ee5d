"""The random-forest ECFP4 property oracle: fit on train, held-out error, cache."""

from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator

from domains.molecules.data import MoleculeTable, read_qm9, split_indices
from domains.molecules.oracle import OracleSettings, ecfp_matrix, fit_oracle, oracle_from_table
from gensci.errors import GensciError


@pytest.fixture(scope="module")
def qm9() -> MoleculeTable:
    return read_qm9(properties=["gap", "mu"], limit=1200)


def test_ecfp_matrix_equals_rdkit_bits_and_marks_invalid_rows():
    smiles = ["CCO", "c1ccccc1O", None, "C1CC"]
    x, valid = ecfp_matrix(smiles)
    assert x.shape == (4, 2048) and valid.tolist() == [True, True, False, False]
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    for i in (0, 1):
        expected = generator.GetFingerprintAsNumPy(Chem.MolFromSmiles(smiles[i]))
        np.testing.assert_array_equal(x[i].toarray()[0], expected)
    assert x[2].nnz == 0 and x[3].nnz == 0


def test_oracle_fits_on_train_only_and_reports_its_heldout_mae(qm9: MoleculeTable, tmp_path: Path):
    from sklearn.ensemble import RandomForestRegressor

    splits = split_indices(len(qm9), seed=0)
    oracle = oracle_from_table(qm9, ["gap"], splits=splits, n_estimators=8, cache_dir=tmp_path)
    m = oracle.models["gap"]
    assert m.n_train == len(splits["train"]) and m.n_heldout == len(splits["test"])
    # the stored error is the MAE of the oracle's own predictions on the test rows
    y = qm9.numeric["gap"]
    pred = oracle.predict([qm9.smiles[i] for i in splits["test"]])["gap"]
    assert m.heldout_error == pytest.approx(np.abs(pred - y[splits["test"]]).mean(), rel=1e-12)
    # a dense-input forest on the same rows (sklearn's other splitter) lands close by
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    fp = lambda rows: np.stack([gen.GetFingerprintAsNumPy(Chem.MolFromSmiles(qm9.smiles[i])) for i in rows])  # noqa: E731
    ref = RandomForestRegressor(n_estimators=8, random_state=0, n_jobs=1).fit(fp(splits["train"]), y[splits["train"]])
    mae = np.abs(ref.predict(fp(splits["test"])) - y[splits["test"]]).mean()
    assert m.heldout_error == pytest.approx(mae, rel=0.1)
    assert m.heldout_error < 0.6 * m.baseline_error  # fingerprints explain much of the gap
    assert oracle.heldout_errors() == {"gap_mae": m.heldout_error}
    assert "gap" in oracle.summary() and "mae" in oracle.summary()


def test_oracle_is_cached_by_content_and_predicts_nan_for_invalid(qm9: MoleculeTable, tmp_path: Path):
    first = oracle_from_table(qm9, ["mu"], n_estimators=5, cache_dir=tmp_path)
    again = oracle_from_table(qm9, ["mu"], n_estimators=5, cache_dir=tmp_path)
    assert not first.models["mu"].from_cache and again.models["mu"].from_cache
    assert len(list((tmp_path / "oracle").glob("*.npz"))) == 1
    pred_a = first.predict(qm9.smiles[:20] + [None, "C1CC"])["mu"]
    pred_b = again.predict(qm9.smiles[:20] + [None, "C1CC"])["mu"]
    np.testing.assert_array_equal(pred_a, pred_b)
    assert np.isfinite(pred_a[:20]).all() and np.isnan(pred_a[20:]).all()
    other = oracle_from_table(qm9, ["mu"], n_estimators=6, cache_dir=tmp_path)  # new settings, new key
    assert not other.models["mu"].from_cache
    assert len(list((tmp_path / "oracle").glob("*.npz"))) == 2


def test_categorical_oracle_reports_accuracy_and_skips_missing_labels(tmp_path: Path):
    acids = ["CC(=O)O", "CCC(=O)O", "CCCC(=O)O", "OC(=O)c1ccccc1", "CCCCC(=O)O", "OC(=O)CCl", "CC(C)C(=O)O", "OC(=O)CO"]
    others = ["CCO", "CCCO", "CCN", "c1ccccc1", "CCOC", "CCCCN", "CC(C)O", "CCCl"]
    train = acids[:6] + others[:6] + ["CCCCCC"]
    labels = ["acid"] * 6 + ["other"] * 6 + [None]
    held = acids[6:] + others[6:]
    oracle = fit_oracle(train, {"kind": labels}, held, {"kind": ["acid"] * 2 + ["other"] * 2},
                        n_estimators=25, cache_dir=tmp_path)
    m = oracle.models["kind"]
    assert m.kind == "categorical" and m.metric == "accuracy" and m.n_train == 12
    assert m.classes == ["acid", "other"] and m.baseline_error == 0.5
    assert m.heldout_error == 1.0  # the carboxylic-acid bits separate the classes
    pred = oracle.predict(["CCCCCCC(=O)O", None])["kind"]
    assert pred.tolist() == ["acid", None]


def test_user_mistakes_raise_clear_errors(qm9: MoleculeTable, tmp_path: Path):
    with pytest.raises(GensciError, match="no property"):
        oracle_from_table(qm9, ["homo"], cache_dir=tmp_path)
    with pytest.raises(GensciError, match="unknown oracle settings"):
        oracle_from_table(qm9, ["gap"], trees=3, cache_dir=tmp_path)
    with pytest.raises(GensciError, match="n_estimators"):
        OracleSettings(n_estimators=0)
    with pytest.raises(GensciError, match="not aligned"):
        fit_oracle(["CC", "CO"], {"y": [1.0]}, ["CN"], {"y": [2.0]}, cache_dir=tmp_path)
    oracle = fit_oracle(["CC", "CO", "CN"], {"y": [1.0, 2.0, 3.0]}, ["CCl"], {"y": [2.0]}, n_estimators=2, cache_dir=tmp_path)
    with pytest.raises(GensciError, match="no model for 'z'"):
        oracle.predict(["CC"], ["z"])
