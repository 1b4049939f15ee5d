"""Train a bundled model from its committed experiment config and record what it reached.

    python scripts/train_bundled.py points/moons
    python scripts/train_bundled.py points/labelled_moons
    python scripts/train_bundled.py proteins/bundled --samples 200 --conditional-samples 50 \
        --scales 1,2 --split train --sample length=50..128 --compare euler:50

Writes ``gensci/checkpoints/<experiment>.pt`` (EMA weights, resolved config, statistics
with the domain's reference statistics, so that evaluation needs no data, metrics) and
``gensci/checkpoints/<experiment>.json`` (the metrics, the command, the machine). Metrics:
the domain's own against ``--split``, on ``--samples`` draws with the config's sampler
(``--sample KEY=VALUE`` passes options such as the chain lengths to sampling;
``--compare SAMPLER:STEPS[:KEY=VALUE,...]`` adds the same metrics with another sampler, step
count or sampler options, :func:`compare_setting`); for
every condition, each class (categorical) or two targets (numeric) at each
guidance scale.

``--resume`` is this script's flag: it finds the newest checkpoint under
``runs/bundled/<experiment>`` and passes it on as ``resume=PATH``, the one resume syntax of
``gensci train`` (which has no ``--resume``). The run keeps the wall time and the command of
each leg (``train_seconds.json``, ``commands.json``); the record names the command that started
the run.

``--evaluate-only --refresh sampler,domain.clash_relax`` re-evaluates the weights of
``runs/bundled/<experiment>/model.pt`` after copying those config keys from the experiment's
current config into it (:func:`refresh_config`): for defaults that only sampling reads, so the
weights are the ones training with the current config gives. The record lists what changed
under ``refreshed``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch

import gensci
from gensci.checkpoint import GENERATIVE, load_checkpoint, save_checkpoint
from gensci.config import compose
from gensci.errors import GensciError
from gensci.io import atomic_write
from gensci.machine import cpu_name
from gensci.model import sampler_choice, split_setting
from gensci.training.train import train

ROOT = Path(gensci.__file__).resolve().parent / "checkpoints"


def _timed_evaluate(model: gensci.model.GenerativeModel, n: int, seed: int, split: str, **kwargs) -> dict:
    start = time.time()
    inputs = model.domain.evaluation_inputs(split, n)
    if inputs is not None:  # a refining model: carry held-out inputs to their references
        samples = model.refine(inputs, seed=seed, progress=False,
                               **{k: v for k, v in kwargs.items() if k in ("steps", "sampler")})
    else:
        samples = model.sample(n, seed=seed, progress=False, **kwargs)
    seconds = time.time() - start
    return {**model.evaluate(samples, split=split), "sample_seconds": round(seconds, 1)}


def numeric_targets(spec: dict) -> list[float]:
    """Two requested values of a numeric condition: the training mean minus and plus one std
    (of ``log y`` for a log-scale condition: ``exp(mean -+ std)``), within the training range."""
    low, high = spec.get("low", -math.inf), spec.get("high", math.inf)
    log = spec.get("scale", "linear") == "log"
    values = [spec["mean"] + k * spec["std"] for k in (-1.0, 1.0)]
    return [min(max(math.exp(v) if log else v, low), high) for v in values]


def compare_setting(item: str) -> tuple[str | dict | None, int | None, str]:
    """``SAMPLER:STEPS[:KEY=VALUE,...]`` as the ``sampler`` and ``steps`` of a sampling call and a
    row label: an empty SAMPLER is the model's own sampler, the options are constructor
    arguments on top (values read as YAML), e.g. ``euler:100`` (plain Euler), ``:50`` (the
    model's own at 50 steps), ``:100:distortion=identity``."""
    try:
        name, count, items = split_setting(item, what="--compare")
        sampler = sampler_choice(name or None, items, what=f"--compare {item}")
    except GensciError as err:
        raise SystemExit(str(err)) from None
    options = {k: v for k, v in sampler.items() if k != "name"} if isinstance(sampler, dict) else {}
    label = f"{name or 'own sampler'} {'' if count is None else count} steps" + "".join(
        f" {k}={v}" for k, v in options.items())
    return sampler, count, label


def refresh_config(path: Path, current: Any, keys: str) -> list[str]:
    """Copy the config ``keys`` (comma-separated dotted paths, e.g. ``sampler,domain.clash_relax``)
    from the experiment's ``current`` config into the checkpoint at ``path``; its weights, stats
    and metrics stay. For settings that only sampling reads (the sampler, a domain's sampling
    defaults): the weights are what training with the current config gives."""
    from omegaconf import OmegaConf

    payload = load_checkpoint(path)
    config = payload["config"]
    plain = OmegaConf.to_container(current, resolve=True)
    changed = []
    for key in [k for k in keys.split(",") if k]:
        *parents, leaf = key.split(".")
        source, target = plain, config
        for part in parents:
            if part not in source or part not in target:
                raise SystemExit(f"--refresh {key}: {part!r} is not in both the experiment's config and the checkpoint's")
            source, target = source[part], target[part]
        if leaf not in source:
            raise SystemExit(f"--refresh {key}: the experiment's config has no {key!r}")
        if target.get(leaf) != source[leaf]:
            changed.append(f"{key}: {target.get(leaf)!r} -> {source[leaf]!r}")
        target[leaf] = source[leaf]
    save_checkpoint(path, config, payload["state_dict"], payload["stats"], payload["metrics"],
                    stages=payload.get("stages") or None)
    print("refreshed from the experiment's config: " + ("; ".join(changed) or "nothing changed"), file=sys.stderr)
    return changed


def sample_options(item: str) -> dict[str, str]:
    """``KEY=VALUE[,KEY=VALUE...]`` (a ``--compare-sample`` row) as sampling options."""
    pairs = [pair for pair in item.split(",") if pair]
    if not pairs or any("=" not in pair for pair in pairs):
        raise SystemExit(f"--compare-sample wants KEY=VALUE[,KEY=VALUE...], got {item!r}")
    return dict(pair.split("=", 1) for pair in pairs)


def evaluate(model: gensci.model.GenerativeModel, n: int, seed: int, n_conditional: int,
             scales: tuple[float, ...], options: dict | None = None, split: str = "test",
             compare: list[str] = (), compare_options: list[str] = ()) -> dict:
    """The domain's metrics unconditionally (``n`` samples) and, for every condition, at
    each class (categorical) or at two targets (numeric) and each guidance scale
    (``n_conditional`` samples each; scale 0 is the unconditional model). ``options`` go
    to every sampling call; ``compare`` names extra ``SAMPLER:STEPS`` settings and
    ``compare_options`` extra ``KEY=VALUE`` sampling options, each one more unconditional row."""
    options = dict(options or {})
    out = {"unconditional": _timed_evaluate(model, n, seed, split, **options)}
    for item in compare:
        sampler, steps, label = compare_setting(item)
        out[f"unconditional {label}"] = _timed_evaluate(model, n, seed, split, sampler=sampler, steps=steps, **options)
    for item in compare_options:
        out[f"unconditional {item}"] = _timed_evaluate(model, n, seed, split, **{**options, **sample_options(item)})
    for spec in model.conditions:
        if spec["kind"] not in ("categorical", "numeric"):
            continue  # a vector condition (an image embedding) has no targets to sweep
        values = spec["classes"] if spec["kind"] == "categorical" else numeric_targets(spec)
        for value in values:
            for scale in scales:
                s = model.sample(n_conditional, conditions={spec["name"]: value}, guidance=scale, seed=seed,
                                 progress=False, **options)
                key = value if isinstance(value, str) else f"{value:.4g}"
                out[f"{spec['name']}={key} guidance={scale:g}"] = model.evaluate(s, split=split)
                print(f"{spec['name']}={key} guidance={scale:g}: done", file=sys.stderr, flush=True)
    return out


def training_stages(path: Path, legs_file: Path) -> list[float]:
    """Wall seconds of each training stage behind the model at ``path``, first stage first.

    A model whose weights, or one stage's (``init_weights`` in the stage's recorded settings),
    were fine-tuned from another run's adds the stages of that run: the ``train_seconds_stages`` of a bundled record
    beside those weights (``<name>.json``, as a bundled checkpoint has, or a copy of one), else the
    ``train_seconds.json`` of their run; NaN where no record exists. A run fine-tuned from the
    bundle it then replaced finds its own record there on a later ``--evaluate-only`` or ``--resume``
    (the record's command is the run's first): that record lists the earlier stages, and the run's
    own legs are counted as they are now.
    """
    own = sum(json.loads(legs_file.read_text())) if legs_file.is_file() else float("nan")
    payload = load_checkpoint(path)
    # each earlier stage's own settings travel with its weights (the stage's export may come from an
    # earlier leg whose command set init_weights)
    inits = [payload["config"].get("init_weights")] + [(held.get("config") or {}).get("init_weights")
                                                      for held in (payload.get("stages") or {}).values()]
    commands_file = legs_file.parent / "commands.json"
    first_command = (json.loads(commands_file.read_text())[0].removesuffix(" --resume")
                     if commands_file.is_file() else None)
    earlier: list[float] = []
    for init in filter(None, inits):
        record = Path(init).with_suffix(".json")
        if record.is_file() and "train_seconds_stages" in (bundled := json.loads(record.read_text())):
            if first_command is not None and bundled.get("command") == first_command:
                # this run's own record: its earlier stages, then this run's legs as they are now
                # (a leg trained after the record, e.g. a stage trained again, counts)
                return [float(s) for s in bundled["train_seconds_stages"][:-1]] + [own]
            earlier += [float(s) for s in bundled["train_seconds_stages"]]
        else:
            earlier += training_stages(Path(init), Path(init).parent / "train_seconds.json")
    return earlier + [own]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--samples", type=int, default=2000, help="unconditional samples evaluated")
    parser.add_argument("--conditional-samples", type=int, default=None,
                        help="samples per condition value and guidance scale (default: --samples)")
    parser.add_argument("--scales", default="0,1,2,3", help="guidance scales evaluated (comma-separated)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (small models train fastest on one)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted training in runs/bundled/<experiment> from its last checkpoint "
                             "(this script's flag; `gensci train` takes resume=PATH)")
    parser.add_argument("--train-only", action="store_true",
                        help="train (a first stage that a later preset fine-tunes) without evaluating or bundling")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="skip training: evaluate and bundle the model an earlier run of this script trained")
    parser.add_argument("--sample", action="append", default=[], metavar="KEY=VALUE",
                        help="sampling option for every evaluation draw, e.g. length=50..128 (repeatable)")
    parser.add_argument("--compare", action="append", default=[], metavar="SAMPLER:STEPS[:KEY=VALUE,...]",
                        help="also evaluate unconditional draws with this sampler (empty: the model's own), step "
                             "count and sampler options (repeatable)")
    parser.add_argument("--compare-sample", action="append", default=[], metavar="KEY=VALUE[,KEY=VALUE...]",
                        help="also evaluate unconditional draws with these sampling options (one row), e.g. "
                             "clash_guidance=0,clash_relax=0 (repeatable)")
    parser.add_argument("--split", default="test", help="split the metrics compare with (default test)")
    parser.add_argument("--refresh", default="", metavar="KEY[,KEY...]",
                        help="with --evaluate-only: take these sampling settings (dotted config keys, e.g. "
                             "sampler,domain.clash_relax) from the experiment's current config first")
    args = parser.parse_args()
    if args.refresh and not args.evaluate_only:
        parser.error("--refresh changes a trained checkpoint's sampling settings: use it with --evaluate-only")
    options = dict(item.split("=", 1) for item in args.sample)
    torch.set_num_threads(args.threads)
    run_dir = Path("runs") / "bundled" / args.experiment
    refreshed: list[str] = []
    legs_file = run_dir / "train_seconds.json"  # wall time of each training leg (resumed runs have several)
    commands_file = run_dir / "commands.json"  # the command of each training leg, first leg first
    command = " ".join(["python", "scripts/train_bundled.py", args.experiment] + args.overrides)
    if args.evaluate_only:
        path = run_dir / "model.pt"
        if not path.is_file():
            raise SystemExit(f"{path} does not exist: run without --evaluate-only first")
        if args.refresh:
            refreshed = refresh_config(path, compose(args.experiment, [f"run_dir={run_dir}"] + args.overrides),
                                       args.refresh)
    else:
        overrides = [f"run_dir={run_dir}"] + args.overrides
        if args.resume:
            # the newest checkpoint of the run: the generative stage's, or an earlier stage's
            # (runs/bundled/<experiment>/<stage>/checkpoints); stages already exported are reused
            # (with stage=NAME, that stage's own checkpoint)
            stage = next((o.split("=", 1)[1] for o in args.overrides if o.startswith("stage=")), None)
            pattern = ("**/checkpoints/last.ckpt" if stage is None else "checkpoints/last.ckpt" if stage == GENERATIVE
                       else f"{stage}/checkpoints/last.ckpt")
            found = sorted(run_dir.glob(pattern), key=lambda p: p.stat().st_mtime)
            if not found:
                raise SystemExit(f"no checkpoint under {run_dir}: nothing to resume")
            overrides.append(f"resume={found[-1]}")
        elif run_dir.exists():
            shutil.rmtree(run_dir)
        cfg = compose(args.experiment, overrides)
        legs = json.loads(legs_file.read_text()) if args.resume and legs_file.is_file() else []
        commands = json.loads(commands_file.read_text()) if args.resume and commands_file.is_file() else []
        start = time.time()
        try:
            path = train(cfg)
        finally:
            legs.append(round(time.time() - start, 1))
            commands.append(command + (" --resume" if args.resume else ""))
            run_dir.mkdir(parents=True, exist_ok=True)
            legs_file.write_text(json.dumps(legs))
            commands_file.write_text(json.dumps(commands, indent=1))
    if args.train_only:
        print(f"trained {path}; not evaluated or bundled (--train-only)", file=sys.stderr)
        return
    stages = training_stages(path, legs_file)
    seconds = sum(stages)
    model = gensci.load(path)
    scales = tuple(float(v) for v in args.scales.split(","))
    metrics = evaluate(model, args.samples, seed=1, n_conditional=args.conditional_samples or args.samples, scales=scales,
                       options=options, split=args.split, compare=args.compare, compare_options=args.compare_sample)
    record = {
        "experiment": args.experiment,
        "conditions": [spec["name"] for spec in model.conditions],  # read by `gensci models`
        "command": command,
        "evaluation": " ".join(["--samples", str(args.samples), "--conditional-samples",
                                str(args.conditional_samples or args.samples), "--scales", args.scales,
                                "--split", args.split]
                               + [f"--{k.replace('_', '-')} {v}" for k in ("sample", "compare", "compare_sample")
                                  for v in getattr(args, k)]),
        "train_seconds": round(seconds, 1),
        "train_seconds_stages": [round(s, 1) for s in stages],
        "parameters": sum(p.numel() for p in model.network.parameters()),
        "machine": f"{cpu_name()}, {torch.get_num_threads()} thread(s), torch {torch.__version__}",
        "date": time.strftime("%Y-%m-%d"),
        "metrics": metrics,
    }
    if refreshed:
        record["refreshed"] = refreshed  # sampling settings taken from the current config (--refresh)
    target = ROOT / f"{args.experiment}.pt"
    if commands_file.is_file():
        # the command that started the run that trained these weights (later legs add --resume)
        record["command"] = json.loads(commands_file.read_text())[0].removesuffix(" --resume")
    elif args.evaluate_only and target.with_suffix(".json").is_file():
        # re-evaluating the bundled weights of a run whose commands were not kept: the record
        # keeps the command that trained them
        record["command"] = json.loads(target.with_suffix(".json").read_text()).get("command", record["command"])
    payload = load_checkpoint(path)
    flat = {"train_seconds": record["train_seconds"], **{k: v for k, v in metrics["unconditional"].items()}}
    reference = model.domain.reference_statistics()  # lets the bundled model be evaluated without its data
    stats = {**payload["stats"], "reference": reference} if reference else payload["stats"]
    save_checkpoint(target, payload["config"], payload["state_dict"], stats, {**payload["metrics"], **flat},
                    stages=payload.get("stages") or None)
    with atomic_write(target.with_suffix(".json")) as handle:
        json.dump(record, handle, indent=2)
    print(json.dumps(record, indent=2))
    print(f"bundled model written to {target}", file=sys.stderr)


if __name__ == "__main__":
    main()
