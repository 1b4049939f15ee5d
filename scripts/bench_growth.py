"""How sampling cost grows with size: atoms, residues and batch, for each bundled model.

    python scripts/bench_growth.py                          # all sweeps, about 15 minutes on one thread
    python scripts/bench_growth.py --quick --rounds 1 --out /tmp/g.json   # a minute: checks that it runs

For every sweep the bundled model samples ``batch`` objects of a given size (``--atoms N`` for
molecules and atoms, ``--length L`` for proteins) twice, at ``--steps-low`` and
``--steps-high`` steps, in one process on one thread and in the model's default precision
(``auto``). Two costs per point, each the median over ``--rounds``:

* **per step**: ``(T_high - T_low) / (steps_high - steps_low)`` of the whole ``sample()`` call
  (network, guidance-free sampler arithmetic, masks), so the per-call set-up and the decoding
  of the samples cancel;
* **network per call**: the wall time of the network alone, timed by a wrapper around it
  (``sample(network_wrapper=...)``).

The growth exponent ``k`` of ``cost ∝ size^k`` is fitted by least squares on logarithms over
the whole sweep, with the local exponents between neighbouring sizes
(:mod:`gensci.growth`). Records are written after every sweep, with the machine named.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

import gensci
from gensci.growth import growth_exponent, local_exponents
from gensci.io import atomic_write
from gensci.machine import cpu_name
from gensci.nn.timed import TimedNetwork

#: (model, size option, sizes, batch at those sizes, batches, size for the batch sweep)
SWEEPS = {
    "molecules": ("molecules/qm9", "atoms", [3, 5, 7, 9], 200, [25, 50, 100, 200, 400], 9),
    "proteins": ("proteins/bundled", "length", [32, 64, 128, 256], 16, [4, 8, 16, 32, 64], 64),
    "atoms": ("atoms/qm9", "atoms", [9, 14, 19, 24, 29], 32, [8, 16, 32, 64, 128], 19),
}


def measure(model: gensci.model.GenerativeModel, batch: int, options: dict, steps: tuple[int, int],
            rounds: int) -> dict:
    """Median per-step ms (difference of two step counts) and network ms per call."""
    per_step, per_call = [], []
    for _ in range(rounds):
        walls = []
        for s in steps:
            timers: list[TimedNetwork] = []

            def wrap(network, plan, process, timers=timers):
                timers.append(TimedNetwork(network))
                return timers[-1]

            start = time.perf_counter()
            model.sample(batch, steps=s, seed=0, progress=False, redraws=0, network_wrapper=wrap, **options)
            walls.append(time.perf_counter() - start)
            calls = sum(t.calls for t in timers)
            per_call.append(1000 * sum(t.seconds for t in timers) / max(calls, 1))
        per_step.append(1000 * (walls[1] - walls[0]) / (steps[1] - steps[0]))
    return {"step_ms": statistics.median(per_step), "network_ms": statistics.median(per_call),
            "precision": model.last_precision.precision if model.last_precision else None}


def fit(points: list[dict], size: str) -> dict:
    """Exponents of both costs against ``points[i][size]``."""
    sizes = [p[size] for p in points]
    out = {}
    for cost in ("step_ms", "network_ms"):
        values = [p[cost] for p in points]
        if min(values) <= 0:
            out[cost] = {"exponent": None, "local": None, "note": "a non-positive difference: below the noise"}
            continue
        out[cost] = {"exponent": round(growth_exponent(sizes, values), 3),
                     "local": [round(v, 3) for v in local_exponents(sizes, values)]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", default=list(SWEEPS), choices=list(SWEEPS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps-low", type=int, default=2)
    parser.add_argument("--steps-high", type=int, default=6)
    parser.add_argument("--out", default="docs/bench_growth.json")
    parser.add_argument("--quick", action="store_true", help="two sizes and two small batches per sweep: checks that it runs")
    args = parser.parse_args()
    torch.set_num_threads(1)
    parts = args.parts
    steps = (args.steps_low, args.steps_high)
    record = {"machine": {"cpu": cpu_name(), "torch_threads": 1, "torch": torch.__version__},
              "settings": {"rounds": args.rounds, "steps": list(steps)}, "sweeps": {}}
    for part in parts:
        name, option, sizes, batch_at, batches, size_at = SWEEPS[part]
        if args.quick:
            sizes, batch_at, batches = sizes[:2], 4, [2, 4]
        model = gensci.load(name)
        measure(model, 4, {option: sizes[0]}, steps, 1)  # warm-up
        by_size = []
        for size in sizes:
            row = {"size": size, "batch": batch_at, **measure(model, batch_at, {option: size}, steps, args.rounds)}
            by_size.append(row)
            print(f"{part} {option}={size} batch={batch_at}: {row}", file=sys.stderr, flush=True)
        by_batch = []
        for batch in batches:
            row = {"size": size_at, "batch": batch, **measure(model, batch, {option: size_at}, steps, args.rounds)}
            by_batch.append(row)
            print(f"{part} {option}={size_at} batch={batch}: {row}", file=sys.stderr, flush=True)
        record["sweeps"][part] = {
            "model": name, "size_option": option,
            "by_size": by_size, "size_fit": fit(by_size, "size"),
            "by_batch": by_batch, "batch_fit": fit(by_batch, "batch"),
        }
        with atomic_write(Path(args.out)) as handle:
            json.dump(record, handle, indent=1)
    print(json.dumps({p: {"size": s["size_fit"], "batch": s["batch_fit"]} for p, s in record["sweeps"].items()}, indent=1))


if __name__ == "__main__":
    main()
