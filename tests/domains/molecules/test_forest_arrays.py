"""The oracle's forests as arrays: the same predictions as scikit-learn, a cache that runs no code."""

import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

from domains.molecules.data import MoleculeTable, read_qm9, split_indices
from domains.molecules.forest_arrays import ForestArrays, load_forest, save_forest
from domains.molecules.oracle import ecfp_matrix, oracle_from_table
from gensci.errors import GensciError


@pytest.fixture(scope="module")
def qm9() -> MoleculeTable:
    return read_qm9(properties=["gap", "mu"], limit=600)


@pytest.fixture(scope="module")
def features(qm9: MoleculeTable):
    x, _ = ecfp_matrix(qm9.smiles)
    return x, split_indices(len(qm9), seed=0)


def test_arrays_predict_as_sklearn_on_fingerprints(qm9, features, tmp_path: Path):
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    x, splits = features
    train = splits["train"]
    gap = np.asarray(qm9.numeric["gap"])
    forest = RandomForestRegressor(n_estimators=12, random_state=0).fit(x[train].tocsc(), gap[train])
    arrays = ForestArrays.from_sklearn(forest)
    np.testing.assert_allclose(arrays.predict(x), forest.predict(x), rtol=0, atol=1e-12)
    save_forest(tmp_path / "gap.npz", arrays, {"name": "gap"})
    back, meta = load_forest(tmp_path / "gap.npz")
    assert meta == {"name": "gap"}
    np.testing.assert_array_equal(back.predict(x), arrays.predict(x))
    labels = np.where(gap > np.median(gap), "high", "low")
    classifier = RandomForestClassifier(n_estimators=12, random_state=0).fit(x[train].tocsc(), labels[train])
    arrays = ForestArrays.from_sklearn(classifier)
    assert arrays.predict(x).tolist() == classifier.predict(x).tolist()
    assert arrays.predict(x[:0]).shape == (0,)
    with pytest.raises(GensciError, match="takes 2048 features"):
        arrays.predict(np.zeros((2, 5)))


def test_the_cache_round_trip_predicts_identically(qm9, tmp_path: Path):
    fresh = oracle_from_table(qm9, ["mu", "gap"], n_estimators=6, cache_dir=tmp_path)
    cached = oracle_from_table(qm9, ["mu", "gap"], n_estimators=6, cache_dir=tmp_path)
    assert all(m.from_cache for m in cached.models.values()) and not fresh.models["mu"].from_cache
    smiles = qm9.smiles[:50] + [None]
    a, b = fresh.predict(smiles), cached.predict(smiles)
    for name in ("mu", "gap"):
        np.testing.assert_array_equal(a[name], b[name])
    assert cached.heldout_errors() == fresh.heldout_errors()


class Payload:
    """Unpickling this makes the directory ``marker``: proof that a file's code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_a_planted_pickle_is_never_loaded(qm9, tmp_path: Path):
    cache = tmp_path / "cache"
    oracle_from_table(qm9, ["mu"], n_estimators=3, cache_dir=cache)
    (written,) = (cache / "oracle").glob("*.npz")
    payload = pickle.dumps(Payload(tmp_path / "proof"))
    pickle.loads(payload)  # the payload works: unpickled, it leaves its marker
    assert (tmp_path / "proof").is_dir()
    marker = tmp_path / "ran"
    payload = pickle.dumps(Payload(marker))
    written.with_suffix(".joblib").write_bytes(payload)  # the old cache format, at the key's name
    with open(written, "wb") as handle:  # and a pickle hidden in the .npz itself
        np.savez(handle, format=np.asarray([Payload(marker)], dtype=object))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = oracle_from_table(qm9, ["mu"], n_estimators=3, cache_dir=cache)
    assert not marker.exists()
    assert not again.models["mu"].from_cache  # refit, and the cache rewritten in the safe format
    assert any("ignoring unreadable oracle cache" in str(w.message) for w in caught)
    assert load_forest(written)[1]["name"] == "mu"


def test_damaged_arrays_are_refused(features, tmp_path: Path):
    from sklearn.ensemble import RandomForestRegressor

    x, splits = features
    forest = ForestArrays.from_sklearn(RandomForestRegressor(n_estimators=2, random_state=0).fit(x[:50], np.arange(50.0)))
    loop = ForestArrays(**{**forest.__dict__, "left": np.where(forest.left > 0, 0, forest.left)})
    save_forest(tmp_path / "loop.npz", loop, {})
    with pytest.raises(GensciError, match="backwards"):
        load_forest(tmp_path / "loop.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(GensciError, match="not a readable forest"):
        load_forest(tmp_path / "junk.npz")
