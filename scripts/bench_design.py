"""Design strategies side by side at equal oracle budgets, from the design presets.

    python scripts/bench_design.py molecules/qm9_gap_mu_qed --strategies best_of_n,conditional,finetune,crem_ga \
        --json docs/bench_design_molecules.json
    python scripts/bench_design.py points/moons_corner --seeds 2 --json docs/bench_design_points.json
    python scripts/bench_design.py proteins/helical_rg16 --strategies best_of_n,finetune,gradient,finetune_gradient --seeds 2 \
        --json docs/bench_design_proteins.json

Each run takes the preset's objectives, constraints, budget and sampling options
(``gensci/configs/design/<preset>.yaml``; further ``key=value`` overrides apply to every run)
and one of its strategies, and records hits, the hit rate and its ratio to best-of-N's,
the PMO top-10 AUC, the best score, distinct diversity buckets among the hits and wall
seconds, with the machine named.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

import gensci
from gensci.inverse.loop import design
from gensci.inverse.presets import build_preset, compose_preset
from gensci.machine import cpu_name


def run(preset: str, strategy: str, seed: int, overrides: list[str], out: Path) -> dict:
    kwargs = build_preset(compose_preset(preset, [f"strategy={strategy}", f"seed={seed}", *overrides]))
    kwargs["model"] = gensci.load(kwargs["model"])
    start = time.perf_counter()
    result = design(out=out / f"{strategy}_seed{seed}", resume=False, progress=False, **kwargs)
    s = result.summary()
    hits = [c for c in result.candidates if c.hit]
    return {"strategy": strategy, "seed": seed, "oracle_calls": s["oracle_calls"], "hits": s["hits"], "hit_rate": s["hit_rate"],
            "top10_auc": s["top10_auc"], "best": result.history[-1]["best"] if result.history else 0.0,
            "buckets_among_hits": len({c.bucket for c in hits}),
            "duplicates": sum(c.status == "duplicate" for c in result.candidates), "rounds": len(result.history),
            "seconds": time.perf_counter() - start,
            "history": [{k: h[k] for k in ("round", "oracle_calls", "best", "top10_mean", "hits")} for h in result.history]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset", help="design preset, e.g. molecules/qm9_gap_mu_qed")
    parser.add_argument("overrides", nargs="*", help="preset overrides key=value for every run (budget=..., batch=...)")
    parser.add_argument("--strategies", default=None, help="comma-separated strategies of the preset (default: all)")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--out", default=None, help="folder of the runs (default: a temporary folder)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = ([s.strip() for s in args.strategies.split(",") if s.strip()] if args.strategies
             else list(compose_preset(args.preset).strategies))
    out = Path(args.out or tempfile.mkdtemp(prefix="bench-design-"))
    rows = []
    for name in names:
        for seed in range(args.seeds):
            rows.append(run(args.preset, name, seed, list(args.overrides), out))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "history"}), flush=True)
    summary = {}
    for name in names:
        mine = [r for r in rows if r["strategy"] == name]
        calls, hits = sum(r["oracle_calls"] for r in mine), sum(r["hits"] for r in mine)
        summary[name] = {"hits": hits, "oracle_calls": calls, "hit_rate": hits / calls if calls else 0.0,
                         "top10_auc": sum(r["top10_auc"] for r in mine) / len(mine), "best": max(r["best"] for r in mine),
                         "seconds": sum(r["seconds"] for r in mine)}
    base = summary.get("best_of_n")
    for v in summary.values():
        v["hit_rate_vs_best_of_n"] = v["hit_rate"] / base["hit_rate"] if base and base["hits"] else None
    machine = f"{cpu_name()}, {torch.get_num_threads()} thread(s), torch {torch.__version__}"
    print(f"{args.preset} {' '.join(args.overrides)}; {args.seeds} seed(s); {machine}")
    print(f"{'strategy':12s} {'hits':>11s} {'rate':>6s} {'x BoN':>6s} {'AUC':>6s} {'best':>6s} {'seconds':>8s}")
    for name, v in summary.items():
        ratio = v["hit_rate_vs_best_of_n"]
        print(f"{name:12s} {v['hits']:5d}/{v['oracle_calls']:5d} {v['hit_rate']:6.3f} "
              f"{ratio if ratio is not None else float('nan'):6.2f} {v['top10_auc']:6.3f} {v['best']:6.3f} {v['seconds']:8.0f}")
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as handle:
            json.dump({"machine": machine, "preset": args.preset, "overrides": args.overrides, "seeds": args.seeds,
                       "summary": summary, "runs": rows}, handle, indent=1)


if __name__ == "__main__":
    main()
