"""Discrete diffusion of molecular graphs, with graph-dependent bond noise (Graph DiT).

States are :class:`~domains.molecules.space.GraphSpace` tokens: an atom type and a row of
bond classes per node. Time runs from noise (``t = 0``) to data (``t = 1``); the keep
probability ``kappa_t = alpha_bar(t)`` comes from the schedule (cosine by default, on a
``T = 500`` grid).

**Forward process.** Given the clean graph ``(x, e)``, every slot is kept with probability
``kappa_t`` and otherwise replaced by a draw from its *noise law*::

    q(x_t,i | x) = kappa_t onehot(x_i)  + (1 - kappa_t) m_X
    q(e_t,ij | x, e) = kappa_t onehot(e_ij) + (1 - kappa_t) u_ij

* ``transition="marginal"`` (DiGress, Vignac et al. 2023, arXiv 2209.14734): ``u_ij = m_E``,
  the data's bond-class marginal; atoms and bonds are noised independently.
* ``transition="joint"`` (the default; after Graph DiT's graph-dependent noise, Liu et al.
  2024, arXiv 2401.13858): ``u_ij = P(e | x_i, x_j)``, the bond classes that the two clean
  end atoms co-occur with in the training data. A corrupted C–C pair becomes a double bond
  far more often than an F–F pair does, so the noisy graph stays chemically plausible
  longer and atom and bond noise are coupled through the atom–bond co-occurrence table.
  Averaged over the data's pairs, ``u`` is ``m_E`` exactly (the table is built from the
  same pairs), so the data's bond marginal is stationary: ``E_data q(e_t) = m_E`` for
  every ``t``, as for the marginal transition.

Given the clean graph the noise laws are fixed, and mixing with a fixed law composes in
closed form, ``Q(a) Q(b) = Q(a b)`` with ``Q(k) = k I + (1 - k) 1 u^T``, so the transition
between any two times ``t < s`` is ``Q(kappa_t / kappa_s)``: sampling may jump across the
``T`` grid in a few large steps (:mod:`gensci.core.categorical` has the algebra).

**Reverse step.** With the network's clean-graph probabilities ``p_hat`` (factorised over
slots), ``p(z_s | z_t) = sum_{x, e} p_hat(x, e) q(z_s | z_t, x, e)``. For atoms and for the
marginal transition this is DiGress's posterior. For the joint transition the bond's noise
law depends on the clean end atoms, so the bond posterior is averaged over them:
``sum_{a, b} p_hat_i(a) p_hat_j(b) q(e_s | e_t, p_hat_ij; u = P(. | a, b))``.

**Loss.** Cross-entropy of the predicted clean classes, atoms plus ``bond_weight`` times
bonds (Graph DiT weighs bonds 10x in its repository, torch-molecule 5x).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from domains.molecules.space import GraphSpace, pack_graph, slot_mask, unpack_graph
from gensci.core.categorical import mixing_posterior, sample_categorical
from gensci.core.mixture_path import MixtureBlock
from gensci.core.process import Condition, Corruption, Process, masked_mean
from gensci.core.schedules import Schedule, make_schedule

__all__ = ["GraphDiffusion", "rank_one_posterior", "joint_bond_posterior", "TRANSITIONS"]

TRANSITIONS = ("joint", "marginal")


def _distribution(values: Sequence[float] | Tensor, name: str) -> Tensor:
    p = torch.as_tensor(values, dtype=torch.float64)
    if (p < 0).any() or not torch.isfinite(p).all() or p.sum() <= 0:
        raise ValueError(f"{name} must be non-negative with a positive sum")
    return p / p.sum(dim=-1, keepdim=True)


def rank_one_posterior(onehot_t: Tensor, p1: Tensor, kappa_t: Tensor, kappa_s: Tensor, law: Tensor,
                       eps: float = 1e-30) -> Tensor:
    """The posterior of :func:`gensci.core.categorical.mixing_posterior` for ``U = 1 u^T``
    with a noise law ``u`` that may differ per slot (``law`` broadcasts against ``p1``).

    With ``U = 1 u^T``: ``Q(k) l = k l + (1 - k) (l . u)`` and ``v Q(k) = k v + (1 - k) (sum v) u``,
    so ``p(x_s | x_t) ∝ Q(kappa_t/kappa_s)[:, x_t] ⊙ ((p1 / Qbar_t[:, x_t]) Qbar_s)``.
    """
    u_t = (onehot_t * law).sum(-1, keepdim=True)  # u[x_t]
    ratio = kappa_t / kappa_s
    like = ratio * onehot_t + (1.0 - ratio) * u_t
    evidence = kappa_t * onehot_t + (1.0 - kappa_t) * u_t
    v = p1 / evidence.clamp_min(eps)
    probs = like * (kappa_s * v + (1.0 - kappa_s) * v.sum(-1, keepdim=True) * law)
    return probs / probs.sum(-1, keepdim=True).clamp_min(eps)


def joint_bond_posterior(bonds_t: Tensor, p1: Tensor, weights: Tensor, kappa_t: Tensor, kappa_s: Tensor,
                         table: Tensor, eps: float = 1e-30) -> Tensor:
    """``sum_{a,b} w_ab rank_one_posterior(e_t, p1, kappa_t, kappa_s, u = table[a, b])`` without
    building the ``(B, N, N, A, A, E)`` tensor.

    With ``o = onehot(e_t)``, ``c = u[e_t]``, ``r = kappa_t / kappa_s``, ``alpha = 1 / ((1 - kappa_t) c)``
    (the evidence of ``e0 != e_t``), ``beta = 1 / (kappa_t + (1 - kappa_t) c)`` and ``p_t = p1[e_t]``,
    one term of :func:`rank_one_posterior` before normalisation is::

        kappa_s p1 ⊙ [(1 - r) c alpha + o (r beta + (1 - r) c (beta - alpha))] + (1 - kappa_s) S c [r o + (1 - r) u]

    with ``S = alpha (1 - p_t) + beta p_t``, since ``o ⊙ u = c o``. Its sum over classes is
    ``kappa_s [(1 - r) c alpha + p_t (r beta + (1 - r) c (beta - alpha))] + (1 - kappa_s) S c``, so
    every term depends on ``(a, b)`` through scalars and ``u`` only.

    Those scalars depend on the pair only through its noisy class ``e_t`` (and linearly on
    ``p_t``), so they are tabulated once per ``(kappa, e_t, a, b)``: the normaliser is
    ``n0[e_t] + p_t n1[e_t]``, and with ``w = weights / n`` every sum over ``(a, b)`` is one product
    of ``w`` ``(B, N·N, A·A)`` with a ``(A·A, 4 + 2E)`` table of coefficients per ``e_t``
    (``total``, ``diag``, ``alpha c``, ``(beta - alpha) c`` and the last two times ``u``)::

        x = sum w total,  y = sum w diag,  z = r [sum w alpha c + p_t sum w (beta - alpha) c],
        u_part = (1 - r) [sum w alpha c u + p_t sum w (beta - alpha) c u],
        p(e_s) ∝ kappa_s p1 ⊙ (x + o y) + (1 - kappa_s) (z o + u_part).

    ``bonds_t`` ``(B, N, N)``, ``p1`` ``(B, N, N, E)``, ``weights`` ``(B, N, N, A, A)``, ``kappa_t`` and
    ``kappa_s`` one value per graph (``(B or 1, 1, 1, 1)``, broadcasting against ``(B, N, N, 1)``).
    """
    b, n = bonds_t.shape[0], bonds_t.shape[1]
    a, e = table.shape[0], table.shape[-1]
    if kappa_t.numel() not in (1, b) or kappa_s.numel() not in (1, b):
        raise ValueError(f"kappa_t and kappa_s need one value per graph (1 or {b}), got "
                         f"{tuple(kappa_t.shape)} and {tuple(kappa_s.shape)}")
    dtype = p1.dtype
    table = table.to(dtype)
    # coefficient tables, one row per (graph or shared, e_t): (Bk, E, A·A)
    kb = max(kappa_t.numel(), kappa_s.numel())
    kt = kappa_t.to(dtype).reshape(-1, 1, 1).expand(kb, 1, 1)
    ks = kappa_s.to(dtype).reshape(-1, 1, 1).expand(kb, 1, 1)
    if kb > 1 and bool((kt == kt[:1]).all()) and bool((ks == ks[:1]).all()):  # one time for the batch
        kt, ks, kb = kt[:1], ks[:1], 1
    r = kt / ks
    c = table.permute(2, 0, 1).reshape(1, e, a * a)  # u_ab[e_t]
    alpha = torch.where(c > 0, 1.0 / ((1.0 - kt) * c).clamp_min(eps), torch.zeros_like(c))
    beta = 1.0 / (kt + (1.0 - kt) * c).clamp_min(eps)
    total = (1.0 - r) * c * alpha
    diag = r * beta + (1.0 - r) * c * (beta - alpha)
    ac, bc = alpha * c, (beta - alpha) * c
    n0 = ks * total + (1.0 - ks) * ac  # the normaliser at p_t = 0 ...
    n1 = ks * diag + (1.0 - ks) * bc  # ... and its slope in p_t
    u = table.reshape(1, 1, a * a, e)
    coef = torch.cat([total[..., None], diag[..., None], ac[..., None], bc[..., None],
                      ac[..., None] * u, bc[..., None] * u], dim=-1)  # (Bk, E, A·A, 4 + 2E)
    onehot = F.one_hot(bonds_t, e).to(dtype)
    p_t = (p1 * onehot).sum(-1, keepdim=True)
    # the normaliser of each (pair, a, b): [o, p_t o] @ [n0; n1] picks row e_t of both tables
    picks = torch.cat([onehot, p_t * onehot], dim=-1).reshape(b, n * n, 2 * e)
    ends = torch.cat([n0, n1], dim=1)  # (Bk, 2E, A·A)
    norm = (picks.reshape(b * n * n, 2 * e) @ ends[0]) if kb == 1 else torch.bmm(picks, ends)
    w = weights.reshape(norm.shape) / norm.clamp_min_(eps)
    # every sum over (a, b) at once, for each e_t; then each pair keeps its own e_t's
    width = 4 + 2 * e
    coef = coef.permute(0, 2, 1, 3).reshape(kb, a * a, e * width)
    sums = (w @ coef[0]) if kb == 1 else torch.bmm(w, coef)
    index = bonds_t.reshape(b * n * n, 1, 1).expand(-1, 1, width)
    sums = sums.reshape(b * n * n, e, width).gather(1, index).reshape(b, n, n, width)
    x, y = sums[..., 0:1], sums[..., 1:2]
    r4, ks4 = r.reshape(kb, 1, 1, 1), ks.reshape(kb, 1, 1, 1)
    z = r4 * (sums[..., 2:3] + p_t * sums[..., 3:4])
    u_part = (1.0 - r4) * (sums[..., 4:4 + e] + p_t * sums[..., 4 + e:])
    probs = ks4 * p1 * (x + onehot * y) + (1.0 - ks4) * (z * onehot + u_part)
    return probs / probs.sum(-1, keepdim=True).clamp_min(eps)


class GraphDiffusion(Process):
    """Categorical diffusion of atom types and bond classes (module docstring).

    Args:
        space: the :class:`GraphSpace` (atom and bond class counts).
        atom_marginal: ``m_X`` (A,), frequencies or counts.
        bond_marginal: ``m_E`` (E,) over pairs of real atoms, class 0 = no bond.
        bond_given_pair: ``P(e | a, b)`` (A, A, E), needed by the joint transition.
        transition: ``"joint"`` (graph-dependent bond noise) or ``"marginal"`` (DiGress).
        schedule: gives ``kappa_t = alpha_bar(t)`` (default cosine).
        timesteps: the T-step grid (default 500), or None for continuous time.
        bond_weight: weight of the bond cross-entropy against the atoms'.
    """

    capabilities = frozenset({"categorical_posterior", "mixture_path"})

    guidance_space = "probability"

    def __init__(
        self,
        space: GraphSpace,
        atom_marginal: Sequence[float] | Tensor,
        bond_marginal: Sequence[float] | Tensor,
        bond_given_pair: Sequence | Tensor | None = None,
        transition: str = "joint",
        schedule: Schedule | str = "cosine",
        timesteps: int | None = 500,
        bond_weight: float = 5.0,
    ):
        if not isinstance(space, GraphSpace):
            raise TypeError(f"GraphDiffusion needs a GraphSpace, got {space!r}")
        if transition not in TRANSITIONS:
            raise ValueError(f"transition must be one of {TRANSITIONS}, got {transition!r}")
        self.space = space
        a, e = space.num_atom_types, space.num_bond_classes
        self.atom_marginal = _distribution(atom_marginal, "atom_marginal")
        self.bond_marginal = _distribution(bond_marginal, "bond_marginal")
        if self.atom_marginal.shape != (a,) or self.bond_marginal.shape != (e,):
            raise ValueError(f"marginals must have {a} atom and {e} bond classes, got "
                             f"{tuple(self.atom_marginal.shape)} and {tuple(self.bond_marginal.shape)}")
        self.transition = transition
        self.bond_given_pair = None
        if transition == "joint":
            if bond_given_pair is None:
                raise ValueError("the joint transition needs bond_given_pair, P(e | a, b) of shape (A, A, E)")
            table = _distribution(bond_given_pair, "bond_given_pair")
            if table.shape != (a, a, e):
                raise ValueError(f"bond_given_pair must be ({a}, {a}, {e}), got {tuple(table.shape)}")
            if not torch.allclose(table, table.transpose(0, 1), atol=1e-9):
                raise ValueError("bond_given_pair must be symmetric in its two atom axes")
            self.bond_given_pair = table
        self.schedule = make_schedule(schedule)
        if timesteps is not None and int(timesteps) < 1:
            raise ValueError(f"timesteps must be a positive integer or None, got {timesteps}")
        self.timesteps = None if timesteps is None else int(timesteps)
        if bond_weight < 0:
            raise ValueError(f"bond_weight must be non-negative, got {bond_weight}")
        self.bond_weight = float(bond_weight)

    # ------------------------------------------------------------------ noise laws
    def kappa(self, t: Tensor) -> Tensor:
        """Keep probability ``kappa_t = alpha_bar(t)`` in ``[0, 1]``."""
        return self.schedule.alpha_bar(torch.as_tensor(t).clamp(0.0, 1.0)).clamp(0.0, 1.0)

    def bond_law(self, atoms: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
        """The bond noise law ``u_ij`` ``(B, N, N, E)`` given clean atoms ``(B, N)``."""
        if self.transition == "marginal":
            n = atoms.shape[-1]
            return self.bond_marginal.to(dtype=dtype, device=atoms.device).expand(*atoms.shape, n, -1)
        table = self.bond_given_pair.to(dtype=dtype, device=atoms.device)
        return table[atoms.unsqueeze(-1), atoms.unsqueeze(-2)]

    def stationary_bond_law(self, atom_pair_weights: Tensor) -> Tensor:
        """``sum_{a,b} w_ab P(e | a, b)`` for pair weights ``(A, A)``: the data's bond
        marginal when ``w`` is the data's atom-pair distribution."""
        if self.transition == "marginal":
            return self.bond_marginal.clone()
        return torch.einsum("ab,abe->e", atom_pair_weights.to(torch.float64), self.bond_given_pair)

    # ------------------------------------------------------------------ training
    def prior(self, shape, generator=None, device=None, mask=None, dtype=torch.float32) -> Tensor:
        """Atoms from ``m_X`` and bonds from ``m_E``, independently (the stationary laws)."""
        b, n = shape[0], shape[1]
        atoms = sample_categorical(self.atom_marginal.float().to(device).expand(b, n, -1), generator)
        bonds = sample_categorical(self.bond_marginal.float().to(device).expand(b, n, n, -1), generator)
        return self.space.project(pack_graph(atoms, bonds), mask)

    def corrupt(
        self,
        x1: Tensor,
        *,
        generator: torch.Generator | None = None,
        cond: Condition | None = None,
        mask: Tensor | None = None,
        t: Tensor | None = None,
        x0: Tensor | None = None,
    ) -> Corruption:
        """``z_t ~ q(z_t | x1)``: keep each slot with probability ``kappa_t``, else draw its
        noise law (one draw per bond pair). The target is ``x1``."""
        x1 = self.space.project(x1.long(), mask)
        b, n = x1.shape[0], x1.shape[1]
        if t is None:
            t = self.sample_time(b, generator=generator, device=x1.device)
        atoms1, _ = unpack_graph(x1)
        if x0 is None:
            atoms0 = sample_categorical(self.atom_marginal.float().to(x1.device).expand(b, n, -1), generator)
            bonds0 = sample_categorical(self.bond_law(atoms1), generator)
            x0 = self.space.project(pack_graph(atoms0, bonds0), mask)
        kappa = self.kappa(t.float()).reshape(b, 1, 1)
        keep = torch.rand(x1.shape, generator=generator, device=x1.device) < kappa
        x_t = self.space.project(torch.where(keep, x1, x0.long()), mask)
        return Corruption(t=t, x_t=x_t, target=x1, x0=x0, x1=x1, cond=cond, mask=mask)

    def loss(self, prediction: Tensor, c: Corruption) -> tuple[Tensor, dict[str, Tensor]]:
        """``CE(atoms) + bond_weight * CE(bonds)``, each a masked mean over real slots."""
        k = self.space.num_classes
        target = c.target
        if prediction.shape != target.shape + (k,):
            raise ValueError(f"logits shape {tuple(prediction.shape)} != state shape {tuple(target.shape)} + ({k},)")
        per = F.cross_entropy(prediction.reshape(-1, k), target.reshape(-1), reduction="none").reshape(target.shape)
        real = c.mask.bool() if c.mask is not None else slot_mask(torch.ones(target.shape[:2], dtype=torch.bool, device=target.device))
        correct = (prediction.argmax(-1) == target).float()
        atom_real, bond_real = real[..., :1], real[..., 1:]
        loss_atoms = masked_mean(per[..., :1], atom_real, c.weight)
        loss_bonds = masked_mean(per[..., 1:], bond_real, c.weight)
        value = loss_atoms + self.bond_weight * loss_bonds
        logs = {
            "loss": value.detach(),
            "loss_atoms": loss_atoms.detach(),
            "loss_bonds": loss_bonds.detach(),
            "accuracy_atoms": (correct[..., :1] * atom_real).sum().detach() / atom_real.sum().clamp_min(1),
            "accuracy_bonds": (correct[..., 1:] * bond_real).sum().detach() / bond_real.sum().clamp_min(1),
        }
        return value, logs

    # ------------------------------------------------------------------ sampling
    def posterior_probs(self, x_t: Tensor, p1_hat: Tensor, t: Tensor, s: Tensor) -> Tensor:
        """``p(z_s | z_t)`` per slot, ``(B, N, 1 + N, K)``, for ``s > t`` (module docstring)."""
        dtype = p1_hat.dtype
        b = x_t.shape[0]
        a_n, e_n = self.space.num_atom_types, self.space.num_bond_classes
        t = torch.as_tensor(t, dtype=dtype, device=x_t.device).expand(b) if torch.as_tensor(t).ndim == 0 else t.to(dtype)
        s = torch.as_tensor(s, dtype=dtype, device=x_t.device).expand(b) if torch.as_tensor(s).ndim == 0 else s.to(dtype)
        kt, ks = self.kappa(t), self.kappa(s)
        atoms_t, bonds_t = unpack_graph(x_t.long())
        p_atoms = p1_hat[..., 0, :a_n]
        p_bonds = p1_hat[..., 1:, :e_n]

        limit_x = self.atom_marginal.to(dtype=dtype, device=x_t.device).expand(a_n, -1)
        post_atoms = mixing_posterior(F.one_hot(atoms_t, a_n).to(dtype), p_atoms, kt.reshape(b, 1, 1), ks.reshape(b, 1, 1), limit_x)

        oh_bonds = F.one_hot(bonds_t, e_n).to(dtype)
        k4t, k4s = kt.reshape(b, 1, 1, 1), ks.reshape(b, 1, 1, 1)
        if self.transition == "marginal":
            law = self.bond_marginal.to(dtype=dtype, device=x_t.device)
            post_bonds = rank_one_posterior(oh_bonds, p_bonds, k4t, k4s, law)
        else:
            weights = p_atoms[:, :, None, :, None] * p_atoms[:, None, :, None, :]  # (B, N, N, A, A)
            table = self.bond_given_pair.to(dtype=dtype, device=x_t.device)
            post_bonds = joint_bond_posterior(bonds_t, p_bonds, weights, k4t, k4s, table)
        out = torch.zeros(p1_hat.shape, dtype=dtype, device=p1_hat.device)
        out[..., 0, :a_n] = post_atoms
        out[..., 1:, :e_n] = post_bonds
        return out

    def mixture_blocks(self, x_t: Tensor, p1_hat: Tensor) -> list[MixtureBlock]:
        """The noise as mixture paths (:mod:`gensci.core.mixture_path`). Atoms (column 0): one
        context per clean atom type, noise law ``m_X``. Bonds (columns 1..N): for the marginal
        transition one context per clean bond class with law ``m_E``; for the joint transition
        one per clean ``(a_i, a_j, e_ij)`` with weight ``p_i(a) p_j(b) p_ij(e)`` (the network's
        factorised prediction) and law ``P(. | a, b)``."""
        a_n, e_n = self.space.num_atom_types, self.space.num_bond_classes
        dev, dtype = p1_hat.device, p1_hat.dtype
        p_atoms = p1_hat[..., 0:1, :a_n]
        p_atoms = p_atoms / p_atoms.sum(-1, keepdim=True).clamp_min(1e-30)
        p_bonds = p1_hat[..., 1:, :e_n]
        p_bonds = p_bonds / p_bonds.sum(-1, keepdim=True).clamp_min(1e-30)
        atoms = MixtureBlock(slice(0, 1), p_atoms, torch.arange(a_n, device=dev),
                             self.atom_marginal.to(dtype=dtype, device=dev).expand(a_n, -1))
        if self.transition == "marginal":
            bonds = MixtureBlock(slice(1, None), p_bonds, torch.arange(e_n, device=dev),
                                 self.bond_marginal.to(dtype=dtype, device=dev).expand(e_n, -1))
            return [atoms, bonds]
        pa = p_atoms[..., 0, :]  # (B, N, A)
        w = pa[:, :, None, :, None, None] * pa[:, None, :, None, :, None] * p_bonds[:, :, :, None, None, :]
        table = self.bond_given_pair.to(dtype=dtype, device=dev)  # (A, A, E)
        laws = table[:, :, None, :].expand(a_n, a_n, e_n, e_n).reshape(-1, e_n)
        clean = torch.arange(e_n, device=dev).repeat(a_n * a_n)
        bonds = MixtureBlock(slice(1, None), w.reshape(*w.shape[:3], -1), clean, laws)
        return [atoms, bonds]

    def __repr__(self) -> str:
        return (f"GraphDiffusion({self.space!r}, transition={self.transition!r}, schedule={self.schedule!r}, "
                f"timesteps={self.timesteps}, bond_weight={self.bond_weight:g})")
