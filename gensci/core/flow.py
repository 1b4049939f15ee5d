r"""Conditional flow matching on an affine path, with a pluggable coupling.

Lipman et al. 2023 (arXiv 2210.02747), Liu et al. 2023 (rectified flow, arXiv 2209.03003),
Albergo & Vanden-Eijnden 2023 (arXiv 2209.15571), Tong et al. 2023 (OT-CFM,
arXiv 2302.00482). A coupling pairs the source batch with the data; then

.. math::
    x_t = \alpha_t x_1 + \sigma_t x_0 \;(+\, \sigma_{min} z), \qquad
    u_t = \dot\alpha_t x_1 + \dot\sigma_t x_0,

and the network regresses ``u_t`` with the per-pair coupling weights:
``L = sum_b w_b mean(|v_b - u_b|^2) / B``. The optional ``sigma_min`` smooths the path
with constant Gaussian noise ``z`` (Tong et al.'s ``sigma``); the target is unchanged.

On the torus the path is the geodesic (FoldingDiff-style angles; Chen & Lipman 2024,
Riemannian flow matching, arXiv 2302.03660):
``x_t = wrap(x0 + alpha_t Δ)``, ``u_t = d_alpha_t Δ`` with ``Δ = wrap(x1 - x0)``
(for CondOT, ``x_t = wrap(x0 + t Δ)`` and ``u = Δ``); it needs ``alpha + sigma = 1``.

By default the network predicts the velocity, so ``velocity(prediction, x_t, t) = prediction``.
With ``prediction="data"`` it predicts the clean sample ``x̂_1`` instead (SemlaFlow, Irwin
et al. 2024; FlowMol, Dunn & Koes 2024) and is trained on ``L = sum_b w_b mean(|x̂_1 - x_1|^2) / B``;
the sampler's velocity is then the one the estimate implies,

.. math::
    \hat x_0 = \frac{x_t - \alpha_t \hat x_1}{\sigma_t}, \qquad
    v = \dot\alpha_t \hat x_1 + \dot\sigma_t \hat x_0
    \;\overset{\text{CondOT}}{=}\; \frac{\hat x_1 - x_t}{1 - t}.

With ``prediction="displacement"`` the network predicts the step to the clean sample,
``x̂_1 = x_t + F`` (on the torus ``wrap(x_t + F)``): the same loss, but an output that
vanishes near the data, where an equivariant network that moves atoms by a bounded step
(EGNN) keeps its precision.

The data loss is the velocity loss weighted by ``(1 - t)^2`` on straight paths: it does not
ask the network to recover the vanishing noise ``x_0`` from ``x_t`` near the data, where a
small error in the velocity still moves every atom.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from gensci.core.couplings import Coupling, IndependentCoupling, Pairing
from gensci.core.process import Condition, Corruption, Process, broadcast_time, masked_mean
from gensci.core.schedules import CondOTSchedule, Schedule
from gensci.core.spaces import Categorical, Euclidean, Space, Torus, expand_mask
from gensci.core.time_distributions import TimeDistribution

__all__ = ["FlowMatching", "Source", "draw_source", "paired_batch"]

#: ``source(n, generator) -> Tensor (n, ...)``: a user-supplied sampler of the t = 0 side
Source = Callable[[int, "torch.Generator | None"], Tensor]


def draw_source(
    source: Source | None,
    space: Space,
    shape: tuple[int, ...],
    generator: torch.Generator | None,
    device,
    mask: Tensor | None,
    dtype: torch.dtype,
) -> Tensor:
    """A draw from ``source`` (projected onto the space) or, without one, the space's noise."""
    if source is None:
        return space.noise(shape, generator=generator, device=device, mask=mask, dtype=dtype)
    x = source(shape[0], generator)
    if tuple(x.shape) != tuple(shape):
        raise ValueError(f"source returned shape {tuple(x.shape)}, expected {tuple(shape)}")
    return space.project(x.to(device=device, dtype=dtype), mask)


def paired_batch(
    process: Process,
    x1: Tensor,
    *,
    generator: torch.Generator | None,
    cond: Condition | None,
    mask: Tensor | None,
    t: Tensor | None,
    x0: Tensor | None,
) -> tuple[Pairing, Tensor]:
    """The start of every coupled corruption: draw ``x0`` from the prior unless given, pair it
    with the data by ``process.coupling``, and draw (or take) the times ``t``."""
    if x0 is None:
        if process.coupling.requires_x0:
            raise ValueError(f"{type(process.coupling).__name__} needs the paired x0 passed to corrupt")
        x0 = process.prior(tuple(x1.shape), generator=generator, device=x1.device, mask=mask, dtype=x1.dtype)
    pairing = process.coupling(x0, x1, cond=cond, generator=generator, mask=mask, space=process.space)
    if t is None:
        t = process.sample_time(x1.shape[0], generator=generator, device=x1.device)
    return pairing, t.to(device=x1.device, dtype=x1.dtype)


