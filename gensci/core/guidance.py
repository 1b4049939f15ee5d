"""Classifier-free guidance and its variants, with one scale convention.

Scale ``s``: ``s = 0`` is the unconditional model, ``s = 1`` the conditional model alone,
``s > 1`` extrapolates away from the unconditional prediction.

* Linear predictions (ε, x0, v, flow velocity; Ho & Salimans 2022, arXiv 2207.12598;
  Zheng et al. 2023 "Guided Flows", arXiv 2311.13443):
  ``guided = u + s (c - u)``. Because ε, x0, v and the velocity are affine in one another
  for fixed ``x_t``, mixing any of them is the same guidance.
* Categorical predictions, in probability space (Graph DiT, Liu et al. 2024,
  arXiv 2401.13858): ``p ∝ p_u^(1-s) p_c^s``, renormalised; returned as log-probabilities.
* TCFG (Kwon et al. 2025, arXiv 2503.18137): per sample, stack ``[c, u]`` as a 2×D matrix,
  take its top right-singular vector ``v1`` and keep only the unconditional component along
  it, ``u' = (u·v1) v1``; then ``guided = u' + s (c - u')``.
* Unconditional-prior swap (Phunyaphibarn et al. 2025, arXiv 2503.20240): the
  unconditional branch ``u`` comes from a second model (e.g. a separately trained
  unconditional model) instead of the conditional model with its condition dropped.
* Guidance in a limited interval (Kynkäänniemi et al. 2024, "Applying Guidance in a Limited
  Interval Improves Sample and Distribution Quality in Diffusion Models", arXiv 2404.07724):
  the scale ``s`` applies only while the time of the state the network sees lies in
  ``[t_lo, t_hi]`` (engine time: 0 the noise, 1 the data); elsewhere the prediction is the
  conditional one (``s = 1``), one network pass instead of two. In their image models guiding
  near the noise collapses the samples toward a few modes and guiding near the data adds
  little, so they guide in the middle; where a property is settled differs between models
  (docs/benchmarks.md measures it on the bundled ones). A step outside the interval costs
  half a guided one, so guiding a fraction ``f`` of the steps costs ``(1 + f) / 2`` of full
  guidance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from gensci.core import state
from gensci.core.process import Condition
from gensci.core.softmax import log_softmax
from gensci.core.state import State

__all__ = ["Guidance", "GuidedModel", "cfg_linear", "cfg_probability", "tcfg", "drop_all", "parse_interval"]

Model = Callable[..., Tensor]

#: how far outside an interval's ends a time still counts as inside (float32 grid times)
_END_TOLERANCE = 1e-6


@dataclass
class Guidance:
    """How to guide a conditional model at sampling time."""

    scale: float = 1.0
    method: str = "cfg"  # "cfg" or "tcfg"
    unconditional_model: Model | None = None  # prior swap: take u from this model
    interval: tuple[float, float] | None = None  # guide only for t in [t_lo, t_hi]; conditional elsewhere

    def __post_init__(self) -> None:
        if self.method not in ("cfg", "tcfg"):
            raise ValueError(f"unknown guidance method {self.method!r}; choose 'cfg' or 'tcfg'")
        if self.interval is not None:
            self.interval = parse_interval(self.interval)

    def inside(self, t: Tensor) -> Tensor:
        """Which rows of ``t`` are guided: a boolean tensor of ``t``'s shape (all True without
        an interval). Both ends are inside, to ``1e-6``: a grid time that should be ``0.7``
        and is an ulp below it in float32 is still guided."""
        if self.interval is None:
            return torch.ones_like(t, dtype=torch.bool)
        lo, hi = self.interval
        return (t >= lo - _END_TOLERANCE) & (t <= hi + _END_TOLERANCE)


def parse_interval(value: Any) -> tuple[float, float]:
    """``(t_lo, t_hi)`` from a pair of numbers or a string ``"LO,HI"``, with
    ``0 <= t_lo <= t_hi <= 1``; a clear ``ValueError`` otherwise."""
    parts = value.split(",") if isinstance(value, str) else value
    try:
        lo, hi = (float(v) for v in parts)
    except (TypeError, ValueError):
        raise ValueError(f"a guidance interval is two times LO,HI in [0, 1] (0 the noise, 1 the data), "
                         f"got {value!r}") from None
    if not 0.0 <= lo <= hi <= 1.0:
        raise ValueError(f"a guidance interval needs 0 <= LO <= HI <= 1 (0 the noise, 1 the data), got {lo}, {hi}")
    return lo, hi


def cfg_linear(cond: Tensor, uncond: Tensor, scale: float) -> Tensor:
    """``u + s (c - u)``, evaluated as ``(1 - s) u + s c`` so both ends are exact."""
    return (1.0 - scale) * uncond + scale * cond


def cfg_probability(cond_logits: Tensor, uncond_logits: Tensor, scale: float) -> Tensor:
    """Normalised log of ``p_u^(1-s) p_c^s`` over the last axis (class axis)."""
    log_pc = log_softmax(cond_logits)
    log_pu = log_softmax(uncond_logits)
    return log_softmax((1.0 - scale) * log_pu + scale * log_pc)


def tcfg(cond: Tensor, uncond: Tensor, scale: float) -> Tensor:
    """Tangential-damping CFG: keep only ``u``'s component along the top singular direction."""
    b = cond.shape[0]
    stacked = torch.stack([cond.reshape(b, -1), uncond.reshape(b, -1)], dim=1)  # (B, 2, D)
    _, _, vh = torch.linalg.svd(stacked.double(), full_matrices=False)
    v1 = vh[:, 0, :].to(cond.dtype)  # (B, D)
    u_flat = uncond.reshape(b, -1)
    u_proj = (u_flat * v1).sum(dim=1, keepdim=True) * v1
    return cfg_linear(cond, u_proj.reshape(uncond.shape), scale)


