import math
from pathlib import Path

import numpy as np
import pytest
import torch

from domains.proteins.angles import backbone_atom_array, backbone_to_angles
from domains.proteins.nerf import (
    C_O_LENGTH,
    CA_C_O_ANGLE,
    IDEAL_BOND_LENGTHS,
    BondLengths,
    angles_to_backbone,
    place_oxygen,
    stepwise_backbone,
)
from gensci.core.spaces import wrap_angle
from gensci.errors import GensciError


def _random_angles(b: int, n: int, generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """Plausible backbones: any phi/psi, omega near trans, bond angles near 110-122 degrees."""
    u = torch.rand(b, n, 6, generator=generator, dtype=dtype)
    angles = torch.empty_like(u)
    angles[..., :2] = (2 * u[..., :2] - 1) * math.pi
    angles[..., 2] = math.pi - 0.2 * u[..., 2]
    angles[..., 3:] = torch.deg2rad(torch.tensor([111.0, 116.0, 122.0], dtype=dtype)) + 0.1 * (u[..., 3:] - 0.5)
    return angles


def _measure(coords: np.ndarray):
    """Bond lengths and the six angles as biotite measures them on the rebuilt chain."""
    import biotite.structure as struc

    atoms = backbone_atom_array(coords[None])[0]
    m = len(atoms)
    lengths = struc.index_distance(atoms, np.stack([np.arange(m - 1), np.arange(1, m)], -1))
    return lengths, backbone_to_angles(coords)


def test_rebuilt_geometry_is_what_was_asked(generator):
    angles = _random_angles(1, 30, generator)[0]
    coords = angles_to_backbone(angles).numpy()
    lengths, measured = _measure(coords)
    expected = np.tile([IDEAL_BOND_LENGTHS.n_ca, IDEAL_BOND_LENGTHS.ca_c, IDEAL_BOND_LENGTHS.c_n], 30)[:-1]
    np.testing.assert_allclose(lengths, expected, atol=1e-5)  # N-CA, CA-C, C-N(next), ...
    defined = torch.isfinite(measured)
    assert wrap_angle(measured[defined] - angles[defined]).abs().max() < 1e-4


def test_first_residue_sits_in_the_canonical_frame(generator):
    angles = _random_angles(1, 3, generator)[0]
    x = angles_to_backbone(angles)
    torch.testing.assert_close(x[0, 0], torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(x[0, 1], torch.tensor([IDEAL_BOND_LENGTHS.n_ca, 0.0, 0.0], dtype=torch.float64))
    assert x[0, 2, 2] == 0 and x[0, 2, 1] > 0


def test_custom_bond_lengths_are_used(generator):
    lengths = BondLengths(n_ca=1.46, ca_c=1.54, c_n=1.34)  # FoldingDiff's values
    coords = angles_to_backbone(_random_angles(1, 6, generator)[0], bond_lengths=lengths).numpy()
    measured, _ = _measure(coords)
    np.testing.assert_allclose(measured, np.tile([1.46, 1.54, 1.34], 6)[:-1], atol=1e-5)


@pytest.mark.parametrize("length", [1, 2, 3, 4, 6, 17, 128])
def test_blocked_product_equals_the_atom_by_atom_build_and_its_gradient(generator, length):
    angles = _random_angles(3, length, generator).requires_grad_(True)
    weights = torch.randn(3, length, 3, 3, generator=generator, dtype=torch.float64)
    got, want = angles_to_backbone(angles), stepwise_backbone(angles)
    assert (got - want).abs().max() < 1e-12
    g_got, = torch.autograd.grad((got * weights).sum(), angles)
    g_want, = torch.autograd.grad((want * weights).sum(), angles)
    assert (g_got - g_want).abs().max() < 1e-9 * max(1.0, float(g_want.abs().max()))
    # float32: no further from the float64 chain than the atom-by-atom build in float32
    exact = want.detach()
    err_blocked = (angles_to_backbone(angles.detach().float()).double() - exact).abs().max()
    err_loop = (stepwise_backbone(angles.detach().float()).double() - exact).abs().max()
    assert err_blocked <= max(2 * err_loop, 1e-5)


def test_nerf_is_differentiable(generator):
    angles = _random_angles(2, 4, generator).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: angles_to_backbone(a), (angles,), eps=1e-6, atol=1e-6)


def test_batched_equals_per_sample_and_padding_is_harmless(generator):
    angles = _random_angles(3, 12, generator)
    lengths = [12, 7, 1]
    mask = torch.arange(12).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    padded = angles.clone()
    padded[~mask] = math.nan  # garbage in padding must neither leak nor poison gradients
    padded.requires_grad_(True)
    out = angles_to_backbone(padded, mask)
    assert out.shape == (3, 12, 3, 3)
    for i, n in enumerate(lengths):
        torch.testing.assert_close(out[i, :n], angles_to_backbone(angles[i, :n]))
        assert (out[i, n:] == 0).all()
    out.sum().backward()
    assert torch.isfinite(padded.grad).all()
    assert angles_to_backbone(angles.float()).dtype == torch.float32


def test_bad_inputs_raise_one_clear_error(generator):
    with pytest.raises(GensciError, match=r"\(B, L, 6\)"):
        angles_to_backbone(torch.zeros(2, 5, 4))
    with pytest.raises(GensciError, match="prefix"):
        angles_to_backbone(torch.zeros(1, 3, 6), torch.tensor([[True, False, True]]))
    with pytest.raises(GensciError, match="mask must be shaped"):
        angles_to_backbone(torch.zeros(1, 3, 6), torch.ones(1, 4, dtype=torch.bool))


def test_placed_oxygen_geometry_and_real_positions(real_chains):
    x = torch.as_tensor(real_chains[0].coords)
    o = place_oxygen(x)
    n, ca, c = x.unbind(-2)
    assert torch.allclose((o - c).norm(dim=-1), torch.tensor(C_O_LENGTH, dtype=x.dtype))
    # inside the chain: in the peptide plane, bisecting CA-C-N(next)
    u, v, w = ca[:-1] - c[:-1], n[1:] - c[:-1], o[:-1] - c[:-1]
    assert torch.linalg.det(torch.stack([u, v, w], -2)).abs().max() < 1e-8
    cos = lambda a, b: (a * b).sum(-1) / a.norm(dim=-1) / b.norm(dim=-1)  # noqa: E731
    torch.testing.assert_close(cos(u, w), cos(v, w))
    # last residue: CA-C-O = 120.1 degrees
    assert abs(math.degrees(math.acos(cos(ca[-1] - c[-1], o[-1] - c[-1]))) - CA_C_O_ANGLE) < 1e-6
    # close to the crystallographic oxygens
    for chain in real_chains:
        dev = (place_oxygen(torch.as_tensor(chain.coords)) - torch.as_tensor(chain.oxygen)).norm(dim=-1)
        assert dev[:-1].mean() < 0.15, (chain.name, float(dev[:-1].mean()))


def _reference_dssp(data_dir: Path, chain) -> str | None:
    path = data_dir / (Path(chain.source).name.removesuffix(".gz") + ".dssp")
    return path.read_text().split()[0] if path.exists() else None


def test_dssp_of_rebuilt_chains_agrees_with_reference(data_dir, real_chains):
    """pydssp 3-state on real O, ideal O and the NeRF-rebuilt chain vs MDAnalysisTests' DSSP."""
    import pydssp

    checked = 0
    for chain in real_chains:
        reference = _reference_dssp(data_dir, chain)
        if reference is None:
            continue
        ref = np.array(list(reference))
        x = torch.as_tensor(chain.coords)
        rebuilt = angles_to_backbone(backbone_to_angles(x))
        for backbone, oxygen in ((x, torch.as_tensor(chain.oxygen)), (x, place_oxygen(x)), (rebuilt, place_oxygen(rebuilt))):
            states = pydssp.assign(torch.cat([backbone, oxygen.unsqueeze(1)], 1).float(), out_type="c3")
            agreement = float(np.mean(np.asarray(states) == ref))
            assert agreement >= 0.95, (chain.name, agreement)
        checked += 1
    assert checked == 4
