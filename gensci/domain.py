"""The contract between the engine and a domain adapter.

A domain owns everything that knows about its objects: reading data, featurising it into
tensors, the network's input/output sizes, decoding tensors back into objects, metrics and
file output. The engine (training, checkpoints, CLI, :func:`gensci.load`) only calls the
methods below, so writing a domain means subclassing :class:`Domain` and naming it in a
config (``domain._target_``). ``domains/points`` is the smallest complete example.

Data travel as :class:`Batch` records: ``x`` the clean state (``t = 1``), ``cond`` the
named conditions (float tensors ``(B,)``, NaN = missing), ``mask`` for variable-size states.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from gensci.core.process import Condition
from gensci.core.spaces import Euclidean, Space
from gensci.errors import GensciError

__all__ = ["Batch", "Domain", "SamplePlan", "ConditionRequest", "parse_condition_values", "check_conditions",
           "describe_condition"]


@dataclass
class Batch:
    """A collated minibatch of clean data."""

    x: Tensor
    cond: Condition | None = None
    mask: Tensor | None = None

    def to(self, device: torch.device | str) -> Batch:
        cond = None if self.cond is None else {k: v.to(device) for k, v in self.cond.items()}
        mask = None if self.mask is None else self.mask.to(device)
        return Batch(self.x.to(device), cond, mask)

    def __len__(self) -> int:
        return self.x.shape[0]


#: conditions requested by a user at sampling time: name -> number or class name
ConditionRequest = dict[str, Any]


def parse_condition_values(pairs: Sequence[str]) -> ConditionRequest:
    """Parse ``["gap=0.25", "label=1"]`` into ``{"gap": "0.25", "label": "1"}``."""
    out: ConditionRequest = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise GensciError(f"condition {pair!r} must look like name=value")
        out[name.strip()] = value.strip()
    return out


def describe_condition(spec: dict[str, Any]) -> str:
    """``gap (numeric, trained on [0.1, 0.6] Ha)`` or ``label (one of 0, 1)``."""
    if spec["kind"] == "numeric":
        unit = f" {spec['unit']}" if spec.get("unit") else ""
        return f"{spec['name']} (numeric, trained on [{spec['low']:g}, {spec['high']:g}]{unit})"
    return f"{spec['name']} (one of {', '.join(spec['classes'])})"


def check_conditions(specs: Sequence[dict[str, Any]], conditions: ConditionRequest | None) -> dict[str, Any]:
    """Requested values checked against condition specs (dicts with ``name``, ``kind`` and
    ``low`` / ``high`` or ``classes``): numbers as floats, classes as strings.

    Raises :class:`GensciError` for an unknown name (listing what the model knows), a
    non-number, a value outside the training range or an unknown class.
    """
    by_name = {spec["name"]: spec for spec in specs}
    out: dict[str, Any] = {}
    for name, value in (conditions or {}).items():
        if name not in by_name:
            known = ", ".join(describe_condition(spec) for spec in by_name.values()) or "none (this model is unconditional)"
            raise GensciError(f"unknown condition {name!r}; this model knows: {known}")
        spec = by_name[name]
        if spec["kind"] == "numeric":
            try:
                v = float(value)
            except (TypeError, ValueError):
                raise GensciError(f"condition {name!r} needs a number, got {value!r}") from None
            if not spec["low"] <= v <= spec["high"]:
                unit = f" {spec['unit']}" if spec.get("unit") else ""
                raise GensciError(f"condition {name}={v:g} is outside the training range [{spec['low']:g}, {spec['high']:g}]{unit}")
            out[name] = v
        else:
            if str(value) not in spec["classes"]:
                raise GensciError(f"condition {name}={value} is not a known class; choose one of {', '.join(spec['classes'])}")
            out[name] = str(value)
    return out


@dataclass
class SamplePlan:
    """What the engine needs to draw ``n`` samples: state shape, mask, encoded conditions."""

    shape: tuple[int, ...]
    mask: Tensor | None = None
    cond: Condition | None = None
    info: dict[str, Any] = field(default_factory=dict)


class Domain(ABC):
    """Base class of domain adapters. Subclasses fill in data, decoding, metrics and files."""

    #: short name, e.g. "points"
    name: str = "domain"
    #: the default file suffix :meth:`write` produces, e.g. ".csv"
    suffix: str = ".txt"

    # ----------------------------------------------------------------- data
    @abstractmethod
    def prepare(self) -> None:
        """Read or build the data and compute the statistics (from the train split only)."""

    @abstractmethod
    def dataset(self, split: str) -> Dataset:
        """The ``"train"``, ``"val"`` or ``"test"`` split as a torch Dataset of items."""

    def collate(self, items: list[Any]) -> Batch:
        """Collate dataset items into a :class:`Batch` (default: dicts of fixed-size tensors)."""
        x = torch.stack([it["x"] for it in items])
        cond = None
        if items and items[0].get("cond"):
            cond = {k: torch.stack([torch.as_tensor(it["cond"][k], dtype=torch.float32) for it in items]) for k in items[0]["cond"]}
        return Batch(x=x, cond=cond)

    def source(self, n: int, generator: torch.Generator | None = None) -> Tensor | None:
        """Draws from a non-Gaussian source distribution at ``t = 0``, or None for the process prior."""
        return None

    # ------------------------------------------------------------ network
    def space(self) -> Space:
        """The space clean states live in."""
        return Euclidean()

    def process_kwargs(self) -> dict[str, Any]:
        """Extra keyword arguments for the process beyond ``space`` (e.g. data marginals)."""
        return {}

    @abstractmethod
    def network_kwargs(self) -> dict[str, Any]:
        """Keyword arguments the network factory needs (sizes, condition specs)."""

    @property
    def conditions(self) -> list[dict[str, Any]]:
        """Condition specs as plain dicts (see :class:`gensci.nn.conditions.ConditionSpec`)."""
        return []

    # ---------------------------------------------------------- statistics
    @abstractmethod
    def stats(self) -> dict[str, Any]:
        """Everything decoding needs after training (plain types / tensors): saved in checkpoints."""

    @abstractmethod
    def load_stats(self, stats: dict[str, Any]) -> None:
        """Restore :meth:`stats` from a checkpoint, without reading any data."""

    # ------------------------------------------------------------ sampling
    @abstractmethod
    def plan(self, n: int, conditions: ConditionRequest | None = None, **options: Any) -> SamplePlan:
        """Shapes, masks and encoded conditions for ``n`` samples.

        Must raise :class:`GensciError` for unknown condition names (listing the known
        ones) and for values the model cannot honour (giving the training range).
        """

    @abstractmethod
    def decode(self, x: Tensor, plan: SamplePlan) -> Any:
        """Turn sampled states into domain objects."""

    @abstractmethod
    def write(self, samples: Any, path: str | Path, plan: SamplePlan | None = None) -> Path:
        """Write samples to ``path`` atomically; return the path written."""

    def wrap_network(self, network: torch.nn.Module, plan: SamplePlan, process: Any) -> torch.nn.Module:
        """The network the sampler calls for ``plan`` under ``process``: ``network`` itself
        by default; a domain may wrap it, e.g. to correct predictions with a physical
        potential that a sampling option of :meth:`plan` switched on."""
        return network

    def write_trajectory(self, trajectory: Sequence[Any], path: str | Path, plan: SamplePlan | None = None) -> list[Path]:
        """Write a decoded denoising path (one entry per kept time, each holding every
        sample, as :meth:`gensci.model.GenerativeModel.sample` returns it) atomically;
        return the files written."""
        raise GensciError(f"the {self.name} domain cannot write trajectories")

    def read(self, path: str | Path) -> Any:
        """Read samples back from a file :meth:`write` produced (for ``gensci evaluate``)."""
        raise GensciError(f"the {self.name} domain cannot read sample files")

    # -------------------------------------------------------------- metrics
    @abstractmethod
    def evaluate(self, samples: Any, plan: SamplePlan | None = None, split: str = "test") -> dict[str, float]:
        """Metrics of ``samples`` against the held-out ``split``."""

    def figures(self, samples: Any, stem: Path, split: str = "test") -> list[Path]:
        """Optional plots of ``samples`` against ``split``, written as ``<stem>_<what>.png``;
        returns the files written (none by default)."""
        return []
