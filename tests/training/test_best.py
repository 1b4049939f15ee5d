"""``keep_best``: the export is the EMA at the lowest validation loss, across resumed legs too."""

import csv
from pathlib import Path
from types import SimpleNamespace

import torch

from gensci.checkpoint import load_checkpoint
from gensci.config import compose
from gensci.training.best import BestWeights
from gensci.training.train import train


class _Ema(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(2))


def _validate(callback: BestWeights, step: int, loss: float, value: float, sanity: bool = False) -> None:
    module = SimpleNamespace(ema=SimpleNamespace(average=_Ema()))
    with torch.no_grad():
        module.ema.average.w.fill_(value)
    trainer = SimpleNamespace(sanity_checking=sanity, global_step=step, callback_metrics={"val/loss": torch.tensor(loss)})
    callback.on_validation_end(trainer, module)


def test_the_weights_of_the_lowest_validation_are_kept_and_survive_a_checkpoint():
    best = BestWeights()
    last = {"w": torch.full((2,), 9.0)}
    assert best.export(last) == (last, {})  # no validation yet: the last weights
    _validate(best, 0, 0.1, -1.0, sanity=True)  # Lightning's sanity check does not count
    for step, loss, value in ((100, 3.0, 1.0), (200, 1.0, 2.0), (300, 2.0, 3.0), (400, float("nan"), 4.0)):
        _validate(best, step, loss, value)
    weights, record = best.export(last)
    assert torch.equal(weights["w"], torch.full((2,), 2.0))
    assert record == {"best_step": 200, "best_val_loss": 1.0}
    again = BestWeights()
    again.load_state_dict(best.state_dict())
    _validate(again, 500, 1.5, 5.0)  # worse than the best of the earlier leg
    assert again.export(last)[1] == record and torch.equal(again.export(last)[0]["w"], torch.full((2,), 2.0))
    _validate(again, 600, 0.5, 6.0)
    assert again.export(last)[1] == {"best_step": 600, "best_val_loss": 0.5}


def _val_rows(run: Path) -> list[tuple[int, float]]:
    with open(run / "metrics.csv") as f:
        return [(int(r["step"]), float(r["val/loss"])) for r in csv.DictReader(f) if r.get("val/loss")]


def test_a_run_exports_its_best_validation_and_a_resumed_leg_remembers_it(tmp_path: Path):
    run = tmp_path / "run"
    common = [f"run_dir={run}", "keep_best=true", "trainer.val_check_interval=4", "checkpoint_every=4",
              "trainer.enable_progress_bar=false", "optim.lr=0.05", "optim.ema_decay=0.0", "threads=1"]
    train(compose("points/moons", [*common, "trainer.max_steps=12"]))
    train(compose("points/moons", [*common, "trainer.max_steps=24", f"resume={run / 'checkpoints' / 'last.ckpt'}"]))
    record = load_checkpoint(run / "model.pt")["metrics"]
    rows = _val_rows(run)
    assert len(rows) == 6  # three validations a leg, both legs in one log
    step, loss = min(rows, key=lambda r: r[1])
    assert record["best_val_loss"] == torch.tensor(loss).item()
    assert record["best_step"] == step + 1  # the log counts the step being finished, the trainer the steps done
    assert record["best_val_loss"] <= record["val_loss"]
