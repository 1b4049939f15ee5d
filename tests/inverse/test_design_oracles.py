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


def test_molecule_candidates_featurise_into_a_finite_training_loss():
    import gensci
    from gensci.training.objective import ProcessObjective

    model = gensci.load("molecules/qm9")
    mols = [Chem.MolFromSmiles(s) for s in ("CCO", "c1ccoc1", "N#CC(C)O")]
    batch = model.domain.featurise(mols)
    assert batch.x.shape[:2] == (3, 5)
    loss, _ = ProcessObjective(model.process, model.domain).loss(model.network, batch, torch.Generator().manual_seed(0))
    assert torch.isfinite(loss)
    assert model.domain.candidate_key(mols[1]) == "c1ccoc1"
    assert model.domain.candidate_bucket(mols[0]) == "acyclic"


def test_backbone_featurise_and_readout_round_trip_the_ca_geometry():
    import gensci

    model = gensci.load("proteins/bundled")
    backbones = model.sample(2, length=40, steps=10, seed=0, progress=False)
    batch = model.domain.featurise(list(backbones))
    ca, residues = model.domain.readout(batch.x, batch.mask)
    for k, bb in enumerate(backbones):
        ref = np.asarray(bb)[:, 1]
        got = ca[k, : len(ref)].detach().numpy()
        d_ref = np.linalg.norm(ref[:, None] - ref[None], axis=-1)
        d_got = np.linalg.norm(got[:, None] - got[None], axis=-1)
        assert np.abs(d_ref - d_got).max() < 0.05  # the same CA geometry up to a rigid motion
    assert residues[:, :40].all()
