"""Composing Hydra configs from the packaged config tree, with user-facing errors.

The configs ship inside the package (``gensci/configs``, also visible as ``configs/`` at the
top of a checkout), so the CLI works from any working directory. Groups: ``domain/``,
``process/``, ``sampler/``, ``model/``, ``trainer/`` and ``experiment/`` presets such as
``points/moons``. Users override any key Hydra-style: ``trainer.max_steps=300``,
``process=otcfm``, ``+domain.path=my.csv``.
"""

from __future__ import annotations

import difflib
import re

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from gensci.errors import GensciError

__all__ = ["config_dir", "compose", "list_experiments", "list_group", "instantiate", "to_plain"]


def config_dir() -> Path:
    """The packaged config tree."""
    return Path(__file__).resolve().parent / "configs"


def list_group(group: str) -> list[str]:
    """Option names of a config group, e.g. ``list_group("sampler")``; nested names use '/'."""
    root = config_dir() / group
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml"))


def list_experiments() -> list[str]:
    """Experiment presets, e.g. ``["points/labelled_moons", "points/moons", ...]``."""
    return list_group("experiment")


def compose(experiment: str | None = None, overrides: list[str] | None = None, config_name: str = "train") -> DictConfig:
    """Compose ``config_name`` with an experiment preset and overrides.

    Raises :class:`GensciError` for an unknown experiment or a malformed / unknown override.
    """
    overrides = list(overrides or [])
    if experiment is not None:
        experiment = experiment.removesuffix(".yaml")
        if experiment not in list_experiments():
            raise GensciError(f"unknown experiment {experiment!r}; available: {', '.join(list_experiments())}")
        overrides = [f"experiment={experiment}"] + overrides
    return compose_in(config_dir(), config_name, overrides)


def compose_in(directory: Path, config_name: str, overrides: list[str] | None = None, what: str = "config") -> DictConfig:
    """Hydra's composition of ``config_name`` in the config tree ``directory`` with
    ``overrides``, a malformed or unknown override raised as one :class:`GensciError`."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_dir(config_dir=str(directory), version_base="1.3", job_name="gensci"):
            return hydra_compose(config_name=config_name, overrides=list(overrides or []))
    except (HydraException, OmegaConfBaseException, ValueError, TypeError) as err:  # `process=0`, `process=[1,2]`
        message = " ".join(str(err).split())
        unknown = re.search(r"Could not override '([^']+)'", message)
        if unknown:
            key = unknown.group(1)
            rest = [o for o in overrides or [] if not o.split("=", 1)[0].lstrip("~+") == key]
            raise GensciError(f"unknown {what} key {key!r}{_closest(directory, config_name, rest, key)}; "
                              f"use +{key}=VALUE to add a key the {what} lacks") from None
        raise GensciError(f"bad {what} override: {message}") from None


def _closest(directory: Path, config_name: str, overrides: list[str], key: str) -> str:
    """``" (did you mean 'trainer.max_steps'?)"`` for the existing key nearest to ``key`` (a typo),
    or ``""`` when none is near or the config does not compose without it."""
    parent, _, leaf = key.rpartition(".")
    try:
        cfg = compose_in(directory, config_name, overrides)
    except GensciError:
        return ""
    from omegaconf.errors import OmegaConfBaseException

    try:
        node = OmegaConf.select(cfg, parent) if parent else cfg
    except OmegaConfBaseException:  # e.g. the parent is an interpolation that does not resolve
        return ""
    if not isinstance(node, DictConfig):
        return ""
    match = difflib.get_close_matches(leaf, [str(k) for k in node.keys()], n=1, cutoff=0.6)
    return f" (did you mean {(parent + '.' if parent else '') + match[0]!r}?)" if match else ""


def to_plain(cfg: DictConfig | dict[str, Any]) -> dict[str, Any]:
    """A resolved config as plain dicts and lists (safe for ``weights_only`` checkpoints)."""
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    if not isinstance(cfg, DictConfig):
        return cfg
    try:
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)  # type: ignore[return-value]
    except MissingMandatoryValue as err:
        key = getattr(err, "full_key", None) or "a required key"
        raise GensciError(f"{key} must be set: add {key}=VALUE to the command") from None
    except OmegaConfBaseException as err:
        raise GensciError(f"the config does not resolve: {' '.join(str(err).split())}") from None


def instantiate(node: Any, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` with failures turned into one clear :class:`GensciError`."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate as hydra_instantiate

    if isinstance(node, dict):
        node = OmegaConf.create(node)
    try:
        return hydra_instantiate(node, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, GensciError):
            raise cause from None
        message = " ".join(str(err).split())
        raise GensciError(f"cannot build {node.get('_target_', 'object')}: {message}") from None
