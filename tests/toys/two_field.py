"""A two-field toy domain: squares of four points in the plane with a class per point.

Each object is the four corners ``(±1, ±1)`` of a square, turned by a random angle about its
centre (plus noise ``0.03``), and a class per corner: 1 if the corner lies above the centre
(``y > 0``), else 0. Its state is a record of two fields,

* ``pos``: ``(B, 4, 2)`` on :class:`~gensci.core.spaces.ZeroCoM` (the centre is the origin);
* ``types``: ``(B, 4)`` on :class:`~gensci.core.spaces.Categorical` (2),

generated together by a product process (flow matching on ``pos``, categorical diffusion on
``types``). The classes depend on the positions, so only a joint model gets them right:
``type_agreement`` is the fraction of corners whose class matches their side (chance: 0.5).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from gensci.core.product import ProductSpace
from gensci.core.spaces import Categorical, ZeroCoM
from gensci.core.state import State
from gensci.domain import BatchDataset, Domain, SamplePlan
from gensci.errors import GensciError
from gensci.io import atomic_write

POINTS = 4


@dataclass
class Squares:
    """Decoded samples: corner positions ``(n, 4, 2)`` and classes ``(n, 4)``."""

    pos: np.ndarray
    types: np.ndarray

    def __len__(self) -> int:
        return len(self.pos)


def make_squares(n: int, generator: torch.Generator) -> State:
    angle = torch.rand(n, generator=generator) * 2 * math.pi
    corners = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])
    rot = torch.stack([torch.stack([angle.cos(), -angle.sin()], -1), torch.stack([angle.sin(), angle.cos()], -1)], -2)
    pos = torch.einsum("bij,pj->bpi", rot, corners) + 0.03 * torch.randn(n, POINTS, 2, generator=generator)
    pos = pos - pos.mean(dim=1, keepdim=True)
    return State(pos=pos, types=(pos[..., 1] > 0).long())


class TwoFieldDomain(Domain):
    name = "squares"
    suffix = ".csv"

    def __init__(self, n_train: int = 2000, n_val: int = 200, n_test: int = 200, seed: int = 0):
        self.sizes = {"train": n_train, "val": n_val, "test": n_test}
        self.seed = seed
        self._data: dict[str, State] | None = None

    def prepare(self) -> None:
        if self._data is None:
            self._data = {split: make_squares(n, torch.Generator().manual_seed(self.seed * 10 + i))
                          for i, (split, n) in enumerate(self.sizes.items())}

    def dataset(self, split: str) -> Dataset:
        self.prepare()
        return BatchDataset(self._data[split])

    def space(self) -> ProductSpace:
        return ProductSpace({"pos": ZeroCoM(), "types": Categorical(2)})

    def network_kwargs(self) -> dict[str, Any]:
        return {"fields": {"pos": {"shape": (POINTS, 2)}, "types": {"shape": (POINTS,), "classes": 2}}}

    def stats(self) -> dict[str, Any]:
        return {"points": POINTS}

    def load_stats(self, stats: dict[str, Any]) -> None:
        pass

    def plan(self, n: int, conditions=None, **options: Any) -> SamplePlan:
        if conditions:
            raise GensciError("the squares toy is unconditional")
        return SamplePlan(shape={"pos": (n, POINTS, 2), "types": (n, POINTS)})

    def decode(self, x: State, plan: SamplePlan) -> Squares:
        return Squares(pos=x["pos"].detach().cpu().numpy(), types=x["types"].detach().cpu().numpy())

    def write(self, samples: Squares, path) -> Path:
        with atomic_write(path) as handle:
            out = csv.writer(handle)
            out.writerow(["sample", "corner", "x", "y", "type"])
            for i, (pos, types) in enumerate(zip(samples.pos, samples.types)):
                for j in range(POINTS):
                    out.writerow([i, j, f"{pos[j, 0]:.6f}", f"{pos[j, 1]:.6f}", int(types[j])])
        return Path(path)

    def read(self, path) -> Squares:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        n = len(rows) // POINTS
        pos = np.array([[float(r["x"]), float(r["y"])] for r in rows]).reshape(n, POINTS, 2)
        return Squares(pos=pos, types=np.array([int(r["type"]) for r in rows]).reshape(n, POINTS))

    def evaluate(self, samples: Squares, split: str = "test") -> dict[str, float]:
        """``type_agreement``: corners whose class is their side of the centre; ``edge_error``:
        mean |edge length - 2| over the sorted-by-angle square (0 for perfect squares)."""
        pos = samples.pos - samples.pos.mean(axis=1, keepdims=True)
        agree = float(((pos[..., 1] > 0).astype(int) == samples.types).mean())
        order = np.argsort(np.arctan2(pos[..., 1], pos[..., 0]), axis=1)
        ring = np.take_along_axis(pos, order[..., None], axis=1)
        edges = np.linalg.norm(ring - np.roll(ring, 1, axis=1), axis=-1)
        return {"type_agreement": agree, "edge_error": float(np.abs(edges - 2.0).mean())}
