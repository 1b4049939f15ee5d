"""A two-stage toy domain: an autoencoder of 8-D vectors, then a flow prior on its 2-D latent.

The data lie near a 2-D annulus embedded in R^8: ``x = A (r cos a, r sin a) + 0.02 e`` with
``A`` a fixed 8x2 matrix of orthonormal columns, ``r ~ U[0.5, 1]``, ``a ~ U[0, 2 pi)``.

* Stage ``autoencoder`` (an :class:`Autoencoder`, trained by
  :class:`~gensci.training.objective.Reconstruction`) learns ``x -> z -> x``.
* The generative stage trains flow matching on the standardised latents ``z`` of the train
  split, encoded by the frozen encoder; decoding runs the frozen decoder.

Metrics: ``off_manifold``, the mean distance ``|x - A A^T x|`` from the data's plane, and
``in_annulus``, the fraction with ``0.4 <= |A^T x| <= 1.1``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from gensci.core.spaces import Euclidean
from gensci.domain import BatchDataset, Domain, SamplePlan
from gensci.errors import GensciError
from gensci.io import atomic_write

DIM, LATENT = 8, 2


def embedding() -> Tensor:
    q, _ = torch.linalg.qr(torch.randn(DIM, LATENT, generator=torch.Generator().manual_seed(123)))
    return q


def make_annulus(n: int, generator: torch.Generator) -> Tensor:
    r = 0.5 + 0.5 * torch.rand(n, generator=generator)
    a = 2 * math.pi * torch.rand(n, generator=generator)
    plane = torch.stack([r * a.cos(), r * a.sin()], dim=1)
    return plane @ embedding().T + 0.02 * torch.randn(n, DIM, generator=generator)


class Autoencoder(nn.Module):
    """``decode(encode(x))`` with small MLPs; ``forward(x, mask=None)`` is the reconstruction."""

    def __init__(self, dim: int, latent: int, hidden: int = 64):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, latent))
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.SiLU(), nn.Linear(hidden, dim))

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.decode(self.encode(x))


class TwoStageDomain(Domain):
    name = "annulus"
    suffix = ".csv"
    stages = ("autoencoder",)

    def __init__(self, n_train: int = 2000, n_val: int = 200, n_test: int = 500, seed: int = 0):
        self.sizes = {"train": n_train, "val": n_val, "test": n_test}
        self.seed = seed
        self._data: dict[str, Tensor] | None = None
        self._stats: dict[str, Any] = {}

    def prepare(self) -> None:
        if self._data is None:
            self._data = {split: make_annulus(n, torch.Generator().manual_seed(self.seed * 10 + i))
                          for i, (split, n) in enumerate(self.sizes.items())}

    # ------------------------------------------------------------ stages
    def stage_kwargs(self, stage: str) -> dict[str, Any]:
        return {"dim": DIM, "latent": LATENT}

    def stage_dataset(self, stage: str, split: str) -> Dataset:
        self.prepare()
        return BatchDataset(self._data[split])

    def attach(self, stage: str, module: nn.Module) -> None:
        """The trained autoencoder: the latent statistics come from the train split once."""
        super().attach(stage, module)
        if "latent_mean" not in self._stats:
            self.prepare()
            with torch.no_grad():
                z = module.encode(self._data["train"])
            self._stats.update(latent_mean=z.mean(0).tolist(), latent_std=z.std(0).tolist())

    def _latents(self, x: Tensor) -> Tensor:
        ae = self.module("autoencoder")
        with torch.no_grad():
            z = ae.encode(x.to(next(ae.parameters()).device))
        return (z - torch.tensor(self._stats["latent_mean"])) / torch.tensor(self._stats["latent_std"])

    def dataset(self, split: str) -> Dataset:
        self.prepare()
        return BatchDataset(self._latents(self._data[split]))

    # ------------------------------------------------------------ generative stage
    def space(self) -> Euclidean:
        return Euclidean()

    def network_kwargs(self) -> dict[str, Any]:
        return {"dim": LATENT}

    def stats(self) -> dict[str, Any]:
        return dict(self._stats)

    def load_stats(self, stats: dict[str, Any]) -> None:
        self._stats = dict(stats)

    def plan(self, n: int, conditions=None, **options: Any) -> SamplePlan:
        if conditions:
            raise GensciError("the annulus toy is unconditional")
        return SamplePlan(shape=(n, LATENT))

    def decode(self, z: Tensor, plan: SamplePlan) -> np.ndarray:
        """The frozen decoder on the sampling device, from standardised latents."""
        ae = self.module("autoencoder")
        mean = torch.tensor(self._stats["latent_mean"], device=z.device)
        std = torch.tensor(self._stats["latent_std"], device=z.device)
        with torch.no_grad():
            return ae.decode(z * std + mean).cpu().numpy()

    def write(self, samples: np.ndarray, path) -> Path:
        with atomic_write(path) as handle:
            out = csv.writer(handle)
            out.writerow([f"x{i}" for i in range(DIM)])
            out.writerows([[f"{v:.6f}" for v in row] for row in samples])
        return Path(path)

    def evaluate(self, samples: np.ndarray, split: str = "test") -> dict[str, float]:
        a = embedding().numpy().astype(np.float64)
        x = np.asarray(samples, dtype=np.float64)
        plane = x @ a
        radius = np.linalg.norm(plane, axis=1)
        return {"off_manifold": float(np.linalg.norm(x - plane @ a.T, axis=1).mean()),
                "in_annulus": float(((radius >= 0.4) & (radius <= 1.1)).mean())}
