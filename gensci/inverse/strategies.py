"""Proposal strategies of a design loop: each a small class with ``propose`` and ``update``.

* :class:`BestOfN` — plain sampling; the baseline every report shows.
* :class:`ConditionalSteering` — sampling with the model's conditions (classifier-free
  guidance) steered toward the objective: each round draws ``arms`` condition settings
  from a search distribution and moves that distribution toward the settings of the best
  candidates so far, a cross-entropy method over conditions (Rubinstein, "The cross-entropy
  method for combinatorial and continuous optimization", 1999):
  ``μ ← (1 - α) μ + α mean(elite settings)``, ``σ ← (1 - α) σ + α std(elite settings)``
  for a numeric condition, ``p ← (1 - α) p + α freq(elite classes)`` for a categorical one.
* :class:`GradientGuidance` — the gradient of the differentiable objectives on the
  predicted clean sample during sampling (:mod:`gensci.inverse.gradient`), for continuous
  states; the reward is the log of the combined desirability,
  ``log S = Σ w_i log d_i / Σ w_i`` (a step objective enters as minus its distance to the
  window).
* :class:`FineTuning` — adapts the model between rounds (:mod:`gensci.inverse.adapt`) and
  proposes with any other strategy.

Every strategy keeps its state as plain data (``state_dict``), so an interrupted loop
resumes with the same search distribution and the same adapted weights.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from gensci.inverse.gradient import RewardGradientNetwork
from gensci.errors import GensciError

if TYPE_CHECKING:
    from gensci.inverse.candidates import Candidate
    from gensci.inverse.loop import DesignContext

__all__ = ["Proposal", "Strategy", "BestOfN", "ConditionalSteering", "GradientGuidance", "FineTuning", "arm_seed",
           "differentiable_reward"]


@dataclass
class Proposal:
    """Samples a strategy drew in one call, with the conditions they were drawn with."""

    samples: Any
    conditions: dict[str, Any] = field(default_factory=dict)


class Strategy(ABC):
    """Base class: ``propose(ctx, n, round, seed) -> [Proposal]``, ``update(ctx, round, elites)``."""

    name = "strategy"

    def setup(self, ctx: DesignContext) -> None:
        """Check the strategy fits the model (called once, before round 0 or a resume)."""

    @abstractmethod
    def propose(self, ctx: DesignContext, n: int, round: int, seed: int) -> list[Proposal]:
        """About ``n`` new samples for round ``round``, drawn from ``seed`` alone."""

    def update(self, ctx: DesignContext, round: int, elites: list[Candidate]) -> None:
        """Learn from the elites so far (after every round)."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def save(self, ctx: DesignContext, folder: Path) -> None:
        """Write state that is not plain data (weights) under ``folder``."""

    def load(self, ctx: DesignContext, folder: Path) -> None:
        """Read what :meth:`save` wrote."""

    def committed(self, folder: Path) -> None:
        """Called once the loop's state file records this round (clean-up of old files)."""

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}


class BestOfN(Strategy):
    """Draw from the model as it is; the loop keeps the best (the baseline)."""

    name = "best_of_n"

    def __init__(self, conditions: dict[str, Any] | None = None, guidance: float | None = None):
        self.conditions = dict(conditions or {})
        self.guidance = guidance

    def propose(self, ctx: DesignContext, n: int, round: int, seed: int) -> list[Proposal]:
        guidance = self.guidance if self.conditions else None
        return [Proposal(ctx.sample(n, seed=seed, conditions=self.conditions or None, guidance=guidance), dict(self.conditions))]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "conditions": self.conditions, "guidance": self.guidance}


def arm_seed(seed: int, arm: int) -> int:
    """The sampling seed of arm ``arm`` of a round drawn from ``seed``: a hash of the pair
    (NumPy's ``SeedSequence``), so no arm repeats another round's noise. (An offset
    ``seed + c·(arm + 1)`` would: round seeds are themselves an arithmetic progression, and an
    arm drawing the same noise at nearly the same condition repeats a backbone exactly.)"""
    state = np.random.SeedSequence([int(seed) % 2**63, int(arm)]).generate_state(1, np.uint64)[0]
    return int(state) % 2**63


