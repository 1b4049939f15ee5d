import math

import numpy as np
import pytest
import torch

from domains.proteins.angles import ANGLE_NAMES, backbone_to_angles, defined_mask, mask_lengths
from domains.proteins.nerf import angles_to_backbone
from domains.proteins.structures import read_structure
from gensci.core.spaces import wrap_angle
from gensci.errors import GensciError


def _angle(a, b, c):
    u, v = a - b, c - b
    return np.arccos(np.sum(u * v, -1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1))


def test_dihedrals_are_biotites_backbone_dihedrals(data_dir, real_chains):
    import biotite.structure as struc

    atoms = read_structure(data_dir / "2xcjA.pdb.gz")
    phi, psi, omega = struc.dihedral_backbone(atoms[struc.filter_amino_acids(atoms)])
    chain = next(c for c in real_chains if c.name.startswith("2xcjA"))
    ours = backbone_to_angles(chain.coords).numpy()
    for col, ref in enumerate((phi, psi, omega)):
        ref = wrap_angle(torch.as_tensor(ref, dtype=torch.float64)).numpy()
        np.testing.assert_array_equal(np.isnan(ours[:, col]), np.isnan(ref))
        diff = wrap_angle(torch.as_tensor(ours[:, col] - ref)).numpy()
        assert np.nanmax(np.abs(diff)) < 1e-5


def test_bond_angles_follow_the_row_convention(real_chains):
    x = real_chains[0].coords
    n, ca, c = x[:, 0], x[:, 1], x[:, 2]
    ours = backbone_to_angles(x).numpy()
    np.testing.assert_allclose(ours[:, 3], _angle(n, ca, c), atol=1e-5)  # tau(i) = N(i)-CA(i)-C(i)
    np.testing.assert_allclose(ours[:-1, 4], _angle(ca[:-1], c[:-1], n[1:]), atol=1e-5)
    np.testing.assert_allclose(ours[:-1, 5], _angle(c[:-1], n[1:], ca[1:]), atol=1e-5)


def test_undefined_entries_are_nan_exactly_where_the_mask_says(real_chains):
    x = real_chains[0].coords
    angles = backbone_to_angles(x)
    assert angles.shape == (len(x), len(ANGLE_NAMES)) and angles.dtype == torch.float64
    np.testing.assert_array_equal(torch.isfinite(angles).numpy(), defined_mask(len(x)).numpy())
    undefined = ~defined_mask(len(x))
    assert undefined[0].tolist() == [True, False, False, False, False, False]
    assert undefined[-1].tolist() == [False, True, True, False, True, True]
    assert undefined[1:-1].sum() == 0


def test_angles_stay_wrapped(real_chains):
    for chain in real_chains:
        a = backbone_to_angles(chain.coords)
        a = a[torch.isfinite(a)]
        assert (a >= -math.pi).all() and (a < math.pi).all()
    # a trans peptide built at omega = pi exactly is reported inside [-pi, pi)
    angles = torch.full((1, 5, 6), 2.0, dtype=torch.float64)
    angles[..., 2] = math.pi
    back = backbone_to_angles(angles_to_backbone(angles))
    finite = back[torch.isfinite(back)]
    assert (finite >= -math.pi).all() and (finite < math.pi).all()
    assert (wrap_angle(back[0, :-1, 2] - math.pi).abs() < 1e-4).all()


def test_padded_batch_equals_each_chain(real_chains):
    chains = real_chains[:2]
    n = max(len(c) for c in chains)
    batch = torch.zeros(2, n, 3, 3, dtype=torch.float64)
    mask = torch.zeros(2, n, dtype=torch.bool)
    for i, c in enumerate(chains):
        batch[i, : len(c)] = torch.as_tensor(c.coords)
        mask[i, : len(c)] = True
    out = backbone_to_angles(batch, mask)
    for i, c in enumerate(chains):
        torch.testing.assert_close(out[i, : len(c)], backbone_to_angles(c.coords), equal_nan=True)
        assert torch.isnan(out[i, len(c) :]).all()


def test_round_trip_through_nerf_is_nearly_lossless(real_chains):
    import biotite.structure as struc
    import tmtools

    for chain in real_chains:
        angles = backbone_to_angles(chain.coords)
        rebuilt = angles_to_backbone(angles).numpy()
        ca, ca_new = chain.coords[:, 1], rebuilt[:, 1]
        seq = "G" * len(ca)
        tm = tmtools.tm_align(ca_new, ca, seq, seq).tm_norm_chain2
        fitted, _ = struc.superimpose(ca, ca_new)
        rmsd = float(np.sqrt(((fitted - ca) ** 2).sum(-1).mean()))
        assert tm >= 0.998, (chain.name, tm)
        assert rmsd <= 0.2, (chain.name, rmsd)
        # angles -> coordinates -> angles is the identity (biotite measures in float32)
        again = backbone_to_angles(rebuilt)
        np.testing.assert_array_equal(torch.isnan(again).numpy(), torch.isnan(angles).numpy())
        assert wrap_angle(again - angles).nan_to_num().abs().max() < 1e-4


def test_bad_inputs_raise_one_clear_error():
    with pytest.raises(GensciError, match=r"shaped \(L, 3, 3\)"):
        backbone_to_angles(np.zeros((5, 4, 3)))
    with pytest.raises(GensciError, match="prefix"):
        mask_lengths(torch.tensor([[True, False, True]]))
    assert mask_lengths(torch.tensor([[True, True, False], [False, False, False]])).tolist() == [2, 0]
