"""A small network of records for the toy domains: one MLP over every field, flattened.

Continuous fields enter as their values and leave as ``heads`` state-sized outputs; a
categorical field of ``K`` classes enters one-hot and leaves as logits ``(..., K)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from gensci.core.state import State
from gensci.nn.mlp import VectorFieldMLP


class RecordMLP(nn.Module):
    """``model(x_t: State, t, cond=None, mask=None) -> State`` of per-field predictions.

    Args:
        fields: name -> ``{"shape": per-sample shape, "classes": K}`` (no ``classes``:
            a continuous field).
        heads: name -> state-sized outputs of each continuous field (the process's heads).
    """

    def __init__(self, fields: Mapping[str, Mapping[str, Any]], heads: Mapping[str, int] | int = 1,
                 hidden: int = 128, depth: int = 3, conditions: list | None = None, cond_dropout: float = 0.1):
        super().__init__()
        self.fields = {k: {"shape": tuple(v["shape"]), "classes": v.get("classes")} for k, v in fields.items()}
        self.heads = {k: (heads[k] if isinstance(heads, Mapping) else int(heads)) for k in self.fields}
        size_in = size_out = 0
        for name, f in self.fields.items():
            numel = math.prod(f["shape"])
            size_in += numel * (f["classes"] or 1)
            size_out += numel * (f["classes"] or self.heads[name])
        self.mlp = VectorFieldMLP(size_in, hidden=hidden, depth=depth, conditions=conditions, cond_dropout=cond_dropout)
        self.mlp.out = nn.Linear(hidden, size_out)  # outputs need not have the input's size

    def forward(self, x_t: State, t: Tensor, cond=None, mask=None) -> State:
        b = len(x_t)
        parts = []
        for name, f in self.fields.items():
            v = x_t[name]
            parts.append((nn.functional.one_hot(v.long(), f["classes"]).float() if f["classes"] else v).reshape(b, -1))
        out = self.mlp(torch.cat(parts, dim=1), t, cond=cond)
        result, start = {}, 0
        for name, f in self.fields.items():
            per = f["classes"] or self.heads[name]
            numel = math.prod(f["shape"]) * per
            chunk = out[:, start : start + numel]
            start += numel
            if f["classes"]:
                result[name] = chunk.reshape(b, *f["shape"], f["classes"])
            else:
                result[name] = chunk.reshape(b, *f["shape"][:-1], f["shape"][-1] * per)
        return State(result)