def drop_all(cond: Condition) -> Condition:
    """The same conditions with every value dropped (NaN = null embedding)."""
    return {k: torch.full_like(v, float("nan"), dtype=torch.float32) for k, v in cond.items()}


class GuidedModel:
    """Wrap ``model(x, t, cond=None, mask=None)`` so that it returns guided predictions.

    Without a guidance spec or conditions it is the model itself. With ``s = 0`` and no prior
    swap it returns the unconditional prediction exactly; with ``s = 1`` the conditional one.
    Otherwise the two branches run as one batch of size 2B. With an ``interval``, a call whose
    times all lie outside it is the conditional model alone (one batch of B); a call whose
    rows straddle it runs both branches and keeps the conditional prediction on the rows
    outside.

    ``space`` is ``"linear"`` or ``"probability"`` for a one-field model, or a dict field ->
    space for a model of :class:`~gensci.core.state.State` records: each field is then mixed
    in its own space (positions linearly, atom types as probabilities) from the one batched
    call.
    """

    def __init__(self, model: Model, guidance: Guidance | None = None, space: str | Mapping[str, str] = "linear"):
        spaces = dict(space) if isinstance(space, Mapping) else {None: space}
        for name, kind in spaces.items():
            if kind not in ("linear", "probability"):
                where = "" if name is None else f" of field {name!r}"
                raise ValueError(f"guidance space{where} must be 'linear' or 'probability', got {kind!r}")
        if guidance is not None and guidance.method == "tcfg" and "probability" in spaces.values():
            raise ValueError("TCFG is defined for continuous predictions, not categorical ones")
        self.model = model
        self.guidance = guidance
        self.space = space

    def _mix(self, c: Tensor, u: Tensor, kind: str) -> Tensor:
        g = self.guidance
        if kind == "probability":
            return cfg_probability(c, u, g.scale)
        if g.method == "tcfg":
            return tcfg(c, u, g.scale)
        return cfg_linear(c, u, g.scale)

    def __call__(self, x: Any, t: Tensor, cond: Condition | None = None, mask: Any = None) -> Any:
        g = self.guidance
        if g is None or not cond:
            return self.model(x, t, cond=cond, mask=mask)
        swap = g.unconditional_model is not None
        if g.scale == 1.0:
            return self.model(x, t, cond=cond, mask=mask)
        inside = None if g.interval is None else g.inside(t)  # None: every row is guided
        if inside is not None:
            if not bool(inside.any()):
                return self.model(x, t, cond=cond, mask=mask)
            if bool(inside.all()):
                inside = None
        if g.scale == 0.0 and not swap and inside is None:
            return self.model(x, t, cond=None, mask=mask)
        if swap:
            c = self.model(x, t, cond=cond, mask=mask)
            u = g.unconditional_model(x, t, cond=None, mask=mask)
        else:
            both = self.model(
                state.cat([x, x]),
                torch.cat([t, t]),
                cond=state.cat([{k: v.float() for k, v in cond.items()}, drop_all(cond)]),
                mask=None if mask is None else state.cat([mask, mask]),
            )
            n = t.shape[0]
            c, u = state.take(both, slice(0, n)), state.take(both, slice(n, 2 * n))
        if isinstance(c, State):
            kinds = self.space if isinstance(self.space, Mapping) else {}
            return State({k: _rows_where(inside, self._mix(c[k], u[k], kinds.get(k, "linear")), c[k]) for k in c.keys()})
        return _rows_where(inside, self._mix(c, u, self.space if isinstance(self.space, str) else "linear"), c)


def _rows_where(inside: Tensor | None, guided: Tensor, conditional: Tensor) -> Tensor:
    """``guided`` on the rows ``inside`` marks (every row when None), ``conditional`` on the others."""
    if inside is None:
        return guided
    return torch.where(inside.reshape(-1, *[1] * (guided.dim() - 1)), guided, conditional)
