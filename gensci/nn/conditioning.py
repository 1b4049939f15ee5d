"""The conditioning vector shared by gensci's networks: ``c = time(t) + conditions(cond)``.

A mixin for networks that own a ``time`` (:class:`~gensci.nn.embeddings.TimeEmbedding`)
and an optional ``cond`` (:class:`~gensci.nn.conditions.ConditionEncoder`) attribute. It adds
the summed embedding that drives adaLN / FiLM modulation (DiT, Peebles & Xie 2023; Graph
DiT, Liu et al. 2024) and exposes the condition-dropout generator. Being a mixin rather
than a submodule keeps the parameter names (``time.*``, ``cond.*``) of saved checkpoints.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

__all__ = ["TimeConditioned"]


class TimeConditioned:
    """Mixin: ``embed(t, cond, batch_size)`` and the ``generator`` of condition dropout."""

    time: torch.nn.Module
    cond: torch.nn.Module | None

    @property
    def generator(self) -> torch.Generator | None:
        return None if self.cond is None else self.cond.generator

    @generator.setter
    def generator(self, g: torch.Generator | None) -> None:
        if self.cond is not None:
            self.cond.generator = g

    def embed(self, t: Tensor, cond: Mapping[str, Tensor] | None, batch_size: int) -> Tensor:
        """The conditioning vector ``c = time(t) + conditions(cond)``, ``(B, hidden)``."""
        device = next(self.time.parameters()).device
        t = torch.as_tensor(t, device=device)
        if t.ndim == 0:
            t = t.expand(batch_size)
        c = self.time(t)
        if self.cond is not None:
            c = c + self.cond(cond, batch_size, device=c.device)
        elif cond:
            raise ValueError(f"unknown condition(s) {sorted(cond)}; this model is unconditional")
        return c
