"""Few-step quality of the bundled molecules/qm9: the CTMC sampler of discrete flow matching
(``ctmc``; DeFoG, Qin et al. 2025) against the categorical posterior sampler, same network.

For every sampler setting and step count: 500 unconditional molecules (one seed, the same for
all), then the domain's own evaluate — strict validity (no correction), validity after
correction, uniqueness, novelty, FCD against the test split — and the sampling time, in the
model's default precision (``auto``: bf16 on CPUs with AVX-512 BF16 / AMX, else fp32)::

    python scripts/bench_molecule_steps.py            # about 10 minutes on one thread
    python scripts/bench_molecule_steps.py --quick    # 100 molecules, two settings

Writes docs/bench_molecule_steps.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gensci.machine import cpu_name  # noqa: E402
from gensci.model import load  # noqa: E402

CTMC = "samplers.ctmc.DiscreteFlowSampler"
CAT = "samplers.categorical.CategoricalSampler"
#: (label, sampler config without steps); every setting tried is reported
SETTINGS = [
    ("categorical", {"_target_": CAT}),
    ("ctmc identity", {"_target_": CTMC, "distortion": "identity"}),
    ("ctmc cos", {"_target_": CTMC, "distortion": "cos"}),
    ("ctmc process grid", {"_target_": CTMC, "distortion": "process"}),
    ("ctmc polydec", {"_target_": CTMC, "distortion": "polydec"}),
    ("ctmc polydec eta 1", {"_target_": CTMC, "distortion": "polydec", "eta": 1.0}),
    ("ctmc polydec omega 0.2", {"_target_": CTMC, "distortion": "polydec", "omega": 0.2}),
    ("ctmc polydec eta 1 omega 0.2", {"_target_": CTMC, "distortion": "polydec", "eta": 1.0, "omega": 0.2}),
    # the exact categorical posterior jump on a distorted grid: the grid's effect without the Euler step
    ("posterior identity", {"_target_": CTMC, "distortion": "identity", "rule": "posterior"}),
    ("posterior polydec", {"_target_": CTMC, "distortion": "polydec", "rule": "posterior"}),
    # steeper grids: power:P in flow time (posterior jump) and in the process's time t (categorical)
    ("posterior power:1.5", {"_target_": CTMC, "distortion": "power:1.5", "rule": "posterior"}),
    ("posterior power:3", {"_target_": CTMC, "distortion": "power:3", "rule": "posterior"}),
    ("posterior power:4", {"_target_": CTMC, "distortion": "power:4", "rule": "posterior"}),
    ("posterior power:6", {"_target_": CTMC, "distortion": "power:6", "rule": "posterior"}),
    ("posterior polydec T0.9", {"_target_": CTMC, "distortion": "polydec", "rule": "posterior", "temperature": 0.9}),
    ("categorical power:2", {"_target_": CAT, "distortion": "power:2"}),
    ("categorical power:3", {"_target_": CAT, "distortion": "power:3"}),
    ("categorical argmax_last", {"_target_": CAT, "argmax_last": True}),
    ("categorical power:3 argmax_last", {"_target_": CAT, "distortion": "power:3", "argmax_last": True}),
]


def run(model, label: str, config: dict, steps: int, n: int, seed: int) -> dict:
    t0 = time.perf_counter()
    mols = model.sample(n, steps=steps, sampler=dict(config), seed=seed, progress=False)
    seconds = time.perf_counter() - t0
    metrics = model.domain.evaluate(mols)
    row = {"sampler": label, "config": config, "steps": steps, "seconds": seconds,
           "validity_strict": metrics["validity_nc"], "validity_corrected": metrics["validity"],
           "uniqueness": metrics["uniqueness"], "novelty": metrics["novelty"], "fcd": metrics["fcd"],
           "precision": model.last_precision.precision}
    print(f"  {label:32s} {steps:4d} steps: strict {row['validity_strict']:.3f} unique {row['uniqueness']:.3f} "
          f"FCD {row['fcd']:.3f} ({seconds:.1f} s)", file=sys.stderr, flush=True)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="molecules/qm9")
    p.add_argument("--samples", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, nargs="+", default=[5, 10, 20])
    p.add_argument("--reference-steps", type=int, default=100, help="categorical sampler only")
    p.add_argument("--only", nargs="+", default=None, metavar="LABEL", help="run only these settings (labels above)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", type=Path, default=ROOT / "docs" / "bench_molecule_steps.json")
    args = p.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    quick = ("categorical", "ctmc polydec", "posterior polydec")
    settings = [(label, cfg) for label, cfg in SETTINGS if label in quick] if args.quick else SETTINGS
    if args.only:
        settings = [(label, cfg) for label, cfg in settings if label in args.only]
    n = 100 if args.quick else args.samples
    model = load(args.model)
    rows = [run(model, label, cfg, steps, n, args.seed) for steps in args.steps for label, cfg in settings]
    rows.append(run(model, "categorical", SETTINGS[0][1], args.reference_steps, n, args.seed))
    result = {"model": args.model, "samples": n, "seed": args.seed, "unconditional": True, "machine": cpu_name(),
              "threads": torch.get_num_threads(), "rows": rows}
    if not args.quick:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"## Few-step quality ({args.model}; {n} unconditional molecules, seed {args.seed}, {cpu_name()})\n")
    print("| sampler | steps | validity (strict) | uniqueness | novelty | FCD | s per molecule |\n|---|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: (r["steps"], r["sampler"])):
        print(f"| {r['sampler']} | {r['steps']} | {r['validity_strict']:.3f} | {r['uniqueness']:.3f} | "
              f"{r['novelty']:.3f} | {r['fcd']:.3f} | {r['seconds'] / n:.4f} |")


if __name__ == "__main__":
    main()
