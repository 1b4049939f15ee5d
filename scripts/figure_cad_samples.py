"""A figure of generated CAD parts beside held-out parts: isometric renders in a labelled grid.

    python scripts/figure_cad_samples.py cad/parts -n 12 -o docs/img/cad_samples.png
    python scripts/figure_cad_samples.py runs/.../model.pt --condition family=flange --guidance 2 -o flanges.png

The top rows are samples (labelled by their family, as the k-NN classifier of the evaluation
reads it when the model knows families, and their box in mm); the bottom rows are test parts
drawn with a fixed seed. Parts that fail to build are shown blank and labelled with the cause.
"""

from __future__ import annotations

import argparse

import numpy as np

import gensci
from domains.cad.render import render_grid, render_mesh
from domains.cad.vector import decode
from domains.cad.worker import build_many
from gensci.domain import parse_condition_values

SIZE = 160


def renders(seqs: list, labels: list[str]) -> tuple[list[np.ndarray], list[str]]:
    images, out = [], []
    results = build_many([s for s in seqs if s is not None], mesh=True, progress=False)
    it = iter(results)
    for seq, label in zip(seqs, labels):
        r = next(it) if seq is not None else None
        if r is not None and r.ok and r.vertices is not None:
            images.append(render_mesh(r.vertices, r.faces, "iso", SIZE))
            lo, hi = np.asarray(r.bbox[0]), np.asarray(r.bbox[1])
            out.append(f"{label}\n{' x '.join(f'{v:.3g}' for v in hi - lo)} mm")
        else:
            images.append(np.full((SIZE, SIZE), 255, dtype=np.uint8))
            out.append(f"{label}\n({'no part' if r is None else (r.cause or 'failed')[:24]})")
    return images, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("-n", type=int, default=12, help="samples (and as many test parts)")
    parser.add_argument("--condition", action="append", default=[])
    parser.add_argument("--guidance", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", default="cad_samples.png")
    args = parser.parse_args()
    model = gensci.load(args.model)
    model.domain.progress = False
    samples = model.sample(args.n, conditions=parse_condition_values(args.condition) or None, guidance=args.guidance,
                           seed=args.seed, progress=False)
    test = model.domain.split("test")
    rows = np.sort(np.random.default_rng(args.seed).permutation(len(test))[:args.n])
    scale = [float(s) / (127 / 128) for s in test.size[rows]]
    test_seqs = [decode(v).transformed(k, np.zeros(3)) for v, k in zip(test.vectors[rows], scale)]
    test_labels = [str(f) if test.family is not None else "test" for f in (test.family[rows] if test.family is not None
                                                                          else [None] * len(rows))]
    a, la = renders([p.sequence for p in samples.parts], ["sample"] * len(samples.parts))
    b, lb = renders(test_seqs, [f"test: {x}" for x in test_labels])
    ncols = min(6, args.n)
    render_grid(a + b, la + lb, args.output, ncols=ncols,
                title=f"{args.model}: {args.n} samples (top) and {args.n} test parts (bottom)")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
