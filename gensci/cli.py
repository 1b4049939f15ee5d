"""The ``gensci`` command line: train, sample, evaluate, list models, fetch data sets.

    gensci train points/moons trainer.max_steps=300
    gensci sample points/moons -n 500 -o moons.csv
    gensci sample points/labelled_moons -n 500 --condition label=1 --guidance 2 -o one.csv
    gensci evaluate points/moons -n 2000 -o metrics.json
    gensci models
    gensci data cath
    gensci design molecules/qm9_gap_mu_qed -o run/ strategy=best_of_n budget=500

A user's mistake (a bad file, an unknown condition, a bad override, a missing or corrupt
checkpoint) prints one line ``error: ...`` and exits with status 2.
"""

from __future__ import annotations

import argparse
import os
import math
import sys
from pathlib import Path
from typing import Any

from gensci.errors import GensciError

__all__ = ["main"]


def _options(tokens: list[str]) -> dict[str, Any]:
    """Domain-specific ``--key value`` / ``--flag`` options left over by the main parser."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if not tok.startswith("--") or len(tok) < 3:
            raise GensciError(f"unexpected argument {tok!r}")
        key = tok[2:].replace("-", "_")
        if "=" in key:
            key, value = key.split("=", 1)
            out[key] = value
        elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
            out[key] = tokens[i + 1]
            i += 1
        else:
            out[key] = True
        i += 1
    return out


def _precision(value: str) -> str:
    """``--precision`` checked while parsing: a bad value is one ``error:`` line, not argparse's usage."""
    from gensci.precision_auto import PRECISION_CHOICES

    if value not in PRECISION_CHOICES:
        raise GensciError(f"--precision must be auto, fp32 or bf16, got {value!r}")
    return value


def _add_precision_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--precision", type=_precision, default="auto", metavar="{auto,fp32,bf16}",
                   help="the network's precision: bf16 runs it in bfloat16 (states stay float32), fast on CPUs "
                        "with AVX-512 BF16 / AMX and on GPUs; auto (default) picks bf16 there for models whose "
                        "recorded check found their metrics unchanged in bf16, else fp32")
    p.add_argument("--bf16", dest="precision", action="store_const", const="bf16", help="the same as --precision bf16")


