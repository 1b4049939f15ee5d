"""Training objectives: what one training step minimises, for every stage of a model.

A model may be trained in stages (GenCAD, Xu et al. 2024, arXiv 2409.16294: an autoencoder of
command sequences, then a generative prior on its latent). Each stage trains one module by
an :class:`Objective`; the last, generative stage is a process and a network, trained by
:class:`ProcessObjective`. A reconstruction or contrastive loss is an objective, not a
:class:`~gensci.core.process.Process`: it has no time, no noise and no sampler.

* :class:`ProcessObjective` — ``c = process.corrupt(x1, cond, x0=batch's paired start or domain source)``,
  ``L = process.loss(network(c.x_t, c.t, c.cond, c.mask), c)``.
* :class:`Reconstruction` — an autoencoder's ``L = mean |module(x) - x|^2`` over real entries
  (``"mse"``), or the cross-entropy of its logits ``module(x)`` ``(..., K)`` on the classes
  ``x`` (``"cross_entropy"``).
* :class:`ModuleLoss` — the module's own ``module.loss(batch, generator=g)`` (contrastive and
  other losses that need the module's internals).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gensci.core.process import Process, masked_mean
from gensci.core.state import State, field_mask

__all__ = ["Objective", "ProcessObjective", "Reconstruction", "ModuleLoss"]

Logs = dict[str, Tensor]


class Objective(ABC):
    """``loss(module, batch, generator) -> (scalar loss, detached logs)``."""

    @abstractmethod
    def loss(self, module: nn.Module, batch: Any, generator: torch.Generator) -> tuple[Tensor, Logs]:
        """The training loss of ``module`` on a collated batch (a :class:`gensci.domain.Batch`)."""


class ProcessObjective(Objective):
    """The generative stage: the process's loss of the network's prediction."""

    def __init__(self, process: Process, domain: Any):
        self.process = process
        self.domain = domain

    def loss(self, module: nn.Module, batch: Any, generator: torch.Generator) -> tuple[Tensor, Logs]:
        x0 = batch.x0 if getattr(batch, "x0", None) is not None else self.domain.source(len(batch), generator=generator)
        if x0 is not None:
            x0 = x0.to(batch.x.device)
        c = self.process.corrupt(batch.x, generator=generator, cond=batch.cond, mask=batch.mask, x0=x0)
        pred = module(c.x_t, c.t, cond=c.cond, mask=c.mask)
        loss, logs = self.process.loss(pred, c)
        weight = float(getattr(self.domain, "clean_loss_weight", 0.0))
        if weight > 0:
            extra, extra_logs = self.domain.clean_loss(self.process.clean_estimate(pred, c.x_t, c.t), batch)
            loss = loss + weight * extra
            logs = {**logs, **{f"clean/{k}": v for k, v in extra_logs.items()}}
        return loss, {k: v for k, v in {**c.logs, **logs}.items() if k != "loss"}


class Reconstruction(Objective):
    """An autoencoder's reconstruction loss, field by field for records.

    Args:
        kind: ``"mse"`` (continuous states) or ``"cross_entropy"`` (class indices; the
            module returns logits with a trailing class axis). A dict field -> kind for
            :class:`~gensci.core.state.State` batches.
        weights: per-field weights for records (default 1 each).
    """

    def __init__(self, kind: str | dict[str, str] = "mse", weights: dict[str, float] | None = None):
        kinds = kind.values() if isinstance(kind, dict) else [kind]
        for k in kinds:
            if k not in ("mse", "cross_entropy"):
                raise ValueError(f"reconstruction kind must be 'mse' or 'cross_entropy', got {k!r}")
        self.kind = kind
        self.weights = dict(weights or {})

    @staticmethod
    def _term(kind: str, out: Tensor, x: Tensor, mask: Tensor | None) -> Tensor:
        if kind == "mse":
            return masked_mean((out - x).pow(2), mask)
        per = F.cross_entropy(out.reshape(-1, out.shape[-1]), x.reshape(-1).long(), reduction="none")
        return masked_mean(per.reshape(x.shape), mask)

    def loss(self, module: nn.Module, batch: Any, generator: torch.Generator) -> tuple[Tensor, Logs]:
        out = module(batch.x, mask=batch.mask)
        if not isinstance(batch.x, State):
            value = self._term(str(self.kind), out, batch.x, batch.mask)
            return value, {"reconstruction": value.detach()}
        total, logs = None, {}
        for name in batch.x.keys():
            kind = self.kind[name] if isinstance(self.kind, dict) else self.kind
            term = self._term(kind, out[name], batch.x[name], field_mask(batch.mask, name))
            logs[f"{name}/reconstruction"] = term.detach()
            term = self.weights.get(name, 1.0) * term
            total = term if total is None else total + term
        return total, logs


class ModuleLoss(Objective):
    """Defer to ``module.loss(batch, generator=generator) -> (loss, logs)``."""

    def loss(self, module: nn.Module, batch: Any, generator: torch.Generator) -> tuple[Tensor, Logs]:
        if not hasattr(module, "loss"):
            raise TypeError(f"ModuleLoss needs a module with a loss(batch, generator=...) method; "
                            f"{type(module).__name__} has none")
        return module.loss(batch, generator=generator)
