"""Ctrl-C in training: a checkpoint at the step reached (not the last periodic one), the weights
so far as model.pt, the resume command printed, and a resume that finishes the run."""

import signal
from pathlib import Path

import lightning as L
import pytest
import torch

from gensci.checkpoint import load_checkpoint
from gensci.config import compose
from gensci.training.train import train


class CtrlC(L.Callback):
    """Press Ctrl-C as step ``step`` ends."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step == self.step:
            raise KeyboardInterrupt


def config(run_dir: Path, *extra: str):
    return compose("points/labelled_moons", [
        "trainer.max_steps=30", "trainer.enable_progress_bar=false", "trainer.val_check_interval=1000",
        "trainer.limit_val_batches=1", "batch_size=64", "checkpoint_every=1000", "domain.n_train=300",
        "domain.n_val=100", "domain.n_test=100", "model.hidden=32", "model.depth=2", "threads=1",
        f"run_dir={run_dir}", *extra])


def test_ctrl_c_keeps_the_step_reached_and_says_how_to_resume(tmp_path, capsys):
    run = tmp_path / "run"
    try:
        with pytest.raises(SystemExit):
            train(config(run), callbacks=[CtrlC(13)])
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Lightning ignores SIGINT after one
    checkpoint = run / "checkpoints" / "last.ckpt"
    assert torch.load(checkpoint, map_location="cpu", weights_only=False)["global_step"] == 13
    exported = load_checkpoint(run / "model.pt")
    assert exported["metrics"]["interrupted_at_step"] == 13 and exported["state_dict"]
    message = capsys.readouterr().err
    assert "interrupted at step 13" in message and f"resume={checkpoint}" in message
    train(config(run, f"resume={checkpoint}"))
    finished = load_checkpoint(run / "model.pt")["metrics"]
    assert finished["steps"] == 30 and "interrupted_at_step" not in finished
