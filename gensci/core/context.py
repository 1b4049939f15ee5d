r"""A given field: part of the state, never generated.

Some models move one field of a record and read the others as fixed context: a conformer
model refines positions while the atom types and bonds of the molecule are given (bridge
matching between two geometries of one molecule, Shi et al. 2023, arXiv 2303.16852; I²SB,
Liu et al. 2023, arXiv 2302.05872). In a :class:`~gensci.core.product.ProductProcess` such a
field gets :class:`Context`:

.. math::
    x^f_t = x^f_1 = x^f_0 \quad \text{for every } t, \qquad L_f = 0.

The network sees the field at every step and predicts nothing for it; samplers keep it as
it came from the source (their ``"keep"`` rule), so a sample starts from — and ends with —
the given values. There is no prior to draw from: the start state must supply the field
(a domain's paired ``x0`` in training, a sample plan's ``x0`` at sampling).
"""

from __future__ import annotations

import torch
from torch import Tensor

from gensci.core.process import Condition, Corruption, Process
from gensci.core.spaces import Space

__all__ = ["Context"]


class Context(Process):
    """A field given as context (module docstring).

    Args:
        space: the field's space (e.g. ``Categorical(5)`` for atom types).
    """

    #: samplers keep fields with this capability as they are
    capabilities = frozenset({"context"})

    def __init__(self, space: Space):
        self.space = space

    def prior(self, shape, generator=None, device=None, mask=None, dtype=torch.float32) -> Tensor:
        raise ValueError("a context field has no prior: the start state (a paired x0 or a sample plan's x0) "
                         "must supply it")

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
        """``x_t = x1`` at every time (the target is ``x1`` too, and unused); a given ``x0`` must
        equal ``x1`` where it is real."""
        if x0 is not None and x0.shape == x1.shape:
            differs = x0 != x1
            if mask is not None:
                differs = differs & mask.reshape(mask.shape + (1,) * (x1.ndim - mask.ndim)).bool()
            if bool(differs.any()):
                raise ValueError("a context field's paired start differs from its data: both ends must hold the "
                                 "same values")
        if t is None:
            t = self.sample_time(x1.shape[0], generator=generator, device=x1.device)
        return Corruption(t=t, x_t=x1, target=x1, x0=x1, x1=x1, cond=cond, mask=mask)

    def loss(self, prediction: Tensor | None, c: Corruption) -> tuple[Tensor, dict[str, Tensor]]:
        """Zero: nothing is predicted for a given field."""
        ref = c.x1
        return torch.zeros((), device=ref.device, dtype=torch.float32), {}

    def __repr__(self) -> str:
        return f"Context({self.space!r})"
