"""DiTFastAttn's three ideas on the bundled models: speed against metrics, each alone and together.

    python scripts/bench_fast_attention.py --out docs/bench_fast_attention.json     # about 20 minutes
    python scripts/bench_fast_attention.py --quick --out /tmp/fa.json                # a minute: checks that it runs

Every setting (:data:`SETTINGS`: a :class:`gensci.nn.fast_attention.FastAttention`) samples the
same plan with the same seed as the plain network, in one process on one thread, in the
model's default precision (``auto``), and is scored by the domain's own metrics:

* ``molecules``: ``molecules/qm9`` guided on the gap (``gap=0.205``, scale 2, the speed
  benchmark's setting) -- strict validity, uniqueness, FCD to the test split, gap MAE;
* ``proteins``: ``proteins/bundled`` unconditional chains of 50..128 residues (the record's
  lengths) -- clash-free fraction, Ramachandran and angle KLs;
* ``proteins_guided``: the same guided on ``helix=0.6358`` at scale 2 (CFG sharing has a
  guided batch to share).

Metrics come from one draw of ``n`` per setting. Speed comes from ``--rounds`` further draws of
one batch (200 molecules, 16 chains), the settings interleaved round by round so that a change
in the machine's load touches them all, as the median wall seconds of the ``sample()`` call and
of the network alone (timed around it with :class:`gensci.nn.timed.TimedNetwork`; for proteins
that includes the domain's clash guidance, which calls the network). The noise band of a rate ``p`` over ``n`` samples
is its binomial standard error ``sqrt(p (1 - p) / n)``. The record is rewritten after every
setting.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

import gensci
from gensci.io import atomic_write
from gensci.machine import cpu_name
from gensci.nn.fast_attention import FastAttention
from gensci.nn.timed import TimedNetwork

#: name -> options; "plain" is the network untouched
SETTINGS = {
    "plain": None,
    "cfg_share": FastAttention(cfg_share=True),
    "reuse_2": FastAttention(every=2, between="reuse"),
    "reuse_3": FastAttention(every=3, between="reuse"),
    "window_8_every_2": FastAttention(every=2, between="window", window=8),
    "window_8_every_4": FastAttention(every=4, between="window", window=8),
    "cfg_share+reuse_2": FastAttention(every=2, between="reuse", cfg_share=True),
    "plain_40_steps": None,
    "plain_90_steps": None,
}

#: settings that change the step count instead (the plain network at about the cost of reuse_2):
#: the trivial way to the same speed, which attention reuse has to beat
STEPS = {"plain_40_steps": 40, "plain_90_steps": 90}

#: part -> (model, n, sampling options, metrics kept, settings that apply)
PARTS = {
    "molecules": ("molecules/qm9", 500, {"conditions": {"gap": 0.205}, "guidance": 2.0},
                  ("validity_nc", "uniqueness", "fcd", "mae_gap"),
                  ("plain", "cfg_share", "reuse_2", "reuse_3", "cfg_share+reuse_2", "plain_40_steps")),
    "proteins": ("proteins/bundled", 100, {"length": "50..128"},
                 ("clash_free_fraction", "kl_ramachandran", "kl_angles_mean", "kl_psi_phi_next"),
                 ("plain", "reuse_2", "reuse_3", "window_8_every_2", "window_8_every_4", "plain_90_steps")),
    "proteins_guided": ("proteins/bundled", 100, {"length": "50..128", "conditions": {"helix": 0.6358}, "guidance": 2.0},
                        ("clash_free_fraction", "kl_ramachandran", "kl_angles_mean", "ss_dssp_helix"),
                        ("plain", "cfg_share", "reuse_2", "cfg_share+reuse_2")),
}

RATES = ("validity_nc", "uniqueness", "clash_free_fraction")

#: samples per timing draw (one batch each)
TIMING_N = {"molecules": 200, "proteins": 16, "proteins_guided": 16}


def run(model: gensci.model.GenerativeModel, n: int, options: dict, setting: FastAttention | None, seed: int,
        split: str | None) -> dict:
    """One draw of ``n`` through ``setting``: its seconds, the network's, call counts and (with
    a ``split``) the domain's metrics."""
    held: dict = {}

    def wrap(network, plan, process):
        inner = setting(network, plan, process) if setting is not None else network
        held["fast"] = inner if setting is not None else None
        held["timed"] = TimedNetwork(inner)
        return held["timed"]

    start = time.perf_counter()
    samples = model.sample(n, seed=seed, progress=False, network_wrapper=wrap, **options)
    seconds = time.perf_counter() - start
    metrics = model.evaluate(samples, split=split) if split else {}
    fast = held.get("fast")
    return {"metrics": metrics, "seconds": round(seconds, 2), "network_seconds": round(held["timed"].seconds, 2),
            "calls": held["timed"].calls, "full_calls": fast.full_calls if fast else None,
            "shared_calls": fast.shared_calls if fast else None,
            "precision": model.last_precision.precision if model.last_precision else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=list(PARTS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (median reported)")
    parser.add_argument("--quick", action="store_true", help="8 samples, 2 settings per part")
    parser.add_argument("--settings", default=None, help="comma-separated settings to run (default: each part's all); "
                        "with --append, added to the record's rows (plain is rerun for the timing baseline)")
    parser.add_argument("--append", action="store_true", help="add to an existing --out record")
    parser.add_argument("--out", default="docs/bench_fast_attention.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    parts = args.parts
    record = {"machine": {"cpu": cpu_name(), "torch_threads": 1, "torch": torch.__version__},
              "settings": {"seed": args.seed, "options": {k: (v.__dict__ if v else None) for k, v in SETTINGS.items()},
                           "steps": STEPS},
              "parts": {}}
    if args.append:
        previous = json.loads(Path(args.out).read_text())
        previous["settings"] = record["settings"]
        record = previous
    for part in parts:
        name, n, options, kept, names = PARTS[part]
        if args.settings:
            names = ("plain", *[x for x in args.settings.split(",") if x in names and x != "plain"])
        if args.quick:
            n, names = 8, names[:2]
        timing_n = min(n, 8 if args.quick else TIMING_N[part])
        model = gensci.load(name)
        split = "train" if name.startswith("proteins") else "test"
        rows = dict(record["parts"].get(part, {}).get("rows", {})) if args.append else {}
        previous_plain = rows.get("plain", {}).get("timing")
        for setting in names:  # metrics: one draw of n per setting, the same seed
            if args.append and setting == "plain" and "plain" in rows:
                continue  # its metrics are on record; it is timed again below
            row = run(model, n, {**options, **({"steps": STEPS[setting]} if setting in STEPS else {})}, SETTINGS[setting],
                  args.seed, split)
            m = row.pop("metrics")
            row["metrics"] = {k: m.get(k) for k in kept}
            row["band"] = {k: round(math.sqrt(max(m[k] * (1 - m[k]), 0.0) / n), 4) for k in RATES if k in m}
            rows[setting] = row
            print(f"{part} {setting}: {json.dumps(row)}", file=sys.stderr, flush=True)
        timings: dict[str, list[tuple[float, float]]] = {s: [] for s in names}
        for _ in range(args.rounds):  # speed: the settings interleaved, round after round
            for setting in names:
                row = run(model, timing_n, {**options, **({"steps": STEPS[setting]} if setting in STEPS else {})},
                          SETTINGS[setting], args.seed, None)
                timings[setting].append((row["seconds"], row["network_seconds"]))
        for setting in names:
            wall = statistics.median(t[0] for t in timings[setting])
            net = statistics.median(t[1] for t in timings[setting])
            base_wall = statistics.median(t[0] for t in timings["plain"])
            base_net = statistics.median(t[1] for t in timings["plain"])
            rows[setting]["timing"] = {"n": timing_n, "rounds": args.rounds, "seconds": [t[0] for t in timings[setting]],
                                       "network_seconds": [t[1] for t in timings[setting]],
                                       "median_seconds": round(wall, 3), "median_network_seconds": round(net, 3),
                                       "speedup": round(base_wall / wall, 3), "network_speedup": round(base_net / net, 3)}
            print(f"{part} {setting}: speed-up {base_wall / wall:.3f} (network {base_net / net:.3f})", file=sys.stderr)
            if args.append and setting == "plain" and "timing" in rows["plain"]:
                rows[setting]["timing"] = previous_plain  # the rows on record were timed against this one
                rows[setting]["timing_again"] = {"seconds": [t[0] for t in timings["plain"]],
                                                 "network_seconds": [t[1] for t in timings["plain"]]}
        record["parts"][part] = {"model": name, "n": n, "options": options, "split": split, "rows": rows}
        with atomic_write(Path(args.out)) as handle:
            json.dump(record, handle, indent=1)


if __name__ == "__main__":
    main()
