"""How closely image-conditioned samples of a CAD model follow the picture they were drawn from.

For each of ``--parts`` rendered test parts, the picture is the part's render (``--style``,
``--view``; written to a PNG and read back as ``gensci sample --image`` reads a file). From it,
``--samples`` parts are drawn at guidance ``--guidance``; as controls, the same number from the
next part's picture and unconditionally. Each sample is scored by the chamfer
distance of its normalised surface cloud to the query part's (:func:`domains.cad.shape_metrics.chamfer`,
shape only, not size), averaged over the samples that build:

    python scripts/bench_cad_image_conditioning.py [--model cad/parts] [--parts 100] [--samples 4]

GenCAD reports image-conditioned COV / MMD (its Table 3); this is the per-query view of the same
question: is a sample nearer the part in the picture than to other parts?
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from domains.cad.evaluation import part_clouds
from domains.cad.images import split_renders
from domains.cad.shape_metrics import chamfer
from gensci.machine import cpu_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cad/parts", help="a bundled name or a model.pt with the image stage")
    parser.add_argument("--parts", type=int, default=100, help="rendered test parts queried")
    parser.add_argument("--samples", type=int, default=4, help="samples drawn per picture")
    parser.add_argument("--guidance", type=float, default=2.0)
    parser.add_argument("--style", default="shaded", choices=("shaded", "edges"))
    parser.add_argument("--view", default="iso")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import gensci

    model = gensci.load(args.model)
    model.domain.progress = False
    rows, renders = split_renders(model.domain, "test")
    if renders is None:
        raise SystemExit(f"{args.model} has no rendered test parts (no image stage)")
    key = renders.keys.index((args.style, args.view))
    kept = np.flatnonzero(renders.ok)[: args.parts]
    queries, _ = part_clouds(model.domain.split("test").vectors[rows[kept]], 0, False, 20.0)

    def mean_distance(target: np.ndarray, seed: int, guidance: float | None, picture: str | None) -> float:
        options = {"image": picture} if picture is not None else {}
        drawn = model.sample(args.samples, seed=seed, guidance=guidance, progress=False, **options)
        clouds, _ = part_clouds(np.stack([part.vector for part in drawn.parts]), seed, False, 20.0)
        built = [c for c in clouds if c is not None]
        return float(np.mean([chamfer(c, target) for c in built])) if built else float("nan")

    start = time.time()
    own, other, unconditional = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        pictures = []
        for j, i in enumerate(kept):
            path = Path(tmp) / f"query_{j}.png"
            Image.fromarray(renders.images[i, key]).save(path)
            pictures.append(str(path))
        for j, target in enumerate(queries):
            if target is None:
                continue
            own.append(mean_distance(target, j, args.guidance, pictures[j]))
            other.append(mean_distance(target, j, args.guidance, pictures[(j + 1) % len(pictures)]))
            unconditional.append(mean_distance(target, j, None, None))
    own_a, other_a, unc_a = (np.asarray(v) for v in (own, other, unconditional))
    ok = np.isfinite(own_a) & np.isfinite(other_a) & np.isfinite(unc_a)
    own_a, other_a, unc_a = own_a[ok], other_a[ok], unc_a[ok]
    report = {
        "model": args.model, "query": f"{args.style}/{args.view}", "guidance": args.guidance,
        "parts": int(ok.sum()), "samples_per_picture": args.samples,
        "median_cd_x1e3": {"own_picture": 1e3 * float(np.median(own_a)),
                           "another_picture": 1e3 * float(np.median(other_a)),
                           "unconditional": 1e3 * float(np.median(unc_a))},
        "own_nearer_than_another": float(np.mean(own_a < other_a)),
        "own_nearer_than_unconditional": float(np.mean(own_a < unc_a)),
        "seconds": round(time.time() - start, 1),
        "machine": f"{cpu_name()}, {torch.get_num_threads()} thread(s)",
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
