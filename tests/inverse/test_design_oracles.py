"""Built-in design oracles and design hooks of the molecules and proteins domains."""

import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import QED

from domains.molecules.design_oracles import Descriptor, Similarity, Valid
from domains.proteins.design_oracles import ClashFree, Length, RadiusOfGyration


def test_descriptors_match_rdkit_and_fail_soft():
    mols = [Chem.MolFromSmiles("c1ccccc1O"), None]
    qed = Descriptor("qed")(mols)
    assert qed[0] == pytest.approx(QED.qed(mols[0])) and np.isnan(qed[1])
    assert Descriptor("heavy_atoms")(mols)[0] == 7
    assert Similarity("c1ccccc1O")(mols)[0] == pytest.approx(1.0)
    assert Valid()(mols) == [1.0, 0.0]


def test_radius_of_gyration_by_hand_and_its_gradient_form_agrees():
    # CA atoms at x = -1, 0, 1 : Rg = sqrt(2/3)
    bb = np.zeros((3, 4, 3))
    bb[:, 1, 0] = [-1.0, 0.0, 1.0]
    assert RadiusOfGyration()([bb])[0] == pytest.approx(np.sqrt(2 / 3))
    ca = torch.zeros(1, 4, 3, dtype=torch.float64)
    ca[0, :3, 0] = torch.tensor([-1.0, 0.0, 1.0])
    ca[0, 3] = 100.0  # a padded residue must not count
    rg = RadiusOfGyration().differentiable((ca, torch.tensor([[True, True, True, False]])))
    assert float(rg) == pytest.approx(np.sqrt(2 / 3), abs=1e-6)
    assert Length()([bb]) == [3.0]


def test_clash_free_flags_close_non_neighbours():
    bb = np.zeros((3, 4, 3))
    bb[:, 1, 0] = [0.0, 3.8, 7.6]
    assert ClashFree()([bb]) == [1.0]
    bb[2, 1] = [1.0, 0.0, 0.0]  # residue 3 sits 1 A from residue 1
    assert ClashFree()([bb]) == [0.0]
