"""The backbone build from angles: the blocked product of frames against the atom-by-atom NeRF.

    python scripts/bench_nerf.py --out docs/bench_nerf.json      # about 10 minutes on one thread
    python scripts/bench_nerf.py --quick                         # to check that it runs

Two parts, one thread, both builds timed in alternation (so a change of load hits both):

* **The build alone**: :func:`domains.proteins.nerf.angles_to_backbone` (the blocked prefix
  product of rigid steps) and :func:`~domains.proteins.nerf.stepwise_backbone` (one NeRF step
  per atom), forward and backward (the gradient clash guidance takes), float32, for several
  batch sizes and lengths; medians of ``--repeats``. The largest difference of the two builds
  is reported beside.
* **Sampling**: ``proteins/bundled`` with its default sampler (clash guidance, its descent
  iterations and the final relaxation each rebuild the chains) draws ``-n`` chains of
  ``--length`` with the same seed twice, once with each build; the seconds and the domain's
  metrics (clash-free, Ramachandran KL) of both, and the largest difference of the written
  coordinates (Å).
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
from domains.proteins import clash_guidance, domain as protein_domain
from domains.proteins.nerf import angles_to_backbone, stepwise_backbone
from gensci.io import atomic_write
from gensci.machine import cpu_name

#: the modules that call the build while sampling and decoding
CALLERS = (clash_guidance, protein_domain)


def random_angles(b: int, n: int, generator: torch.Generator) -> torch.Tensor:
    """Plausible backbones: any phi / psi, omega near trans, bond angles near 111-122 degrees."""
    u = torch.rand(b, n, 6, generator=generator)
    angles = torch.empty_like(u)
    angles[..., :2] = (2 * u[..., :2] - 1) * torch.pi
    angles[..., 2] = torch.pi - 0.2 * u[..., 2]
    angles[..., 3:] = torch.deg2rad(torch.tensor([111.0, 116.0, 122.0])) + 0.1 * (u[..., 3:] - 0.5)
    return angles


def time_build(build, angles: torch.Tensor) -> float:
    x = angles.clone().requires_grad_(True)
    start = time.perf_counter()
    build(x).square().sum().backward()
    return time.perf_counter() - start


def sample_with(model, build, n: int, length: str, seed: int, split: str) -> dict:
    for module in CALLERS:
        module.angles_to_backbone = build
    try:
        start = time.time()
        samples = model.sample(n, seed=seed, progress=False, precision="fp32", length=length)
        seconds = time.time() - start
    finally:
        for module in CALLERS:
            module.angles_to_backbone = angles_to_backbone
    metrics = model.evaluate(samples, split=split)
    return {"sample_seconds": round(seconds, 1), "clash_free_fraction": metrics["clash_free_fraction"],
            "kl_ramachandran": metrics["kl_ramachandran"], "kl_angles_mean": metrics["kl_angles_mean"],
            "backbones": samples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="16x64,16x128,200x64,200x128,200x256",
                        help="BATCHxLENGTH of the build timings")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("-n", type=int, default=200, help="chains sampled with each build")
    parser.add_argument("--length", default="50..128")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--split", default="train")
    parser.add_argument("--quick", action="store_true", help="small sizes, 8 chains")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.repeats, args.n = "4x16,8x32", 2, 8
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    builds = []
    for size in args.sizes.split(","):
        b, n = (int(v) for v in size.split("x"))
        angles = random_angles(b, n, generator)
        times = {"blocked": [], "stepwise": []}
        for _ in range(args.repeats + 1):  # the first round warms up
            times["blocked"].append(time_build(angles_to_backbone, angles))
            times["stepwise"].append(time_build(stepwise_backbone, angles))
        ms = {k: 1000 * statistics.median(v[1:]) for k, v in times.items()}
        with torch.no_grad():
            exact = stepwise_backbone(angles.double())
            diff = {"blocked_vs_float64": float((angles_to_backbone(angles).double() - exact).abs().max()),
                    "stepwise_vs_float64": float((stepwise_backbone(angles).double() - exact).abs().max())}
        row = {"batch": b, "length": n, "blocked_ms": round(ms["blocked"], 1), "stepwise_ms": round(ms["stepwise"], 1),
               "speedup": round(ms["stepwise"] / ms["blocked"], 2), **diff}
        builds.append(row)
        print(f"B {b:>3} L {n:>3}: blocked {row['blocked_ms']:7.1f} ms, stepwise {row['stepwise_ms']:7.1f} ms "
              f"({row['speedup']:.2f}x); float32 error {diff['blocked_vs_float64']:.1e} / "
              f"{diff['stepwise_vs_float64']:.1e} A", flush=True)
    model = gensci.load("proteins/bundled")
    for build in (stepwise_backbone, angles_to_backbone):  # warm-up: the first sampling call pays for set-up
        sample_with(model, build, 4, args.length, args.seed, args.split)
    sampling = {}
    for name, build in (("stepwise", stepwise_backbone), ("blocked", angles_to_backbone)):
        sampling[name] = sample_with(model, build, args.n, args.length, args.seed, args.split)
        print(f"sampling with the {name} build: {sampling[name]['sample_seconds']} s, clash-free "
              f"{sampling[name]['clash_free_fraction']:.3f}, KL Ramachandran {sampling[name]['kl_ramachandran']:.4f}",
              flush=True)
    a, b = (sampling[k].pop("backbones") for k in ("stepwise", "blocked"))
    sampling["max_coordinate_difference"] = max(float(abs(p - q).max()) for p, q in zip(a, b))
    sampling["speedup"] = round(sampling["stepwise"]["sample_seconds"] / sampling["blocked"]["sample_seconds"], 2)
    record = {"machine": f"{cpu_name()}, 1 thread, torch {torch.__version__}", "date": time.strftime("%Y-%m-%d"),
              "command": "python scripts/bench_nerf.py " + " ".join(sys.argv[1:]), "builds": builds,
              "sampling": {"model": "proteins/bundled", "n": args.n, "length": args.length, "seed": args.seed,
                           **sampling}}
    if args.out is not None:
        with atomic_write(args.out) as f:
            f.write(json.dumps(record, indent=1) + "\n")
    print(json.dumps({"speedups": [r["speedup"] for r in builds], "sampling": sampling["speedup"],
                      "max_coordinate_difference": sampling["max_coordinate_difference"]}))


if __name__ == "__main__":
    main()