class FlowMatching(Process):
    """Flow matching ``x0 -> x1`` on an affine (or, on the torus, geodesic) path.

    Args:
        space: where states live (Euclidean, ZeroCoM or Torus); default Euclidean.
        schedule: ``alpha_t, sigma_t``; default :class:`CondOTSchedule` (straight lines).
        coupling: how x0 is paired with x1; default :class:`IndependentCoupling` (I-CFM).
        sigma_min: std of the optional Gaussian smoothing of the path (default 0).
        source: optional sampler of the t = 0 distribution; default the space's noise.
        prediction: ``"velocity"`` (default), ``"data"`` (the network predicts ``x̂_1``) or
            ``"displacement"`` (it predicts ``x̂_1 - x_t``).
        time_distribution: where training times are drawn from (default uniform;
            :mod:`gensci.core.time_distributions`).
        velocity_weight_max: with ``prediction="data"`` or ``"displacement"``, weight each sample's data loss by the
            factor that turns it into the velocity loss, ``((alpha' sigma - sigma' alpha) / sigma)^2``
            (``1 / (1 - t)^2`` on straight paths), capped at this value: near the data the
            estimate must be precise to a fraction of a bond length, and the plain data loss is
            small there. ``None`` (default): the plain data loss.
    """

    capabilities = frozenset({"velocity"})
    #: what the network may be asked to predict
    PREDICTIONS = ("velocity", "data", "displacement")
    #: ``sigma_t`` below this counts as the data end, where ``x̂_0`` is not defined
    SIGMA_FLOOR = 1e-4

    def __init__(
        self,
        space: Space | None = None,
        schedule: Schedule | None = None,
        coupling: Coupling | None = None,
        sigma_min: float = 0.0,
        source: Source | None = None,
        prediction: str = "velocity",
        time_distribution: TimeDistribution | None = None,
        velocity_weight_max: float | None = None,
    ):
        if prediction not in self.PREDICTIONS:
            raise ValueError(f"prediction must be one of {', '.join(self.PREDICTIONS)}, got {prediction!r}")
        if velocity_weight_max is not None and (prediction == "velocity" or not velocity_weight_max > 0):
            raise ValueError("velocity_weight_max (> 0) weights the data loss; it needs prediction='data' or 'displacement'")
        self.velocity_weight_max = None if velocity_weight_max is None else float(velocity_weight_max)
        self.prediction = prediction
        self.time_distribution = time_distribution
        self.space = space if space is not None else Euclidean()
        if isinstance(self.space, Categorical):
            raise TypeError("FlowMatching needs a continuous space; use categorical diffusion for classes")
        self.schedule = schedule if schedule is not None else CondOTSchedule()
        self.coupling = coupling if coupling is not None else IndependentCoupling()
        if sigma_min < 0:
            raise ValueError(f"sigma_min must be >= 0, got {sigma_min}")
        self.sigma_min = float(sigma_min)
        self.source = source
        self.geodesic = isinstance(self.space, Torus)
        if self.geodesic:
            probe = torch.linspace(0.05, 0.95, 7)
            if not torch.allclose(self.schedule.alpha(probe) + self.schedule.sigma(probe), torch.ones(7), atol=1e-5):
                raise ValueError("the torus path is geodesic and needs a schedule with alpha + sigma = 1")

    def prior(self, shape, generator=None, device=None, mask=None, dtype=torch.float32) -> Tensor:
        return draw_source(self.source, self.space, tuple(shape), generator, device, mask, dtype)

    def path(self, x0: Tensor, x1: Tensor, t: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(x_t, u_t)`` on the conditional path between paired ``x0`` and ``x1`` (no smoothing)."""
        tt = broadcast_time(t.to(x1.dtype), x1)
        sch = self.schedule
        if type(sch) is CondOTSchedule and not self.geodesic:
            # the straight path in two kernels (the general form below takes ten)
            u = x1 - x0
            x_t = self.space.project(torch.lerp(x0, x1, tt), mask)
        elif self.geodesic:
            delta = self.space.difference(x1, x0)
            x_t = self.space.project(x0 + sch.alpha(tt) * delta, mask)
            u = sch.d_alpha(tt) * delta
        else:
            x_t = self.space.project(sch.alpha(tt) * x1 + sch.sigma(tt) * x0, mask)
            u = sch.d_alpha(tt) * x1 + sch.d_sigma(tt) * x0
        m = expand_mask(mask, u)
        return x_t, (u if m is None else u * m)

    def corrupt(
        self,
        x1: Tensor,
        *,
        generator: torch.Generator | None = None,
        cond: Condition | None = None,
        mask: Tensor | None = None,
        t: Tensor | None = None,
        x0: Tensor | None = None,
    ) -> Corruption:
        pairing, t = paired_batch(self, x1, generator=generator, cond=cond, mask=mask, t=t, x0=x0)
        x_t, u = self.path(pairing.x0, pairing.x1, t, mask)
        if self.sigma_min > 0:
            z = self.space.noise(tuple(x1.shape), generator=generator, device=x1.device, mask=mask, dtype=x1.dtype)
            x_t = self.space.add(x_t, self.sigma_min * z, mask)
        if self.prediction != "velocity":
            u = pairing.x1 if self.prediction == "data" else self.space.difference(pairing.x1, x_t)
            m = expand_mask(mask, u)
            u = u if m is None else u * m
        return Corruption(
            t=t,
            x_t=x_t,
            target=u,
            weight=pairing.weight,
            x0=pairing.x0,
            x1=pairing.x1,
            cond=pairing.cond,
            mask=mask,
            logs=dict(pairing.logs),
        )

    def loss(self, prediction: Tensor, c: Corruption) -> tuple[Tensor, dict[str, Tensor]]:
        """Weighted, masked MSE between the prediction and its target: the conditional velocity,
        or the paired data sample for ``prediction="data"`` (on the torus, the wrapped difference)."""
        diff = prediction - c.target
        if self.prediction == "data" and self.geodesic:
            diff = self.space.difference(prediction, c.target)
        weight = c.weight
        if self.velocity_weight_max is not None:
            w = self.velocity_weight(c.t.to(diff.dtype)).clamp(max=self.velocity_weight_max)
            weight = w if weight is None else weight * w
        loss = masked_mean(diff.pow(2), c.mask, weight)
        logs = {"loss": loss.detach(), **{k: v.detach() for k, v in c.logs.items()}}
        return loss, logs

    def velocity_weight(self, t: Tensor) -> Tensor:
        r"""``((alpha' sigma - sigma' alpha) / sigma)^2`` at ``t``: the velocity's error is the
        data estimate's error times its root (``1 / (1 - t)^2`` on straight paths); infinite
        at the data end, so callers cap it."""
        s = self.schedule
        sigma = s.sigma(t).clamp_min(self.SIGMA_FLOOR)
        return ((s.d_alpha(t) * sigma - s.d_sigma(t) * s.alpha(t)) / sigma).pow(2)

    def velocity(self, prediction: Tensor, x_t: Tensor, t: Tensor) -> Tensor:
        if self.prediction == "velocity":
            return prediction
        prediction = self._as_data(prediction, x_t)
        s = self.schedule
        tb = broadcast_time(t.to(x_t.dtype), x_t)
        if self.geodesic:  # x_t = x0 + alpha Δ: the remaining arc over the remaining alpha
            return s.d_alpha(tb) * self.space.difference(prediction, x_t) / (1.0 - s.alpha(tb)).clamp_min(self.SIGMA_FLOOR)
        if type(s) is CondOTSchedule:
            return (prediction - x_t) / (1.0 - tb).clamp_min(self.SIGMA_FLOOR)
        x0_hat = (x_t - s.alpha(tb) * prediction) / s.sigma(tb).clamp_min(self.SIGMA_FLOOR)
        return s.d_alpha(tb) * prediction + s.d_sigma(tb) * x0_hat

    def _as_data(self, prediction: Tensor, x_t: Tensor) -> Tensor:
        """``x̂_1`` from a data or displacement prediction: the prediction, or ``x_t + F``
        (wrapped on the torus; no projection elsewhere: it would need the mask, and a zero-CoM
        ``x_t`` plus a zero-CoM ``F`` with zero padding is already zero-CoM)."""
        if self.prediction == "data":
            return prediction
        x = x_t + prediction
        return self.space.project(x) if self.geodesic else x

    def clean_estimate(self, prediction: Tensor, x_t: Tensor, t: Tensor) -> Tensor:
        r"""``x̂_1`` from the velocity: with ``x_t = alpha x_1 + sigma x_0`` and
        ``v = alpha' x_1 + sigma' x_0``, eliminating ``x_0`` gives
        ``x̂_1 = (sigma' x_t - sigma v) / (sigma' alpha - sigma alpha')`` — on straight paths
        ``x_t + (1 - t) v``. Exact for a predicted velocity equal to the conditional one (the
        path's smoothing ``sigma_min`` aside). With ``prediction="data"`` it is the prediction, with ``"displacement"`` ``x_t`` moved by it."""
        if self.prediction != "velocity":
            return self._as_data(prediction, x_t)
        s = self.schedule
        tb = broadcast_time(t, x_t)
        alpha, sigma, d_alpha, d_sigma = s.alpha(tb), s.sigma(tb), s.d_alpha(tb), s.d_sigma(tb)
        return (d_sigma * x_t - sigma * prediction) / (d_sigma * alpha - sigma * d_alpha)

    def __repr__(self) -> str:
        return (
            f"FlowMatching(space={self.space!r}, schedule={type(self.schedule).__name__}, "
            f"coupling={self.coupling!r}, sigma_min={self.sigma_min:g}"
            + ("" if self.prediction == "velocity" else f", prediction={self.prediction!r}")
            + ("" if self.time_distribution is None else f", time_distribution={self.time_distribution!r}")
            + ("" if self.velocity_weight_max is None else f", velocity_weight_max={self.velocity_weight_max:g}")
            + ")"
        )
