"""Keep the weights of the best validation: the exported model is the EMA at the lowest ``val/loss``.

Early stopping without stopping (Prechelt 1998, "Early Stopping — But When?"): a stage that
overfits its data (the validation loss turns up while the training loss still falls) would
otherwise export its last weights. With ``keep_best: true`` (top level for the generative
network, ``stages.<name>.keep_best`` for an earlier stage), :class:`BestWeights` copies the
EMA weights at each validation whose loss is the lowest so far,

    k* = argmin_k  L_val(θ_EMA at validation k),

and the export takes θ_EMA(k*) instead of the last. Its record adds ``best_step`` and
``best_val_loss``. The copy lives in the callback's state, which Lightning writes into every
resumable checkpoint, so a leg resumed with ``resume=`` still knows the best of the legs
before it. Training itself is unchanged (the optimiser goes on from the last weights).
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch

__all__ = ["BestWeights"]


class BestWeights(L.Callback):
    """The EMA weights (``module.ema.average``) at the validation with the lowest ``monitor``."""

    def __init__(self, monitor: str = "val/loss"):
        self.monitor = monitor
        self.best = math.inf
        self.step: int | None = None
        self.weights: dict[str, torch.Tensor] | None = None

    @property
    def state_key(self) -> str:
        return f"BestWeights[{self.monitor}]"

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return
        value = float(value)
        if value < self.best:  # NaN never is
            self.best, self.step = value, int(trainer.global_step)
            self.weights = {k: v.detach().cpu().clone() for k, v in module.ema.average.state_dict().items()}

    def export(self, last: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The weights to export, the best kept or ``last`` when no validation ran, and the record's
        ``best_step`` / ``best_val_loss``."""
        if self.weights is None:
            return last, {}
        return self.weights, {"best_step": self.step, "best_val_loss": self.best}

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "step": self.step, "weights": self.weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.step, self.weights = float(state["best"]), state["step"], state["weights"]
