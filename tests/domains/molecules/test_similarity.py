import math

import numpy as np
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from domains.molecules.similarity import (
    count_cosine,
    fragment_similarity,
    internal_diversity,
    morgan_fingerprints,
    nearest_neighbour_similarity,
    scaffold_similarity,
)
from gensci.errors import GensciError

# two-ring scaffolds: naphthalene (twice) and biphenyl
NAPH_A, NAPH_B, BIPH = "Cc1ccc2ccccc2c1", "OCc1ccc2ccccc2c1", "Cc1ccc(-c2ccccc2)cc1"


def _tanimoto(a: str, b: str) -> float:
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    fa, fb = (gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in (a, b))
    return DataStructs.TanimotoSimilarity(fa, fb)


def test_identical_sets_have_snn_frag_scaf_one():
    smiles = [NAPH_A, NAPH_B, BIPH, "CC(=O)Nc1ccc(O)cc1"]
    assert nearest_neighbour_similarity(smiles, smiles) == pytest.approx(1.0)
    assert fragment_similarity(smiles, smiles) == pytest.approx(1.0)
    assert scaffold_similarity(smiles, smiles) == pytest.approx(1.0)


def test_internal_diversity_of_two_molecules_by_hand():
    a, b = "CC(=O)Oc1ccccc1C(=O)O", "CC(=O)Nc1ccc(O)cc1"
    t = _tanimoto(a, b)
    assert 0 < t < 1
    # all ordered pairs incl. self-pairs: per-molecule mean (1 + t^p) / 2
    assert internal_diversity([a, b], p=1) == pytest.approx(1 - (1 + t) / 2, abs=1e-12)
    assert internal_diversity([a, b], p=2) == pytest.approx(1 - math.sqrt((1 + t * t) / 2), abs=1e-12)
    assert internal_diversity([a, a, a]) == pytest.approx(0.0)


def test_snn_is_the_mean_best_match():
    gen, ref = ["CCOc1ccccc1", "CCCCO"], ["COc1ccccc1", "CCCO", "c1ccncc1"]
    expected = np.mean([max(_tanimoto(g, r) for r in ref) for g in gen])
    assert nearest_neighbour_similarity(gen, ref) == pytest.approx(expected, abs=1e-12)


def test_scaffold_cosine_by_hand_and_single_rings_ignored():
    # generated scaffold counts (naphthalene 2, biphenyl 1) vs reference (1, 1)
    assert scaffold_similarity([NAPH_A, NAPH_B, BIPH, "CCc1ccccc1"], [NAPH_A, BIPH]) == pytest.approx(3 / math.sqrt(10))
    with pytest.warns(RuntimeWarning, match="Scaf"):
        assert math.isnan(scaffold_similarity(["Cc1ccccc1", "CCO"], [NAPH_A]))


def test_fragment_similarity_of_disjoint_fragments_is_zero():
    assert fragment_similarity(["CCCC"], ["c1ccncc1"]) == 0.0


def test_fingerprints_are_rdkit_morgan_bits():
    fps = morgan_fingerprints(["CCO", Chem.MolFromSmiles("c1ccccc1")])
    assert fps.shape == (2, 1024) and fps.dtype == np.uint8
    bits = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024).GetFingerprint(Chem.MolFromSmiles("CCO"))
    assert set(np.flatnonzero(fps[0])) == set(bits.GetOnBits())


def test_empty_fingerprints_count_as_identical_and_bad_input_is_refused():
    # MOSES sets 0/0 Tanimoto to 1: two molecules without any Morgan bit (none exist with
    # atoms, so use a blank molecule) are identical
    blank = Chem.Mol()
    assert internal_diversity([blank, blank]) == 0.0
    with pytest.raises(GensciError, match="not a valid molecule"):
        internal_diversity(["CCO", "C1CC"])
    with pytest.warns(RuntimeWarning, match="empty"):
        assert math.isnan(internal_diversity([]))


def test_count_cosine():
    assert count_cosine({"a": 1, "b": 2}, {"b": 2, "c": 1}) == pytest.approx(4 / 5)
    assert math.isnan(count_cosine({}, {"a": 1}))
