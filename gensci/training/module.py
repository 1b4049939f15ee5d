"""One LightningModule for every domain and every stage: a network trained by an objective.

Each step minimises ``objective.loss(network, batch, g)`` — for the generative stage the
process's loss (``c = process.corrupt(x1, cond, x0=domain source)``, ``pred = network(c.x_t,
c.t, cond=c.cond, mask=c.mask)``, ``loss = process.loss(pred, c)``; see
:mod:`gensci.training.objective`); AdamW with linear warm-up and an optional linear anneal to
zero over the last steps (:func:`lr_factor`), gradient clipping from the Trainer, and an EMA
of the weights that validation and the exported checkpoint use.

Exact resume: a run stopped after any optimiser step and resumed from its last checkpoint
ends with the same weights, bit for bit on CPU, as the run that was never stopped. To that
end the EMA is updated inside the optimiser step (before the checkpoint callback saves);
the training generator and torch's global RNG are saved and restored, never re-seeded
after a restore (the generator is rebuilt on the device training runs on); validation draws
from its own generator, re-seeded at every validation, so it neither perturbs training nor
depends on when it ran; and the data module's sampler resumes mid-epoch
(:class:`gensci.training.data.EpochSampler`). Under DDP only rank 0's generator travels in
the checkpoint: a resumed rank 0 continues its stream, the other ranks start fresh streams
of their own (seeded from the seed, the rank and the step), so no two ranks share a stream.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch import nn

from gensci.core.process import Process
from gensci.domain import Batch, Domain
from gensci.training.ema import EMA
from gensci.training.objective import Objective, ProcessObjective

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
        process: Process | None,
        domain: Domain,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        anneal_steps: int = 0,
        ema_decay: float = 0.999,
        seed: int = 0,
        objective: Objective | None = None,
    ):
        super().__init__()
        if objective is None and process is None:
            raise ValueError("a training module needs a process or an objective")
        self.objective = objective if objective is not None else ProcessObjective(process, domain)
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
        self.val_generator: torch.Generator | None = None
        self._restored_generator: torch.Tensor | None = None

    # the process and the domain are plain objects: keep them out of state_dict and hparams
    def _seed(self, offset: int = 0) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(self.seed * 7919 + self.global_rank + offset)

    def on_fit_start(self) -> None:
        """The training generator: the restored one when resuming (on this module's device,
        which is only final now), else seeded with ``seed * 7919 + global_rank``."""
        state, self._restored_generator = self._restored_generator, None
        if state is None:
            self.generator = self._seed()
            return
        if self.global_rank == 0:
            generator = torch.Generator(device=self.device)
            try:
                generator.set_state(state)
                self.generator = generator
                return
            except RuntimeError:  # saved on another kind of device: its state does not fit here
                rank_zero_warn("the checkpoint's training generator was saved on another kind of device; "
                               "resuming with a fresh one (the run goes on, but not as the stopped one would have)")
        # a stream no rank has drawn from: rank r at step s seeds seed * 7919 + r + 1_000_003 * s
        self.generator = self._seed(offset=1_000_003 * int(self.trainer.global_step))

    def on_train_start(self) -> None:
        """Count the epoch a resumed fit starts in, when Lightning does not.

        Resumed from a checkpoint written after an epoch's last batch, Lightning (2.x) closes
        that epoch but, taking the restart for a mid-epoch one, never counts the next epoch as
        started; a checkpoint written during that epoch then resumes into a replay of it. The
        epoch is counted here, so every checkpoint records the epoch it was written in.
        (Lightning still skips ``on_train_epoch_start`` for that epoch; nothing here uses it.)
        """
        loop = self.trainer.fit_loop
        progress = loop.epoch_progress.total
        if getattr(loop, "restarted_mid_epoch", False) and progress.ready == progress.processed:
            loop.epoch_progress.increment_ready()
            loop.epoch_progress.increment_started()

    def _generator(self) -> torch.Generator:
        if self.generator is None:
            self.generator = torch.Generator(device=self.device).manual_seed(self.seed)
        return self.generator

    def _loss(self, batch: Batch, network: nn.Module, generator: torch.Generator | None = None):
        loss, logs = self.objective.loss(network, batch, generator if generator is not None else self._generator())
        return loss, {k: v for k, v in logs.items() if k != "loss"}

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss, logs = self._loss(batch, self.network)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch))
        for k, v in logs.items():
            self.log(f"train/{k}", v, batch_size=len(batch))
        return loss

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        """The optimiser's step, then the EMA's: both are done when the checkpoint callback saves."""
        super().optimizer_step(*args, **kwargs)
        self.ema.update(self.network)

    def on_validation_epoch_start(self) -> None:
        self.val_generator = self._seed(offset=104729)

    def validation_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        self.ema.average.eval()
        if getattr(self, "val_generator", None) is None:
            self.on_validation_epoch_start()
        loss, _ = self._loss(batch, self.ema.average, self.val_generator)
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
        checkpoint["gensci_torch_rng"] = torch.get_rng_state()  # dropout and other global draws

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # the generator is rebuilt in on_fit_start, once the module sits on its device
        self._restored_generator = checkpoint.get("gensci_generator")
        if "gensci_torch_rng" in checkpoint:
            torch.set_rng_state(checkpoint["gensci_torch_rng"])
