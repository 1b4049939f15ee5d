"""Quality against steps for the bundled protein model: clash-free, Ramachandran KL, seconds.

    python scripts/bench_protein_steps.py -n 200 --seeds 1,2 \\
        --setting euler:100 --setting euler:20 --setting heun:10 --setting euler:20:clash_guidance=1.0 \\
        --out docs/bench_protein_steps.json

Every ``--setting SAMPLER:STEPS[:KEY=VALUE,...]`` draws ``-n`` unconditional chains per seed
from ``proteins/bundled`` (lengths ``--length``, default ``50..128`` with the domain's fixed
length seed, as the bundled record's evaluation: ``--split train``, seed 1), on one thread
and in one process, and scores them with the domain's own metrics. Network calls per chain
are ``steps`` for Euler, ``2 steps`` for Heun and midpoint (``2 steps - 1`` with ``final_euler``).
The record is rewritten after every setting, so an interrupted run keeps what it measured.
The noise band: the binomial standard error ``sqrt(p (1 - p) / N)`` of the clash-free
fraction over all ``N`` chains of the seeds, and the spread (max - min) of each KL over the
seeds.

An option ``sampler.KEY=VALUE`` sets an argument of the sampler's constructor (e.g.
``heun:10:sampler.final_euler=true``, or ``euler:20:sampler.distortion=power:2`` for the grid
``t_k = 1 - (1 - k / K)^P``, denser near the data end ``t = 1`` for ``P > 1``:
:mod:`samplers.grids`); ``time_power=P``, the name earlier records used, is the same as
``sampler.distortion=power:P``. ``--append`` adds the settings to
an existing ``--out`` record.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

import gensci
from gensci.io import atomic_write
from gensci.machine import cpu_name
from gensci.errors import GensciError
from gensci.model import sampler_choice, split_setting
from samplers.base import Sampler
from samplers.ode import TwoStageSampler

#: the metrics kept per row (the domain reports more; these are the ones the steps question needs)
KEPT = ("clash_free_fraction", "kl_ramachandran", "kl_angles_mean", "kl_phi", "kl_psi", "kl_omega", "kl_tau",
        "kl_psi_phi_next", "ca_ca_ideal_fraction", "ss_dssp_helix", "ss_psea_strand")


def parse_setting(text: str) -> tuple[str, int, dict[str, str]]:
    """``"heun:10:clash_guidance=1.0"`` -> ``("heun", 10, {"clash_guidance": "1.0"})`` (a sampler
    and a step count both required; :func:`gensci.model.split_setting`)."""
    try:
        name, steps, items = split_setting(text)
    except GensciError as err:
        raise SystemExit(str(err)) from None
    if not name or steps is None or any("=" not in item for item in items):
        raise SystemExit(f"--setting wants SAMPLER:STEPS[:KEY=VALUE,...], got {text!r}")
    return name, steps, dict(item.split("=", 1) for item in items)


def network_calls(sampler: str, steps: int, final_euler: bool = False) -> int:
    """Network evaluations per chain: two per step of a two-stage sampler (Heun, midpoint; one on
    the last with ``final_euler``), one per step otherwise."""
    two_stage = issubclass(Sampler.registry[sampler], TwoStageSampler)
    return (2 * steps - int(final_euler)) if two_stage else steps


def summarise(rows: list[dict]) -> dict:
    """Mean over seeds, the clash-free binomial standard error and each KL's spread over seeds."""
    out: dict = {}
    for key in KEPT:
        values = [r[key] for r in rows if key in r]
        if not values:
            continue
        out[key] = sum(values) / len(values)
        if key.startswith("kl_") and len(values) > 1:
            out[f"{key}_spread"] = max(values) - min(values)
    n = sum(r["count"] for r in rows)
    p = out["clash_free_fraction"]
    out["clash_free_se"] = math.sqrt(p * (1 - p) / n)
    out["sample_seconds"] = sum(r["sample_seconds"] for r in rows) / len(rows)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="proteins/bundled")
    parser.add_argument("-n", type=int, default=200, help="chains per setting and seed")
    parser.add_argument("--seeds", default="1,2", help="sampling seeds (comma-separated; the record used 1)")
    parser.add_argument("--length", default="50..128")
    parser.add_argument("--split", default="train")
    parser.add_argument("--precision", default="fp32", help="fp32 (as the bundled record), bf16 or auto")
    parser.add_argument("--setting", action="append", required=True, metavar="SAMPLER:STEPS[:KEY=VALUE,...]")
    parser.add_argument("--out", type=Path, default=None, help="JSON record to write")
    parser.add_argument("--append", action="store_true", help="keep the results already in --out")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    model = gensci.load(args.model)
    settings = [parse_setting(s) for s in args.setting]
    earlier = json.loads(args.out.read_text()) if args.append and args.out and args.out.is_file() else {}
    results = earlier.get("results", [])
    command = "python scripts/bench_protein_steps.py " + " ".join(sys.argv[1:])
    commands = earlier.get("commands", [earlier["command"]] if "command" in earlier else []) + [command]
    for sampler, steps, options in settings:
        rows = []
        if "time_power" in options:
            options = {**{k: v for k, v in options.items() if k != "time_power"},
                       "sampler.distortion": f"power:{options['time_power']}"}
        sampling = {k: v for k, v in options.items() if not k.startswith("sampler.")}
        chosen = sampler_choice(sampler, [f"{k.removeprefix('sampler.')}={v}" for k, v in options.items()
                                          if k.startswith("sampler.")], what="--setting sampler.KEY")
        own = chosen if isinstance(chosen, dict) else {}
        for seed in seeds:
            start = time.time()
            samples = model.sample(args.n, sampler=chosen, steps=steps, seed=seed, progress=False,
                                   precision=args.precision, length=args.length, **sampling)
            seconds = time.time() - start
            metrics = model.evaluate(samples, split=args.split)
            rows.append({"seed": seed, "count": metrics["count"], "sample_seconds": round(seconds, 1),
                         **{k: metrics[k] for k in KEPT if k in metrics}})
        label = f"{sampler}:{steps}" + (":" + ",".join(f"{k}={v}" for k, v in options.items()) if options else "")
        entry = {"setting": label, "sampler": sampler, "steps": steps, "options": options,
                 "network_calls": network_calls(sampler, steps, bool(own.get("final_euler", False))), "per_seed": rows, **summarise(rows)}
        results.append(entry)
        if args.out is not None:
            record = {"model": args.model, "machine": f"{cpu_name()}, 1 thread, torch {torch.__version__}",
                      "date": time.strftime("%Y-%m-%d"), "n": args.n, "seeds": seeds, "length": args.length,
                      "split": args.split, "precision": args.precision,
                      "commands": commands, "results": results}
            with atomic_write(args.out) as f:
                f.write(json.dumps(record, indent=1) + "\n")
        print(f"{label:<40} calls {entry['network_calls']:>3}  clash-free {entry['clash_free_fraction']:.3f} "
              f"± {entry['clash_free_se']:.3f}  KL rama {entry['kl_ramachandran']:.4f} "
              f"(spread {entry.get('kl_ramachandran_spread', float('nan')):.4f})  KL angles "
              f"{entry['kl_angles_mean']:.5f}  {entry['sample_seconds']:.1f} s", flush=True)
    print(json.dumps({r["setting"]: r["clash_free_fraction"] for r in results}))


if __name__ == "__main__":
    main()
