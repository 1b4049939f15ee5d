"""GuacaMol's goal-directed tasks as design oracles, against the task's formula by hand."""

import math

import numpy as np
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import Crippen, rdMolDescriptors

from gensci.errors import GensciError

pytest.importorskip("guacamol")

from domains.molecules.guacamol_oracles import MPO_TASKS, GuacaMolTask, guacamol_tasks  # noqa: E402

OSIMERTINIB = "COc1cc(N(C)CCN(C)C)c(NC(=O)C=C)cc1Nc2nccc(n2)c3cn(C)c4ccccc34"
GEFITINIB = "COC1=C(C=C2C(=C1)N=CN=C2NC3=CC(=C(C=C3)F)Cl)OCCCN4CCOCC4"


def _osimertinib_mpo_by_hand(smiles: str) -> float:
    """Brown et al. 2019: (clip(sim_FCFP4 / 0.8) · minGauss(sim_ECFP6; 0.85, 0.1)
    · maxGauss(TPSA; 100, 10) · minGauss(logP; 1, 1))^(1/4)."""
    mol, ref = Chem.MolFromSmiles(smiles), Chem.MolFromSmiles(OSIMERTINIB)

    def sim(radius: int, features: bool) -> float:
        fp = [rdMolDescriptors.GetMorganFingerprint(m, radius, useFeatures=features) for m in (mol, ref)]
        return DataStructs.TanimotoSimilarity(*fp)

    def gauss(x: float, mu: float, sigma: float) -> float:
        return math.exp(-0.5 * ((x - mu) / sigma) ** 2)

    terms = [min(sim(2, True) / 0.8, 1.0),
             1.0 if sim(3, False) <= 0.85 else gauss(sim(3, False), 0.85, 0.1),
             1.0 if (t := rdMolDescriptors.CalcTPSA(mol)) >= 100 else gauss(t, 100, 10),
             1.0 if (p := Crippen.MolLogP(mol)) <= 1 else gauss(p, 1, 1)]
    return float(np.prod(terms) ** 0.25)


def test_osimertinib_mpo_matches_the_formula_by_hand():
    oracle = GuacaMolTask("Osimertinib MPO")
    mols = [Chem.MolFromSmiles(OSIMERTINIB), GEFITINIB]
    scores = oracle(mols)
    # osimertinib itself: full FCFP4 similarity, but ECFP6 similarity 1 is "too similar"
    assert scores[0] == pytest.approx(_osimertinib_mpo_by_hand(OSIMERTINIB), rel=1e-6)
    assert scores[1] == pytest.approx(_osimertinib_mpo_by_hand(GEFITINIB), rel=1e-6)
    assert 0 < scores[1] < scores[0] < 1


def test_every_mpo_task_is_there_and_bad_input_fails_soft():
    assert {GuacaMolTask(name).task for name in MPO_TASKS} <= set(guacamol_tasks())
    values = GuacaMolTask("fexofenadine_mpo")([None, "not a smiles", "CCO"])
    assert math.isnan(values[0]) and math.isnan(values[1]) and 0 <= values[2] <= 1
    with pytest.raises(GensciError, match="unknown GuacaMol task"):
        GuacaMolTask("aspirin_mpo")