class ConditionalSteering(Strategy):
    """Steer the model's conditions toward the objective (module docstring).

    Args:
        conditions: the conditions to steer, as a list of names (start at the middle of the
            training range, or uniform over the classes) or a dict name -> start value.
        arms: condition settings drawn per round (the round's samples are split among them).
        guidance: the classifier-free guidance scale of every draw.
        smoothing: ``α``, how far the search distribution moves toward the elites per round.
        elite_fraction: the share of the loop's elites whose settings update it.
        spread: the starting std of a numeric condition, as a share of its training std
            (or of its training range when the model records no std).
    """

    name = "conditional"

    def __init__(self, conditions: list[str] | dict[str, Any], arms: int = 4, guidance: float = 2.0, smoothing: float = 0.5,
                 elite_fraction: float = 1.0, spread: float = 0.25, min_spread: float = 0.02):
        if not conditions:
            raise GensciError("conditional steering needs at least one condition to steer")
        self.start = dict(conditions) if isinstance(conditions, dict) else {str(c): None for c in conditions}
        if arms < 1:
            raise GensciError(f"conditional steering needs arms >= 1, got {arms}")
        if not 0 < smoothing <= 1:
            raise GensciError(f"smoothing must lie in (0, 1], got {smoothing}")
        self.arms, self.guidance, self.smoothing = int(arms), float(guidance), float(smoothing)
        self.elite_fraction, self.spread, self.min_spread = float(elite_fraction), float(spread), float(min_spread)
        self.search: dict[str, dict[str, Any]] = {}

    def setup(self, ctx: DesignContext) -> None:
        specs = {spec["name"]: spec for spec in ctx.model.conditions}
        unknown = [c for c in self.start if c not in specs]
        if unknown:
            known = ", ".join(specs) or "none (the model is unconditional)"
            raise GensciError(f"conditional steering: the model has no condition {', '.join(unknown)}; it knows {known}")
        if self.search:
            return  # restored
        for name, start in self.start.items():
            spec = specs[name]
            if spec["kind"] == "vector":
                raise GensciError(f"conditional steering searches numeric and categorical conditions; {name} is a vector")
            if spec["kind"] == "numeric":
                low, high = float(spec["low"]), float(spec["high"])
                mu = (low + high) / 2 if start is None else float(start)
                if not low <= mu <= high:
                    raise GensciError(f"conditional steering: {name}={mu:g} lies outside the training range [{low:g}, {high:g}]")
                # the training std where the spec has one in the property's units (a range is
                # stretched by outliers); a log-scale spec's std is of log y
                linear = spec.get("scale", "linear") == "linear"
                scale = float(spec["std"]) if spec.get("std") and linear else (high - low)
                self.search[name] = {"kind": "numeric", "low": low, "high": high, "mean": mu, "std": self.spread * scale}
            else:
                classes = [str(c) for c in spec["classes"]]
                p = np.full(len(classes), 1.0 / len(classes))
                if start is not None:
                    if str(start) not in classes:
                        raise GensciError(f"conditional steering: {name}={start} is not one of {', '.join(classes)}")
                    p = np.full(len(classes), 0.3 / max(1, len(classes) - 1))
                    p[classes.index(str(start))] = 0.7 if len(classes) > 1 else 1.0
                self.search[name] = {"kind": "categorical", "classes": classes, "p": [float(v) for v in p / p.sum()]}

    def settings(self, rng: np.random.Generator) -> list[dict[str, Any]]:
        out = []
        for _ in range(self.arms):
            arm: dict[str, Any] = {}
            for name, s in self.search.items():
                if s["kind"] == "numeric":
                    arm[name] = float(np.clip(rng.normal(s["mean"], s["std"]), s["low"], s["high"]))
                else:
                    arm[name] = str(rng.choice(s["classes"], p=np.asarray(s["p"])))
            out.append(arm)
        return out

    def propose(self, ctx: DesignContext, n: int, round: int, seed: int) -> list[Proposal]:
        rng = np.random.default_rng(seed)
        arms = self.settings(rng)[: max(1, min(self.arms, n))]
        sizes = [n // len(arms) + (1 if k < n % len(arms) else 0) for k in range(len(arms))]
        return [Proposal(ctx.sample(m, seed=arm_seed(seed, k), conditions=arm, guidance=self.guidance), arm)
                for k, (arm, m) in enumerate(zip(arms, sizes)) if m > 0]

    def update(self, ctx: DesignContext, round: int, elites: list[Candidate]) -> None:
        steered = [c for c in elites if all(k in c.conditions for k in self.search)]
        steered = steered[: max(1, math.ceil(self.elite_fraction * len(steered)))] if steered else []
        if not steered:
            return
        a = self.smoothing
        for name, s in self.search.items():
            values = [c.conditions[name] for c in steered]
            if s["kind"] == "numeric":
                v = np.asarray(values, dtype=np.float64)
                width = s["high"] - s["low"]
                s["mean"] = float((1 - a) * s["mean"] + a * v.mean())
                s["std"] = float(max(self.min_spread * width, (1 - a) * s["std"] + a * v.std()))
            else:
                freq = np.asarray([sum(str(x) == c for x in values) for c in s["classes"]], dtype=np.float64) / len(values)
                p = (1 - a) * np.asarray(s["p"]) + a * freq
                p = np.maximum(p, 0.02)  # keep every class explorable
                s["p"] = [float(x) for x in p / p.sum()]

    def state_dict(self) -> dict[str, Any]:
        return {"search": self.search}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.search = {k: dict(v) for k, v in (state.get("search") or {}).items()}

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "arms": self.arms, "guidance": self.guidance, "smoothing": self.smoothing,
                "search": self.search}


