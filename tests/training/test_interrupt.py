"""Ctrl-C or SIGTERM in training: a checkpoint at the step reached (not the last periodic one), the weights
so far as model.pt, the resume command printed, and a resume that finishes the run."""

import os
import signal
import time
from pathlib import Path

import lightning as L
import pytest
import torch

from gensci.checkpoint import load_checkpoint
from gensci.config import compose
from gensci.training.interrupt import SIGTERM_STATUS, sigterm_as_interrupt
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
    assert torch.load(checkpoint, map_location="cpu", weights_only=True)["global_step"] == 13
    exported = load_checkpoint(run / "model.pt")
    assert exported["metrics"]["interrupted_at_step"] == 13 and exported["state_dict"]
    message = capsys.readouterr().err
    assert "interrupted at step 13" in message and f"resume={checkpoint}" in message
    train(config(run, f"resume={checkpoint}"))
    finished = load_checkpoint(run / "model.pt")["metrics"]
    assert finished["steps"] == 30 and "interrupted_at_step" not in finished


def test_ctrl_c_with_keep_best_exports_the_best_validation_so_far(tmp_path):
    run = tmp_path / "run"
    try:
        with pytest.raises(SystemExit):
            train(config(run, "keep_best=true", "trainer.val_check_interval=5"), callbacks=[CtrlC(13)])
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    exported = load_checkpoint(run / "model.pt")
    assert exported["metrics"]["interrupted_at_step"] == 13 and exported["metrics"]["best_step"] in (5, 10)
    kept = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["callbacks"]
    (best,) = [state for key, state in kept.items() if key.startswith("BestWeights")]
    assert best["step"] == exported["metrics"]["best_step"]
    assert exported["state_dict"].keys() == best["weights"].keys()
    assert all(torch.equal(exported["state_dict"][k], best["weights"][k]) for k in best["weights"])


class Term(L.Callback):
    """Send this process SIGTERM as step ``step`` ends."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


def _before(signum, frame):  # the handler installed before training, to be restored after
    raise AssertionError("the handler from before training ran during training")


def test_sigterm_keeps_the_step_reached_and_restores_the_handler(tmp_path, capsys):
    run = tmp_path / "run"
    previous = signal.signal(signal.SIGTERM, _before)
    try:
        with pytest.raises(SystemExit) as stopped:
            train(config(run), callbacks=[Term(13)])
        assert signal.getsignal(signal.SIGTERM) is _before
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert stopped.value.code == SIGTERM_STATUS == 143
    checkpoint = run / "checkpoints" / "last.ckpt"
    assert torch.load(checkpoint, map_location="cpu", weights_only=True)["global_step"] == 13
    exported = load_checkpoint(run / "model.pt")
    assert exported["metrics"]["interrupted_at_step"] == 13 and exported["state_dict"]
    message = capsys.readouterr().err
    assert "stopped by SIGTERM at step 13" in message and f"resume={checkpoint}" in message
    train(config(run, f"resume={checkpoint}"))
    assert load_checkpoint(run / "model.pt")["metrics"]["steps"] == 30


def test_sigterm_outside_fitting_is_an_interrupt():
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises at once
    assert signal.getsignal(signal.SIGTERM) is previous
