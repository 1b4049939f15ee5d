"""Paired conformers: alignment, symmetry, atom mapping, and the geometry metrics."""

from __future__ import annotations

import numpy as np
import pytest

from domains.atoms.conformer_metrics import (all_atom_rmsd, compare_geometries, heavy_atom_rmsd, internal_errors,
                                             reference_symmetries)
from domains.atoms.data import Molecules3D
from domains.atoms.molecule import Molecule3D, to_rdkit
from domains.atoms.pairs import align_pair, build_pairs, graph_symmetries, kabsch_rotation
from tests.domains.atoms.qm9pack_slice import qm9pack_molecules


def _rotation(seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def _ethanol() -> Molecule3D:
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    AllChem.EmbedMolecule(mol, randomSeed=3)
    from domains.atoms.molecule import from_rdkit

    return from_rdkit(mol)


def test_kabsch_recovers_a_proper_rotation_and_refuses_mirrors():
    x = np.random.default_rng(0).normal(size=(7, 3))
    x -= x.mean(0)
    rot = _rotation(1)
    r = kabsch_rotation(x, x @ rot.T)
    assert np.allclose(r, rot, atol=1e-10)
    moved, _, rmsd = align_pair(x @ rot.T + 5.0, x)
    assert rmsd < 1e-10 and np.allclose(moved, x, atol=1e-10)
    _, _, mirrored = align_pair(x * np.array([1, 1, -1]), x)  # a chiral cloud and its mirror image
    assert mirrored > 0.1


def test_symmetries_take_out_relabelled_equivalent_atoms():
    m = _ethanol()
    symmetries = graph_symmetries(to_rdkit(m, sanitize=True))
    assert np.array_equal(symmetries[0], np.arange(len(m)))
    assert len(symmetries) == 12  # 3! methyl hydrogens x 2! methylene hydrogens
    swapped = m.positions.copy()
    methyl_h = [i for i, row in enumerate(m.bonds) if m.numbers[i] == 1 and m.numbers[np.argmax(row)] == 6][:2]
    swapped[methyl_h] = swapped[methyl_h[::-1]]
    assert align_pair(swapped, m.positions)[2] > 0.5
    assert align_pair(swapped, m.positions, symmetries)[2] < 1e-9


def test_a_pair_of_a_molecule_with_itself_has_zero_rmsd():
    for m in _perceived(6, seed=4):
        turned = Molecule3D(m.numbers, m.positions @ _rotation(2).T + 3.0, m.charges, m.bonds)
        assert heavy_atom_rmsd(turned, m) < 1e-5
        assert all_atom_rmsd(turned, m) < 1e-5
        assert internal_errors(turned, m) == pytest.approx((0.0, 0.0), abs=1e-9)


def test_internal_errors_measure_a_known_stretch():
    m = _ethanol()
    i, j = 0, 1  # the C-C bond
    stretched = m.positions.copy()
    axis = (stretched[j] - stretched[i]) / np.linalg.norm(stretched[j] - stretched[i])
    side = [k for k in range(len(m)) if k == j or (k != i and m.bonds[j, k] and m.numbers[k] == 1)]
    side += [k for k in range(len(m)) if m.numbers[k] == 8] + [k for k in range(len(m)) if any(
        m.bonds[k, o] for o in range(len(m)) if m.numbers[o] == 8) and m.numbers[k] == 1]
    stretched[sorted(set(side))] += 0.1 * axis  # move the whole CH2-OH end along the C-C axis
    bond_mae, _ = internal_errors(Molecule3D(m.numbers, stretched, m.charges, m.bonds), m)
    n_bonds = int(np.triu(m.bonds, 1).astype(bool).sum())
    assert bond_mae == pytest.approx(0.1 / n_bonds, rel=1e-6)


def _perceived(n: int, seed: int) -> list[Molecule3D]:
    """QM9 molecules with bonds and charges perceived from their DFT geometry (kekulised)."""
    from domains.atoms.data import perceive
    from domains.atoms.molecule import from_rdkit

    out = []
    for m in qm9pack_molecules(n, seed=seed):
        mol = perceive(m.symbols, m.positions, m.properties["smiles"])
        if mol is not None:
            out.append(from_rdkit(mol, properties={"smiles": m.properties["smiles"]}))
    return out


def _as_data(molecules: list[Molecule3D]) -> Molecules3D:
    return Molecules3D.from_molecules(molecules, [m.properties.get("smiles", "") for m in molecules], {}, ["test"] * len(molecules))


def test_pairs_are_aligned_and_map_atom_to_atom_even_after_reordering():
    molecules = _perceived(12, seed=7)
    rng = np.random.default_rng(0)
    shuffled = []
    for m in molecules:
        order = rng.permutation(len(m))
        shuffled.append(Molecule3D(m.numbers[order], m.positions[order], m.charges[order], m.bonds[np.ix_(order, order)]))
    for data in (_as_data(molecules), _as_data(shuffled)):
        pairs = build_pairs(data, list(range(len(data))), progress=False)
        assert len(pairs) + sum(pairs.failed.values()) == len(data)
        for k in range(len(pairs)):
            start, target = pairs.molecule(k, "start"), pairs.molecule(k)
            assert np.array_equal(start.numbers, target.numbers)
            assert np.allclose(start.positions.mean(0), 0, atol=1e-4) and np.allclose(target.positions.mean(0), 0, atol=1e-4)
            # bonded atoms of the start are bonded atoms of the target at force-field lengths
            _, i, j = zip(*[(0, a, b) for a, b, _ in target.bond_list()]) if target.bond_list() else ((), (), ())
            i, j = np.array(i, dtype=int), np.array(j, dtype=int)
            d_s = np.linalg.norm(start.positions[i] - start.positions[j], axis=1)
            d_t = np.linalg.norm(target.positions[i] - target.positions[j], axis=1)
            assert np.abs(d_s - d_t).max() < 0.1
            # the stored alignment is optimal: re-aligning gains nothing
            assert align_pair(start.positions, target.positions)[2] == pytest.approx(
                float(np.sqrt(((start.positions - target.positions) ** 2).sum(1).mean())), abs=1e-4)


def test_compare_geometries_reports_every_summary():
    molecules = _perceived(5, seed=1)
    out = compare_geometries(molecules, molecules)
    assert out["heavy_rmsd_median"] < 1e-5 and out["all_rmsd_p90"] < 1e-6 and out["bond_length_mae"] == 0.0
    assert 0.0 <= out["molecule_stability"] <= 1.0 and out["n_molecules"] == 5
    with pytest.raises(ValueError, match="references"):
        compare_geometries(molecules[:2], molecules)
    # the references' symmetries, given once, give the same numbers for other probes
    moved = [Molecule3D(m.numbers, m.positions + 0.05 * np.random.default_rng(k).normal(size=m.positions.shape),
                        m.charges, m.bonds) for k, m in enumerate(molecules)]
    given = compare_geometries(moved, molecules, [reference_symmetries(m) for m in molecules])
    assert given == compare_geometries(moved, molecules) and given["all_rmsd_median"] > 0.01
