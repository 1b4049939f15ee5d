import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from domains.molecules import fcd
from domains.molecules.fcd import frechet_chemnet_distance, reference_key, reference_statistics

torch.set_num_threads(1)

_MOSES_SPEC = importlib.util.find_spec("moses")  # locates molsets without importing it
MOSES_TEST = Path(_MOSES_SPEC.origin).parent / "dataset" / "data" / "test.csv.gz" if _MOSES_SPEC else Path("/nonexistent")
SMALL = ["CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCCl", "c1ccncc1", "CC(C)O", "OCC(O)CO"]


def _no_chemnet(*args, **kwargs):
    raise AssertionError("ChemNet ran although the statistics should come from the cache")


def test_fcd_equals_fcd_torch_and_caches_the_reference(tmp_path):
    if not MOSES_TEST.exists():
        pytest.skip("molsets (MOSES data) is not installed")
    from fcd_torch import FCD

    smiles = pd.read_csv(MOSES_TEST, nrows=500)["SMILES"].tolist()
    reference, generated = smiles[:300], smiles[300:]
    ours = frechet_chemnet_distance(generated, reference, cache_dir=tmp_path)
    direct = FCD(device="cpu", n_jobs=1)(gen=generated, ref=reference)
    assert ours == pytest.approx(direct, abs=1e-4)
    assert (tmp_path / "fcd" / f"{reference_key(reference)}.npz").exists()


def test_second_call_hits_the_cache_and_another_list_misses_it(tmp_path, monkeypatch):
    first = reference_statistics(SMALL, cache_dir=tmp_path)
    assert first.mu.shape == (512,) and first.sigma.shape == (512, 512) and first.n == len(SMALL)
    assert len(list((tmp_path / "fcd").glob("*.npz"))) == 1
    assert not list((tmp_path / "fcd").glob(".*"))  # no temporary file left behind
    monkeypatch.setattr(fcd, "chemnet_statistics", _no_chemnet)
    again = reference_statistics(SMALL, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.mu, first.mu)
    np.testing.assert_array_equal(again.sigma, first.sigma)
    with pytest.raises(AssertionError, match="ChemNet ran"):
        reference_statistics(SMALL[:-1], cache_dir=tmp_path)
    with pytest.raises(AssertionError, match="ChemNet ran"):
        reference_statistics(SMALL[::-1], cache_dir=tmp_path)  # order is part of the key


def test_cache_location_follows_gensci_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENSCI_CACHE", str(tmp_path / "env"))
    reference_statistics(SMALL[:4])
    assert (tmp_path / "env" / "fcd" / f"{reference_key(SMALL[:4])}.npz").exists()


def test_unreadable_cache_is_recomputed(tmp_path):
    path = tmp_path / "fcd" / f"{reference_key(SMALL)}.npz"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not an npz")
    with pytest.warns(RuntimeWarning, match="unreadable"):
        stats = reference_statistics(SMALL, cache_dir=tmp_path)
    assert stats.n == len(SMALL)
    assert reference_statistics(SMALL, cache_dir=tmp_path).n == len(SMALL)  # rewritten


def test_too_few_valid_molecules_give_nan(tmp_path, monkeypatch):
    monkeypatch.setattr(fcd, "chemnet_statistics", _no_chemnet)
    with pytest.warns(RuntimeWarning, match="generated"):
        assert math.isnan(frechet_chemnet_distance(["CCO", "xx", None], SMALL, cache_dir=tmp_path))
    with pytest.warns(RuntimeWarning, match="reference"):
        assert reference_statistics(["CCO", "C1CC"], cache_dir=tmp_path) is None
    assert not (tmp_path / "fcd").exists()
