import importlib.util
import math
import sys
import types
from pathlib import Path

import pandas as pd
import pytest
import torch
from rdkit import Chem

from domains.molecules.metrics import (
    atom_type_coverage,
    atom_types,
    molecule_metrics,
    novelty,
    parse_smiles,
    uniqueness,
    validity,
)

torch.set_num_threads(1)

NAPH = "Cc1ccc2ccccc2c1"


def test_validity_counts_missing_empty_unparsable_and_unsanitisable_as_invalid():
    assert validity(["CCO", "C1CC", "", None, "c1ccccc1", "c1cccc1", "C(C)(C)(C)(C)C"]) == pytest.approx(2 / 7)
    with pytest.warns(RuntimeWarning, match="empty"):
        assert math.isnan(validity([]))


def test_uniqueness_uses_canonical_smiles_of_the_first_k_valid():
    smiles = ["CCO", "bad(", "OCC", "C(O)C", "c1ccccc1"]
    assert uniqueness(smiles) == pytest.approx(2 / 4)
    assert uniqueness(smiles, k=2) == pytest.approx(1 / 2)
    assert uniqueness(smiles, k=1) == 1.0
    with pytest.warns(RuntimeWarning, match="unique@10"):
        assert uniqueness(smiles, k=10) == pytest.approx(2 / 4)


def test_novelty_of_the_training_set_is_zero_whatever_the_spelling():
    train = ["CCO", "c1ccccc1", NAPH]
    assert novelty(train, train) == 0.0
    assert novelty(["OCC", "C1=CC=CC=C1"], train) == 0.0  # same molecules written differently
    assert novelty(["OCC", "CCN", "CCN"], train) == pytest.approx(1 / 2)  # unique valid: CCO, CCN
    assert novelty(["OCC"], train, train_is_canonical=True) == 0.0  # OCC canonicalises to CCO
    assert novelty(["OCC"], ["OCC"], train_is_canonical=True) == 1.0  # stored strings taken as they are


def test_atom_type_coverage_counts_element_and_charge():
    ref = atom_types(parse_smiles(["C[N+](C)(C)C", "CC(=O)[O-]", "CCCl"]))
    assert ref == {"C", "N+", "O", "O-", "Cl"}
    assert atom_type_coverage(parse_smiles(["CCO", "CCCl", None]), ref) == pytest.approx(3 / 5)


def test_empty_and_all_invalid_inputs_give_nan_with_a_warning():
    for generated, valid in [([], math.nan), (["xyz", None, ""], 0.0)]:
        with pytest.warns(RuntimeWarning, match="NaN"):
            out = molecule_metrics(generated, ["CCO"], ["CCN"], compute_fcd=False, progress=False)
        assert out["n_valid"] == 0
        assert (math.isnan(out["validity"]) and math.isnan(valid)) or out["validity"] == valid
        for key in ["uniqueness", "intdiv", "intdiv2", "novelty", "atom_type_coverage", "snn", "frag", "scaf"]:
            assert math.isnan(out[key]), key


# --- agreement with the MOSES reference implementation ---------------------------------

_MOSES_SPEC = importlib.util.find_spec("moses")  # locates molsets without importing it
MOSES_DATA = Path(_MOSES_SPEC.origin).parent / "dataset" / "data" if _MOSES_SPEC else Path("/nonexistent")


@pytest.fixture(scope="module")
def moses_lists() -> tuple[list, list[str], list[str]]:
    """MOSES train/test samples and a generated list (mixed: novel, train copies, respellings, duplicates, invalid), train, test."""
    if not MOSES_DATA.exists():
        pytest.skip("molsets (MOSES data) is not installed")
    train = pd.read_csv(MOSES_DATA / "train.csv.gz", nrows=2000)["SMILES"].tolist()
    test = pd.read_csv(MOSES_DATA / "test.csv.gz", nrows=450)["SMILES"].tolist()
    respelled = [Chem.MolToSmiles(Chem.MolFromSmiles(s), doRandom=True) for s in test[300:320]]
    generated = test[300:450] + train[:40] + respelled + test[310:320] + ["", "C1CC", "not smiles", "c1cccc1", None]
    return generated, train, test[:300]


