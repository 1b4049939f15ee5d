import importlib.util
import os

import numpy as np
import pytest
from rdkit import Chem, RDConfig
from rdkit.Chem import QED, Crippen, Descriptors

from domains.molecules.properties import rdkit_properties
from gensci.errors import GensciError

BENZENE, ASPIRIN = "c1ccccc1", "CC(=O)Oc1ccccc1C(=O)O"


def _rdkit_sascorer():
    path = os.path.join(RDConfig.RDContribDir, "SA_Score", "sascorer.py")
    spec = importlib.util.spec_from_file_location("test_sascorer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_properties_equal_direct_rdkit_calls():
    smiles = [BENZENE, ASPIRIN, "CCO", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C"]
    props = rdkit_properties(smiles)
    assert set(props) == {"sa", "qed", "logp", "mw"}
    sascorer = _rdkit_sascorer()
    for i, s in enumerate(smiles):
        mol = Chem.MolFromSmiles(s)
        assert props["logp"][i] == Crippen.MolLogP(mol)
        assert props["mw"][i] == Descriptors.MolWt(mol)
        assert props["qed"][i] == QED.qed(mol)
        assert props["sa"][i] == sascorer.calculateScore(mol)


def test_known_values():
    props = rdkit_properties([BENZENE, ASPIRIN])
    assert props["mw"][1] == pytest.approx(180.16, abs=0.005)
    assert props["mw"][0] == pytest.approx(78.11, abs=0.005)
    assert props["logp"][0] == pytest.approx(1.6866, abs=1e-4)  # Crippen benzene
    assert props["sa"][0] == pytest.approx(1.0, abs=1e-6)  # the easiest molecule scores 1
    assert 0 < props["qed"][1] < 1


def test_invalid_smiles_give_nan_and_unknown_names_are_refused():
    props = rdkit_properties(["CCO", "C1CC", None, ""], names=["logp", "sa"])
    assert set(props) == {"logp", "sa"}
    assert np.isfinite(props["logp"][0]) and np.isnan(props["logp"][1:]).all() and np.isnan(props["sa"][1:]).all()
    with pytest.raises(GensciError, match="unknown molecular properties"):
        rdkit_properties(["CCO"], names=["tpsa"])
