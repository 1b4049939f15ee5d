"""``gensci train``: compose a config, fit with Lightning, export a gensci checkpoint.

The run directory holds Lightning's resumable checkpoints (``checkpoints/last.ckpt``,
resume with ``resume=PATH``), the metrics log (``metrics.csv``, one file across resumed legs,
each row tagged with its ``leg``), the resolved config
(``config.yaml``) and the exported model (``model.pt``: EMA weights, config, statistics).
``init_weights=PATH`` starts from the weights of an exported ``model.pt`` instead (fine-tuning:
a fresh optimiser, schedule and EMA, on whatever the config says now).

The same config runs data-parallel with ``trainer.strategy=ddp trainer.devices=2``
(processes talk over gloo on CPU, NCCL on GPUs); across machines, set ``trainer.num_nodes``
and launch one process per node with Lightning's usual environment (see docs/training.md).
"""

from __future__ import annotations

import difflib

import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
from lightning.fabric.utilities.exceptions import MisconfigurationException
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from gensci.checkpoint import GENERATIVE, load_checkpoint, save_checkpoint
from gensci.config import instantiate, to_plain
from gensci.errors import GensciError
from gensci.model import attach_stages, build, build_stage, frozen
from gensci.training.best import BestWeights
from gensci.training.data import DomainDataModule
from gensci.training.interrupt import SaveOnInterrupt, lightning_fitting, sigterm_as_interrupt
from gensci.training.metrics_log import LegLogger
from gensci.training.module import GenerativeModule
from gensci.training.stages import StageData, build_objective, stage_settings

__all__ = ["train", "run_dir_for", "load_initial_weights"]

#: the most torch threads a config may ask for (torch's own limit overflows far above)
MAX_THREADS = 1024

RUN_DIR_ENV = "GENSCI_RUN_DIR"


def run_dir_for(cfg: DictConfig) -> Path:
    """``cfg.run_dir`` if set, else ``runs/<name>/<timestamp>``.

    DDP worker processes (``LOCAL_RANK`` > 0, started by Lightning while rank 0 fits) take
    rank 0's directory from the environment, so a timestamped name is chosen once.
    """
    if os.environ.get(RUN_DIR_ENV) and int(os.environ.get("LOCAL_RANK", "0") or 0) > 0:
        return Path(os.environ[RUN_DIR_ENV])
    if cfg.get("run_dir"):
        return Path(str(cfg.run_dir)).resolve()
    return (Path("runs") / str(cfg.name) / time.strftime("%Y%m%d-%H%M%S")).resolve()


def load_initial_weights(network: torch.nn.Module, path: str | Path, stage: str | None = None) -> None:
    """Copy the weights of the exported model at ``path`` into ``network`` (same architecture):
    its generative network, or with ``stage`` the module of that earlier stage."""
    key = "init_weights" if stage is None else f"stages.{stage}.init_weights"
    if not Path(path).is_file():
        raise GensciError(f"{key}={str(path)!r} does not exist; train (or fetch) the model it names first")
    payload = load_checkpoint(path)
    if stage is None:
        state = payload["state_dict"]
    else:
        held = payload.get("stages") or {}
        if stage not in held:
            raise GensciError(f"{key}={str(path)!r} holds no {stage!r} stage"
                              + (f" (it holds {', '.join(held)})" if held else ""))
        state = held[stage]["state_dict"]
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as err:
        detail = " ".join(str(err).split())[:300]
        raise GensciError(f"{key}={str(path)!r} does not fit this network ({detail}); "
                          "fine-tuning needs the same model settings as the run that wrote it") from None


def check_trainer_settings(settings: dict[str, Any]) -> None:
    """Raise a one-line :class:`GensciError` for a trainer setting whose value is text where
    Lightning's default is a number (``trainer.max_steps=abc``) or that Lightning does not know."""
    import inspect

    params = inspect.signature(L.Trainer.__init__).parameters
    for key, value in settings.items():
        if key not in params:
            close = difflib.get_close_matches(key, list(params), n=1)
            hint = f" (did you mean trainer.{close[0]}?)" if close else ""
            raise GensciError(f"unknown trainer setting trainer.{key}{hint}")
        default = params[key].default
        if isinstance(value, str) and isinstance(default, (int, float)) and not isinstance(default, bool):
            raise GensciError(f"trainer.{key} must be a number, got {value!r}")


