r"""A product process: one process per named field of a :class:`~gensci.core.state.State`.

A 3D molecule is generated as flow matching on zero-centre-of-mass positions together with
categorical diffusion on atom types (and bonds); each field keeps its own process, space,
mask and loss, and all fields share one time ``t``, optionally read through a per-field time
map ``tau_f`` (MiDi, Vignac et al. 2023, arXiv 2302.09048, and SemlaFlow, Irwin et al.
2024, arXiv 2406.07266, move types and positions on different schedules):

.. math::
    x_t = (x^f_{\tau_f(t)})_f, \quad x^f_{\tau} \sim q_f(\cdot \mid x^f_1, \tau), \qquad
    L = \sum_f w_f\, L_f(\hat y^f, c^f).

Each field's marginal is therefore exactly that of its single-field process at time
``tau_f(t)``. The network sees the record ``x_t`` and the shared ``t`` and returns a record
of per-field predictions; a sampler steps field ``f`` from ``tau_f(t)`` to ``tau_f(s)`` by
the field's own rule (ODE, SDE, Gaussian or categorical posterior), and guidance mixes each
field in its own space (see :mod:`samplers.base`, :class:`gensci.core.guidance.GuidedModel`).

A coupling given to the product (e.g. exact OT between whole molecules) sees the whole
record: it pairs the continuous fields' source draws with the data by the summed squared
distance over those fields (:func:`gensci.core.transport.pairwise_sq_dist`), and the paired
draws go to the field processes as ``x0``; discrete fields draw their own noise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from gensci.core.couplings import Coupling
from gensci.core.process import Condition, Corruption, Process
from gensci.core.spaces import Space
from gensci.core.state import Mask, State, field_mask
from gensci.core.time_distributions import TimeDistribution

__all__ = ["ProductProcess", "ProductSpace", "TimeMap", "PowerTime"]


class TimeMap:
    """The identity time map ``tau(t) = t``; subclasses give other increasing maps with
    ``tau(0) = 0`` and ``tau(1) = 1``."""

    def __call__(self, t: Tensor) -> Tensor:
        return t

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class PowerTime(TimeMap):
    """``tau(t) = t^p``: ``p > 1`` keeps the field near its source longer (it is decided
    late), ``p < 1`` settles it early."""

    def __init__(self, power: float):
        if not power > 0:
            raise ValueError(f"a power time map needs power > 0, got {power}")
        self.power = float(power)

    def __call__(self, t: Tensor) -> Tensor:
        return t.clamp(0.0, 1.0).pow(self.power)

    def __repr__(self) -> str:
        return f"PowerTime({self.power:g})"


def _time_map(spec: Any) -> TimeMap:
    if spec is None or isinstance(spec, TimeMap):
        return spec or TimeMap()
    if isinstance(spec, (int, float)):
        return PowerTime(float(spec))
    raise TypeError(f"a time map is a TimeMap or a power (number), got {spec!r}")


class ProductSpace(Space):
    """The spaces of a record's fields; noise and projection act field by field."""

    def __init__(self, spaces: Mapping[str, Space]):
        if not spaces:
            raise ValueError("a product space needs at least one field")
        self.spaces = dict(spaces)
        self.continuous = all(s.continuous for s in self.spaces.values())

    def noise(self, shape, generator=None, dtype=torch.float32, device=None, mask: Mask = None) -> State:
        return State({k: s.noise(tuple(shape[k]), generator=generator, device=device, mask=field_mask(mask, k),
                                 **({"dtype": dtype} if s.continuous else {}))
                      for k, s in self.spaces.items()})

    def project(self, x: State, mask: Mask = None) -> State:
        return State({k: s.project(x[k], field_mask(mask, k)) for k, s in self.spaces.items()})

    def difference(self, a: State, b: State) -> State:
        return State({k: s.difference(a[k], b[k]) for k, s in self.spaces.items() if s.continuous})

    def add(self, x: State, delta: State, mask: Mask = None) -> State:
        return State({k: s.add(x[k], delta[k], field_mask(mask, k)) if k in delta else x[k]
                      for k, s in self.spaces.items()})

    def __repr__(self) -> str:
        return "ProductSpace(" + ", ".join(f"{k}={s!r}" for k, s in self.spaces.items()) + ")"


