"""Classifier-free guidance in a limited interval of time, on the bundled models: work against metrics.

    python scripts/bench_guidance_interval.py --out docs/bench_guidance_interval.json     # about 25 minutes
    python scripts/bench_guidance_interval.py --seed 1 --no-timing --out docs/bench_guidance_interval_seed1.json
    python scripts/bench_guidance_interval.py --quick --out /tmp/gi.json                  # a minute: checks that it runs

Kynkäänniemi et al. 2024 ("Applying Guidance in a Limited Interval Improves Sample and
Distribution Quality in Diffusion Models", arXiv 2404.07724) guide only in a middle range of
noise levels: near the noise guidance collapses the samples toward a few modes, near the data
it does little. A step outside the interval is the conditional network alone, one pass
instead of two, so guiding a fraction ``f`` of the steps costs ``(1 + f) / 2`` of full
guidance (:class:`gensci.core.guidance.Guidance`, ``interval``; engine time, 0 the noise, 1 the
data).

Every setting (:data:`SETTINGS`) samples the same plan with the same seed in one process on
one thread, in the model's default precision (``auto``), and is scored by the domain's own
metrics:

* ``molecules``: ``molecules/qm9`` on ``gap = 0.205`` Ha at 50 steps (the speed benchmark's
  setting), scale 2 -- strict validity, uniqueness, FCD to the test split, gap MAE from the
  domain's oracle;
* ``molecules_mu``, ``molecules_aromatic``: the same on ``mu = 4.176`` D and ``aromatic = yes``
  (two more of its recorded requests) -- the property's MAE or accuracy in place of the gap's;
* ``atoms_cv``, ``atoms_alpha``: ``atoms/qm9`` on ``cv = 35.8`` cal/(mol K) and ``alpha =
  83.54`` bohr³ (two of its recorded requests), 100 molecules -- stability, validity and the
  property's MAE by the domain's predictor, with its shuffled-target ceiling;
* ``proteins``: ``proteins/bundled`` on ``helix = 0.6358`` at scale 2, chains of 50..128
  residues -- clash-free fraction, Ramachandran KL, the DSSP helix fraction and its error
  per chain against the request.

``rows`` is the number of samples the network was run on, summed over its calls (a guided
call of ``B`` samples runs ``2B``), per sample drawn: the work, independent of the machine.
Speed comes from ``--rounds`` further draws of one batch (200 molecules, 16 chains) per
setting and precision (fp32, and ``auto`` where it picks bf16), the settings interleaved round
by round, as the median wall seconds of the ``sample()`` call. The record is rewritten after every setting.
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
from gensci.core.guidance import Guidance
from gensci.io import atomic_write
from gensci.machine import cpu_name
from gensci.nn.timed import TimedNetwork

#: name -> (scale, interval or None)
SETTINGS: dict[str, tuple[float, tuple[float, float] | None]] = {
    "conditional": (1.0, None),
    "full": (2.0, None),
    "early_0_0.5": (2.0, (0.0, 0.5)),
    "early_0_0.3": (2.0, (0.0, 0.3)),
    "early_0_0.2": (2.0, (0.0, 0.2)),
    "middle_0.25_0.75": (2.0, (0.25, 0.75)),
    "late_0.5_1": (2.0, (0.5, 1.0)),
    "late_0.7_1": (2.0, (0.7, 1.0)),
    "late_0.8_1": (2.0, (0.8, 1.0)),
    "late_0.9_1": (2.0, (0.9, 1.0)),
    "middle_0.3_0.7": (2.0, (0.3, 0.7)),
    "scale3_middle_0.3_0.7": (3.0, (0.3, 0.7)),
    "scale3_late_0.5_1": (3.0, (0.5, 1.0)),
    "scale3_late_0.7_1": (3.0, (0.7, 1.0)),
    "scale3_late_0.8_1": (3.0, (0.8, 1.0)),
    "scale3_early_0_0.3": (3.0, (0.0, 0.3)),
}

#: part -> (model, n, sampling options, metrics kept, rates with a binomial band, timing batch)
PARTS = {
    "molecules": ("molecules/qm9", 500, {"conditions": {"gap": 0.205}, "steps": 50},
                  ("validity_nc", "uniqueness", "fcd", "mae_gap"), ("validity_nc", "uniqueness"), 200),
    "molecules_mu": ("molecules/qm9", 500, {"conditions": {"mu": 4.176}, "steps": 50},
                     ("validity_nc", "uniqueness", "fcd", "mae_mu"), ("validity_nc", "uniqueness"), 200),
    "molecules_aromatic": ("molecules/qm9", 500, {"conditions": {"aromatic": "yes"}, "steps": 50},
                           ("validity_nc", "uniqueness", "fcd", "accuracy_aromatic"),
                           ("validity_nc", "uniqueness", "accuracy_aromatic"), 200),
    "proteins": ("proteins/bundled", 100, {"length": "50..128", "conditions": {"helix": 0.6358}},
                 ("clash_free_fraction", "kl_ramachandran", "kl_angles_mean", "ss_dssp_helix", "condition_helix_mae"),
                 ("clash_free_fraction",), 16),
    "atoms_cv": ("atoms/qm9", 100, {"conditions": {"cv": 35.8}},
                 ("atom_stability", "molecule_stability", "validity", "cv_mae", "cv_mae_ceiling"),
                 ("molecule_stability", "validity"), 32),
    "atoms_alpha": ("atoms/qm9", 100, {"conditions": {"alpha": 83.54}},
                    ("atom_stability", "molecule_stability", "validity", "alpha_mae", "alpha_mae_ceiling"),
                    ("molecule_stability", "validity"), 32),
}


def guidance(setting: str) -> Guidance:
    """The :class:`Guidance` a setting names."""
    scale, interval = SETTINGS[setting]
    return Guidance(scale=scale, interval=interval)


def run(model: gensci.model.GenerativeModel, n: int, options: dict, setting: str, seed: int, precision: str,
        split: str | None) -> dict:
    """One draw of ``n`` under ``setting``: wall seconds, the network's seconds, calls and rows
    per sample, and (with a ``split``) the domain's metrics."""
    held: dict = {}

    def wrap(network, plan, process):
        held["timed"] = TimedNetwork(network)
        return held["timed"]

    start = time.perf_counter()
    samples = model.sample(n, seed=seed, progress=False, network_wrapper=wrap, guidance=guidance(setting),
                           precision=precision, **options)
    seconds = time.perf_counter() - start
    metrics = model.evaluate(samples, split=split) if split else {}
    timed = held["timed"]
    return {"metrics": metrics, "seconds": round(seconds, 2), "network_seconds": round(timed.seconds, 2),
            "calls": timed.calls, "rows_per_sample": round(timed.rows / n, 3),
            "precision": model.last_precision.precision if model.last_precision else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", default=["molecules"], choices=list(PARTS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--settings", default=None, help="comma-separated settings (default: all); 'full' always runs")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (median reported)")
    parser.add_argument("--no-timing", action="store_true", help="metrics only")
    parser.add_argument("--quick", action="store_true", help="8 samples, 3 settings, one round")
    parser.add_argument("--append", action="store_true",
                        help="update the --out record: the parts run get fresh metrics, timings on record are kept "
                             "unless timed again")
    parser.add_argument("--out", default="docs/bench_guidance_interval.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = list(SETTINGS) if not args.settings else ["full", *[s for s in args.settings.split(",") if s != "full"]]
    unknown = [s for s in names if s not in SETTINGS]
    if unknown:
        parser.error(f"unknown settings {unknown}; choose from {', '.join(SETTINGS)}")
    if args.quick:
        names, args.rounds = ["full", "conditional", "late_0.5_1"], 1
    record = {"machine": {"cpu": cpu_name(), "torch_threads": 1, "torch": torch.__version__},
              "settings": {"seed": args.seed, "guidance": {k: {"scale": v[0], "interval": v[1]} for k, v in SETTINGS.items()}},
              "parts": {}}
    if args.append:
        record["parts"] = json.loads(Path(args.out).read_text())["parts"]
    for part in args.parts:
        name, n, options, kept, rates, timing_n = PARTS[part]
        if args.quick:
            n = timing_n = 8
        model = gensci.load(name)
        split = "train" if name.startswith("proteins") else "test"
        rows: dict = dict(record["parts"].get(part, {}).get("rows", {}))
        for setting in names:
            row = run(model, n, options, setting, args.seed, "auto", split)
            m = row.pop("metrics")
            row["metrics"] = {k: m.get(k) for k in kept if k in m}
            row["band"] = {k: round(math.sqrt(max(m[k] * (1 - m[k]), 0.0) / n), 4) for k in rates if k in m}
            rows[setting] = {**rows.get(setting, {}), **row}
            print(f"{part} {setting}: {json.dumps(row)}", file=sys.stderr, flush=True)
            record["parts"][part] = {"model": name, "n": n, "options": options, "split": split, "rows": rows}
            with atomic_write(Path(args.out)) as handle:
                json.dump(record, handle, indent=1)
        if args.no_timing:
            continue
        auto = model.resolve_precision("auto").precision
        for precision in ("fp32",) if auto == "fp32" else ("fp32", "auto"):  # auto timed when it is not fp32
            timings: dict[str, list[float]] = {s: [] for s in names}
            for _ in range(args.rounds):  # the settings interleaved, round after round
                for setting in names:
                    timings[setting].append(run(model, timing_n, options, setting, args.seed, precision, None)["seconds"])
            base = statistics.median(timings["full"])
            for setting in names:
                wall = statistics.median(timings[setting])
                rows[setting].setdefault("timing", {})[precision] = {
                    "n": timing_n, "seconds": timings[setting], "median_seconds": round(wall, 3),
                    "speedup_over_full": round(base / wall, 3)}
                print(f"{part} {setting} {precision}: {wall:.2f} s, {base / wall:.3f}x full guidance", file=sys.stderr)
        with atomic_write(Path(args.out)) as handle:
            json.dump(record, handle, indent=1)


if __name__ == "__main__":
    main()
