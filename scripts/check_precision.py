"""Check that a model's metrics are unchanged when its network runs in bfloat16, and record it.

    python scripts/check_precision.py molecules/qm9 -n 500 --seed 0 --write
    python scripts/check_precision.py proteins/bundled -n 100 --sample length=50..80 --split train --write

Draws the same plan twice with the same seed, the network in float32 and then in bfloat16
(states and sampler arithmetic stay float32), and computes the domain's own metrics on both
against ``--split``. Each metric of :data:`gensci.precision_check.CHECKED` the domain reports is
judged by the rule of :mod:`gensci.precision_check`: a rate (strict validity, uniqueness,
clash-free fraction) is unchanged when ``|bf16 - fp32| <= 2 sqrt(p (1 - p) / n) + 0.005`` with
``p`` the float32 rate; a distance (FCD, angle KLs, W2) when ``|bf16 - fp32| <= 0.1 fp32``.
The verdict ``unchanged`` is true when every judged metric is.

With ``--write`` the block ``precision_check: {model, machine, date, n, seed, split, options,
rule, fp32, bf16, unchanged, per_metric}`` goes into the bundled model's JSON record
(``gensci/checkpoints/<domain>/<name>.json``), where ``precision="auto"`` reads it
(:mod:`gensci.precision_auto`). Retraining the model with ``scripts/train_bundled.py`` rewrites
the record without it: a new network needs a new check. The block's ``machine`` names the CPU
and its bfloat16 units; the check means something only where bfloat16 runs natively (on other
machines bf16 is emulated: the figures are the same, only slower).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

import gensci
from gensci.errors import GensciError
from gensci.io import atomic_write
from gensci.machine import bf16_hardware, cpu_name
from gensci.model import bundled_dir, bundled_models
from gensci.precision_check import RATE_FLOOR, RATE_SIGMAS, RELATIVE, compare

RULE = (f"rate: |bf16 - fp32| <= {RATE_SIGMAS:g} sqrt(p (1 - p) / n) + {RATE_FLOOR:g}, p = fp32 rate; "
        f"distance (FCD, KL, W2): |bf16 - fp32| <= {RELATIVE:g} |fp32|")


def draw_and_evaluate(model: gensci.model.GenerativeModel, n: int, seed: int, split: str, precision: str,
                      steps: int | None, options: dict[str, Any]) -> dict[str, Any]:
    """The domain's metrics of ``n`` samples drawn (or refined, for a bridge model) in ``precision``,
    with the wall time of the sampling alone as ``sample_seconds``."""
    inputs = model.domain.evaluation_inputs(split, n)
    start = time.perf_counter()
    if inputs is not None:
        samples = model.refine(inputs, seed=seed, steps=steps, progress=False, precision=precision)
    else:
        samples = model.sample(n, seed=seed, steps=steps, progress=False, precision=precision, **options)
    seconds = time.perf_counter() - start
    metrics = {k: v for k, v in model.evaluate(samples, split=split).items() if isinstance(v, (int, float))}
    return {**metrics, "sample_seconds": round(seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="bundled model name or checkpoint path")
    parser.add_argument("-n", type=int, default=500, help="samples per precision (default 500)")
    parser.add_argument("--seed", type=int, default=0, help="the seed of both draws (default 0)")
    parser.add_argument("--split", default="test", help="the held-out split the metrics compare with (default test)")
    parser.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's)")
    parser.add_argument("--sample", action="append", default=[], metavar="KEY=VALUE",
                        help="a sampling option of the domain, e.g. length=50..80 (repeatable)")
    parser.add_argument("--write", action="store_true", help="record the check in the bundled model's JSON record")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    try:
        options = dict(item.split("=", 1) for item in args.sample)
    except ValueError:
        parser.error("--sample takes KEY=VALUE")
    name = args.model.removesuffix(".pt")
    if args.write and name not in bundled_models():
        raise GensciError(f"--write records into a bundled model's JSON; {args.model!r} is not bundled")
    model = gensci.load(args.model)
    results = {}
    for precision in ("fp32", "bf16"):
        print(f"{precision}: drawing {args.n} samples (seed {args.seed})", file=sys.stderr, flush=True)
        results[precision] = draw_and_evaluate(model, args.n, args.seed, args.split, precision, args.steps, options)
    unchanged, per_metric = compare(results["fp32"], results["bf16"], args.n)
    hardware = bf16_hardware("cpu") or "no bfloat16 units"
    check = {"model": name, "machine": f"{cpu_name()} ({hardware}), {torch.get_num_threads()} thread(s), "
                                       f"torch {torch.__version__}",
             "date": time.strftime("%Y-%m-%d"), "n": args.n, "seed": args.seed, "split": args.split,
             "steps": args.steps, "options": options, "rule": RULE, "fp32": results["fp32"], "bf16": results["bf16"],
             "unchanged": unchanged, "per_metric": per_metric}
    for metric, row in per_metric.items():
        print(f"{metric:<20} fp32 {row['fp32']:.4g}  bf16 {row['bf16']:.4g}  |delta| {abs(row['delta']):.3g}  "
              f"band {row['band']:.3g}  {'within' if row['within'] else 'OUTSIDE'}")
    print(f"sample seconds: fp32 {results['fp32']['sample_seconds']}, bf16 {results['bf16']['sample_seconds']}")
    print(f"unchanged in bf16: {unchanged}")
    if args.write:
        record_path = (bundled_dir() / name).with_suffix(".json")
        record = json.loads(record_path.read_text())
        record["precision_check"] = check
        with atomic_write(record_path) as handle:
            json.dump(record, handle, indent=2)
        print(f"recorded in {record_path}", file=sys.stderr)
    else:
        print(json.dumps(check, indent=2))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except GensciError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
