"""Speed of the procedural CAD families: parts per second per family (drawing only) and for
``generate`` (drawing, encoding, deduplicating) over 10,000 parts, on one thread.

    python scripts/bench_cad_families.py [--n 10000]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from domains.cad.families import FAMILIES, generate
from domains.cad.sequence import CADError
from gensci.machine import cpu_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--per-family", type=int, default=300)
    args = parser.parse_args()
    rates, refused = {}, {}
    for name, family in FAMILIES.items():
        rng = np.random.default_rng(0)
        start, bad = time.perf_counter(), 0
        for _ in range(args.per_family):
            try:
                family(rng)
            except CADError:  # a draw the family refuses (generate draws again)
                bad += 1
        rates[name] = round(args.per_family / (time.perf_counter() - start))
        refused[name] = bad
    start = time.perf_counter()
    parts = generate(args.n, seed=0, progress=False)
    seconds = time.perf_counter() - start
    print(json.dumps({"machine": cpu_name(), "draws_per_second": rates, "draws_refused": refused, "n": len(parts),
                      "generate_seconds": round(seconds, 1), "generate_per_second": round(len(parts) / seconds)}, indent=1))


if __name__ == "__main__":
    main()
