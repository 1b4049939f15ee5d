"""The bundled conformer bridge: small, recorded, refines what it is given, and keeps its
recorded quality on held-out QM9 pairs (the fresh check is slow: it builds the pairs)."""

from __future__ import annotations

import numpy as np
import pytest

import gensci
from gensci.cli import main
from tests.bundled_support import BUNDLED, bundled_record, needs_bundled

NAME = "atoms/conformers"
pytestmark = needs_bundled(NAME)


def test_checkpoint_is_small_and_recorded_against_its_starts():
    assert BUNDLED[NAME].stat().st_size < 20 * 2**20
    record = bundled_record(NAME)
    assert record["experiment"] == NAME
    m = record["metrics"]["unconditional"]
    assert m["n_molecules"] >= 400
    # refined geometries are recorded beside the force-field starts they came from
    assert m["heavy_rmsd_median"] < m["start_heavy_rmsd_median"]
    assert m["all_rmsd_median"] < m["start_all_rmsd_median"]
    assert m["bond_length_mae"] < m["start_bond_length_mae"]
    assert m["bond_angle_mae"] < m["start_bond_angle_mae"]
    assert m["molecule_stability"] >= m["start_molecule_stability"]


def test_smiles_are_refined_into_one_record_each(tmp_path):
    from rdkit import Chem

    (tmp_path / "in.smi").write_text("CC(=O)OC\nC1CC1C#N\nOCC(F)(F)F\n")
    out = tmp_path / "out.sdf"
    assert main(["refine", NAME, str(tmp_path / "in.smi"), "-o", str(out), "--steps", "10", "-q"]) == 0
    mols = list(Chem.SDMolSupplier(str(out), removeHs=False))
    assert [m.GetNumAtoms() for m in mols] == [11, 10, 9]  # C3H6O2, C4H5N, C2H3F3O
    for m in mols:
        assert 0.0 < m.GetDoubleProp("displacement_rms") < 1.0
        assert Chem.MolFromSmiles(Chem.MolToSmiles(Chem.RemoveHs(m))) is not None


@pytest.mark.slow
def test_quality_holds_on_held_out_pairs():
    model = gensci.load(NAME)
    inputs = model.domain.evaluation_inputs("test", 200)
    refined = model.refine(inputs, seed=3, progress=False)
    m = model.domain.evaluate(refined)
    recorded = bundled_record(NAME)["metrics"]["unconditional"]
    assert m["heavy_rmsd_median"] <= recorded["heavy_rmsd_median"] * 1.15 + 0.01
    assert m["heavy_rmsd_median"] < m["start_heavy_rmsd_median"]
    assert m["bond_length_mae"] < m["start_bond_length_mae"]
    assert m["bond_length_mae"] <= recorded["bond_length_mae"] * 1.15
    assert np.isfinite(m["bond_angle_mae"]) and m["bond_angle_mae"] < m["start_bond_angle_mae"]