def differentiable_reward(objectives: list[Any]) -> Any:
    """``reward(y) -> (B,)``: the log of the combined desirability of the objectives whose
    oracle has a ``differentiable(y)`` method (module docstring); raises when none has."""
    usable = [o for o in objectives if callable(getattr(o.oracle, "differentiable", None))]
    if not usable:
        names = ", ".join(o.name for o in objectives)
        raise GensciError(f"gradient guidance needs an objective with a differentiable oracle; none of {names} has one")
    total = sum(o.weight for o in usable)

    def reward(y: Any) -> torch.Tensor:
        out = None
        for o in usable:
            v = o.oracle.differentiable(y)
            term = o.transform.log_torch(v)
            if term is None:  # a step: minus the distance to its window (or the oriented value)
                if o.window is not None:
                    term = -(torch.relu(o.window[0] - v) + torch.relu(v - o.window[1]))
                else:
                    term = v if o.goal == "maximize" else -v
            out = o.weight * term if out is None else out + o.weight * term
        return out / total

    return reward


class GradientGuidance(Strategy):
    """Guide sampling by the gradient of the differentiable objectives (module docstring).

    Args:
        scale: the guidance strength (state units per unit of log-desirability).
        max_norm: the largest guidance step per sample, or None.
        conditions / guidance: optional fixed conditions and their CFG scale.
    """

    name = "gradient"

    def __init__(self, scale: float = 1.0, max_norm: float | None = 1.0, conditions: dict[str, Any] | None = None,
                 guidance: float | None = None):
        self.scale, self.max_norm = float(scale), max_norm
        self.conditions = dict(conditions or {})
        self.guidance = guidance
        self._reward = None

    def setup(self, ctx: DesignContext) -> None:
        self._reward = differentiable_reward(ctx.objectives)
        if "velocity" not in ctx.model.process.capabilities or not hasattr(ctx.model.process, "space"):
            raise GensciError("gradient guidance needs a flow-matching model (a velocity field on a continuous state); "
                              f"this model's process is {type(ctx.model.process).__name__}")

    def propose(self, ctx: DesignContext, n: int, round: int, seed: int) -> list[Proposal]:
        domain = ctx.model.domain

        def wrap(network, plan, process):
            return RewardGradientNetwork(network, self._reward, domain.readout, self.scale, self.max_norm)

        guidance = self.guidance if self.conditions else None
        samples = ctx.sample(n, seed=seed, conditions=self.conditions or None, guidance=guidance, network_wrapper=wrap)
        return [Proposal(samples, dict(self.conditions))]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "scale": self.scale, "max_norm": self.max_norm, "conditions": self.conditions}


