"""The bundled 3D molecule model: small, recorded, and (slow) its record recomputed on fresh
samples read back from the SDF it writes, not from the samples in memory."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rdkit import Chem

import gensci
from domains.atoms.molecule import Molecule3D, from_rdkit
from domains.atoms.stability import stability
from tests.bundled_support import BUNDLED, bundled_record, needs_bundled

NAME = "atoms/qm9"
pytestmark = needs_bundled(NAME)


def test_checkpoint_is_small_and_its_record_is_complete():
    assert BUNDLED[NAME].stat().st_size < 20 * 2**20
    record = bundled_record(NAME)
    m = record["metrics"]["unconditional"]
    assert m["n_generated"] >= 1000
    for key in ("atom_stability", "molecule_stability", "validity", "uniqueness", "novelty", "posebusters_mol_fast",
                "bond_length_w1", "bond_angle_w1", "fcd", "strain_median"):
        assert math.isfinite(m[key]), key
    # every condition is recorded at two targets
    for name in ("alpha", "gap", "mu", "cv"):
        assert sum(key.startswith(f"{name}=") for key in record["metrics"]) == 2


def _read_back(path) -> list[Molecule3D]:
    """The written records as molecules, through RDKit alone (its bonds, charges, coordinates)."""
    out = []
    for mol in Chem.SDMolSupplier(str(path), removeHs=False, sanitize=False):
        assert mol is not None and mol.GetNumConformers() == 1
        out.append(from_rdkit(mol))
    return out


@pytest.mark.slow
def test_record_holds_on_fresh_samples_read_back_from_sdf(tmp_path):
    n = 300
    model = gensci.load(NAME)
    samples = model.sample(n, seed=11, progress=False)
    path = model.write(samples, tmp_path / "mols.sdf")
    molecules = _read_back(path)
    # every atom kept, hydrogens included, in order (a sample may carry no hydrogen: compare with its own)
    assert len(molecules) == n
    assert all(np.array_equal(m.numbers, s.numbers) for m, s in zip(molecules, samples.molecules))
    assert sum(int((m.numbers == 1).sum()) for m in molecules) > 5 * n
    recorded = bundled_record(NAME)["metrics"]["unconditional"]
    fresh = stability(molecules, "own")
    # three standard errors of a fraction from n molecules (atom stability: of ~18 n atoms)
    se_mol = math.sqrt(recorded["molecule_stability"] * (1 - recorded["molecule_stability"]) / n)
    se_atom = math.sqrt(recorded["atom_stability"] * (1 - recorded["atom_stability"]) / (18 * n))
    assert abs(fresh["molecule_stability"] - recorded["molecule_stability"]) < 3 * se_mol + 0.01
    assert abs(fresh["atom_stability"] - recorded["atom_stability"]) < 3 * se_atom + 0.01
    validity = model.evaluate(model.domain.read(path))["validity"]
    se_valid = math.sqrt(recorded["validity"] * (1 - recorded["validity"]) / n)
    assert abs(validity - recorded["validity"]) < 3 * se_valid + 0.01
