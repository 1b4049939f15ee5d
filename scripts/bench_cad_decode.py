"""Speed of constrained decoding in ``cad/parts``: the simple-profile search against none, and
its trial counting (:class:`domains.cad.loop_repair._Trials`) against counting every trial
from scratch, side by side in one run on one thread.

    python scripts/bench_cad_decode.py [--n 200] [--seed 7]

Draws ``--n`` latents from the bundled prior (unconditional, the model's sampler; the
decoder's inputs are kept as they reach it), then times on the same latents:

* ``decode`` without the search (``simple_loops=False``) and with it (the default);
* the search alone over the same decoded vectors and scores, counting trials incrementally
  (the default) and from scratch (``from_scratch=True``), and checks that both return the
  same vectors.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

import domains.cad.autoencoder as autoencoder_module
import gensci
from domains.cad.loop_repair import repair_profiles
from gensci.machine import cpu_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = gensci.load("cad/parts")
    ae = model.domain.module("autoencoder")
    latents, searched = [], []
    decode, search = ae.decode, autoencoder_module.repair_profiles

    def keep_latents(z, *a, **k):
        latents.append(z.clone())
        return decode(z, *a, **k)

    def keep_inputs(vec, scores, *a, **k):
        searched.append((vec.copy(), scores.copy()))
        return search(vec, scores, *a, **k)

    ae.decode, autoencoder_module.repair_profiles = keep_latents, keep_inputs
    try:
        model.sample(args.n, seed=args.seed, progress=False, redraws=0)
    finally:
        ae.decode, autoencoder_module.repair_profiles = decode, search
    z = latents[0]
    timings = {}
    for name, options in (("decode_plain_s", {"simple_loops": False}), ("decode_simple_loops_s", {})):
        start = time.perf_counter()
        ae.decode(z, **options)
        timings[name] = round(time.perf_counter() - start, 2)
    outputs = {}
    for name, scratch in (("search_incremental_s", False), ("search_from_scratch_s", True)):
        start = time.perf_counter()
        outputs[name] = [repair_profiles(v, s, from_scratch=scratch) for v, s in searched]
        timings[name] = round(time.perf_counter() - start, 2)
    same = all(np.array_equal(a, b) for a, b in zip(outputs["search_incremental_s"], outputs["search_from_scratch_s"]))
    changed = sum(not np.array_equal(v, out) for (v, _), out in zip(searched, outputs["search_incremental_s"]))
    print(json.dumps({"machine": f"{cpu_name()}, 1 thread, torch {torch.__version__}", "latents": len(z),
                      "searched_parts": len(searched), "changed_by_search": changed, "same_vectors": same, **timings,
                      "search_speedup": round(timings["search_from_scratch_s"] / timings["search_incremental_s"], 2)},
                     indent=1))


if __name__ == "__main__":
    main()