def _fit(module: GenerativeModule, data: DomainDataModule, trainer_kwargs: dict[str, Any], run_dir: Path,
         checkpoint_every: int, resume: str | None, callbacks: list | None,
         export: Callable[[int], Path | None] | None = None) -> L.Trainer:
    """Fit ``module`` with Lightning; resumable checkpoints go to ``run_dir/checkpoints``; on
    Ctrl-C or SIGTERM, a checkpoint at the step reached and ``export(step)`` (:class:`SaveOnInterrupt`).
    A resumed leg appends to ``run_dir/metrics.csv`` (:class:`~gensci.training.metrics_log.LegLogger`)."""
    checkpoints = ModelCheckpoint(dirpath=run_dir / "checkpoints", save_last=True, save_top_k=0,
                                  every_n_train_steps=int(checkpoint_every))
    check_trainer_settings(trainer_kwargs)
    try:
        trainer = L.Trainer(default_root_dir=str(run_dir),
                            callbacks=[checkpoints, SaveOnInterrupt(run_dir, export), *(callbacks or [])],
                            logger=LegLogger(run_dir, resumed=resume is not None), **trainer_kwargs)
    except (TypeError, ValueError, MisconfigurationException) as err:
        raise GensciError(f"bad trainer setting: {' '.join(str(err).split())}") from None
    previous = os.environ.get(RUN_DIR_ENV)
    os.environ[RUN_DIR_ENV] = str(run_dir)  # read by DDP workers only, restored after fitting
    try:
        with lightning_fitting():  # a checkpoint is read without unpickling code
            trainer.fit(module, datamodule=data, ckpt_path=resume, weights_only=True)
    finally:
        if previous is None:
            os.environ.pop(RUN_DIR_ENV, None)
        else:
            os.environ[RUN_DIR_ENV] = previous
    return trainer


def _record(trainer: L.Trainer) -> dict[str, Any]:
    record: dict[str, Any] = {"steps": int(trainer.global_step)}
    if "val/loss" in trainer.callback_metrics:
        record["val_loss"] = float(trainer.callback_metrics["val/loss"])
    return record


def _with_best(callbacks: list | None, best: BestWeights | None) -> list:
    return [*(callbacks or []), *([best] if best is not None else [])]


