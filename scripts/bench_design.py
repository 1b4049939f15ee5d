"""Molecule design strategies side by side at equal oracle budgets on the bundled QM9 model.

    python scripts/bench_design.py --budget 1000 --batch 100 --seeds 1 --json docs/bench_design.json

Target (``molecules/qm9``): HOMO-LUMO gap >= 0.30 Ha and dipole <= 1 D (the ECFP4 forest
oracles, fit on the train split on first use and cached), QED >= 0.5, valid molecules.
Strategies: best-of-N sampling, conditional steering on gap and mu, fine-tuning on the
elites, and the CReM genetic algorithm (starting from training molecules; its fragment
database is built on first use and cached). Each prints and records hits, the hit rate,
its ratio to best-of-N's, the PMO top-10 AUC, the best score and wall seconds.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

import gensci
from domains.molecules.crem_ga import CremGeneticAlgorithm
from domains.molecules.design_oracles import Descriptor, ForestProperty, Valid
from gensci.inverse.objectives import Constraint, Objective
from gensci.inverse.strategies import BestOfN, ConditionalSteering, FineTuning

STRATEGIES = ("best_of_n", "conditional", "finetune", "crem_ga")


def make_strategy(name: str):
    if name == "best_of_n":
        return BestOfN()
    if name == "conditional":
        return ConditionalSteering({"gap": 0.3, "mu": 1.0}, arms=4, guidance=2.0)
    if name == "finetune":
        return FineTuning(BestOfN(), steps=30, lr=1e-4)
    if name == "crem_ga":
        return CremGeneticAlgorithm()
    raise ValueError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")


def objectives() -> list[Objective]:
    return [
        Objective("gap", ForestProperty("gap"), goal="maximize", threshold=0.30,
                  transform={"name": "sigmoid", "low": 0.24, "high": 0.32}),
        Objective("mu", ForestProperty("mu"), goal="minimize", threshold=1.0,
                  transform={"name": "reverse_sigmoid", "low": 0.5, "high": 2.5}),
        Objective("qed", Descriptor("qed"), goal="maximize", threshold=0.5,
                  transform={"name": "sigmoid", "low": 0.3, "high": 0.6}),
    ]


def machine() -> str:
    try:
        from gensci.machine import cpu_name

        cpu = cpu_name()
    except ImportError:
        cpu = platform.processor() or platform.machine()
    return f"{cpu}, {torch.get_num_threads()} thread(s), torch {torch.__version__}"


def run(model, strategy: str, seed: int, budget: int, batch: int, out: Path) -> dict:
    start = time.perf_counter()
    result = gensci.design(model, objectives(), make_strategy(strategy), budget=budget, batch=batch,
                           constraints=[Constraint("valid", Valid())], out=out / f"{strategy}_seed{seed}", seed=seed,
                           sample={"steps": 50}, progress=False)
    seconds = time.perf_counter() - start
    s = result.summary()
    return {"strategy": strategy, "seed": seed, "oracle_calls": s["oracle_calls"], "hits": s["hits"], "hit_rate": s["hit_rate"],
            "top10_auc": s["top10_auc"], "best": result.history[-1]["best"] if result.history else 0.0,
            "rounds": len(result.history), "seconds": seconds,
            "history": [{k: h[k] for k in ("round", "oracle_calls", "best", "top10_mean", "hits")} for h in result.history]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--out", default="runs/bench_design")
    parser.add_argument("--json", default="docs/bench_design.json")
    parser.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated subset of " + ", ".join(STRATEGIES))
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = [s.strip() for s in args.strategies.split(",") if s.strip()]
    out = Path(args.out)
    model = gensci.load("molecules/qm9")
    rows = []
    for name in names:
        for seed in range(args.seeds):
            row = run(model, name, seed, args.budget, args.batch, out)
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "history"}), flush=True)
    summary = {}
    for name in names:
        mine = [r for r in rows if r["strategy"] == name]
        calls = sum(r["oracle_calls"] for r in mine)
        hits = sum(r["hits"] for r in mine)
        summary[name] = {"hits": hits, "oracle_calls": calls, "hit_rate": hits / calls if calls else 0.0,
                         "top10_auc": sum(r["top10_auc"] for r in mine) / len(mine),
                         "best": max(r["best"] for r in mine), "seconds": sum(r["seconds"] for r in mine)}
    base = summary.get("best_of_n")
    for name, v in summary.items():
        v["hit_rate_vs_best_of_n"] = v["hit_rate"] / base["hit_rate"] if base and base["hits"] else None
    info = machine()
    print(f"molecules/qm9, gap >= 0.30 Ha, mu <= 1 D, QED >= 0.5; budget {args.budget}, batch {args.batch}, "
          f"{args.seeds} seed(s); {info}")
    print(f"{'strategy':12s} {'hits':>11s} {'rate':>6s} {'x BoN':>6s} {'AUC':>6s} {'best':>6s} {'seconds':>8s}")
    for name, v in summary.items():
        ratio = v["hit_rate_vs_best_of_n"]
        print(f"{name:12s} {v['hits']:5d}/{v['oracle_calls']:5d} {v['hit_rate']:6.3f} "
              f"{ratio if ratio is not None else float('nan'):6.2f} {v['top10_auc']:6.3f} {v['best']:6.3f} {v['seconds']:8.0f}")
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as handle:
            json.dump({"machine": info, "model": "molecules/qm9", "budget": args.budget, "batch": args.batch,
                       "seeds": args.seeds, "sample": {"steps": 50}, "summary": summary, "runs": rows}, handle, indent=1)


if __name__ == "__main__":
    main()
