"""One LightningModule for every domain: a network trained by a process's loss.

Each step: ``c = process.corrupt(x1, cond, x0=domain source)``, ``pred = network(c.x_t, c.t,
cond=c.cond, mask=c.mask)``, ``loss = process.loss(pred, c)``; AdamW with linear warm-up and
an optional linear anneal to zero over the last steps (:func:`lr_factor`), gradient clipping
from the Trainer, and an EMA of the weights that validation and the exported checkpoint use.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import nn

from gensci.core.process import Process
from gensci.domain import Batch, Domain
from gensci.training.ema import EMA

__all__ = ["GenerativeModule", "lr_factor"]


def lr_factor(step: int, warmup_steps: int = 0, anneal_steps: int = 0, total_steps: int | None = None) -> float:
    """Learning-rate multiplier at optimiser step ``step`` (0-based):

        min(1, (step + 1) / warmup_steps) * min(1, max(0, (total_steps - step) / anneal_steps))

    a linear warm-up, a constant middle and, over the last ``anneal_steps`` of
    ``total_steps``, a linear decay that reaches zero at ``total_steps``. Either phase is off
    when its length is 0 (the anneal also when ``total_steps`` is None).
    """
    factor = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    if anneal_steps > 0 and total_steps is not None:
        factor *= min(1.0, max(0.0, (total_steps - step) / anneal_steps))
    return factor


class GenerativeModule(L.LightningModule):
    """Train ``network`` with ``process`` on batches from ``domain``."""

    def __init__(
        self,
        network: nn.Module,
        process: Process,
        domain: Domain,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        anneal_steps: int = 0,
        ema_decay: float = 0.999,
        seed: int = 0,
    ):
        super().__init__()
        self.network = network
        self.ema = EMA(network, ema_decay)
        self.process = process
        self.domain = domain
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.warmup_steps = int(warmup_steps)
        self.anneal_steps = int(anneal_steps)
        self.seed = int(seed)
        self.generator: torch.Generator | None = None

    # the process and the domain are plain objects: keep them out of state_dict and hparams
    def on_fit_start(self) -> None:
        self.generator = torch.Generator(device=self.device).manual_seed(self.seed * 7919 + self.global_rank)

    def _generator(self) -> torch.Generator:
        if self.generator is None:
            self.generator = torch.Generator(device=self.device).manual_seed(self.seed)
        return self.generator

    def _loss(self, batch: Batch, network: nn.Module) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        g = self._generator()
        x0 = self.domain.source(len(batch), generator=g)
        if x0 is not None:
            x0 = x0.to(batch.x.device)
        c = self.process.corrupt(batch.x, generator=g, cond=batch.cond, mask=batch.mask, x0=x0)
        pred = network(c.x_t, c.t, cond=c.cond, mask=c.mask)
        loss, logs = self.process.loss(pred, c)
        logs = {k: v for k, v in {**c.logs, **logs}.items() if k != "loss"}
        return loss, logs

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss, logs = self._loss(batch, self.network)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch))
        for k, v in logs.items():
            self.log(f"train/{k}", v, batch_size=len(batch))
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.ema.update(self.network)

    def validation_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        self.ema.average.eval()
        loss, _ = self._loss(batch, self.ema.average)
        self.log("val/loss", loss, prog_bar=True, batch_size=len(batch), sync_dist=True)
        return loss

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.network.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        if self.warmup_steps <= 0 and self.anneal_steps <= 0:
            return opt
        total = self.trainer.max_steps if self.anneal_steps > 0 else None
        if total is not None and total < 0:
            raise ValueError("optim.anneal_steps needs trainer.max_steps: the anneal ends at the last step")
        warm, anneal = self.warmup_steps, self.anneal_steps
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, warm, anneal, total))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.generator is not None:
            checkpoint["gensci_generator"] = self.generator.get_state()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("gensci_generator")
        if state is not None:
            self.generator = torch.Generator(device="cpu")
            self.generator.set_state(state)
