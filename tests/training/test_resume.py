"""A run killed at any step and resumed ends with the same weights, bit for bit, as one never killed;
its metrics.csv holds every leg."""

import csv
import io

from pathlib import Path

from types import SimpleNamespace

import lightning as L
import pytest
import torch
from torch import nn

from gensci.checkpoint import load_checkpoint
from gensci.config import compose
from gensci.training.data import EpochSampler
from gensci.training.module import GenerativeModule
from gensci.training.objective import Reconstruction
from gensci.training.train import train

# 300 training points in batches of 64: 4 batches an epoch, so 30 steps cross 7 epoch ends
STEPS = 30


class Killed(RuntimeError):
    pass


class KillAt(L.Callback):
    """Stop the run as step ``step`` ends, before that step's checkpoint is written."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step == self.step:
            raise Killed(f"killed at step {self.step}")


def config(run_dir: Path, *extra: str, steps: int = STEPS):
    return compose("points/labelled_moons", [
        f"trainer.max_steps={steps}", "trainer.enable_progress_bar=false", "trainer.val_check_interval=7",
        "trainer.limit_val_batches=1", "trainer.log_every_n_steps=1", "batch_size=64", "checkpoint_every=1",
        "domain.n_train=300", "domain.n_val=100", "domain.n_test=100", "optim.warmup_steps=5",
        "optim.anneal_steps=10", "model.hidden=32", "model.depth=2", "threads=1", f"run_dir={run_dir}", *extra])


def weights(run_dir: Path) -> tuple[dict, dict]:
    ema = load_checkpoint(run_dir / "model.pt")["state_dict"]
    raw = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    return ema, {k: v for k, v in raw.items() if k.startswith("network.")}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[dict, dict]:
    run = tmp_path_factory.mktemp("whole") / "run"
    train(config(run))
    return weights(run)


# checkpoints at step 5 (mid-epoch), 7 (just before the validation after step 7), 8 (an
# epoch's end, after that validation) and 15 (mid-epoch, after the validation at step 14)
@pytest.mark.parametrize("kill_at", [6, 8, 9, 16], ids=["mid-epoch", "before-validation", "epoch-end", "after-validation"])
def test_a_killed_and_resumed_run_ends_with_the_same_weights(uninterrupted, tmp_path: Path, kill_at: int):
    run = tmp_path / "run"
    with pytest.raises(Killed):
        train(config(run), callbacks=[KillAt(kill_at)])
    assert not (run / "model.pt").exists()
    saved = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert saved["global_step"] == kill_at - 1
    train(config(run, f"resume={run / 'checkpoints' / 'last.ckpt'}"))
    ema, raw = weights(run)
    want_ema, want_raw = uninterrupted
    assert ema.keys() == want_ema.keys() and raw.keys() == want_raw.keys()
    for name in want_raw:
        assert torch.equal(raw[name], want_raw[name]), f"raw weight {name} differs after resuming at step {kill_at}"
    for name in want_ema:
        assert torch.equal(ema[name], want_ema[name]), f"EMA weight {name} differs after resuming at step {kill_at}"


def resume_until_done(run: Path, kills: list[int], *extra: str, steps: int = STEPS) -> tuple[dict, dict]:
    """Kill the run at each of ``kills`` in turn (each leg resumed from the last), then finish it."""
    last = run / "checkpoints" / "last.ckpt"
    for leg, kill_at in enumerate(kills):
        with pytest.raises(Killed):
            train(config(run, *extra, *([f"resume={last}"] if leg else []), steps=steps), callbacks=[KillAt(kill_at)])
    train(config(run, *extra, f"resume={last}", steps=steps))
    return weights(run)


def assert_same(got: tuple[dict, dict], want: tuple[dict, dict]) -> None:
    for have, expected, kind in ((got[1], want[1], "raw"), (got[0], want[0], "EMA")):
        assert have.keys() == expected.keys()
        for name in expected:
            assert torch.equal(have[name], expected[name]), f"{kind} weight {name} differs"


# resumed from the end of epoch 1 (step 8), killed again at the end of epoch 2 (step 12): the
# second checkpoint must record that epoch 2 was under way, or the last leg replays it
def test_a_run_resumed_twice_around_epoch_ends_ends_with_the_same_weights(uninterrupted, tmp_path: Path):
    assert_same(resume_until_done(tmp_path / "run", [9, 13]), uninterrupted)
    # one log across the three legs: one header, every step once, each row tagged with its leg
    text = (tmp_path / "run" / "metrics.csv").read_text()
    assert text.count("step") == 1
    rows = [row for row in csv.DictReader(io.StringIO(text)) if row["train/loss"]]
    assert [int(row["step"]) for row in rows] == list(range(STEPS))
    legs = [int(row["leg"]) for row in rows]
    assert legs == sorted(legs) and set(legs) == {1, 2, 3}


# with gradient accumulation and a shortened epoch a step is not a batch: 3 batches an
# epoch, a step after the 2nd and the 3rd; killed after step 5 (2 batches into epoch 2)
# and after step 8 (an epoch's end)
ACCUMULATE = ("+trainer.accumulate_grad_batches=2", "+trainer.limit_train_batches=3")


def test_resume_with_gradient_accumulation_and_limited_epochs_ends_with_the_same_weights(tmp_path: Path):
    train(config(tmp_path / "whole", *ACCUMULATE, steps=16))
    want = weights(tmp_path / "whole")
    assert_same(resume_until_done(tmp_path / "run", [6, 9], *ACCUMULATE, steps=16), want)


def _module(seed: int = 3) -> GenerativeModule:
    return GenerativeModule(nn.Linear(2, 2), None, None, seed=seed, objective=Reconstruction())


def test_a_restored_generator_continues_on_rank_zero_and_other_ranks_draw_their_own():
    fitted = _module()
    fitted.trainer = SimpleNamespace(global_rank=0, global_step=0)
    fitted.on_fit_start()
    torch.rand(5, generator=fitted.generator)
    saved: dict = {}
    fitted.on_save_checkpoint(saved)
    expected = torch.rand(5, generator=fitted.generator)
    draws = {}
    for rank in (0, 1):
        resumed = _module()
        resumed.on_load_checkpoint(saved)
        resumed.trainer = SimpleNamespace(global_rank=rank, global_step=7)
        resumed.on_fit_start()
        draws[rank] = torch.rand(5, generator=resumed.generator)
    assert torch.equal(draws[0], expected), "rank 0 continues the saved stream"
    fresh = _module()
    fresh.trainer = SimpleNamespace(global_rank=1, global_step=0)
    fresh.on_fit_start()
    first = torch.rand(5, generator=fresh.generator)
    assert not torch.equal(draws[1], draws[0]) and not torch.equal(draws[1], first), "rank 1 neither copies rank 0 nor replays its start"


def test_a_generator_saved_on_another_kind_of_device_gives_a_warning_not_a_crash():
    resumed = _module()
    resumed.on_load_checkpoint({"gensci_generator": torch.zeros(16, dtype=torch.uint8)})  # a CUDA generator's state
    resumed.trainer = SimpleNamespace(global_rank=0, global_step=7)
    with pytest.warns(UserWarning, match="another kind of device"):
        resumed.on_fit_start()
    assert resumed.generator.device.type == "cpu"


def test_the_epoch_order_depends_on_seed_and_epoch_alone_and_resumes_mid_epoch():
    a, b = EpochSampler(10, seed=3), EpochSampler(10, seed=3)
    a.set_epoch(2)
    first = list(a)
    for epoch in (0, 1, 2):  # b passes through earlier epochs first
        b.set_epoch(epoch)
        seen = list(b)
    assert seen == first and sorted(first) == list(range(10))
    b.set_epoch(4)
    whole = list(b)
    b.resume_at(4, 6)
    assert list(b) == whole[6:] and list(b) == whole  # the skip applies to one pass only
    c = EpochSampler(10, seed=4)
    c.set_epoch(2)
    assert list(c) != first


def test_length_grouped_epochs_see_every_item_once_in_batches_of_similar_size():
    sizes = torch.randint(3, 30, (1000,), generator=torch.Generator().manual_seed(0))
    s = EpochSampler(1000, seed=1, sizes=sizes, batch_size=32, group=10)
    s.set_epoch(2)
    order = torch.tensor(list(s))
    assert sorted(order.tolist()) == list(range(1000))  # a permutation: each item once
    assert torch.equal(order, torch.tensor(list(s)))  # a function of (seed, epoch)
    s.set_epoch(3)
    assert not torch.equal(order, torch.tensor(list(s)))
    batches = sizes[order[: 31 * 32]].reshape(31, 32)
    plain = sizes[torch.randperm(1000, generator=torch.Generator().manual_seed(5))[: 31 * 32]].reshape(31, 32)
    # padding to each batch's largest item wastes far less than with a plain shuffle
    waste = lambda b: float((b.max(1, keepdim=True).values - b).sum() / b.sum())  # noqa: E731
    assert waste(batches) < 0.25 * waste(plain)


def test_a_fresh_run_moves_an_earlier_log_aside_and_a_resumed_leg_appends_with_the_union_header(tmp_path: Path):
    from gensci.training.metrics_log import LegLogger

    assert LegLogger(tmp_path, resumed=False).leg == 1  # nothing to keep
    (tmp_path / "metrics.csv").write_text("loss,step\n0.5,0\n0.4,1\n")  # a log from before the leg column
    LegLogger(tmp_path, resumed=False)
    assert (tmp_path / "metrics.1.csv").read_text() == "loss,step\n0.5,0\n0.4,1\n"
    assert not (tmp_path / "metrics.csv").exists()
    (tmp_path / "metrics.csv").write_text("loss,step\n0.5,0\n0.4,1\n")
    logger = LegLogger(tmp_path, resumed=True)
    assert logger.leg == 2
    logger.log_metrics({"loss": 0.3}, step=2)
    logger.save()
    logger.log_metrics({"loss": 0.2, "ess": 0.9}, step=3)  # a column the earlier legs lacked
    logger.save()
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines == ["ess,leg,loss,step", ",,0.5,0", ",,0.4,1", ",2,0.3,2", "0.9,2,0.2,3"]
    assert LegLogger(tmp_path, resumed=True).leg == 3
