"""A LightningDataModule fed by a domain's splits."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader

from gensci.domain import Domain

__all__ = ["DomainDataModule"]


class DomainDataModule(L.LightningDataModule):
    """Shuffled train batches (seeded, last partial batch dropped) and ordered val batches."""

    def __init__(self, domain: Domain, batch_size: int = 256, num_workers: int = 0, seed: int = 0):
        super().__init__()
        self.domain = domain
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.seed = int(seed)

    def setup(self, stage: str | None = None) -> None:
        self.domain.prepare()

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        data = self.domain.dataset(split)
        return DataLoader(
            data,
            batch_size=min(self.batch_size, len(data)),
            shuffle=shuffle,
            drop_last=shuffle,
            collate_fn=self.domain.collate,
            num_workers=self.num_workers,
            generator=torch.Generator().manual_seed(self.seed) if shuffle else None,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)
