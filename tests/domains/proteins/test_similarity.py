"""TM-score novelty and diversity, checked against closed forms and biotite's TM-score."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from domains.proteins.similarity import diversity, novelty, single_linkage_clusters, tm_align


def _moved(ca: np.ndarray, seed: int) -> np.ndarray:
    return Rotation.random(random_state=seed).apply(ca) + np.array([10.0, -5.0, 3.0])


def test_a_rigidly_moved_copy_scores_one_and_a_torn_chain_one_half(real_chains):
    ca = real_chains[0].coords[:, 1]
    assert tm_align(ca, _moved(ca, 0)) == pytest.approx((1.0, 1.0), abs=1e-4)
    # the second half moved 60 Å away: at most one half superimposes, TM ~ (L/2) / L
    torn = ca.copy()
    half = len(ca) // 2
    torn[half:] += 60.0
    tm = tm_align(torn, ca)
    assert tm[0] == pytest.approx(max(half, len(ca) - half) / len(ca), abs=0.01)


def test_tm_align_is_at_least_the_kabsch_tm_of_biotite(real_chains):
    """TM-align searches superpositions, so it beats (or ties) the fixed 1:1 Kabsch fit."""
    import biotite.structure as struc

    from domains.proteins.pdb import backbone_atoms

    ca = real_chains[1].coords
    noisy = ca + np.random.default_rng(1).normal(0, 1.5, ca.shape)
    fixed, mobile = (atoms[atoms.atom_name == "CA"] for atoms in (backbone_atoms(ca), backbone_atoms(noisy)))
    fitted, _ = struc.superimpose(fixed, mobile)
    idx = np.arange(len(ca))
    kabsch = struc.tm_score(fixed, fitted, idx, idx)
    aligned = tm_align(noisy, ca)[1]
    assert kabsch - 1e-3 <= aligned <= kabsch + 0.05


def test_novelty_of_training_chains_is_one_and_of_a_helix_low(real_chains):
    train = [c.coords for c in real_chains]
    m = novelty(train[:2], train)
    assert m["novelty_max_tm_mean"] == pytest.approx(1.0, abs=1e-4) and m["novelty_fraction_below_0.5"] == 0.0
    t = np.arange(60)  # an ideal CA helix: radius 2.3 Å, 100 degrees and 1.5 Å per residue
    helix = np.stack([2.3 * np.cos(np.radians(100) * t), 2.3 * np.sin(np.radians(100) * t), 1.5 * t], 1)
    strand_rich = [c.coords for c in real_chains if c.name.startswith("1ahs")]
    assert novelty([helix], strand_rich)["novelty_max_tm_mean"] < 0.5


def test_single_linkage_chains_through_intermediates():
    s = np.array([[1.0, 0.7, 0.1], [0.7, 1.0, 0.65], [0.1, 0.65, 1.0]])
    assert len(set(single_linkage_clusters(s, 0.6))) == 1  # 0 - 1 - 2 linked though TM(0, 2) = 0.1
    assert len(set(single_linkage_clusters(s, 0.68))) == 2
    assert len(set(single_linkage_clusters(s, 0.8))) == 3


def test_diversity_counts_copies_as_one_cluster(real_chains):
    a, b = real_chains[0].coords[:, 1], real_chains[3].coords[:, 1]
    m = diversity([a, _moved(a, 1), _moved(a, 2), b], threshold=0.6)
    assert m["diversity_clusters"] == 2 and m["diversity_samples"] == 4
    tm_ab = max(tm_align(a, b))
    assert m["diversity_pairwise_tm"] == pytest.approx((3 * 1.0 + 3 * tm_ab) / 6, abs=1e-3)
    assert diversity([a]) == {}
    assert diversity([a] * 30, max_samples=5)["diversity_samples"] == 5
