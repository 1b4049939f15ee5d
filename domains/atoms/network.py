"""The atoms network: a record of atom fields in, a record of predictions out, around an
equivariant trunk (:class:`~domains.atoms.egnn.EGNNTrunk` or
:class:`~domains.atoms.e3nn_trunk.E3nnTrunk`, chosen by ``trunk``).

``model(x_t, t, cond=None, mask=None) -> State`` with ``x_t`` a :class:`~gensci.core.state.State`:

* ``pos`` (B, N, 3) zero-CoM positions -> the trunk's equivariant displacement, centred
  again over the real atoms (a velocity for flow matching, an ε for Gaussian diffusion);
* ``types``, ``charges`` (B, N) class indices -> logits (B, N, K); or, for an EDM-style
  model that diffuses them as continuous one-hot vectors (B, N, K), -> (B, N, K) outputs;
* ``bonds`` (B, N, N) class indices (optional) -> symmetric logits (B, N, N, K).

Fields marked ``given`` (a conformer model's atom types, charges and bonds: context, not
generated; :class:`~gensci.core.context.Context`) are embedded the same way but predicted
by no head. A process that asks for two outputs of ``pos`` (a Schrödinger bridge's flow
and score) gets the trunk's displacement and a second equivariant vector read from the
final edge features, ``sum_j (x_i - x_j) / (|x_i - x_j| + 1) phi(e_ij) / Z``, side by side
on the last axis (B, N, 6).

Invariant inputs: node features ``h_i = sum_f embed_f(x_f,i) + c`` with
``c = time(t) + conditions(cond)`` (:class:`~gensci.nn.conditioning.TimeConditioned`), and
edge features ``e_ij = embed(bonds_ij) + W c`` (or ``W c`` alone without a bond field).
Heads read node fields from the trunk's node scalars and bonds from its symmetric edge
scalars, so logits are invariant and the position output equivariant by construction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from domains.atoms.space import pair_mask
from gensci.core.state import State
from gensci.nn.conditioning import TimeConditioned
from gensci.nn.conditions import ConditionEncoder, ConditionSpec, specs_to_dicts
from gensci.nn.embeddings import TimeEmbedding

__all__ = ["AtomsNetwork", "TRUNKS"]

#: trunk name -> "module:Class"
TRUNKS = {"egnn": "domains.atoms.egnn:EGNNTrunk", "e3nn": "domains.atoms.e3nn_trunk:E3nnTrunk"}


def _trunk_class(name: str) -> type[nn.Module]:
    if name not in TRUNKS:
        raise ValueError(f"unknown trunk {name!r}; choose one of {', '.join(TRUNKS)}")
    module, cls = TRUNKS[name].split(":")
    return getattr(__import__(module, fromlist=[cls]), cls)


class AtomsNetwork(TimeConditioned, nn.Module):
    """Args:
        fields: field name -> ``{"kind": "positions" | "categorical" | "continuous", "classes": K}``
            (the domain passes it).
        trunk: ``"egnn"`` or ``"e3nn"``; ``trunk_kwargs`` go to its constructor.
        hidden: node width (and the time / condition embedding's); edge_dim: edge width.
        heads: the process's outputs per field (must be 1 each).
        conditions: condition specs (or their dict forms); None for an unconditional model.
        cond_dropout, cond_dropout_each: classifier-free dropout of all / each condition.
    """

    def __init__(
        self,
        fields: Mapping[str, Mapping[str, Any]],
        trunk: str = "egnn",
        hidden: int = 128,
        edge_dim: int = 32,
        trunk_kwargs: Mapping[str, Any] | None = None,
        heads: Mapping[str, int] | int | None = None,
        conditions: Sequence[ConditionSpec | Mapping[str, Any]] | None = None,
        cond_dropout: float = 0.1,
        cond_dropout_each: float = 0.0,
    ):
        super().__init__()
        self.fields = {k: dict(v) for k, v in fields.items()}
        if "pos" not in self.fields or self.fields["pos"].get("kind") != "positions":
            raise ValueError("the atoms network needs a 'pos' field of kind 'positions'")
        counts = dict(heads) if isinstance(heads, Mapping) else {"pos": heads or 1}
        if any(int(h) != 1 for k, h in counts.items() if k != "pos") or int(counts.get("pos", 1)) not in (1, 2):
            raise ValueError(f"the atoms network predicts one output per field (two for 'pos'), the process asks "
                             f"for {heads}")
        self.pos_heads = int(counts.get("pos", 1))
        self.conditions: list[dict[str, Any]] = specs_to_dicts(conditions or [])
        self.time = TimeEmbedding(hidden, features=max(32, hidden + hidden % 2))
        self.cond = (ConditionEncoder(self.conditions, hidden, dropout=cond_dropout, dropout_each=cond_dropout_each)
                     if self.conditions else None)
        self.node_fields = [k for k, v in self.fields.items() if v["kind"] in ("categorical", "continuous") and k != "bonds"]
        self.embed_nodes = nn.ModuleDict({
            k: nn.Embedding(self.fields[k]["classes"], hidden) if self.fields[k]["kind"] == "categorical"
            else nn.Linear(self.fields[k]["classes"], hidden, bias=False) for k in self.node_fields})
        self.has_bonds = "bonds" in self.fields
        self.embed_bonds = nn.Embedding(self.fields["bonds"]["classes"], edge_dim) if self.has_bonds else None
        self.edge_time = nn.Linear(hidden, edge_dim)
        kwargs = dict(trunk_kwargs or {})
        self.trunk = _trunk_class(trunk)(node_dim=hidden, edge_dim=edge_dim, hidden=hidden, edge_out=edge_dim, **kwargs)
        self.node_heads = nn.ModuleDict({k: nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(),
                                                          nn.Linear(hidden, self.fields[k]["classes"]))
                                         for k in self.node_fields if not self.fields[k].get("given")})
        self.bond_head = (nn.Sequential(nn.Linear(edge_dim, edge_dim), nn.SiLU(),
                                        nn.Linear(edge_dim, self.fields["bonds"]["classes"]))
                          if self.has_bonds and not self.fields["bonds"].get("given") else None)
        self.vector_head = (nn.Sequential(nn.Linear(edge_dim, edge_dim), nn.SiLU(), nn.Linear(edge_dim, 1))
                            if self.pos_heads == 2 else None)

    def forward(self, x_t: State, t: Tensor, cond: Mapping[str, Tensor] | None = None,
                mask: Mapping[str, Tensor | None] | None = None) -> State:
        pos = x_t["pos"]
        b, n = pos.shape[:2]
        atoms = (mask or {}).get("pos")
        atoms = torch.ones(b, n, dtype=torch.bool, device=pos.device) if atoms is None else atoms.bool()
        pairs = pair_mask(atoms)
        dtype = self.edge_time.weight.dtype
        c = self.embed(t, cond, b).to(dtype)
        h = c[:, None, :].expand(b, n, -1)
        for k in self.node_fields:
            v = x_t[k]
            h = h + (self.embed_nodes[k](v.long()) if self.fields[k]["kind"] == "categorical" else self.embed_nodes[k](v.to(dtype)))
        e = self.edge_time(c)[:, None, None, :].expand(b, n, n, -1)
        if self.has_bonds:
            e = e + self.embed_bonds(x_t["bonds"].long())
        h, disp, e = self.trunk(h, pos.to(dtype), e, atoms, pairs)
        am = atoms.to(dtype)[..., None]
        disp = disp * am
        disp = (disp - disp.sum(1, keepdim=True) / am.sum(1, keepdim=True).clamp_min(1.0)) * am
        out = {"pos": disp if self.vector_head is None else torch.cat([disp, self._edge_vector(pos.to(dtype), e, pairs, atoms)], -1)}
        for k in self.node_heads:
            out[k] = self.node_heads[k](h) * am
        if self.bond_head is not None:
            out["bonds"] = self.bond_head(e) * pairs.to(dtype)[..., None]
        return State({k: out[k] for k in x_t.keys() if k in out})

    def _edge_vector(self, pos: Tensor, e: Tensor, pairs: Tensor, atoms: Tensor) -> Tensor:
        """``sum_j (x_i - x_j) / (|x_i - x_j| + 1) phi(e_ij) / Z`` over real partners, centred:
        an equivariant vector per atom from invariant edge features."""
        pm = pairs.to(pos.dtype)
        diff = pos[:, :, None, :] - pos[:, None, :, :]
        dist = diff.pow(2).sum(-1).add(1e-8).sqrt()
        norm = pm.sum(-1, keepdim=True).clamp_min(1.0)
        v = (diff / (dist[..., None] + 1.0) * self.vector_head(e) * pm[..., None]).sum(2) / norm
        am = atoms.to(pos.dtype)[..., None]
        return (v - v.sum(1, keepdim=True) / am.sum(1, keepdim=True).clamp_min(1.0)) * am
