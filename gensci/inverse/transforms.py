"""Desirability transforms: raw oracle values -> scores in [0, 1].

A design objective maps each raw value (a gap in Ha, a radius of gyration in Å) through a
transform to a desirability in [0, 1], so that objectives of different units combine
(:func:`gensci.inverse.objectives.combine`), as REINVENT4's score transforms do (Loeffler et
al., "REINVENT 4", J. Cheminform. 2024). With ``mid = (low + high) / 2`` and
``half = (high - low) / 2``:

* ``sigmoid``:        d(x) = 1 / (1 + exp(-k (x - mid) / half)); with the default
  ``k = ln 99`` the desirability is 0.01 at ``low``, 0.5 at ``mid`` and 0.99 at ``high``;
* ``reverse_sigmoid``: 1 - sigmoid (for "lower is better");
* ``step``:           1 where ``low <= x <= high`` (either bound may be omitted), else 0;
* ``double_sigmoid``: a window, rising at ``low`` and falling at ``high`` over ``width``:
  d(x) = σ(k (x - low) / width) · σ(k (high - x) / width), σ(z) = 1 / (1 + e^(-z)),
  so d is about 0.5 at each edge and close to 1 inside a window wider than ``width``;
* ``identity``:       the value itself, which must already lie in [0, 1] (e.g. QED).

NaN (a failed evaluation) stays NaN in every transform.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from gensci.errors import GensciError

__all__ = ["Transform", "Identity", "Sigmoid", "ReverseSigmoid", "Step", "DoubleSigmoid", "make_transform", "TRANSFORMS"]

LN99 = math.log(99.0)


class Transform(ABC):
    """A map of raw values to desirabilities in [0, 1] (module docstring)."""

    name = "transform"

    @abstractmethod
    def __call__(self, values: np.ndarray) -> np.ndarray:
        """Desirabilities of ``values`` (NaN stays NaN)."""

    def describe(self) -> str:
        return self.name

    def torch(self, values: "torch.Tensor") -> "torch.Tensor | None":
        """The transform on a tensor, differentiably, or None where it has no useful
        gradient (a step)."""
        return None

    def log_torch(self, values: "torch.Tensor") -> "torch.Tensor | None":
        """``log d(x)`` on a tensor, differentiably, or None (a step). The sigmoid family
        overrides it with ``log σ(z)`` computed as such, whose gradient survives far in the
        tails, where ``d`` itself underflows and ``log d`` would have none."""
        d = self.torch(values)
        return None if d is None else d.clamp_min(1e-12).log()


@dataclass
class Identity(Transform):
    """The value as its own desirability; values outside [0, 1] are an error."""

    name = "identity"

    def __call__(self, values: np.ndarray) -> np.ndarray:
        x = np.asarray(values, dtype=np.float64)
        finite = x[np.isfinite(x)]
        if finite.size and (finite.min() < 0 or finite.max() > 1):
            raise GensciError(f"the identity transform needs values in [0, 1], got {finite.min():g} to {finite.max():g}; "
                              "give the objective a sigmoid, step or double_sigmoid transform")
        return x

    def torch(self, values):
        return values.clamp(0.0, 1.0)


def _bounds(low: float | None, high: float | None, what: str) -> tuple[float, float]:
    if low is None or high is None:
        raise GensciError(f"the {what} transform needs both low and high")
    low, high = float(low), float(high)
    if not high > low:
        raise GensciError(f"the {what} transform needs low < high, got low={low:g}, high={high:g}")
    return low, high


@dataclass
class Sigmoid(Transform):
    """0.01 at ``low``, 0.5 at the midpoint, 0.99 at ``high`` (for the default ``k``)."""

    low: float
    high: float
    k: float = LN99
    name = "sigmoid"

    def __post_init__(self) -> None:
        self.low, self.high = _bounds(self.low, self.high, self.name)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        x = np.asarray(values, dtype=np.float64)
        mid, half = (self.low + self.high) / 2, (self.high - self.low) / 2
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-self.k * (x - mid) / half))

    def _z(self, values):
        mid, half = (self.low + self.high) / 2, (self.high - self.low) / 2
        return self.k * (values - mid) / half

    def torch(self, values):
        return self._z(values).sigmoid()

    def log_torch(self, values):
        import torch

        return torch.nn.functional.logsigmoid(self._z(values))

    def describe(self) -> str:
        return f"{self.name}({self.low:g}, {self.high:g})"


@dataclass
class ReverseSigmoid(Sigmoid):
    """0.99 at ``low``, 0.01 at ``high``: lower is better."""

    name = "reverse_sigmoid"

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return 1.0 - super().__call__(values)

    def torch(self, values):
        return 1.0 - super().torch(values)

    def log_torch(self, values):
        import torch

        return torch.nn.functional.logsigmoid(-self._z(values))  # 1 - σ(z) = σ(-z)


@dataclass
class Step(Transform):
    """1 inside ``[low, high]`` (an omitted bound is open), 0 outside."""

    low: float | None = None
    high: float | None = None
    name = "step"

    def __post_init__(self) -> None:
        if self.low is None and self.high is None:
            raise GensciError("the step transform needs low, high or both")
        if self.low is not None and self.high is not None and float(self.high) < float(self.low):
            raise GensciError(f"the step transform needs low <= high, got low={self.low:g}, high={self.high:g}")

    def __call__(self, values: np.ndarray) -> np.ndarray:
        x = np.asarray(values, dtype=np.float64)
        ok = np.ones_like(x, dtype=bool)
        if self.low is not None:
            ok &= x >= float(self.low)
        if self.high is not None:
            ok &= x <= float(self.high)
        return np.where(np.isnan(x), np.nan, ok.astype(np.float64))

    def describe(self) -> str:
        return f"{self.name}({self.low}, {self.high})"


@dataclass
class DoubleSigmoid(Transform):
    """A soft window: about 0.5 at ``low`` and at ``high``, near 1 between."""

    low: float
    high: float
    width: float | None = None
    k: float = LN99
    name = "double_sigmoid"

    def __post_init__(self) -> None:
        self.low, self.high = _bounds(self.low, self.high, self.name)
        self.width = float(self.width) if self.width is not None else (self.high - self.low) / 4
        if not self.width > 0:
            raise GensciError(f"the double_sigmoid transform needs width > 0, got {self.width:g}")

    def __call__(self, values: np.ndarray) -> np.ndarray:
        x = np.asarray(values, dtype=np.float64)
        with np.errstate(over="ignore"):
            rise = 1.0 / (1.0 + np.exp(-self.k * (x - self.low) / self.width))
            fall = 1.0 / (1.0 + np.exp(-self.k * (self.high - x) / self.width))
        return rise * fall

    def torch(self, values):
        return (self.k * (values - self.low) / self.width).sigmoid() * (self.k * (self.high - values) / self.width).sigmoid()

    def log_torch(self, values):
        import torch

        logsig = torch.nn.functional.logsigmoid
        return logsig(self.k * (values - self.low) / self.width) + logsig(self.k * (self.high - values) / self.width)

    def describe(self) -> str:
        return f"{self.name}({self.low:g}, {self.high:g}, width {self.width:g})"


TRANSFORMS: dict[str, type[Transform]] = {cls.name: cls for cls in (Identity, Sigmoid, ReverseSigmoid, Step, DoubleSigmoid)}


def make_transform(spec: Transform | str | dict | None) -> Transform:
    """A transform from an instance, a name (``"identity"``) or a dict ``{"name": "sigmoid",
    "low": 0.2, "high": 0.3}``; None gives :class:`Identity`."""
    if spec is None:
        return Identity()
    if isinstance(spec, Transform):
        return spec
    if isinstance(spec, str):
        spec = {"name": spec}
    spec = dict(spec)
    name = spec.pop("name", spec.pop("type", None))
    if name not in TRANSFORMS:
        raise GensciError(f"unknown transform {name!r}; choose one of {', '.join(TRANSFORMS)}")
    try:
        return TRANSFORMS[name](**spec)
    except TypeError as err:
        raise GensciError(f"the {name} transform: {err}") from None
