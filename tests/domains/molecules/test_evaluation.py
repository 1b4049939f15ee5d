"""evaluate_molecules: hand-checked cases, property control, and independent recomputation."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from rdkit import Chem, DataStructs
from rdkit.Chem import Crippen, Descriptors, rdFingerprintGenerator

from domains.molecules.decode import Decoded
from domains.molecules.evaluation import evaluate_molecules, property_control, vocabulary_atom_types
from domains.molecules.graph import MolecularVocabulary
from domains.molecules.metrics import molecule_metrics
from domains.molecules.oracle import fit_oracle
from gensci.errors import GensciError

pytestmark = pytest.mark.filterwarnings("ignore:Scaf is undefined")  # no two-ring scaffold generated

TRAIN = ["CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCCl"]
TEST = ["CCCO", "c1ccncc1", "CC(C)O", "Cc1ccccc1", "c1ccc2ccccc2c1"]
# corrected decodes: one duplicate written two ways (OCC = CCO), one invalid, one novel aromatic
CORRECTED = ["OCC", "CCO", None, "c1ccncc1", "CC(=O)N", "CCCCl"]
STRICT = ["OCC", None, None, "c1ccncc1", None, "CCCCl"]


def test_hand_checked_distribution_metrics():
    out = evaluate_molecules(CORRECTED, STRICT, train_smiles=TRAIN, test_smiles=TEST, compute_fcd=False)
    assert out["n_generated"] == 6 and out["n_valid"] == 5
    assert out["validity"] == pytest.approx(5 / 6) and out["validity_nc"] == pytest.approx(3 / 6)
    assert out["uniqueness"] == pytest.approx(4 / 5)  # CCO twice
    assert out["novelty"] == pytest.approx(3 / 4)  # unique {CCO, c1ccncc1, CC(N)=O, CCCCl}; CCO is in train
    assert out["vun"] == pytest.approx(3 / 6)
    assert out["atom_type_coverage"] == pytest.approx(1.0)  # train has C, O, N, Cl; all generated
    assert "fcd" not in out and {"snn", "frag", "scaf", "intdiv", "intdiv2"} <= set(out)
    assert all(isinstance(v, float) for v in out.values())


def test_coverage_against_a_vocabulary_and_decoded_flags():
    vocab = MolecularVocabulary((("C", 0), ("N", 0), ("N", 1), ("O", 0), ("O", -1), ("F", 0), ("S", 0), ("Cl", 0)))
    assert vocabulary_atom_types(vocab) == {"C", "N", "N+", "O", "O-", "F", "S", "Cl"}
    decoded = [Decoded(Chem.MolFromSmiles("CCO")), Decoded(Chem.MolFromSmiles("C[N+](C)(C)C"), corrected=True),
               Decoded(None, corrected=True), Decoded(Chem.MolFromSmiles("CCF"))]
    out = evaluate_molecules(decoded, reference_atom_types=vocab, train_smiles=TRAIN, compute_fcd=False)
    assert out["atom_type_coverage"] == pytest.approx(4 / 8)  # C, O, N+, F of the eight
    assert out["validity"] == pytest.approx(3 / 4) and out["corrected"] == pytest.approx(2 / 4)
    assert out["validity_nc"] == pytest.approx(2 / 4)  # valid and untouched by the correction


def test_property_control_with_a_constant_oracle_and_exact_rdkit_properties(tmp_path: Path):
    # every train label is 2.0, so every tree is one leaf: the forest predicts 2.0 everywhere
    oracle = fit_oracle(TRAIN, {"gap": [2.0] * 5, "cls": ["a"] * 5}, TEST[:2], {"gap": [2.5, 1.0], "cls": ["a", "b"]},
                        n_estimators=4, cache_dir=tmp_path)
    assert oracle.models["gap"].heldout_error == pytest.approx(0.75)
    generated = ["CCO", None, "c1ccccc1", "CCN"]
    requested = {"gap": [1.0, 9.0, 3.5, math.nan], "cls": ["a", "b", "b", "a"], "logP": [0.0, 0.0, 2.0, 1.0]}
    out = evaluate_molecules(generated, requested=requested, oracle=oracle, train_smiles=TRAIN, compute_fcd=False)
    assert out["mae_gap"] == pytest.approx((1.0 + 1.5) / 2)  # the invalid sample and the NaN request are left out
    assert out["oracle_mae_gap"] == pytest.approx(0.75)
    assert out["accuracy_cls"] == pytest.approx(2 / 3) and out["oracle_accuracy_cls"] == pytest.approx(0.5)
    logp = [Crippen.MolLogP(Chem.MolFromSmiles(s)) for s in ("CCO", "c1ccccc1", "CCN")]
    assert out["mae_logP"] == pytest.approx((abs(logp[0]) + abs(2.0 - logp[1]) + abs(1.0 - logp[2])) / 3)
    assert "oracle_mae_logP" not in out  # exact: no oracle error to report


def test_property_mae_equals_an_independent_computation():
    from sklearn.metrics import mean_absolute_error

    rng = np.random.default_rng(0)
    generated = TEST + TRAIN
    requested = rng.uniform(40, 130, size=len(generated))
    ours = property_control(generated, {"mw": requested})["mae_mw"]
    achieved = [Descriptors.MolWt(Chem.MolFromSmiles(s)) for s in generated]
    assert ours == pytest.approx(mean_absolute_error(requested, achieved), rel=1e-12)
    requested[0] = np.nan  # a tensor of requests, one left out
    as_tensor = property_control(generated, {"mw": torch.as_tensor(requested)})["mae_mw"]
    assert as_tensor == pytest.approx(mean_absolute_error(requested[1:], achieved[1:]), rel=1e-12)


def test_similarity_metrics_agree_with_plain_rdkit():
    """IntDiv and SNN recomputed with RDKit's own Tanimoto on Morgan-2/1024 bit vectors."""
    generated = ["CCO", "c1ccncc1", "CC(=O)N", "CCCCl", "Cc1ccccc1O", "CCOC(=O)C"]
    out = evaluate_molecules(generated, train_smiles=TRAIN, test_smiles=TEST, compute_fcd=False)
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    fg = [gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in generated]
    ft = [gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in TEST]
    sims = np.array([DataStructs.BulkTanimotoSimilarity(f, fg) for f in fg])
    assert out["intdiv"] == pytest.approx(1 - sims.mean(), abs=1e-12)
    assert out["intdiv2"] == pytest.approx(1 - np.sqrt((sims**2).mean(1)).mean(), abs=1e-12)
    snn = np.mean([max(DataStructs.BulkTanimotoSimilarity(f, ft)) for f in fg])
    assert out["snn"] == pytest.approx(snn, abs=1e-12)
    assert out["uniqueness"] == 1.0 and out["novelty"] == pytest.approx(5 / 6)
    ref = molecule_metrics(generated, TRAIN, TEST, compute_fcd=False, progress=False)
    assert {k: out[k] for k in ref} == ref