def _exported(module: GenerativeModule, best: BestWeights | None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The weights to export (the EMA's, or with ``keep_best`` those of the best validation) and
    what the record adds."""
    last = module.ema.average.state_dict()
    return best.export(last) if best is not None else (last, {})


def _resume_for(resume: str | None, stage_dir: Path, only: bool) -> str | None:
    """``resume`` if it is a checkpoint of the stage trained in ``stage_dir`` (or the only
    stage this command trains), else None."""
    if not resume:
        return None
    if only or Path(resume).resolve().parent == (stage_dir / "checkpoints").resolve():
        return resume
    return None


def train(cfg: DictConfig, metrics: dict[str, Any] | None = None, callbacks: list | None = None) -> Path:
    """Train the model ``cfg`` describes; return the path of the exported ``model.pt`` (:func:`_train`).

    SIGTERM behaves as Ctrl-C does (:mod:`gensci.training.interrupt`); the handler installed
    before comes back after."""
    with sigterm_as_interrupt():
        try:
            return _train(cfg, metrics, callbacks)
        finally:
            _end_process_group()


def _end_process_group() -> None:
    """Close a distributed run's process group before the process exits: left to the
    interpreter's teardown, gloo's threads can abort the process after a finished fit
    ("terminate called without an active exception")."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def _train(cfg: DictConfig, metrics: dict[str, Any] | None = None, callbacks: list | None = None) -> Path:
    """Train the model ``cfg`` describes; return the path of the exported ``model.pt``.

    A domain with earlier stages (``Domain.stages``) trains each in order, from
    ``cfg.stages.<name>``, under ``run_dir/<name>/`` (each exported to
    ``run_dir/stages/<name>.pt``), then the generative stage under ``run_dir`` itself.
    ``stage=NAME`` trains that stage alone, reading the earlier ones from
    ``stages_from=model.pt`` (that file's own NAME and later stages are not read);
    ``stages.<name>.init_weights=model.pt`` starts a stage from that file's weights of it; with
    ``resume=`` a stage already exported in ``run_dir/stages`` is reused, and the checkpoint
    resumes the stage it belongs to. ``callbacks`` are extra
    Lightning callbacks (for the stage being fitted).
    """
    # Lightning's notices that say nothing about the user's run
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    warnings.filterwarnings("ignore", message=r".*Experiment logs directory .* exists and is not empty.*")
    warnings.filterwarnings("ignore", message=r".*smaller than the logging interval.*")
    # the train sampler resumes mid-epoch itself (gensci.training.data.EpochSampler)
    warnings.filterwarnings("ignore", message=r".*resuming from a checkpoint that ended before the epoch ended.*")
    plain = to_plain(cfg)  # every interpolation resolves, or one line names the one that does not
    threads, seed = plain.get("threads"), plain.get("seed")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or not 0 <= threads <= MAX_THREADS):
        raise GensciError(f"threads must be null, 0 (torch's default) or a whole number up to {MAX_THREADS}, got {threads!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not -(2**63) <= seed < 2**64:
        raise GensciError(f"seed must be a whole number in -2**63 .. 2**64-1, got {seed!r}")
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)  # initialisation of every module, in stage order
    run_dir = run_dir_for(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    domain = instantiate(cfg.domain)
    domain.prepare()
    order = [*domain.stages, GENERATIVE]
    wanted = cfg.get("stage") or None
    if wanted is not None and wanted not in order:
        raise GensciError(f"unknown stage {wanted!r}; the {domain.name} domain trains {', '.join(order)} (in that order)")
    resume = str(cfg.resume) if cfg.get("resume") else None
    if resume and not Path(resume).is_file():
        raise GensciError(f"cannot resume: {resume!r} does not exist")
    stages: dict[str, dict[str, Any]] = {}
    if cfg.get("stages_from"):  # the stages before the one trained (with stage=NAME), or all of them
        held = load_checkpoint(str(cfg.stages_from))["stages"]
        before = order[:order.index(wanted)] if wanted is not None else order
        stages.update({name: held[name] for name in domain.stages if name in held and name in before})
        attach_stages(domain, stages, where=str(cfg.stages_from))
    is_zero = int(os.environ.get("LOCAL_RANK", "0") or 0) == 0
    if is_zero:
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    for name in domain.stages:
        if name in stages or (wanted is not None and wanted != name):
            continue
        exported = run_dir / "stages" / f"{name}.pt"
        if resume and wanted is None and exported.is_file():
            held = load_checkpoint(exported)["stages"]
            stages[name] = held[name]
            attach_stages(domain, {name: held[name]}, where=str(exported))
            print(f"stage {name}: taken from {exported}")
            continue
        node = stage_settings(plain, name)
        module = build_stage(node, domain, name)
        if node.get("init_weights"):  # fine-tune a stage another run trained (fresh optimiser and EMA)
            load_initial_weights(module, str(node["init_weights"]), stage=name)
        lightning = GenerativeModule(module, None, domain, seed=int(cfg.seed), objective=build_objective(node, name),
                                     **node["optim"])
        data = DomainDataModule(StageData(domain, name), batch_size=int(node["batch_size"]),
                                num_workers=int(cfg.num_workers), seed=int(cfg.seed))
        best = BestWeights() if node.get("keep_best") else None
        trainer = _fit(lightning, data, node["trainer"], run_dir / name, int(cfg.checkpoint_every),
                       _resume_for(resume, run_dir / name, wanted == name), _with_best(callbacks, best))
        weights, kept = _exported(lightning, best)
        stages[name] = {"state_dict": weights, "metrics": {**_record(trainer), **kept},
                        "config": {k: v for k, v in node.items()}}
        if kept:
            lightning.ema.average.load_state_dict(weights)  # the later stages read the weights exported
        if trainer.is_global_zero:
            save_checkpoint(exported, plain, {}, domain.stats(), stages={name: stages[name]})
        domain.attach(name, frozen(lightning.ema.average))
    out = run_dir / "model.pt"
    plain["stages"] = {name: entry["config"] for name, entry in stages.items()}
    if wanted is not None and wanted != GENERATIVE:
        if is_zero:
            save_checkpoint(out, plain, {}, domain.stats(), metrics, stages=stages)
        return out
    missing = [name for name in domain.stages if name not in stages]
    if missing:
        raise GensciError(f"the {domain.name} domain needs its {missing[0]!r} stage first: train every stage "
                          f"(drop stage=) or pass stages_from=model.pt of a run that trained it")
    process, network = build(plain, domain)
    if cfg.get("init_weights"):
        load_initial_weights(network, str(cfg.init_weights))
    module = GenerativeModule(network, process, domain, seed=int(cfg.seed), **plain["optim"])
    data = DomainDataModule(domain, batch_size=int(cfg.batch_size), num_workers=int(cfg.num_workers), seed=int(cfg.seed))
    best = BestWeights() if cfg.get("keep_best") else None

    def export_so_far(step: int) -> Path:
        weights, kept = _exported(module, best)  # with keep_best, the best validation so far
        save_checkpoint(out, plain, weights, domain.stats(), {"interrupted_at_step": step, **kept}, stages=stages)
        return out

    trainer = _fit(module, data, dict(plain["trainer"]), run_dir, int(cfg.checkpoint_every),
                   _resume_for(resume, run_dir, wanted == GENERATIVE or not domain.stages),
                   _with_best(callbacks, best), export_so_far)
    if trainer.is_global_zero:
        weights, kept = _exported(module, best)
        record = {**_record(trainer), **kept}
        record.update(metrics or {})
        save_checkpoint(out, plain, weights, domain.stats(), record, stages=stages)
    return out
