"""Store the reference statistics of a model's data in its checkpoint, weights untouched.

    python scripts/bundle_reference_stats.py gensci/checkpoints/proteins/bundled.pt

Reads the data the checkpoint's config names (offline: e.g. MDAnalysisTests' chains for
``proteins/bundled``), asks the domain for :meth:`gensci.domain.Domain.reference_statistics`
(compositions and histograms of each split) and writes them into the checkpoint's statistics
under ``"reference"``, so that ``gensci evaluate`` scores the model's samples against them on a
machine without the data. The weights, config, metrics and stages are written back as they
were (checked tensor by tensor); the file stays loadable with ``weights_only=True``.
``scripts/train_bundled.py`` stores the same statistics when it bundles a model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

import gensci
from gensci.checkpoint import load_checkpoint, save_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    args = parser.parse_args()
    payload = load_checkpoint(args.checkpoint)
    model = gensci.load(args.checkpoint)
    reference = model.domain.reference_statistics()
    if not reference:
        raise SystemExit(f"the {model.domain.name} domain keeps no reference statistics; nothing written")
    stats = {**payload["stats"], "reference": reference}
    save_checkpoint(args.checkpoint, payload["config"], payload["state_dict"], stats, payload["metrics"],
                    stages=payload["stages"] or None)
    again = load_checkpoint(args.checkpoint)
    same = all(torch.equal(again["state_dict"][k], v) for k, v in payload["state_dict"].items())
    if not same or again["config"] != payload["config"] or again["metrics"] != payload["metrics"]:
        raise SystemExit(f"{args.checkpoint}: the rewritten checkpoint differs from the original beyond its statistics")
    splits = ", ".join(f"{split} ({entry['chains']} chains)" for split, entry in reference.items())
    print(f"{args.checkpoint}: reference statistics of {splits} stored", file=sys.stderr)


if __name__ == "__main__":
    main()
