"""SMILES -> graph -> molecule is the identity on seeded QM9 and MOSES subsets."""

import importlib.util

import gzip
import random

import pytest
import torch
from rdkit import Chem

from domains.molecules.data import moses_file, qm9_files
from domains.molecules.decode import canonical_smiles, decode_strict
from domains.molecules.graph import AROMATIC, BOND_CLASSES, DOUBLE, SINGLE, MolecularVocabulary, mol_to_graph, smiles_to_graph
from gensci.errors import GensciError

requires_moses = pytest.mark.skipif(
    importlib.util.find_spec("moses") is None, reason="molsets (MOSES data) is not installed: pip install --no-deps molsets"
)



def _qm9_subset(n: int, n_charged: int, seed: int = 0) -> list[str]:
    """``n`` seeded random QM9 SMILES plus ``n_charged`` seeded charged ones."""
    import pandas as pd

    smiles = pd.concat([pd.read_csv(p, usecols=["SMILES"]) for p in qm9_files()])["SMILES"].tolist()
    rng = random.Random(seed)
    charged = [s for s in smiles if "+" in s or "-" in s]
    return rng.sample(smiles, n) + rng.sample(charged, n_charged)


def _moses_subset(n: int, seed: int = 0) -> list[str]:
    with gzip.open(moses_file("train"), "rt") as handle:
        smiles = handle.read().split()[1:]
    return random.Random(seed).sample(smiles, n)


def _round_trip_failures(smiles: list[str], kekulize: bool = True) -> tuple[MolecularVocabulary, list[tuple[str, str | None]]]:
    vocab = MolecularVocabulary.from_smiles(smiles, kekulize=kekulize)
    failures = []
    for s in smiles:
        graph = smiles_to_graph(s, vocab, max_atoms=40)
        out = decode_strict(vocab, *graph).smiles
        if out != canonical_smiles(s):
            failures.append((s, out))
    return vocab, failures


def test_qm9_round_trip_is_exact_including_charged_molecules():
    smiles = _qm9_subset(1000, 100)
    vocab, failures = _round_trip_failures(smiles)
    assert failures == []
    assert {"N+", "O-", "C-", "N-"} <= set(vocab.labels)


@requires_moses
def test_moses_round_trip_is_exact():
    smiles = _moses_subset(1000)
    vocab, failures = _round_trip_failures(smiles)
    assert failures == []
    assert vocab.labels == ["C", "N", "O", "F", "S", "Cl", "Br"]


def test_aromatic_mode_keeps_aromatic_bonds_and_places_ring_hydrogens():
    smiles = ["c1ccccc1", "c1cc[nH]c1", "c1ccc2[nH]ccc2c1", "c1ccoc1", "c1ccsc1", "c1ccncc1", "Cn1ccnc1", "c1ncc[nH]1"]
    vocab, failures = _round_trip_failures(smiles, kekulize=False)
    assert failures == []
    graph = smiles_to_graph("c1ccccc1", vocab, 8)
    assert set(graph.bonds[graph.bonds > 0].tolist()) == {AROMATIC}
    kekule = smiles_to_graph("c1ccccc1", MolecularVocabulary.from_smiles(["C"]), 8)
    assert sorted(kekule.bonds[kekule.bonds > 0].tolist()) == [SINGLE] * 6 + [DOUBLE] * 6


def test_dense_graph_layout_and_explicit_hydrogens():
    vocab = MolecularVocabulary.from_smiles(["CC(=O)[O-]", "C[NH3+]"])
    graph = mol_to_graph(Chem.MolFromSmiles("CC(=O)[O-]"), vocab, max_atoms=6)
    assert graph.atoms.shape == (6,) and graph.bonds.shape == (6, 6) and graph.mask.tolist() == [True] * 4 + [False] * 2
    assert torch.equal(graph.bonds, graph.bonds.T) and graph.bonds.diagonal().eq(0).all()
    assert graph.bonds[4:].eq(0).all() and graph.atoms[4:].eq(0).all()
    assert [vocab.labels[i] for i in graph.atoms[:4]] == ["C", "C", "O", "O-"]
    with_h = mol_to_graph(Chem.AddHs(Chem.MolFromSmiles("CC(=O)[O-]")), vocab, max_atoms=6)
    assert all(torch.equal(a, b) for a, b in zip(graph, with_h))


def test_vocabulary_is_sorted_serialisable_and_strict(tmp_path):
    vocab = MolecularVocabulary.from_smiles(["[O-]C(=O)C[NH3+]", "FC#N", "not a smiles"])
    assert vocab.labels == ["C", "N", "N+", "O-", "O", "F"]  # by atomic number, then charge
    assert vocab.num_bond_classes == 5 and vocab.bond_classes == BOND_CLASSES
    torch.save({"vocab": vocab.to_dict()}, tmp_path / "v.pt")
    loaded = MolecularVocabulary.from_dict(torch.load(tmp_path / "v.pt", weights_only=True)["vocab"])
    assert loaded == vocab and loaded.index(("N", 1)) == vocab.index(("N", 1))
    with pytest.raises(GensciError, match="S is not in the vocabulary"):
        smiles_to_graph("CS", vocab, 5)
    with pytest.raises(GensciError, match="more than max_atoms=2"):
        smiles_to_graph("CCC", vocab, 2)
    with pytest.raises(GensciError, match="twice"):
        MolecularVocabulary((("C", 0), ("C", 0)))
    with pytest.raises(GensciError, match="cannot parse"):
        smiles_to_graph("C1CC", vocab, 5)
