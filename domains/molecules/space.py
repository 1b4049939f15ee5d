"""Molecular graphs as one categorical state: each node's atom type and its row of bonds.

Graph DiT (Liu et al. 2024, arXiv 2401.13858) treats node ``i`` as one token
``[x_i, e_i1, ..., e_iN]``. The state here has exactly that layout, as class indices::

    x[b, i, 0]      atom type of node i            in 0 .. A-1
    x[b, i, 1 + j]  bond class of the pair (i, j)  in 0 .. E-1   (0 = no bond)

shape ``(B, N, 1 + N)``. Every slot is a categorical variable with ``K = max(A, E)``
classes; an atom slot only uses the first ``A`` and a bond slot the first ``E`` (the
network gives the others no probability). A mask of the same shape marks the real slots:
atoms of real nodes and bonds between two distinct real nodes.

:meth:`GraphSpace.project` makes a state valid: bonds symmetric (the upper triangle is
copied onto the lower one, so a pair is one variable drawn once), an empty diagonal and
zeros in padded slots.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gensci.core.spaces import Categorical

__all__ = ["GraphSpace", "pack_graph", "unpack_graph", "slot_mask"]


def pack_graph(atoms: Tensor, bonds: Tensor) -> Tensor:
    """``atoms (B, N)`` and ``bonds (B, N, N)`` into the state ``(B, N, 1 + N)``."""
    return torch.cat([atoms.long().unsqueeze(-1), bonds.long()], dim=-1)


def unpack_graph(x: Tensor) -> tuple[Tensor, Tensor]:
    """The state ``(..., N, 1 + N)`` back into ``atoms (..., N)`` and ``bonds (..., N, N)``."""
    return x[..., 0], x[..., 1:]


def slot_mask(node_mask: Tensor) -> Tensor:
    """Real slots ``(B, N, 1 + N)`` from real nodes ``(B, N)``: the atom of a real node and
    the bond between two distinct real nodes."""
    node_mask = node_mask.bool()
    n = node_mask.shape[-1]
    pair = node_mask[..., :, None] & node_mask[..., None, :]
    pair = pair & ~torch.eye(n, dtype=torch.bool, device=node_mask.device)
    return torch.cat([node_mask.unsqueeze(-1), pair], dim=-1)


class GraphSpace(Categorical):
    """Categorical states of molecular graphs (module docstring).

    Args:
        num_atom_types: A, the atom classes.
        num_bond_classes: E, the bond classes including 0 = no bond.
    """

    def __init__(self, num_atom_types: int, num_bond_classes: int):
        if num_atom_types < 1 or num_bond_classes < 2:
            raise ValueError(f"need at least 1 atom type and 2 bond classes, got {num_atom_types} and {num_bond_classes}")
        super().__init__(max(int(num_atom_types), int(num_bond_classes), 2))
        self.num_atom_types = int(num_atom_types)
        self.num_bond_classes = int(num_bond_classes)

    def project(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Clamp each slot to its classes, copy the upper triangle of the bonds onto the lower
        one, empty the diagonal and zero the padded slots."""
        atoms, bonds = unpack_graph(x.long())
        atoms = atoms.clamp(0, self.num_atom_types - 1)
        upper = torch.triu(bonds.clamp(0, self.num_bond_classes - 1), diagonal=1)
        x = pack_graph(atoms, upper + upper.transpose(-1, -2))
        if mask is not None:
            x = torch.where(mask.bool(), x, torch.zeros_like(x))
        return x

    def noise(self, shape, generator=None, dtype=torch.long, device=None, mask=None) -> Tensor:
        """Uniform classes in every slot (each slot within its own classes)."""
        n = shape[-2]
        atoms = torch.randint(0, self.num_atom_types, tuple(shape[:-1]), generator=generator, device=device)
        bonds = torch.randint(0, self.num_bond_classes, tuple(shape[:-2]) + (n, n), generator=generator, device=device)
        return self.project(pack_graph(atoms, bonds), mask)

    def class_mask(self, n: int, device=None) -> Tensor:
        """``(1 + n, K)`` booleans: which classes each slot column may take."""
        allowed = torch.zeros(1 + n, self.num_classes, dtype=torch.bool, device=device)
        allowed[0, : self.num_atom_types] = True
        allowed[1:, : self.num_bond_classes] = True
        return allowed

    def __repr__(self) -> str:
        return f"GraphSpace(atoms={self.num_atom_types}, bonds={self.num_bond_classes})"
