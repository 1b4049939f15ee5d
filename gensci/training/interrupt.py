"""Ctrl-C in training loses nothing: a resumable checkpoint at the step reached, the weights so
far exported, and the command that resumes, printed.

Lightning (2.x) catches ``KeyboardInterrupt`` in ``fit``, calls every callback's
``on_exception`` and exits the process with status 1; :class:`SaveOnInterrupt` is that callback.
Without it, the newest checkpoint would be up to ``checkpoint_every`` steps old and no
``model.pt`` would exist. An interrupt may land inside an optimiser step, so a resumed run is not
guaranteed bit-identical to an uninterrupted one (the periodic checkpoints are).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import lightning as L

__all__ = ["SaveOnInterrupt"]


class SaveOnInterrupt(L.Callback):
    """On ``KeyboardInterrupt``: save ``<run_dir>/checkpoints/last.ckpt``, call ``export`` (which
    writes the weights so far and returns their path, or None) and print how to resume."""

    def __init__(self, run_dir: Path, export: Callable[[int], Path | None] | None = None):
        self.run_dir = Path(run_dir)
        self.export = export

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, KeyboardInterrupt) or not trainer.is_global_zero:
            return
        checkpoint = self.run_dir / "checkpoints" / "last.ckpt"
        trainer.save_checkpoint(checkpoint)
        exported = self.export(int(trainer.global_step)) if self.export is not None else None
        also = f" and the weights so far to {exported}" if exported is not None else ""
        print(f"\ninterrupted at step {trainer.global_step}: saved {checkpoint}{also}; resume with "
              f"`gensci train EXPERIMENT [the same overrides] resume={checkpoint}`", file=sys.stderr, flush=True)
