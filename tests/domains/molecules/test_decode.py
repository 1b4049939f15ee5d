"""Strict and corrected decoding of generated graphs."""

import pytest
import torch

from domains.molecules.decode import build_molecule, canonical_smiles, decode_corrected, decode_graphs, decode_strict
from domains.molecules.graph import AROMATIC, DOUBLE, SINGLE, TRIPLE, MolecularVocabulary, smiles_to_graph
from gensci.errors import GensciError

VOCAB = MolecularVocabulary((("C", 0), ("N", 0), ("O", 0)))
C, N, O = 0, 1, 2


def _star(centre: int, n_arms: int, order: int = SINGLE) -> tuple[torch.Tensor, torch.Tensor]:
    """Atom ``centre`` bonded to ``n_arms`` carbons."""
    atoms = torch.tensor([centre] + [C] * n_arms)
    bonds = torch.zeros(n_arms + 1, n_arms + 1, dtype=torch.long)
    bonds[0, 1:] = bonds[1:, 0] = order
    return atoms, bonds


def test_overvalent_carbon_is_invalid_strictly_and_repaired_with_correction():
    atoms, bonds = _star(C, 5)
    assert decode_strict(VOCAB, atoms, bonds).mol is None
    fixed = decode_corrected(VOCAB, atoms, bonds)
    assert fixed.valid and fixed.corrected and fixed.fragments == 2
    assert fixed.smiles == "CC(C)(C)C"  # one bond dropped, the lone methyl fragment discarded
    whole = decode_corrected(VOCAB, atoms, bonds, keep_largest=False)
    assert whole.smiles == "C.CC(C)(C)C"


@pytest.mark.parametrize("centre, arms, expected", [(N, 4, "C[N+](C)(C)C"), (O, 3, "C[O+](C)C")])
def test_overvalent_nitrogen_and_oxygen_are_charged(centre: int, arms: int, expected: str):
    atoms, bonds = _star(centre, arms)
    assert decode_strict(VOCAB, atoms, bonds).mol is None
    fixed = decode_corrected(VOCAB, atoms, bonds)
    assert fixed.corrected and fixed.fragments == 1 and fixed.smiles == expected


def test_bond_orders_are_lowered_highest_first():
    atoms = torch.tensor([C, C, C])
    bonds = torch.tensor([[0, TRIPLE, 0], [TRIPLE, 0, DOUBLE], [0, DOUBLE, 0]])
    assert decode_strict(VOCAB, atoms, bonds).mol is None
    fixed = decode_corrected(VOCAB, atoms, bonds)
    assert fixed.corrected and fixed.smiles == "C=C=C"


def test_valid_graphs_need_no_correction_and_both_readings_agree():
    vocab = MolecularVocabulary.from_smiles(["c1ccccc1O", "C[NH3+]"])
    for smiles in ["Oc1ccccc1", "C[NH3+]", "C1CC1"]:
        graph = smiles_to_graph(smiles, vocab, 9)
        strict, fixed = decode_strict(vocab, *graph), decode_corrected(vocab, *graph)
        assert not fixed.corrected and strict.smiles == fixed.smiles == canonical_smiles(smiles)


def test_aromatic_bonds_outside_rings_are_dearomatised():
    atoms = torch.tensor([C, C])
    bonds = torch.tensor([[0, AROMATIC], [AROMATIC, 0]])
    assert decode_strict(VOCAB, atoms, bonds).mol is None
    fixed = decode_corrected(VOCAB, atoms, bonds)
    assert fixed.corrected and fixed.smiles == "CC"


def test_batch_decoding_with_padding_masks():
    good = smiles_to_graph("CCO", VOCAB, 6)
    bad_atoms, bad_bonds = _star(C, 5)
    atoms = torch.stack([good.atoms, bad_atoms])
    bonds = torch.stack([good.bonds, bad_bonds])
    mask = torch.stack([good.mask, torch.ones(6, dtype=torch.bool)])
    strict = decode_graphs(VOCAB, atoms, bonds, mask, correct=False)
    fixed = decode_graphs(VOCAB, atoms, bonds, mask)
    assert [d.smiles for d in strict] == ["CCO", None]
    assert [d.corrected for d in fixed] == [False, True] and all(d.valid for d in fixed)
    # masked-out positions are ignored even if they hold bonds
    atoms2, bonds2 = good.atoms.clone(), good.bonds.clone()
    bonds2[0, 5] = bonds2[5, 0] = SINGLE
    assert decode_strict(VOCAB, atoms2, bonds2, good.mask).smiles == "CCO"


def test_bad_indices_and_helpers():
    with pytest.raises(GensciError, match="atom type index 7"):
        build_molecule(VOCAB, [7], [[0]])
    with pytest.raises(GensciError, match="bond class index 9"):
        build_molecule(VOCAB, [0, 0], [[0, 9], [9, 0]])
    assert canonical_smiles("C1CC") is None and canonical_smiles(None) is None
    assert canonical_smiles("OCC") == "CCO"


def test_random_graphs_always_decode_after_correction_and_flags_match_strict_validity():
    vocab = MolecularVocabulary.from_smiles(["C[N+](C)(C)C", "CC(=O)[O-]", "FC(Cl)(Br)S", "[C-]#[N+]C"])
    g = torch.Generator().manual_seed(0)
    b, n = 300, 10
    atoms = torch.randint(0, vocab.num_atom_types, (b, n), generator=g)
    bonds = torch.multinomial(torch.tensor([0.75, 0.12, 0.06, 0.03, 0.04]), b * n * n, replacement=True, generator=g).view(b, n, n)
    bonds = torch.triu(bonds, 1) + torch.triu(bonds, 1).transpose(1, 2)
    mask = torch.arange(n) < torch.randint(2, n + 1, (b, 1), generator=g)
    strict = decode_graphs(vocab, atoms, bonds, mask, correct=False, keep_largest=True)
    fixed = decode_graphs(vocab, atoms, bonds, mask)
    assert all(d.valid and canonical_smiles(d.smiles) == d.smiles for d in fixed)
    assert [s.valid for s in strict] == [not f.corrected for f in fixed]
    assert all(s.smiles == f.smiles for s, f in zip(strict, fixed) if s.valid)
    assert 0 < sum(s.valid for s in strict) < b


def test_largest_fragment_is_sanitised_for_fingerprints():
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator

    from domains.molecules.decode import largest_fragment

    frag = largest_fragment(Chem.MolFromSmiles("c1ccccc1CC.O"))
    assert Chem.MolToSmiles(frag) == "CCc1ccccc1"
    assert frag.GetRingInfo().NumRings() == 1
    bits = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048).GetFingerprint(frag).GetOnBits()
    assert len(bits) > 0