def test_fcd_is_reported_against_the_test_split(tmp_path: Path):
    from fcd_torch import FCD

    generated = ["CCO", "c1ccncc1", "CC(=O)N", "CCCCl", "Cc1ccccc1O", "CCOC(=O)C"]
    out = evaluate_molecules(generated, test_smiles=TEST, cache_dir=tmp_path)
    direct = FCD(device="cpu", n_jobs=1)(gen=generated, ref=TEST)
    assert out["fcd"] == pytest.approx(direct, rel=1e-5)
    assert len(list((tmp_path / "fcd").glob("*.npz"))) == 1


def test_all_invalid_and_user_mistakes():
    with pytest.warns(RuntimeWarning):
        out = evaluate_molecules([None, "C1CC"], [None, None], train_smiles=TRAIN, compute_fcd=False,
                                 requested={"qed": [0.5, 0.5]})
    assert out["validity"] == 0.0 and out["validity_nc"] == 0.0 and out["vun"] == 0.0
    assert math.isnan(out["mae_qed"]) and math.isnan(out["novelty"])
    with pytest.raises(GensciError, match="no way to score the requested properties \\['gap'\\]"):
        evaluate_molecules(["CCO"], requested={"gap": [1.0]}, compute_fcd=False)
    with pytest.raises(GensciError, match="requested 'mw' has 2 values for 1"):
        evaluate_molecules(["CCO"], requested={"mw": [1.0, 2.0]}, compute_fcd=False)
    with pytest.raises(GensciError, match="2 strict decodes for 1"):
        evaluate_molecules(["CCO"], ["CCO", None], compute_fcd=False)
