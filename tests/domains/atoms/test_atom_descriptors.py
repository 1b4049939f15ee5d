"""The atom descriptors against a brute-force loop over neighbours and triples, and their
invariances."""

from __future__ import annotations

import math

import numpy as np
import torch

from domains.atoms.atom_descriptors import AtomDescriptors


def _random_molecules(b: int = 3, n: int = 7, k: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    sizes = [n, n - 2, 4][:b]
    pos = 1.6 * torch.randn(b, n, 3, generator=g, dtype=torch.float64)
    types = torch.randint(0, k, (b, n), generator=g)
    atoms = torch.zeros(b, n, dtype=torch.bool)
    for r, c in enumerate(sizes):
        atoms[r, :c] = True
    onehot = torch.nn.functional.one_hot(types, k).double()
    pairs = atoms[:, :, None] & atoms[:, None, :] & ~torch.eye(n, dtype=torch.bool)
    return onehot, pos, atoms, pairs, types


def _brute_force(desc: AtomDescriptors, types: torch.Tensor, pos: torch.Tensor, atoms: torch.Tensor) -> np.ndarray:
    """Loops over neighbours j and pairs (j, l): radial sums, Σ a a fc fc cos θ_jil and cos² θ_jil."""
    k, rc = desc.types, desc.r_cut
    mu_r, mu_a = desc.radial_centres.tolist(), desc.angular_centres.tolist()
    pairs = [(e, f) for e in range(k) for f in range(e, k)]
    out = np.zeros((*atoms.shape, desc.size))
    for b in range(atoms.shape[0]):
        real = [i for i in range(atoms.shape[1]) if atoms[b, i]]
        for i in real:
            radial = np.zeros((k, len(mu_r)))
            nbr = []  # (element, fc * a_k per channel, unit vector)
            for j in real:
                if j == i:
                    continue
                d = (pos[b, j] - pos[b, i]).numpy()
                r = float(np.linalg.norm(d))
                if r >= rc:
                    continue
                fc = 0.5 * (math.cos(math.pi * r / rc) + 1)
                radial[types[b, j]] += [fc * math.exp(-0.5 * ((r - m) / desc.radial_width) ** 2) for m in mu_r]
                nbr.append((int(types[b, j]), [fc * math.exp(-0.5 * ((r - m) / desc.angular_width) ** 2) for m in mu_a],
                            d / r))
            cos1 = np.zeros((len(pairs), len(mu_a)))
            cos2 = np.zeros((len(pairs), len(mu_a)))
            for p, (e, f) in enumerate(pairs):
                for ej, aj, uj in nbr:
                    for el, al, ul in nbr:
                        if ej == e and el == f:
                            c = float(uj @ ul)
                            cos1[p] += np.array(aj) * np.array(al) * c
                            cos2[p] += np.array(aj) * np.array(al) * c * c
            onehot = np.eye(k)[int(types[b, i])]
            out[b, i] = np.concatenate([onehot, radial.ravel(), cos1.ravel(), cos2.ravel()])
    return out


def test_descriptors_equal_the_loops_over_neighbours_and_triples():
    onehot, pos, atoms, pairs, types = _random_molecules()
    desc = AtomDescriptors(types=3, radial=5, angular=3, r_cut=4.0).double()
    fast = desc(onehot, pos, atoms, pairs)
    slow = _brute_force(desc, types, pos, atoms)
    assert fast.shape[-1] == desc.size
    assert np.allclose(fast.numpy(), slow, rtol=1e-10, atol=1e-12)
    assert np.abs(slow[..., 3 + 15:]).max() > 1e-3  # the three-body part is not all zero
    assert (fast[~atoms] == 0).all()  # padding


def test_descriptors_are_invariant_and_permute_with_the_atoms():
    onehot, pos, atoms, pairs, _ = _random_molecules(b=1)
    desc = AtomDescriptors(types=3, radial=6, angular=4).double()
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64))
    for m in (q, -q):  # a rotation or a reflection (det -1 either way one of them)
        perm = torch.randperm(7, generator=torch.Generator().manual_seed(1))
        moved = (pos @ m.T + torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64))[:, perm]
        a = desc(onehot, pos, atoms, pairs)[:, perm]
        b = desc(onehot[:, perm], moved, atoms[:, perm], pairs[:, perm][:, :, perm])
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)
    # not vacuous: a bent geometry changes the angular part
    bent = pos.clone()
    bent[0, 0] += 0.3
    assert not torch.allclose(desc(onehot, bent, atoms, pairs), desc(onehot, pos, atoms, pairs))
