"""Ctrl-C or SIGTERM in training loses nothing: a resumable checkpoint at the step reached, the
weights so far exported, and the command that resumes, printed.

Lightning (2.x) catches ``KeyboardInterrupt`` in ``fit``, calls every callback's
``on_exception`` and exits the process with status 1; :class:`SaveOnInterrupt` is that callback.
Without it, the newest checkpoint would be up to ``checkpoint_every`` steps old and no
``model.pt`` would exist. An interrupt may land inside an optimiser step, so a resumed run is not
guaranteed bit-identical to an uninterrupted one (the periodic checkpoints are).

SIGTERM (what ``kill``, job schedulers and container stops send) is handled the same way.
While Lightning fits, its own handler notes the signal and stops the run as the current step
ends with ``SIGTERMException``, which reaches the same callback; ``gensci train`` then exits with
status 143 (128 + SIGTERM). Outside fitting (reading data, between stages)
:func:`sigterm_as_interrupt` turns SIGTERM into ``KeyboardInterrupt``, as Ctrl-C would be.
The handler that was installed before is restored afterwards.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException

__all__ = ["SaveOnInterrupt", "sigterm_as_interrupt", "lightning_fitting", "SIGTERM_STATUS"]

#: the exit status of a run stopped by SIGTERM (the shell's 128 + signal number)
SIGTERM_STATUS = 128 + int(signal.SIGTERM)

_fitting = threading.Event()  # set while Lightning fits: its own SIGTERM handler acts then


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    if not _fitting.is_set():
        raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises ``KeyboardInterrupt`` (except while :func:`lightning_fitting`,
    where Lightning's handler stops the run at the step's end); the previous handler comes back
    after. Only the main thread can set handlers; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


@contextmanager
def lightning_fitting() -> Iterator[None]:
    """Mark the block as Lightning's ``fit``: SIGTERM is left to Lightning there, and a
    ``SIGTERMException`` leaving the block becomes ``SystemExit(SIGTERM_STATUS)``."""
    _fitting.set()
    try:
        yield
    except SIGTERMException:
        raise SystemExit(SIGTERM_STATUS) from None
    finally:
        _fitting.clear()


class SaveOnInterrupt(L.Callback):
    """On ``KeyboardInterrupt`` or SIGTERM: save ``<run_dir>/checkpoints/last.ckpt``, call
    ``export`` (which writes the weights so far and returns their path, or None) and print how
    to resume."""

    def __init__(self, run_dir: Path, export: Callable[[int], Path | None] | None = None):
        self.run_dir = Path(run_dir)
        self.export = export

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        terminated = isinstance(exception, SIGTERMException)
        if not (terminated or isinstance(exception, KeyboardInterrupt)) or not trainer.is_global_zero:
            return
        checkpoint = self.run_dir / "checkpoints" / "last.ckpt"
        trainer.save_checkpoint(checkpoint)
        exported = self.export(int(trainer.global_step)) if self.export is not None else None
        also = f" and the weights so far to {exported}" if exported is not None else ""
        how = "stopped by SIGTERM" if terminated else "interrupted"
        print(f"\n{how} at step {trainer.global_step}: saved {checkpoint}{also}; resume with "
              f"`gensci train EXPERIMENT [the same overrides] resume={checkpoint}`", file=sys.stderr, flush=True)
