"""``gensci train``: compose a config, fit with Lightning, export a gensci checkpoint.

The run directory holds Lightning's resumable checkpoints (``checkpoints/last.ckpt``,
resume with ``resume=PATH``), the metrics log (``metrics.csv``), the resolved config
(``config.yaml``) and the exported model (``model.pt``: EMA weights, config, statistics).
``init_weights=PATH`` starts from the weights of an exported ``model.pt`` instead (fine-tuning:
a fresh optimiser, schedule and EMA, on whatever the config says now).

The same config runs data-parallel with ``trainer.strategy=ddp trainer.devices=2``
(processes talk over gloo on CPU, NCCL on GPUs); across machines, set ``trainer.num_nodes``
and launch one process per node with Lightning's usual environment (see docs/training.md).
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from omegaconf import DictConfig, OmegaConf

from gensci.checkpoint import load_checkpoint, save_checkpoint
from gensci.config import instantiate, to_plain
from gensci.errors import GensciError
from gensci.model import build
from gensci.training.data import DomainDataModule
from gensci.training.module import GenerativeModule

__all__ = ["train", "run_dir_for", "load_initial_weights"]

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


def load_initial_weights(network: torch.nn.Module, path: str | Path) -> None:
    """Copy the weights of the exported model at ``path`` into ``network`` (same architecture)."""
    if not Path(path).is_file():
        raise GensciError(f"init_weights={str(path)!r} does not exist; train (or fetch) the model it names first")
    state = load_checkpoint(path)["state_dict"]
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as err:
        detail = " ".join(str(err).split())[:300]
        raise GensciError(f"init_weights={str(path)!r} does not fit this network ({detail}); "
                          "fine-tuning needs the same model settings as the run that wrote it") from None


def train(cfg: DictConfig, metrics: dict[str, Any] | None = None) -> Path:
    """Train the model ``cfg`` describes; return the path of the exported ``model.pt``."""
    # Lightning's notices that say nothing about the user's run
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    warnings.filterwarnings("ignore", message=r".*Experiment logs directory .* exists and is not empty.*")
    warnings.filterwarnings("ignore", message=r".*smaller than the logging interval.*")
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    torch.manual_seed(int(cfg.seed))  # network initialisation
    run_dir = run_dir_for(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    plain = to_plain(cfg)
    domain = instantiate(cfg.domain)
    domain.prepare()
    process, network = build(plain, domain)
    if cfg.get("init_weights"):
        load_initial_weights(network, str(cfg.init_weights))
    module = GenerativeModule(network, process, domain, seed=int(cfg.seed), **plain["optim"])
    data = DomainDataModule(domain, batch_size=int(cfg.batch_size), num_workers=int(cfg.num_workers), seed=int(cfg.seed))
    checkpoints = ModelCheckpoint(dirpath=run_dir / "checkpoints", save_last=True, save_top_k=0,
                                  every_n_train_steps=int(cfg.checkpoint_every))
    trainer_kwargs = dict(plain["trainer"])
    try:
        trainer = L.Trainer(default_root_dir=str(run_dir), callbacks=[checkpoints],
                            logger=CSVLogger(str(run_dir), name="", version=""), **trainer_kwargs)
    except (TypeError, ValueError) as err:
        raise GensciError(f"bad trainer setting: {err}") from None
    resume = cfg.get("resume")
    if resume and not Path(str(resume)).is_file():
        raise GensciError(f"cannot resume: {resume!r} does not exist")
    if trainer.is_global_zero:
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    previous = os.environ.get(RUN_DIR_ENV)
    os.environ[RUN_DIR_ENV] = str(run_dir)  # read by DDP workers only, restored after fitting
    try:
        trainer.fit(module, datamodule=data, ckpt_path=str(resume) if resume else None)
    finally:
        if previous is None:
            os.environ.pop(RUN_DIR_ENV, None)
        else:
            os.environ[RUN_DIR_ENV] = previous
    out = run_dir / "model.pt"
    if trainer.is_global_zero:
        record = {"steps": int(trainer.global_step)}
        if "val/loss" in trainer.callback_metrics:
            record["val_loss"] = float(trainer.callback_metrics["val/loss"])
        record.update(metrics or {})
        save_checkpoint(out, plain, module.ema.average.state_dict(), domain.stats(), record)
    return out
