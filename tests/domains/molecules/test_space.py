"""GraphSpace: the node-token layout, symmetric projection and slot masks."""

import torch

from domains.molecules.space import GraphSpace, pack_graph, slot_mask, unpack_graph


def test_pack_unpack_round_trip():
    atoms = torch.tensor([[0, 2, 1]])
    bonds = torch.tensor([[[0, 1, 0], [1, 0, 2], [0, 2, 0]]])
    x = pack_graph(atoms, bonds)
    assert x.shape == (1, 3, 4)
    a, b = unpack_graph(x)
    assert torch.equal(a, atoms) and torch.equal(b, bonds)


def test_slot_mask_marks_atoms_and_distinct_real_pairs():
    nodes = torch.tensor([[True, True, False]])
    m = slot_mask(nodes)
    assert m[0, :, 0].tolist() == [True, True, False]
    assert m[0, :, 1:].tolist() == [[False, True, False], [True, False, False], [False, False, False]]


def test_project_copies_upper_triangle_and_clears_padding(generator):
    space = GraphSpace(num_atom_types=3, num_bond_classes=4)
    x = torch.randint(0, 5, (4, 5, 6), generator=generator)
    nodes = torch.arange(5)[None] < torch.tensor([5, 3, 1, 4])[:, None]
    y = space.project(x, slot_mask(nodes))
    atoms, bonds = unpack_graph(y)
    assert torch.equal(bonds, bonds.transpose(-1, -2))
    assert (torch.diagonal(bonds, dim1=-2, dim2=-1) == 0).all()
    assert atoms.max() <= 2 and bonds.max() <= 3
    # the upper triangle of the real pairs is the (clamped) input's
    raw = unpack_graph(x)[1].clamp(0, 3)
    iu = torch.triu_indices(5, 5, 1)
    real = (nodes[:, :, None] & nodes[:, None, :])[:, iu[0], iu[1]]
    assert torch.equal(bonds[:, iu[0], iu[1]][real], raw[:, iu[0], iu[1]][real])
    assert (bonds[~(nodes[:, :, None] & nodes[:, None, :])] == 0).all() and (atoms[~nodes] == 0).all()


def test_class_mask_and_noise_stay_in_each_slots_classes(generator):
    space = GraphSpace(num_atom_types=6, num_bond_classes=4)
    allowed = space.class_mask(3)
    assert allowed[0].tolist() == [True] * 6 and allowed[1].tolist() == [True] * 4 + [False] * 2
    x = space.noise((50, 3, 4), generator=generator)
    atoms, bonds = unpack_graph(x)
    assert atoms.max() == 5 and bonds.max() == 3
    assert torch.equal(bonds, bonds.transpose(-1, -2))
