"""Training the earlier stages of a model: a module and an objective, then frozen.

A domain names its earlier stages (``Domain.stages``, e.g. ``("autoencoder",)``); the
config gives each one under ``stages.<name>``::

    stages:
      autoencoder:
        model: {_target_: domains.cad.network.CommandAutoencoder, ...}
        objective: {_target_: gensci.training.objective.Reconstruction, kind: cross_entropy}
        trainer: {max_steps: 20000}       # optional, over the top-level trainer
        optim: {lr: 1.0e-3}                # optional, over the top-level optim
        batch_size: 512                    # optional

Each stage trains with the same Lightning module as the generative stage
(:class:`~gensci.training.module.GenerativeModule` with the stage's objective: EMA weights,
the same learning-rate schedule, exact resume), on ``Domain.stage_dataset(name, split)``; its
EMA module is then frozen and attached to the domain, and its weights, resolved config
and metrics travel in the model's one checkpoint file.
"""

from __future__ import annotations

from typing import Any

from torch.utils.data import Dataset

from gensci.config import instantiate
from gensci.domain import Batch, Domain
from gensci.training.objective import Objective

__all__ = ["StageData", "stage_settings", "build_objective"]


class StageData:
    """The data of one stage, seen through the domain interface the data module reads."""

    def __init__(self, domain: Domain, stage: str):
        self.domain = domain
        self.stage = stage

    def prepare(self) -> None:
        self.domain.prepare()

    def dataset(self, split: str) -> Dataset:
        return self.domain.stage_dataset(self.stage, split)

    def collate(self, items: list[Any]) -> Batch:
        return self.domain.collate(items)


def stage_settings(plain: dict[str, Any], stage: str) -> dict[str, Any]:
    """The config of ``stage``: its node, with ``trainer``, ``optim``, ``batch_size`` and
    ``keep_best`` filled in from the top level where the node does not set them."""
    node = dict((plain.get("stages") or {}).get(stage) or {})
    node["trainer"] = {**plain["trainer"], **(node.get("trainer") or {})}
    node["optim"] = {**plain["optim"], **(node.get("optim") or {})}
    node.setdefault("batch_size", plain["batch_size"])
    node.setdefault("keep_best", bool(plain.get("keep_best", False)))
    return node


def build_objective(node: dict[str, Any], stage: str) -> Objective:
    from gensci.errors import GensciError

    if "objective" not in node:
        raise GensciError(f"stage {stage!r} needs stages.{stage}.objective (e.g. "
                          "_target_: gensci.training.objective.Reconstruction)")
    objective = instantiate(node["objective"])
    if not isinstance(objective, Objective):
        raise GensciError(f"stages.{stage}.objective builds a {type(objective).__name__}, not an Objective")
    return objective