@pytest.fixture(scope="module")
def moses():
    """``moses.metrics.metrics`` imported offline: it needs ``rdkit.six`` (gone from RDKit) and
    ``DataFrame.append`` (gone from pandas 2) at import time only; both are shimmed then removed."""
    six = types.ModuleType("rdkit.six")
    six.iteritems = lambda d: iter(d.items())
    added_six = "rdkit.six" not in sys.modules
    added_append = not hasattr(pd.DataFrame, "append")
    if added_six:
        sys.modules["rdkit.six"] = six
    if added_append:
        pd.DataFrame.append = lambda self, other, sort=False: pd.concat([self, other], sort=sort)
    try:
        import moses.metrics.metrics as reference
    except Exception as err:  # noqa: BLE001 - any import failure means: cannot compare
        pytest.skip(f"MOSES metrics cannot be imported offline: {type(err).__name__}: {err}")
    finally:
        if added_six:
            sys.modules.pop("rdkit.six", None)
        if added_append:
            del pd.DataFrame.append
    return reference


def test_agreement_with_moses(moses, moses_lists):
    generated, train, test = moses_lists
    ref = moses
    gen_canonical = ref.remove_invalid(generated, canonize=True)
    gen_mols = [ref.get_mol(s) for s in gen_canonical]
    test_mols = [ref.get_mol(s) for s in test]
    train_canonical = [Chem.MolToSmiles(m) for m in parse_smiles(train)]
    expected = {
        "validity": ref.fraction_valid(generated),
        "uniqueness": ref.fraction_unique(gen_canonical),
        "unique@100": ref.fraction_unique(gen_canonical, k=100),
        # MOSES matches train strings verbatim; given canonical train it is our definition
        "novelty": ref.novelty(gen_mols, train_canonical),
        "intdiv": ref.internal_diversity(gen_mols),
        "intdiv2": ref.internal_diversity(gen_mols, p=2),
        "snn": ref.SNNMetric()(gen=gen_mols, ref=test_mols),
        "frag": ref.FragMetric()(gen=gen_mols, ref=test_mols),
        "scaf": ref.ScafMetric()(gen=gen_mols, ref=test_mols),
    }
    ours = molecule_metrics(generated, train, test, compute_fcd=False, unique_at=(100,), progress=False)
    assert 0 < expected["novelty"] < 1 and expected["uniqueness"] < 1 and expected["validity"] < 1
    for key, value in expected.items():
        assert ours[key] == pytest.approx(value, abs=1e-6), key


def test_molecule_metrics_keys_and_fcd(tmp_path):
    from domains.molecules.fcd import reference_key

    generated = ["CCO", "OCC", "c1ccccc1", NAPH, "CC(=O)O", "bad("]
    train, test = ["CCO", "CCN"], ["CCN", "c1ccncc1", "Cc1ccc2ccccc2c1", "CC(=O)N", "CCCl"]
    out = molecule_metrics(generated, train, test, unique_at=(3,), cache_dir=tmp_path, progress=False)
    expected_keys = {"n_generated", "n_valid", "validity", "uniqueness", "unique@3", "intdiv", "intdiv2"}
    expected_keys |= {"novelty", "atom_type_coverage", "snn", "frag", "scaf", "fcd"}
    assert set(out) == expected_keys
    assert out["validity"] == pytest.approx(5 / 6) and out["uniqueness"] == pytest.approx(4 / 5)
    assert out["unique@3"] == pytest.approx(2 / 3) and out["novelty"] == pytest.approx(3 / 4)
    assert out["atom_type_coverage"] == pytest.approx(2 / 3)  # train types {C, O, N}; N is missing
    assert out["fcd"] > 0 and math.isfinite(out["fcd"])
    assert (tmp_path / "fcd" / f"{reference_key(test)}.npz").exists()
    no_refs = molecule_metrics(generated, None, None, progress=False)
    assert set(no_refs) == {"n_generated", "n_valid", "validity", "uniqueness", "intdiv", "intdiv2"}
