"""Data set statistics against hand-computed values."""

import math

import numpy as np
import pytest
import torch

from domains.molecules.data import MoleculeTable, read_qm9
from domains.molecules.graph import MolecularVocabulary
from domains.molecules.statistics import dataset_statistics
from domains.molecules.store import featurise

# HCN (C#N), methanol (C-O), acetaldehyde (C-C=O)
TABLE = MoleculeTable(
    smiles=["C#N", "CO", "CC=O"],
    numeric={"y": np.array([1.0, math.nan, 3.0])},
    categorical={"label": ["a", None, "b"]},
)


def test_statistics_of_three_molecules_equal_hand_computed_values(tmp_path):
    stats = dataset_statistics(featurise(TABLE, max_atoms=3))
    assert stats["atom_labels"] == ["C", "N", "O"]
    assert stats["atom_counts"] == [4, 1, 2]
    assert stats["atom_marginal"] == pytest.approx([4 / 7, 1 / 7, 2 / 7])
    # pairs i < j: HCN 1 (triple), CO 1 (single), CC=O 3 (single, double, none)
    assert stats["bond_counts"] == [1, 2, 1, 1, 0]
    assert stats["bond_marginal"] == pytest.approx([0.2, 0.4, 0.2, 0.2, 0.0])
    # ordered pairs: C sees none 1, single 3, double 1, triple 1; N triple 1; O none 1, single 1, double 1
    assert stats["atom_bond_counts"] == [[1, 3, 1, 1, 0], [0, 0, 0, 1, 0], [1, 1, 1, 0, 0]]
    np.testing.assert_allclose(stats["bond_given_atom"], [[1 / 6, 3 / 6, 1 / 6, 1 / 6, 0], [0, 0, 0, 1, 0], [1 / 3, 1 / 3, 1 / 3, 0, 0]])
    assert stats["atom_given_bond"][1] == pytest.approx([3 / 4, 0, 1 / 4])  # single bonds: 3 C ends, 1 O end
    assert stats["atom_given_bond"][4] == pytest.approx(stats["atom_marginal"])  # no aromatic bonds: fallback
    assert stats["node_count_histogram"] == [0, 0, 2, 1]
    assert stats["node_count_distribution"] == pytest.approx([0, 0, 2 / 3, 1 / 3])
    assert stats["properties"]["y"] == {"kind": "numeric", "mean": 2.0, "std": 1.0, "min": 1.0, "max": 3.0, "count": 2, "missing": 1}
    assert stats["properties"]["label"] == {"kind": "categorical", "classes": ["a", "b"], "counts": [1, 1], "missing": 1}
    torch.save(stats, tmp_path / "s.pt")
    assert torch.load(tmp_path / "s.pt", weights_only=True) == stats


def test_unseen_atom_types_fall_back_to_the_bond_marginal():
    vocab = MolecularVocabulary((("C", 0), ("N", 0), ("O", 0), ("F", 0)))
    stats = dataset_statistics(featurise(TABLE, vocab=vocab, max_atoms=3))
    assert stats["atom_marginal"][3] == 0.0
    assert stats["bond_given_atom"][3] == pytest.approx(stats["bond_marginal"])


def test_cooccurrence_rows_sum_to_one_on_qm9():
    graphs = featurise(read_qm9(["gap"], limit=500))
    stats = dataset_statistics(graphs)
    for rows in (stats["bond_given_atom"], stats["atom_given_bond"]):
        assert np.allclose(np.sum(rows, axis=1), 1.0)
    assert sum(stats["atom_marginal"]) == pytest.approx(1.0) and sum(stats["bond_marginal"]) == pytest.approx(1.0)
    assert sum(stats["node_count_histogram"]) == len(graphs)
    n = graphs.num_atoms
    assert sum(stats["bond_counts"]) == int((n * (n - 1) // 2).sum())