def _add_sampling_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--condition", action="append", default=[], metavar="NAME=VALUE",
                   help="condition on a property (repeatable); properties not named stay unconditional")
    p.add_argument("--guidance", type=float, default=None, metavar="S",
                   help="classifier-free guidance scale: 0 unconditional, 1 conditional (default), >1 stronger")
    p.add_argument("--guidance-interval", default=None, metavar="LO,HI",
                   help="guide only while the sampling time lies in [LO, HI] (0 the noise, 1 the data), the "
                        "conditional model elsewhere at half the cost a step (Kynkaanniemi et al. 2024)")
    p.add_argument("--steps", type=int, default=None, metavar="K", help="sampling steps (default: the model's)")
    p.add_argument("--sampler", default=None, metavar="NAME", help="sampler (euler, heun, midpoint, ddpm, ddim, sde, ...)")
    p.add_argument("--sampler-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a sampler constructor argument (repeatable), e.g. distortion=polydec (short steps near the "
                        "data), final_euler=true (heun), rule=posterior (ctmc)")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same samples (default 0)")
    p.add_argument("--batch-size", type=int, default=4096, help="samples drawn per batch")
    _add_precision_arguments(p)
    p.add_argument("--redraws", type=int, default=None, metavar="K",
                   help="draw samples the domain rejects (e.g. CAD parts that build no valid solid) again, up to K "
                        "times (default: the domain's; 0 never)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gensci", description="Generative models for science: train, sample, evaluate.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="train a model from an experiment preset and Hydra overrides",
                       description="Train from a config: `gensci train points/moons trainer.max_steps=300 seed=1`. "
                                   "Experiments: see `gensci train --list`.")
    p.add_argument("experiment", nargs="?", help="experiment preset, e.g. points/moons")
    p.add_argument("overrides", nargs="*", help="Hydra overrides key=value")
    p.add_argument("--list", action="store_true", help="list experiment presets")
    p.add_argument("--print-config", action="store_true", help="print the composed config and exit")

    p = sub.add_parser("sample", help="sample from a bundled model or a checkpoint into a file",
                       description="Sample N objects and write them to a file (the domain's format, e.g. CSV, SDF, PDB). "
                                   "Domain-specific options pass through as --key value.")
    p.add_argument("model", help="bundled model name (see `gensci models`) or checkpoint path")
    p.add_argument("-n", "--num", type=int, default=100, help="number of samples (default 100)")
    p.add_argument("-o", "--output", required=True, help="output file")
    p.add_argument("--trajectory", nargs="?", const=True, default=None, metavar="PATH",
                   help="also write each sample's denoising path (e.g. a multi-model PDB per structure), "
                        "beside the samples or under PATH")
    p.add_argument("--trajectory-frames", type=int, default=100, metavar="K",
                   help="keep at most K evenly spaced steps of the path, first and last included (default 100; "
                        "0 keeps every step)")
    _add_sampling_arguments(p)

    p = sub.add_parser("refine", help="carry given inputs through a bridge model (e.g. conformers toward DFT) into a file",
                       description="Refine every input with a bridge model and write one output per input, in order: "
                                   "`gensci refine atoms/conformers in.sdf -o refined.sdf --steps 10`.")
    p.add_argument("model", help="bundled model name (see `gensci models`) or checkpoint path")
    p.add_argument("input", help="the inputs: a file the model's domain reads (e.g. SDF, or SMILES in .smi), or a SMILES")
    p.add_argument("-o", "--output", required=True, help="output file")
    p.add_argument("--steps", type=int, default=None, metavar="K", help="sampling steps (default: the model's)")
    p.add_argument("--sampler", default=None, metavar="NAME", help="sampler (euler, heun, midpoint, sde, ...)")
    p.add_argument("--sampler-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a sampler constructor argument (repeatable), e.g. distortion=polydec (short steps near the "
                        "data), final_euler=true (heun), rule=posterior (ctmc)")
    p.add_argument("--seed", type=int, default=0, help="random seed (stochastic samplers; default 0)")
    p.add_argument("--batch-size", type=int, default=256, help="inputs refined per batch (default 256)")
    _add_precision_arguments(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("evaluate", help="metrics of a model's samples (or of a sample file) as a table and JSON")
    from gensci.cli_evaluate import add_evaluate_arguments

    add_evaluate_arguments(p)
    _add_sampling_arguments(p)

    p = sub.add_parser("models", help="list bundled models with their conditions and headline metrics")
    p.add_argument("--full", action="store_true", help="every recorded metric, one per line")

    p = sub.add_parser("design", help="run an inverse-design loop from a preset (propose, score, select, adapt)",
                       description="Run a design preset into a folder: `gensci design molecules/qm9_gap_mu_qed -o run/ "
                                   "strategy=best_of_n budget=500`. An interrupted run resumes when run again with the "
                                   "same folder. Presets: see `gensci design --list`.")
    p.add_argument("preset", nargs="?", help="design preset, e.g. molecules/qm9_gap_mu_qed")
    p.add_argument("overrides", nargs="*", help="Hydra overrides key=value (strategy=..., budget=..., objectives.X.threshold=...)")
    p.add_argument("-o", "--output", default=None, help="the run's folder (report.json, candidates.csv, rounds/, plots)")
    p.add_argument("--list", action="store_true", help="list design presets")
    p.add_argument("--restart", action="store_true", help="start again in a folder that holds a run (default: resume it)")
    p.add_argument("--print-config", action="store_true", help="print the composed preset and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")

    p = sub.add_parser("data", help="download a public data set into the gensci cache",
                       description="Download and extract a data set once (e.g. `gensci data cath`, the CATH S40 "
                                   "domains FoldingDiff trains on), then print the override that trains on it.")
    p.add_argument("dataset", nargs="?", help="data set name (see --list)")
    p.add_argument("--list", action="store_true", help="list the data sets")
    p.add_argument("--cache-dir", default=None, help="cache root (default $GENSCI_CACHE or ~/.cache/gensci)")
    p.add_argument("--archive", default=None, metavar="FILE", help="extract this local copy instead of downloading")
    p.add_argument("--force", action="store_true", help="download and extract again")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return parser


def _cmd_train(args: argparse.Namespace) -> int:
    from gensci.config import compose, list_experiments, to_plain

    if args.list:
        print("\n".join(list_experiments()))
        return 0
    overrides = list(args.overrides)
    experiment = args.experiment
    if experiment is not None and "=" in experiment:
        overrides.insert(0, experiment)
        experiment = None
    cfg = compose(experiment, overrides)
    to_plain(cfg)  # an interpolation that does not resolve is one line here, not a traceback later
    if args.print_config:
        from omegaconf import OmegaConf

        print(OmegaConf.to_yaml(cfg, resolve=True))
        return 0
    from gensci.training.train import train

    path = train(cfg)
    if path.exists():
        print(f"model written to {path}")
    return 0


def _chosen_sampler(args: argparse.Namespace) -> str | dict[str, Any] | None:
    """``--sampler NAME`` with ``--sampler-option KEY=VALUE`` on top; the model's own sampler
    when no name is given (:func:`gensci.model.sampler_choice`)."""
    from gensci.model import sampler_choice

    return sampler_choice(args.sampler, args.sampler_option)


def _guidance(args: argparse.Namespace) -> Any:
    """``--guidance S`` as a number, or with ``--guidance-interval LO,HI`` a
    :class:`~gensci.core.guidance.Guidance` limited to that interval."""
    if args.guidance_interval is None:
        return args.guidance
    from gensci.core.guidance import Guidance

    if args.guidance is None:
        raise GensciError("--guidance-interval limits a guidance scale: give --guidance S too")
    try:  # the scale itself is checked by sample(), for a number and a Guidance alike
        return Guidance(scale=args.guidance, interval=args.guidance_interval)
    except ValueError as err:
        raise GensciError(f"--guidance-interval: {err}") from None


def _sample_kwargs(args: argparse.Namespace, extra: dict[str, Any]) -> dict[str, Any]:
    import inspect

    from gensci.domain import parse_condition_values
    from gensci.model import GenerativeModel

    # a domain option may not stand in for an argument of sample() (e.g. `-- --guidance`, `--n 5`)
    taken = sorted(set(extra) & set(inspect.signature(GenerativeModel.sample).parameters))
    if taken:
        raise GensciError(f"unexpected argument --{taken[0]}")
    return dict(conditions=parse_condition_values(args.condition) or None, guidance=_guidance(args), steps=args.steps,
                sampler=_chosen_sampler(args), seed=args.seed, batch_size=args.batch_size, progress=not args.quiet,
                precision=args.precision, redraws=args.redraws, **extra)


def _trajectory_path(args: argparse.Namespace) -> Path:
    """``--trajectory PATH`` as given; bare ``--trajectory``: the output folder itself, or
    ``NAME_trajectory.SUFFIX`` beside an output file."""
    if isinstance(args.trajectory, str):
        return Path(args.trajectory)
    out = Path(args.output)
    return out.with_name(f"{out.stem}_trajectory{out.suffix}") if out.suffix else out


def _cmd_sample(args: argparse.Namespace, extra: dict[str, Any]) -> int:
    import gensci

    if args.trajectory_frames < 0 or args.trajectory_frames == 1:
        raise GensciError(f"--trajectory-frames must be 0 (every step) or at least 2, got {args.trajectory_frames}")
    from gensci.domain import Domain

    model = gensci.load(args.model)
    model.domain.check_output(args.output)  # before sampling, so no work is lost to a bad path
    if args.trajectory is not None and type(model.domain).write_trajectory is Domain.write_trajectory:
        raise GensciError(f"the {model.domain.name} domain cannot write trajectories; drop --trajectory")
    kwargs = _sample_kwargs(args, extra)
    if args.trajectory is None:
        samples = model.sample(args.num, **kwargs)
    else:
        samples, path_frames = model.sample(args.num, return_trajectory=True,
                                            trajectory_frames=args.trajectory_frames or None, **kwargs)
    print(model.last_precision.line(), file=sys.stderr)
    path = model.write(samples, args.output)
    print(f"wrote {args.num} samples to {path}")
    if args.trajectory is not None:
        files = model.domain.write_trajectory(path_frames, _trajectory_path(args))
        where = files[0] if len(files) == 1 else f"{Path(files[0]).parent} ({files[0].name} ...)"
        print(f"wrote {len(files)} trajectories of {len(path_frames)} frames to {where}")
    return 0


def _cmd_refine(args: argparse.Namespace, extra: dict[str, Any]) -> int:
    import time

    import gensci

    model = gensci.load(args.model)
    model.domain.check_output(args.output)  # before refining, so no work is lost to a bad path
    began = time.perf_counter()
    samples = model.refine(args.input, steps=args.steps, sampler=_chosen_sampler(args), seed=args.seed,
                           batch_size=args.batch_size, progress=not args.quiet, precision=args.precision, **extra)
    seconds = time.perf_counter() - began
    print(model.last_precision.line(), file=sys.stderr)
    path = model.write(samples, args.output)
    print(f"refined {len(samples)} inputs in {seconds:.1f} s; wrote {path}")
    return 0


def _format_table(metrics: dict[str, float]) -> str:
    width = max(len(k) for k in metrics) if metrics else 6
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  {'-' * 10}"]
    for k, v in metrics.items():
        text = f"{v:.4f}" if isinstance(v, float) and math.isfinite(v) and not float(v).is_integer() else f"{v:g}" if isinstance(v, (int, float)) else str(v)
        lines.append(f"{k:<{width}}  {text}")
    return "\n".join(lines)


def _cmd_evaluate(args: argparse.Namespace, extra: dict[str, Any]) -> int:
    from gensci.cli_evaluate import run_evaluate

    return run_evaluate(args, _sample_kwargs(args, extra) if not args.samples else {}, _format_table)


def _cmd_models(args: argparse.Namespace) -> int:
    from gensci.cli_models import bundled_records, model_lines  # the JSON records: no torch, no domains

    print("\n".join(model_lines(bundled_records(), full=args.full)))
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf

    from gensci.config import config_dir, instantiate, list_group

    known = list_group("datasets")
    if args.list or args.dataset is None:
        print("\n".join(known))
        return 0
    if args.dataset not in known:
        raise GensciError(f"unknown data set {args.dataset!r}; choose one of {', '.join(known)}")
    node = OmegaConf.load(config_dir() / "datasets" / f"{args.dataset}.yaml")
    override = str(node.pop("train_override", "domain.paths=[{path}]"))
    if args.archive is not None and not Path(args.archive).is_file():
        raise GensciError(f"--archive {args.archive!r} is not a file")
    path = instantiate(node, cache_dir=args.cache_dir, archive=args.archive, force=args.force, progress=not args.quiet)
    print(f"{args.dataset} is in {path}")
    print(f"train on it with: gensci train EXPERIMENT {override.format(path=path)}")
    return 0


def _cmd_design(args: argparse.Namespace) -> int:
    from gensci.inverse.presets import compose_preset, describe_preset, list_presets, run_preset

    if args.list:
        for name in list_presets():
            print(f"{name:32s} {describe_preset(name)}")
        return 0
    if args.preset is None:
        raise GensciError("give a design preset (see `gensci design --list`)")
    if args.print_config:
        from omegaconf import OmegaConf

        print(OmegaConf.to_yaml(compose_preset(args.preset, list(args.overrides))))
        return 0
    if args.output is None:
        raise GensciError("give the run's folder with -o DIR")
    result = run_preset(args.preset, args.output, list(args.overrides), resume=not args.restart, progress=not args.quiet)
    summary = result.summary()
    print(f"{summary['oracle_calls']} oracle calls in {summary['rounds']} rounds: {summary['hits']} hits "
          f"(hit rate {summary['hit_rate']:.3f}), top-10 AUC {summary['top10_auc']:.3f}")
    for c in result.best(5):
        values = ", ".join(f"{k}={v:.4g}" for k, v in c.values.items())
        print(f"  score {c.score:.3f}  {values}  {c.key}")
    print(f"report: {Path(args.output) / 'report.json'}")
    return 0


def _domain_options_help(argv: list[str]) -> str | None:
    """For ``gensci sample|evaluate MODEL --help``: the sampling options of MODEL's domain, read
    from its class without loading data (None when MODEL is not given or cannot be read)."""
    words = [a for a in argv[1:] if not a.startswith("-")]
    if not words:
        return None
    try:
        from gensci.checkpoint import load_checkpoint
        from gensci.model import resolve_model

        target = load_checkpoint(resolve_model(words[0]))["config"]["domain"]["_target_"]
        module, _, name = target.rpartition(".")
        cls = getattr(__import__(module, fromlist=[name]), name)
    except (GensciError, KeyError, ImportError, AttributeError):
        return None
    options = getattr(cls, "sampling_options", {}) or {}
    if not options:
        return f"\nthe {cls.name} domain of {words[0]} takes no options of its own"
    rows = "\n".join(f"  --{k:<18} {v}" for k, v in options.items())
    return f"\noptions of the {cls.name} domain ({words[0]}):\n{rows}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gensci`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    if argv and argv[0] in ("sample", "evaluate", "refine") and {"-h", "--help"} & set(argv):
        extra = _domain_options_help(argv)
        try:
            parser.parse_known_args(argv)
        except SystemExit as done:  # argparse printed the command's help
            if extra:
                print(extra)
            return int(done.code or 0)
    try:
        args, rest = parser.parse_known_args(argv)
        if args.version:
            from gensci import __version__

            print(__version__)
            return 0
        if args.command is None:
            parser.print_help()
            return 0
        if args.command in ("sample", "evaluate", "refine"):
            command = {"sample": _cmd_sample, "evaluate": _cmd_evaluate, "refine": _cmd_refine}[args.command]
            return command(args, _options(rest))
        if args.command == "design":  # overrides may follow -o DIR
            args.overrides = list(args.overrides) + [r for r in rest if "=" in r and not r.startswith("-")]
            rest = [r for r in rest if not ("=" in r and not r.startswith("-"))]
        if args.command == "train" and any(r.split("=", 1)[0] == "--resume" for r in rest):
            raise GensciError("gensci train resumes with resume=PATH (e.g. resume=runs/.../checkpoints/last.ckpt), "
                              "not --resume")
        if rest:
            raise GensciError(f"unexpected arguments: {' '.join(rest)}")
        if args.command == "train":
            return _cmd_train(args)
        if args.command == "data":
            return _cmd_data(args)
        if args.command == "design":
            return _cmd_design(args)
        return _cmd_models(args)
    except GensciError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of our output went away (`gensci models | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
