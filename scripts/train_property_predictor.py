"""Train the bundled QM9 property predictor φ (EDM's conditional-generation protocol) and
record its floor and ceiling.

    python scripts/train_property_predictor.py --steps 30000 --minutes 22

φ (:mod:`domains.atoms.property_predictor`) is trained on half ``a`` of the QM9 train split
for α, gap, μ and Cv, then scored on real molecules:

* floor — φ's MAE on the test split (and on a seeded subset of the other half ``b``, where
  EDM reports its "QM9 (lower bound)");
* ceiling — φ's MAE against the test labels shuffled by a seeded permutation (EDM's "Naive
  (upper bound)"), and its expectation over requests drawn from the data,
  ``mean_{i,j} |φ(x_j) - y_i|``, which is what the evaluation reports per request;
* the train-half mean as a predictor, for scale, and φ's two-body expansion alone (what
  the network adds to it; for the properties without one, the train-half mean).

Writes ``domains/atoms/assets/qm9_properties.pt`` (weights, normaliser, config, metrics
and φ on the test molecules) and ``qm9_properties.json`` (metrics, command, machine, time);
gap is given in Ha (the data's unit) and in meV (EDM's; 1 Ha = 27211.386 meV).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from domains.atoms import AtomsDomain
from domains.atoms.property_predictor import PREDICTOR_PATH, PropertyPredictor, halves, train_predictor
from gensci.io import atomic_write
from gensci.machine import cpu_name

PROPERTIES = ["alpha", "gap", "mu", "cv"]
HARTREE_MEV = 27211.386
#: EDM (Hoogeboom et al. 2022) Table 3, in EDM's units (gap in meV)
EDM = {"floor": {"alpha": 0.10, "gap": 64.0, "mu": 0.043, "cv": 0.040},
       "ceiling": {"alpha": 9.01, "gap": 1470.0, "mu": 1.616, "cv": 6.857},
       "edm": {"alpha": 2.76, "gap": 655.0, "mu": 1.11, "cv": 1.101}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4000, help="most training steps")
    parser.add_argument("--minutes", type=float, default=None,
                        help="training time budget: the cosine schedule runs on wall time and stops there")
    parser.add_argument("--other-half-rows", type=int, default=10_000,
                        help="rows of the other train half scored for EDM's lower bound (seeded subset)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2, help="hidden layers of the per-atom MLP")
    parser.add_argument("--radial", type=int, default=16, help="radial Gaussians of the atom descriptors")
    parser.add_argument("--angular", type=int, default=6, help="radial channels of their three-body invariants")
    parser.add_argument("--r-cut", type=float, default=5.0, help="cutoff of the atom descriptors (Å)")
    parser.add_argument("--two-body", nargs="*", default=["alpha", "cv"],
                        help="properties that start from the ridge-fitted two-body expansion")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--half", default="a", choices=["a", "b", "all"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="read only the first QM9 rows (a quick trial)")
    parser.add_argument("--out", type=Path, default=PREDICTOR_PATH)
    parser.add_argument("--log-every", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    domain = AtomsDomain(conditions=PROPERTIES, limit=args.limit, progress=False)
    data = domain.data

    start = time.time()
    predictor = train_predictor(domain, PROPERTIES, half=args.half, steps=args.steps, batch_size=args.batch_size,
                                lr=args.lr, seed=args.seed, hidden=args.hidden, layers=args.layers,
                                radial=args.radial, angular=args.angular, r_cut=args.r_cut, two_body=args.two_body,
                                time_budget=None if args.minutes is None else 60 * args.minutes,
                                log_every=args.log_every)
    train_seconds = time.time() - start

    start = time.time()
    test = domain.rows("test")
    molecules = [data.molecule(r) for r in test]
    pred = predictor.predict(molecules)
    other = halves(domain.rows("train"), predictor.config["half_seed"])["b" if args.half == "a" else "a"]
    if len(other) > args.other_half_rows:
        other = sorted(np.random.default_rng(args.seed).choice(other, args.other_half_rows, replace=False).tolist())
    pred_other = predictor.predict([data.molecule(r) for r in other]) if args.half != "all" else None
    pred_two_body = predictor.predict(molecules, network=False)
    perm = np.random.default_rng(args.seed).permutation(len(test))
    train_rows = torch.tensor(domain.rows("train") if args.half == "all"
                              else halves(domain.rows("train"), predictor.config["half_seed"])[args.half])
    metrics: dict[str, dict[str, float]] = {}
    for p in PROPERTIES:
        y = data.properties[p][torch.tensor(test)].numpy()
        m = {"floor": float(np.abs(pred[p] - y).mean()),
             "ceiling": float(np.abs(pred[p] - y[perm]).mean()),
             "mean_predictor": float(np.abs(float(data.properties[p][train_rows].mean()) - y).mean()),
             "two_body_only": float(np.abs(pred_two_body[p] - y).mean())}
        if pred_other is not None:
            y_other = data.properties[p][torch.tensor(other)].numpy()
            m["floor_other_half"] = float(np.abs(pred_other[p] - y_other).mean())
        metrics[p] = m
    predictor.metrics = metrics
    predictor.reference = torch.tensor(np.stack([pred[p] for p in PROPERTIES], 1), dtype=torch.float32)
    for p in PROPERTIES:
        metrics[p]["ceiling_expected"] = predictor.ceiling(p, data.properties[p][torch.tensor(test)].numpy())
    evaluate_seconds = time.time() - start
    path = predictor.save(args.out)

    units = {p: data.units.get(p, "") for p in PROPERTIES}
    edm_units = {**units, "gap": "meV"}
    in_edm_units = {p: {k: v * (HARTREE_MEV if p == "gap" else 1.0) for k, v in metrics[p].items()} for p in PROPERTIES}
    command = ["python", "scripts/train_property_predictor.py"] + sys.argv[1:]
    record = {
        "command": " ".join(command),
        "properties": PROPERTIES,
        "train_rows": len(train_rows), "test_rows": len(test), "other_half_rows": len(other), "half": args.half,
        "config": predictor.config,
        "parameters": sum(t.numel() for t in predictor.net.parameters()),
        "train_seconds": round(train_seconds, 1), "evaluate_seconds": round(evaluate_seconds, 1),
        "machine": f"{cpu_name()}, {torch.get_num_threads()} thread(s), torch {torch.__version__}",
        "date": time.strftime("%Y-%m-%d"),
        "file_bytes": path.stat().st_size,
        "units": units,
        "metrics": metrics,
        "edm_units": edm_units,
        "metrics_edm_units": in_edm_units,
        "edm_reference": EDM,
    }
    with atomic_write(path.with_suffix(".json")) as handle:
        json.dump(record, handle, indent=2)
    print(json.dumps({"train_seconds": record["train_seconds"], "metrics_edm_units": in_edm_units}, indent=2))
    print(f"property predictor written to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
