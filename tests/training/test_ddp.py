"""The same config trains under Lightning DDP on CPU (gloo), two processes."""

import os
import subprocess
import sys
from pathlib import Path

import torch


def test_points_moons_trains_with_ddp_on_two_cpu_processes(tmp_path: Path):
    gensci = str(Path(sys.executable).parent / "gensci")
    args = [gensci, "train", "points/moons", "trainer.strategy=ddp", "trainer.devices=2", "trainer.max_steps=30",
            "trainer.val_check_interval=15", "checkpoint_every=15", f"run_dir={tmp_path / 'run'}"]
    env = {k: v for k, v in os.environ.items() if k not in ("GENSCI_RUN_DIR", "LOCAL_RANK", "WORLD_SIZE")}
    out = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, env={**env, "TQDM_DISABLE": "1"}, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert "MEMBER: 1/2" in log and "MEMBER: 2/2" in log, "both processes joined the process group"
    payload = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    assert payload["metrics"]["steps"] == 30
    assert payload["config"]["trainer"]["strategy"] == "ddp"
    assert all(torch.isfinite(v).all() for v in payload["state_dict"].values())
