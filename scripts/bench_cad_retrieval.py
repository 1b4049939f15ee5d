"""The CAD image side at a small size, on one thread: render speed, then GenCAD's image-to-CAD
retrieval (top-1 among B, :mod:`domains.cad.retrieval`) of a small image encoder trained on the
renders of ``--parts`` procedural parts against an autoencoder trained for ``--ae-steps``.

    python scripts/bench_cad_retrieval.py [--parts 600] [--ae-steps 150] [--image-steps 300]

Renders go to a fresh cache folder (so their speed is measured), the run to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from domains.cad.data import procedural_parts
from domains.cad.renders import render_vectors
from domains.cad.retrieval import evaluate_retrieval
from gensci.config import compose
from gensci.machine import cpu_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=600)
    parser.add_argument("--ae-steps", type=int, default=150)
    parser.add_argument("--image-steps", type=int, default=300)
    parser.add_argument("--width", type=int, default=8, help="the image encoder's first-stage width")
    parser.add_argument("--size", type=int, default=64, help="render side, pixels")
    args = parser.parse_args()
    torch.set_num_threads(1)
    import gensci
    from gensci.training.train import train

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        parts = procedural_parts(args.parts, seed=0, cache_dir=cache, progress=False)
        n = min(100, len(parts))
        start = time.perf_counter()
        render_vectors(parts.vectors[:n], size=args.size, cache_dir=Path(tmp) / "speed", progress=False)
        per_part = (time.perf_counter() - start) / n
        cfg = compose("cad/tiny", [f"domain.n_parts={args.parts}", f"domain.cache_dir={cache}", "domain.progress=false",
                                   f"domain.image_size={args.size}", "domain.image_parts={train: 100000, val: 100000, test: 100000}",
                                   f"stages.autoencoder.trainer.max_steps={args.ae_steps}",
                                   f"stages.image_encoder.trainer.max_steps={args.image_steps}",
                                   f"stages.image_encoder.model.width={args.width}", "trainer.max_steps=10",
                                   "trainer.enable_progress_bar=false", f"run_dir={Path(tmp) / 'run'}", "threads=1"])
        start = time.perf_counter()
        model = gensci.load(train(cfg))
        seconds = time.perf_counter() - start
        model.domain.progress = False
        out = {"machine": cpu_name(), "parts": len(parts), "render_size": args.size,
               "render_seconds_per_part": round(per_part, 4), "train_seconds_all_stages": round(seconds, 1)}
        for split in ("val", "test"):
            for style in ("shaded", "edges"):
                for view in (None, "iso"):
                    r = evaluate_retrieval(model.domain, split, style=style, view=view, batch_sizes=(10, 1024), draws=20)
                    name = f"{split}/{style}/{view or 'any view'}"
                    out[name] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}
        print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