class FineTuning(Strategy):
    """Propose with ``base`` and fine-tune the model on the elites after every round
    (:func:`gensci.inverse.adapt.finetune`: reward-weighted process loss plus a replay term
    on the prior's own round-0 samples)."""

    name = "finetune"

    def __init__(self, base: Strategy | None = None, steps: int = 50, lr: float = 1e-4, batch_size: int = 32,
                 temperature: float = 0.1, replay: float = 1.0, elites: int = 64):
        self.base = base if base is not None else BestOfN()
        if isinstance(self.base, FineTuning):
            raise GensciError("fine-tuning wraps a proposal strategy, not another fine-tuning")
        self.steps, self.lr, self.batch_size = int(steps), float(lr), int(batch_size)
        self.temperature, self.replay, self.n_elites = float(temperature), float(replay), int(elites)
        self.adapted_rounds = 0

    def setup(self, ctx: DesignContext) -> None:
        self.base.setup(ctx)

    def propose(self, ctx: DesignContext, n: int, round: int, seed: int) -> list[Proposal]:
        return self.base.propose(ctx, n, round, seed)

    def update(self, ctx: DesignContext, round: int, elites: list[Candidate]) -> None:
        from gensci.inverse.adapt import finetune

        self.base.update(ctx, round, elites)
        chosen = elites[: self.n_elites]
        if not chosen:
            return
        replay = [c for c in ctx.candidates if c.round == 0 and c.key is not None and c.status != "duplicate"]
        finetune(ctx, chosen, replay, steps=self.steps, lr=self.lr, batch_size=self.batch_size,
                 temperature=self.temperature, replay_weight=self.replay, seed=ctx.round_seed(round) + 1)
        self.adapted_rounds += 1

    def state_dict(self) -> dict[str, Any]:
        return {"adapted_rounds": self.adapted_rounds, "weights": self.weights_file, "base": self.base.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.adapted_rounds = int(state.get("adapted_rounds", 0))
        self.weights_file = state.get("weights")
        self.base.load_state_dict(state.get("base") or {})

    #: the file of the adapted weights the saved state refers to
    weights_file: str | None = None

    def save(self, ctx: DesignContext, folder: Path) -> None:
        """The adapted network's weights as ``folder/adapted_<k>.pt`` (k adaptations so
        far); the state file, written after, names it, so a crash between the two leaves
        the state pointing at the weights it was saved with."""
        from gensci.io import atomic_path

        if self.adapted_rounds == 0:
            return
        name = f"adapted_{self.adapted_rounds:03d}.pt"
        with atomic_path(Path(folder) / name) as tmp:
            torch.save(ctx.model.network.state_dict(), tmp)
        self.weights_file = name

    def load(self, ctx: DesignContext, folder: Path) -> None:
        if not self.weights_file:
            return
        path = Path(folder) / self.weights_file
        if not path.exists():
            raise GensciError(f"{folder}: the saved design state names {self.weights_file}, which is missing")
        ctx.model.network.load_state_dict(torch.load(path, weights_only=True, map_location="cpu"))

    def committed(self, folder: Path) -> None:
        """Remove adapted weights the saved state no longer names."""
        for path in Path(folder).glob("adapted_*.pt"):
            if path.name != self.weights_file:
                path.unlink(missing_ok=True)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "base": self.base.describe(), "steps": self.steps, "lr": self.lr,
                "batch_size": self.batch_size, "temperature": self.temperature, "replay": self.replay, "elites": self.n_elites}
