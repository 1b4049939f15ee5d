"""Design presets: Hydra configs under ``gensci/configs/design/<domain>/<task>.yaml``.

A preset names a model, its objectives (``name -> {oracle: {_target_: ...}, goal,
transform, threshold, weight}``), constraints (``name -> oracle node``), the loop's
settings (``budget``, ``batch``, ``rounds``, ``max_seconds``, ``elites``, ``bucket_size``,
``pareto``, ``seed``, ``sample``) and a choice of strategy among ``strategies``
(``strategy: conditional``). Any key can be overridden from the command line:

    gensci design molecules/qm9_gap_mu_qed -o run/ strategy=best_of_n budget=500
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from gensci.config import compose_in, config_dir, instantiate, list_group
from gensci.errors import GensciError

__all__ = ["design_dir", "list_presets", "compose_preset", "run_preset"]


def design_dir() -> Path:
    return config_dir() / "design"


def list_presets() -> list[str]:
    """Preset names, e.g. ``["molecules/qm9_gap_mu_qed", ...]``."""
    return list_group("design")


def describe_preset(name: str) -> str:
    node = OmegaConf.load(design_dir() / f"{name}.yaml")
    return str(node.get("description", ""))


def compose_preset(name: str, overrides: list[str] | None = None) -> DictConfig:
    """The preset ``name`` with Hydra ``overrides`` (errors as :class:`GensciError`)."""
    name = name.removesuffix(".yaml")
    if name not in list_presets():
        raise GensciError(f"unknown design preset {name!r}; available: {', '.join(list_presets())}")
    return compose_in(design_dir(), name, overrides, what="design")


def build_preset(cfg: DictConfig) -> dict[str, Any]:
    """The keyword arguments of :func:`gensci.inverse.loop.design` a composed preset gives."""
    from gensci.inverse.objectives import Constraint, Objective

    plain = OmegaConf.to_container(cfg, resolve=True)
    strategies = plain.get("strategies") or {}
    choice = plain.get("strategy")
    if choice not in strategies:
        raise GensciError(f"strategy {choice!r} is not one of this preset's strategies: {', '.join(strategies)}")
    objectives = []
    for name, spec in (plain.get("objectives") or {}).items():
        spec = dict(spec)
        oracle = instantiate(spec.pop("oracle"))
        objectives.append(Objective(name=name, oracle=oracle, **spec))
    constraints = [Constraint(name=name, oracle=instantiate(node)) for name, node in (plain.get("constraints") or {}).items()]
    keys = ("budget", "batch", "rounds", "max_seconds", "elites", "bucket_size", "pareto", "seed", "sample")
    options = {k: plain[k] for k in keys if k in plain and plain[k] is not None}
    return {"model": plain["model"], "objectives": objectives, "constraints": constraints,
            "strategy": instantiate(strategies[choice]), **options}


def run_preset(name: str, out: str | Path, overrides: list[str] | None = None, resume: bool = True, progress: bool = True) -> Any:
    """Run the preset ``name`` into the folder ``out``; returns the DesignResult."""
    from gensci.inverse.loop import design

    cfg = compose_preset(name, overrides)
    kwargs = build_preset(cfg)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "preset.yaml").write_text(f"# gensci design {name} {' '.join(overrides or [])}\n" + OmegaConf.to_yaml(cfg))
    return design(out=out, resume=resume, progress=progress, **kwargs)
