"""Train a bundled model from its committed experiment config and record what it reached.

    python scripts/train_bundled.py points/moons
    python scripts/train_bundled.py points/labelled_moons

Writes ``gensci/checkpoints/<experiment>.pt`` (EMA weights, resolved config, statistics,
metrics) and ``gensci/checkpoints/<experiment>.json`` (the metrics, the command, the
machine). Metrics: the domain's own, on ``--samples`` draws with the config's sampler;
for every categorical condition, each class at guidance scales 0, 1, 2 and 3.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import torch

import gensci
from gensci.checkpoint import load_checkpoint, save_checkpoint
from gensci.config import compose
from gensci.io import atomic_write
from gensci.training.train import train

ROOT = Path(gensci.__file__).resolve().parent / "checkpoints"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def evaluate(model: gensci.model.GenerativeModel, n: int, seed: int) -> dict:
    out = {"unconditional": model.evaluate(model.sample(n, seed=seed, progress=False))}
    for spec in model.conditions:
        if spec["kind"] != "categorical":
            continue
        for cls in spec["classes"]:
            for scale in (0.0, 1.0, 2.0, 3.0):
                s = model.sample(n, conditions={spec["name"]: cls}, guidance=scale, seed=seed, progress=False)
                out[f"{spec['name']}={cls} guidance={scale:g}"] = model.evaluate(s)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (small models train fastest on one)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run_dir = Path("runs") / "bundled" / args.experiment
    if run_dir.exists():
        shutil.rmtree(run_dir)
    cfg = compose(args.experiment, [f"run_dir={run_dir}"] + args.overrides)
    start = time.time()
    path = train(cfg)
    seconds = time.time() - start
    model = gensci.load(path)
    metrics = evaluate(model, args.samples, seed=1)
    record = {
        "experiment": args.experiment,
        "command": " ".join(["python", "scripts/train_bundled.py", args.experiment] + args.overrides),
        "train_seconds": round(seconds, 1),
        "machine": f"{cpu_name()}, {torch.get_num_threads()} thread(s), torch {torch.__version__}",
        "date": time.strftime("%Y-%m-%d"),
        "metrics": metrics,
    }
    payload = load_checkpoint(path)
    target = ROOT / f"{args.experiment}.pt"
    flat = {"train_seconds": record["train_seconds"], **{k: v for k, v in metrics["unconditional"].items()}}
    save_checkpoint(target, payload["config"], payload["state_dict"], payload["stats"], {**payload["metrics"], **flat})
    with atomic_write(target.with_suffix(".json")) as handle:
        json.dump(record, handle, indent=2)
    print(json.dumps(record, indent=2))
    print(f"bundled model written to {target}", file=sys.stderr)


if __name__ == "__main__":
    main()
