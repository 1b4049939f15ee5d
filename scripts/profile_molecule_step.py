"""Where one guided sampling step of Graph DiT spends its time (CPU, one thread by default).

One reverse step of the categorical sampler at guidance 2 is: the guided call (the batch doubled
into a conditional and an unconditional half, one network forward over both, the two halves
mixed as probabilities) and the jump (softmax, the posterior ``p(z_s | z_t)``, one draw per slot,
projection onto valid graphs). The network's modules are timed by forward hooks (their sums over
the blocks); "rest" inside the blocks is layer norms, modulation and gated residuals; "heads"
is what follows the blocks (output modulation, atom and pair heads, assembling the logits).

    python scripts/profile_molecule_step.py                     # the bundled molecules/qm9
    python scripts/profile_molecule_step.py --bench-size        # hidden 256, depth 4, 8 heads (bench_molecules)
    python scripts/profile_molecule_step.py --precision bf16

Prints a table of milliseconds per part (median over ``--reps`` repetitions).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gensci.core import state  # noqa: E402
from gensci.core.categorical import sample_categorical  # noqa: E402
from gensci.core.guidance import Guidance, GuidedModel, cfg_probability, drop_all  # noqa: E402
from gensci.machine import cpu_name  # noqa: E402
from gensci.model import load  # noqa: E402
from gensci.nn.precision import with_precision  # noqa: E402


def median_ms(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


def bench_size_model():
    """The untrained network of ``bench_molecules.py --parts speed`` (gap-conditioned, hidden 256)."""
    import bench_molecules as bm

    return bm.untrained_gensci(bm.qm9_domain())


def hook_times(net: torch.nn.Module) -> dict[str, list[float]]:
    """Forward hooks that add each part's seconds per call into the returned dict."""
    spent: dict[str, list[float]] = defaultdict(lambda: [0.0])
    parts = {"embed tokens": [net.embed_tokens], "time + condition": [net.time] + ([net.cond] if net.cond is not None else []),
             "edge bias": [net.edge_bias], "blocks": list(net.blocks), "ada (6 modulations)": [b.ada for b in net.blocks],
             "attention": [b.attn for b in net.blocks], "attention qkv": [b.attn.qkv for b in net.blocks],
             "attention proj": [b.attn.proj for b in net.blocks], "mlp": [b.mlp for b in net.blocks], "network": [net]}
    for name, modules in parts.items():
        for m in modules:
            start: list[float] = [0.0]
            m.register_forward_pre_hook(lambda *_, s=start: s.__setitem__(0, time.perf_counter()))
            m.register_forward_hook(lambda *_, s=start, n=name: spent[n].__setitem__(0, spent[n][0] + time.perf_counter() - s[0]))
    return spent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bench-size", action="store_true", help="the benchmark's untrained hidden-256 network")
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--steps", type=int, default=50, help="the chain the step is taken from (its middle step)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = bench_size_model() if args.bench_size else load("molecules/qm9")
    net, proc = model.network.eval(), model.process
    first = next(iter(net.conditions))["name"]
    plan = model.domain.plan(args.batch, {first: 0.25})
    mask, cond, b = plan.mask, plan.cond, args.batch
    g = torch.Generator().manual_seed(0)
    x = proc.prior((b,) + tuple(plan.shape[1:]), generator=g, mask=mask)
    grid = proc.time_grid(args.steps)
    t, s = grid[args.steps // 2].expand(b), grid[args.steps // 2 + 1].expand(b)
    network = with_precision(net, args.precision)
    guided = GuidedModel(network, Guidance(scale=2.0), proc.guidance_space)
    rows: list[tuple[str, float]] = []
    with torch.no_grad():
        x2, t2, m2 = state.cat([x, x]), torch.cat([t, t]), state.cat([mask, mask])
        c2 = state.cat([{k: v.float() for k, v in cond.items()}, drop_all(cond)])
        rows.append(("batch doubling", median_ms(lambda: (state.cat([x, x]), torch.cat([t, t]), state.cat([mask, mask]),
                                                          state.cat([{k: v.float() for k, v in cond.items()}, drop_all(cond)])),
                                                 args.reps)))
        both = network(x2, t2, cond=c2, mask=m2)
        spent = hook_times(net)
        total = median_ms(lambda: network(x2, t2, cond=c2, mask=m2), args.reps)
        calls = args.reps + 1
        per = {k: 1000.0 * v[0] / calls for k, v in spent.items()}
        rows.append(("network forward (2B)", total))
        for k in ("embed tokens", "time + condition", "edge bias", "ada (6 modulations)", "attention qkv"):
            rows.append(("  " + k, per[k]))
        rows.append(("  attention core (+ head layout)", per["attention"] - per["attention qkv"] - per["attention proj"]))
        rows.append(("  attention proj", per["attention proj"]))
        rows.append(("  mlp", per["mlp"]))
        rows.append(("  rest of the blocks (norms, modulation, residuals)",
                     per["blocks"] - per["attention"] - per["mlp"] - per["ada (6 modulations)"]))
        rows.append(("  heads and logits layout", per["network"] - per["blocks"] - per["embed tokens"]
                     - per["time + condition"] - per["edge bias"]))
        rows.append(("guidance mix (probabilities)", median_ms(lambda: cfg_probability(both[:b], both[b:], 2.0), args.reps)))
        logits = cfg_probability(both[:b], both[b:], 2.0)
        from gensci.core.softmax import softmax  # noqa: PLC0415 - absent before the written-out softmax
        rows.append(("softmax", median_ms(lambda: softmax(logits), args.reps)))
        p1 = softmax(logits)
        rows.append(("posterior", median_ms(lambda: proc.posterior_probs(x, p1, t, s), args.reps)))
        probs = proc.posterior_probs(x, p1, t, s)
        rows.append(("draws", median_ms(lambda: sample_categorical(probs, g), args.reps)))
        draw = sample_categorical(probs, g)
        rows.append(("projection", median_ms(lambda: proc.space.project(draw, mask), args.reps)))
        from samplers.base import categorical_jump  # noqa: PLC0415
        step = median_ms(lambda: categorical_jump(proc, x, guided(x, t, cond=cond, mask=mask), t, s, mask, g), args.reps)
    h = net.hidden
    print(f"## One guided step, batch {b}, hidden {h}, depth {len(net.blocks)}, {net.attention_heads} heads, "
          f"{args.precision}, {args.threads} thread(s), {cpu_name()}\n")
    print("| part | ms |\n|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} |")
    print(f"| **whole step (guided call + jump)** | **{step:.1f}** |")


if __name__ == "__main__":
    main()
