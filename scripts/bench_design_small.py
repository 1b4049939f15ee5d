"""Design strategies side by side at equal oracle budgets on the bundled points and proteins models.

    python scripts/bench_design_small.py --json docs/bench_design_small.json

Points (``points/moons``): reach (2, 0.5), the tip of the right moon (hit: squared distance
<= 0.1), with best-of-N, gradient guidance and fine-tuning. Proteins (``proteins/bundled``,
60-70 residues): helix fraction >= 0.5 (DSSP) and radius of gyration <= 12 A, clash-free,
with best-of-N, conditional steering on ``helix`` and gradient guidance on Rg. Each run
prints hits, the hit rate, its ratio to best-of-N's, the PMO top-10 AUC and wall seconds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch

import gensci
from gensci.inverse.presets import build_preset, compose_preset
from gensci.inverse.loop import design
from gensci.machine import cpu_name


def run(preset: str, strategy: str, seed: int, overrides: list[str]) -> dict:
    kwargs = build_preset(compose_preset(preset, [f"strategy={strategy}", f"seed={seed}", *overrides]))
    kwargs["model"] = gensci.load(kwargs["model"])
    start = time.perf_counter()
    result = design(out=tempfile.mkdtemp(prefix="bench-design-"), progress=False, **kwargs)
    s = result.summary()
    return {"preset": preset, "strategy": strategy, "seed": seed, "oracle_calls": s["oracle_calls"], "hits": s["hits"],
            "hit_rate": s["hit_rate"], "top10_auc": s["top10_auc"], "best": result.history[-1]["best"],
            "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--json", default=None)
    parser.add_argument("--skip-proteins", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    jobs = [("points/moons_corner", s, []) for s in ("best_of_n", "gradient", "finetune")]
    if not args.skip_proteins:
        jobs += [("proteins/helical_compact", s, []) for s in ("best_of_n", "conditional", "gradient")]
    rows = []
    for preset, strategy, extra in jobs:
        for seed in range(args.seeds):
            row = run(preset, strategy, seed, extra)
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = {}
    for preset, strategy, _ in jobs:
        mine = [r for r in rows if r["preset"] == preset and r["strategy"] == strategy]
        summary[f"{preset} {strategy}"] = {
            "hits": sum(r["hits"] for r in mine), "oracle_calls": sum(r["oracle_calls"] for r in mine),
            "top10_auc": sum(r["top10_auc"] for r in mine) / len(mine), "seconds": sum(r["seconds"] for r in mine)}
    for key, v in summary.items():
        preset = key.split()[0]
        base = summary[f"{preset} best_of_n"]
        v["hit_rate"] = v["hits"] / v["oracle_calls"]
        v["hit_rate_vs_best_of_n"] = v["hit_rate"] / base["hit_rate"] if base["hits"] else None
        print(f"{key:45s} hits {v['hits']:4d}/{v['oracle_calls']:5d}  rate {v['hit_rate']:.3f}  "
              f"x{v['hit_rate_vs_best_of_n'] if v['hit_rate_vs_best_of_n'] is not None else float('nan'):.2f}  "
              f"AUC {v['top10_auc']:.3f}  {v['seconds']:.0f} s")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": f"{cpu_name()}, 1 thread, torch {torch.__version__}", "runs": rows, "summary": summary},
                      handle, indent=1)


if __name__ == "__main__":
    main()
