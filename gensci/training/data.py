"""A LightningDataModule fed by a domain's splits, with a shuffle that resumes exactly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Sampler

from gensci.domain import Domain

__all__ = ["DomainDataModule", "EpochSampler"]


class EpochSampler(Sampler[int]):
    """The indices ``0..n-1`` in the order ``randperm(n)`` drawn from a generator seeded with
    ``seed * 1_000_003 + epoch``: each epoch's order is a function of ``(seed, epoch)`` alone,
    whatever ran before (Lightning calls :meth:`set_epoch`).

    ``resume_at(epoch, start)`` makes the next pass over ``epoch`` begin at position
    ``start`` of its order (a run resumed mid-epoch sees exactly the rest of that epoch); later
    passes are whole.

    Length grouping (``sizes`` and ``batch_size`` given): for items of varying size that are
    padded to the largest of their batch (molecules, chains), the shuffled order is cut into
    chunks of ``group`` batches, each chunk is sorted by size and cut into batches, and the
    full batches of the epoch are shuffled again (a partial one goes last, where ``drop_last``
    drops it). Batches then hold items of similar size, so less of each is padding, while
    every item is still seen once per epoch in an order that depends on ``(seed, epoch)``
    alone (as Hugging Face's length-grouped sampler does for text).
    """

    def __init__(self, n: int, seed: int = 0, sizes: torch.Tensor | None = None, batch_size: int | None = None,
                 group: int = 50):
        self.n, self.seed, self.epoch = int(n), int(seed), 0
        self._resume: tuple[int, int] | None = None
        if sizes is not None and len(sizes) != self.n:
            raise ValueError(f"{len(sizes)} sizes for {self.n} items")
        if sizes is not None and not batch_size:
            raise ValueError("length grouping needs the batch size")
        self.sizes = None if sizes is None else torch.as_tensor(sizes)
        self.batch_size, self.group = (int(batch_size) if batch_size else None), int(group)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def resume_at(self, epoch: int, start: int) -> None:
        self._resume = (int(epoch), int(start)) if start > 0 else None

    def order(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + int(epoch))
        order = torch.randperm(self.n, generator=g)
        if self.sizes is None:
            return order
        b = self.batch_size
        chunk = b * self.group
        grouped = [part[torch.argsort(self.sizes[part], stable=True)] for part in order.split(chunk)]
        flat = torch.cat(grouped)
        full = self.n // b
        batches = flat[: full * b].reshape(full, b)[torch.randperm(full, generator=g)]
        return torch.cat([batches.reshape(-1), flat[full * b:]])

    def __iter__(self) -> Iterator[int]:
        order = self.order(self.epoch)
        if self._resume is not None and self._resume[0] == self.epoch:
            order = order[self._resume[1]:]
            self._resume = None
        return iter(order.tolist())

    def __len__(self) -> int:
        return self.n


def _batches_done(trainer: Any, per_epoch: int) -> int:
    """The batches of the current epoch that a resumed fit has already trained on, when it
    stopped inside an epoch; 0 otherwise (a fresh fit, a stop at an epoch's end, or more
    than one process, where Lightning's distributed sampler shards the order).

    The count is Lightning's own, restored from the checkpoint
    (``fit_loop.epoch_loop.batch_progress.current.ready``): Lightning adds it to its fetch
    count, so an epoch resumed with only its remaining batches ends where it should. Being
    counted in batches, it holds with ``accumulate_grad_batches`` and ``limit_train_batches``.
    """
    if trainer is None or trainer.world_size != 1 or not trainer.fit_loop.epoch_loop.restarting:
        return 0
    done = int(trainer.fit_loop.epoch_loop.batch_progress.current.ready)
    limit = trainer.limit_train_batches  # as Lightning applies it to the epoch's length
    if isinstance(limit, int):
        per_epoch = min(per_epoch, limit)
    elif isinstance(limit, float):
        per_epoch = int(per_epoch * limit)
    return done if 0 < done < per_epoch else 0


class DomainDataModule(L.LightningDataModule):
    """Shuffled train batches (seeded per epoch, last partial batch dropped) and ordered val batches.

    A training dataset with a ``sizes`` attribute (one size per item) gets length-grouped
    batches (:class:`EpochSampler`).

    ``domain`` is anything with ``prepare()``, ``dataset(split)`` and ``collate(items)`` (a
    :class:`~gensci.domain.Domain`, or the data of one training stage). The loaders carry
    their own generators, so creating their iterators draws nothing from torch's global RNG.
    """

    def __init__(self, domain: Domain | Any, batch_size: int = 256, num_workers: int = 0, seed: int = 0):
        super().__init__()
        self.domain = domain
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.seed = int(seed)

    def setup(self, stage: str | None = None) -> None:
        self.domain.prepare()

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        data = self.domain.dataset(split)
        batch = min(self.batch_size, len(data))
        sampler = None
        if shuffle:
            sizes = getattr(data, "sizes", None)  # items padded per batch: group them by size
            sampler = EpochSampler(len(data), self.seed, sizes=sizes, batch_size=batch if sizes is not None else None)
            trainer = getattr(self, "trainer", None)
            done = _batches_done(trainer, len(data) // batch)  # drop_last
            if done:
                sampler.resume_at(trainer.current_epoch, done * batch)
        return DataLoader(
            data,
            batch_size=batch,
            sampler=sampler,
            drop_last=shuffle,
            collate_fn=self.domain.collate,
            num_workers=self.num_workers,
            generator=torch.Generator().manual_seed(self.seed),
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)
