r"""Generating around a fixed fragment: given atoms kept, the rest of the molecule sampled.

With the flow family every field moves by the network's prediction, so a fragment can be
held by replacing the prediction of its atoms (no retraining, no change to the sampler):

* positions: the fragment's coordinates ``y`` (its own frame) are first placed onto the
  current positions of its atoms by the best rigid motion,
  ``y' = R (y - \bar y) + \bar x_F`` with ``R`` from Kabsch (:func:`gensci.core.alignment.kabsch`),
  and their velocity becomes ``v_F = (y' - x_F) / (1 - t)``, so an Euler step that reaches
  ``t = 1`` lands exactly on the placed fragment. Aligning at every step keeps the whole
  prediction E(3)-equivariant; the zero-CoM projection after a step moves all atoms together,
  so the fragment's internal geometry is exact at the end;
* atom types, charges and bonds among fragment atoms: their logits become ``±L`` (one-hot),
  so the categorical jump lands on the fragment's classes at the latest at the final step.

The other atoms, and the bonds between them and the fragment, are generated. This is the
replacement method for flows (cf. RePaint, Lugmayr et al. 2022, for diffusion), cheap
because the flow family's velocity is the network's own output.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from domains.atoms.molecule import Molecule3D
from gensci.core.alignment import kabsch
from gensci.core.state import State

__all__ = ["FragmentInpainting", "fragment_tensors"]

#: the logit given to a fragment's fixed class (and its negative to the others)
FIXED_LOGIT = 30.0


class FragmentInpainting(nn.Module):
    """``model(x_t, t, cond, mask)`` of ``network`` with the first ``len(fragment)`` atoms of
    every sample held to ``fragment`` (its positions in Å divided by ``position_scale``,
    type / charge / bond classes given by the domain)."""

    def __init__(self, network: nn.Module, positions: Tensor, types: Tensor, charges: Tensor, bonds: Tensor,
                 classes: Mapping[str, int], t_max: float = 1.0 - 1e-4):
        super().__init__()
        self.network, self.t_max = network, float(t_max)
        self.register_buffer("positions", positions - positions.mean(0))
        self.register_buffer("types", types)
        self.register_buffer("charges", charges)
        self.register_buffer("bonds", bonds)
        self.classes = dict(classes)

    @property
    def size(self) -> int:
        return len(self.positions)

    def _fixed(self, logits: Tensor, value: Tensor, k: int) -> Tensor:
        one = torch.nn.functional.one_hot(value.long(), k).to(logits.dtype)
        return (2.0 * one - 1.0) * FIXED_LOGIT

    def forward(self, x_t: State, t: Tensor, cond=None, mask=None) -> State:
        out = self.network(x_t, t, cond, mask)
        f = self.size
        pos = x_t["pos"]
        b = pos.shape[0]
        current = pos[:, :f]
        target = self.positions.to(pos.dtype).expand(b, f, 3)
        rot = kabsch(target, current - current.mean(1, keepdim=True))
        placed = target @ rot.transpose(-1, -2) + current.mean(1, keepdim=True)
        tt = torch.as_tensor(t, dtype=pos.dtype, device=pos.device).expand(b).clamp(max=self.t_max)
        fields = dict(out.items())
        velocity = fields["pos"].clone()
        velocity[:, :f] = (placed - current) / (1.0 - tt)[:, None, None]
        fields["pos"] = velocity
        for name, value in (("types", self.types), ("charges", self.charges)):
            logits = fields[name].clone()
            logits[:, :f] = self._fixed(logits, value, self.classes[name]).expand(b, f, -1)
            fields[name] = logits
        if "bonds" in fields:
            logits = fields["bonds"].clone()
            logits[:, :f, :f] = self._fixed(logits, self.bonds, self.classes["bonds"]).expand(b, f, f, -1)
            fields["bonds"] = logits
        return State({k: fields[k] for k in out.keys()})


def fragment_tensors(fragment: Molecule3D, type_index, charges: tuple[int, ...], position_scale: float):
    """The fragment's positions (scaled) and class tensors for :class:`FragmentInpainting`."""
    numbers = torch.as_tensor(fragment.numbers)
    positions = torch.as_tensor(fragment.positions, dtype=torch.float32) / position_scale
    charge_index = torch.tensor([charges.index(int(q)) for q in fragment.charges], dtype=torch.long)
    bonds = torch.as_tensor(fragment.bonds if fragment.bonds is not None else torch.zeros(len(fragment), len(fragment)),
                            dtype=torch.long)
    return positions, type_index(numbers), charge_index, bonds