class ProductProcess(Process):
    """One process per field, one shared time.

    Args:
        fields: field name -> its process (the field's space is the process's space).
        weights: field name -> loss weight ``w_f`` (default 1 each).
        time_maps: field name -> :class:`TimeMap` or a power ``p`` (``tau(t) = t^p``);
            default the identity.
        coupling: an optional coupling of whole records (see the module docstring).
        time_distribution: where the shared training time is drawn from
            (:mod:`gensci.core.time_distributions`; default uniform), e.g. ``BetaTime(2, 1)``
            for more training near the data (SemlaFlow). Needs continuous time.
    """

    def __init__(
        self,
        fields: Mapping[str, Process],
        weights: Mapping[str, float] | None = None,
        time_maps: Mapping[str, Any] | None = None,
        coupling: Coupling | None = None,
        time_distribution: TimeDistribution | None = None,
    ):
        if not fields:
            raise ValueError("a product process needs at least one field")
        self.fields: dict[str, Process] = dict(fields)
        for name, process in self.fields.items():
            if isinstance(process, ProductProcess):
                raise TypeError(f"field {name!r}: product processes do not nest")
        unknown = (set(weights or {}) | set(time_maps or {})) - set(self.fields)
        if unknown:
            raise ValueError(f"weights / time maps name unknown fields {sorted(unknown)}; fields: {list(self.fields)}")
        self.weights = {k: float((weights or {}).get(k, 1.0)) for k in self.fields}
        if any(w < 0 for w in self.weights.values()):
            raise ValueError(f"loss weights must be >= 0, got {self.weights}")
        self.time_maps = {k: _time_map((time_maps or {}).get(k)) for k in self.fields}
        self.coupling = coupling
        self.space = ProductSpace({k: p.space for k, p in self.fields.items()})
        grids = {p.timesteps for p in self.fields.values()}
        identity = all(type(m) is TimeMap for m in self.time_maps.values())
        self.timesteps = grids.pop() if len(grids) == 1 and identity else None
        if time_distribution is not None and self.timesteps is not None:
            raise ValueError(f"a time distribution needs continuous time; these fields share a {self.timesteps}-step grid")
        self.time_distribution = time_distribution

    # ------------------------------------------------------------ per field
    @property
    def guidance_space(self) -> dict[str, str]:  # type: ignore[override]
        return {k: p.guidance_space for k, p in self.fields.items()}

    @property
    def heads(self) -> dict[str, int]:  # type: ignore[override]
        return {k: p.heads for k, p in self.fields.items()}

    def field_time(self, name: str, t: Tensor) -> Tensor:
        """``tau_f(t)`` of field ``name``."""
        return self.time_maps[name](t)

    # ------------------------------------------------------------ training
    def prior(self, shape, generator=None, device=None, mask: Mask = None, dtype=torch.float32) -> State:
        """A draw of every field's prior (a :class:`~gensci.core.context.Context` field has none:
        its values come with the start state)."""
        return State({k: p.prior(tuple(shape[k]), generator=generator, device=device, mask=field_mask(mask, k),
                                 dtype=dtype) for k, p in self.fields.items()})

    def corrupt(
        self,
        x1: State,
        *,
        generator: torch.Generator | None = None,
        cond: Condition | None = None,
        mask: Mask = None,
        t: Tensor | None = None,
        x0: State | None = None,
    ) -> Corruption:
        """Every field corrupted by its process at ``tau_f(t)`` for one shared ``t``."""
        if not isinstance(x1, State) or set(x1.keys()) != set(self.fields):
            got = list(x1.keys()) if isinstance(x1, State) else type(x1).__name__
            raise ValueError(f"the product process needs a State with fields {list(self.fields)}, got {got}")
        n = len(x1)
        device = x1.device
        if t is None:
            t = self.sample_time(n, generator=generator, device=device)
        weight, logs, sources = None, {}, dict(x0.items()) if x0 is not None else {}
        if self.coupling is not None:
            continuous = [k for k, p in self.fields.items() if p.space.continuous]
            if not continuous:
                raise ValueError("a coupling of whole records needs at least one continuous field")
            draws = State({k: sources[k] if k in sources else self.fields[k].prior(
                tuple(x1[k].shape), generator=generator, device=device, mask=field_mask(mask, k), dtype=x1[k].dtype)
                for k in continuous})
            pair_space = ProductSpace({k: self.fields[k].space for k in continuous})
            pairing = self.coupling(draws, State({k: x1[k] for k in continuous}), cond=cond, generator=generator,
                                    mask=mask, space=pair_space)
            sources.update(pairing.x0.items())
            weight, cond, logs = pairing.weight, pairing.cond, dict(pairing.logs)
        parts: dict[str, Corruption] = {}
        for name, process in self.fields.items():
            part = process.corrupt(x1[name], generator=generator, cond=cond, mask=field_mask(mask, name),
                                   t=self.field_time(name, t), x0=sources.get(name))
            if weight is not None:
                part.weight = weight if part.weight is None else part.weight * weight
            parts[name] = part
            logs.update({f"{name}/{k}": v for k, v in part.logs.items()})
        return Corruption(
            t=t, x_t=State({k: c.x_t for k, c in parts.items()}), target=State({k: c.target for k, c in parts.items()}),
            weight=weight, x1=x1, cond=cond, mask=mask, parts=parts, logs=logs,
            x0=State({k: c.x0 for k, c in parts.items()}) if all(c.x0 is not None for c in parts.values()) else None,
        )

    def loss(self, prediction: State, c: Corruption) -> tuple[Tensor, dict[str, Tensor]]:
        """``sum_f w_f L_f``, with every field's own diagnostics logged as ``<field>/<name>``."""
        missing = [k for k, p in self.fields.items()
                   if "context" not in p.capabilities and (not isinstance(prediction, State) or k not in prediction)]
        if missing:
            raise ValueError(f"the network's prediction lacks fields {missing}; it must return a State with "
                             f"fields {list(self.fields)}")
        total: Tensor | None = None
        logs: dict[str, Tensor] = {}
        for name, process in self.fields.items():
            if "context" in process.capabilities:
                continue  # a given field: nothing predicted, nothing lost
            value, part_logs = process.loss(prediction[name], c.parts[name])
            logs.update({f"{name}/{k}": v for k, v in part_logs.items()})
            term = self.weights[name] * value
            total = term if total is None else total + term
        assert total is not None
        logs["loss"] = total.detach()
        return total, logs

    def clean_estimate(self, prediction: State, x_t: State, t: Tensor) -> State:
        """Every field's ``x̂_1`` at its own time ``tau_f(t)``; a given (context) field is its
        own clean value."""
        return State({k: x_t[k] if "context" in p.capabilities
                      else p.clean_estimate(prediction[k], x_t[k], self.field_time(k, t))
                      for k, p in self.fields.items()})

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={p!r}" for k, p in self.fields.items())
        extra = "" if self.time_distribution is None else f", time_distribution={self.time_distribution!r}"
        return f"ProductProcess({inner}, weights={self.weights}, time_maps={self.time_maps}{extra})"
