"""``gensci evaluate``: the metrics of a model's samples as a table and JSON, with progress
and a list of what was left out.

    gensci evaluate proteins/bundled --samples out/ -o metrics.json
    gensci evaluate proteins/bundled --samples out/ --reference chains/

The samples are drawn (``-n``) or read back from a file or folder (``--samples``). Stage
lines and bars go to stderr (:mod:`gensci.progress`; ``-q`` silences them). Files that could
not be read and metrics that could not be computed (e.g. those that need a reference set the
machine does not have) are collected (:mod:`gensci.skipped`), printed after the table, each
with its one-line reason, and written to the JSON under ``"skipped"``. ``--reference PATH``
compares with the objects in ``PATH`` instead of the data the model's config names
(:meth:`gensci.domain.Domain.use_reference`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gensci.errors import GensciError

__all__ = ["add_evaluate_arguments", "run_evaluate"]


def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``gensci evaluate`` beyond the sampling ones."""
    p.add_argument("model", help="bundled model name or checkpoint path")
    p.add_argument("-n", "--num", type=int, default=2000, help="samples to draw when --samples is not given")
    p.add_argument("--samples", default=None, help="evaluate this sample file (or folder) instead of drawing new samples")
    p.add_argument("--reference", default=None, metavar="PATH",
                   help="compare with the objects in this file or folder (all of it) instead of the model's data; "
                        "without it, metrics that need data the machine lacks are skipped, each named")
    p.add_argument("--split", default="test", help="held-out split to compare with (default test)")
    p.add_argument("-o", "--output", default="metrics.json", help="JSON file for the metrics (default metrics.json)")


def run_evaluate(args: argparse.Namespace, sample_kwargs: dict[str, Any],
                 format_table: Callable[[dict[str, float]], str]) -> int:
    """Run ``gensci evaluate`` for parsed ``args``; ``sample_kwargs`` draw samples when no
    ``--samples`` is given; ``format_table`` renders the metrics."""
    import gensci
    from gensci.io import atomic_write
    from gensci.progress import showing_progress, stage
    from gensci.skipped import collecting_skips, summary_lines

    for option in ("samples", "reference"):
        given = getattr(args, option)
        if given and not Path(given).exists():
            raise GensciError(f"--{option} {given!r}: no such file or folder")
    with showing_progress(not args.quiet), collecting_skips() as skipped:
        model = gensci.load(args.model)
        if args.reference:
            model.domain.use_reference(args.reference)
        if args.samples:
            stage(f"reading samples from {args.samples}")
            samples = model.domain.read(args.samples)
        else:
            stage(f"drawing {args.num} samples")
            samples = model.sample(args.num, **sample_kwargs)
            stage(model.last_precision.line())
        stage(f"evaluating {_count(samples)}samples ({model.domain.name} domain, split {args.split})")
        metrics = model.evaluate(samples, split=args.split)
        figures = model.domain.figures(samples, Path(args.output).with_suffix(""), split=args.split)
    print(format_table(metrics))
    for line in summary_lines(skipped):
        print(line)
    with atomic_write(args.output) as handle:
        precision = model.last_precision.as_dict() if model.last_precision is not None else None  # None: read back
        json.dump({"model": str(args.model), "split": args.split, "reference": args.reference, "precision": precision,
                   "metrics": metrics,
                   "skipped": [s.as_dict() for s in skipped]}, handle, indent=2)
    print(f"metrics written to {args.output}")
    for figure in figures:
        print(f"figure written to {figure}")
    return 0


def _count(samples: Any) -> str:
    try:
        return f"{len(samples)} "
    except TypeError:
        return ""
