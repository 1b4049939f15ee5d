"""Categorical diffusion with mixing transitions (D3PM uniform, DiGress marginal).

States are class indices in ``{0..K-1}`` of any shape ``(B, ...)``. Rows are distributions,
transition matrices act on the right: ``q(x_t | x1) = onehot(x1) Qbar_t``.

Mixing transitions (Austin et al. 2021 "D3PM", arXiv 2107.03006; Vignac et al. 2023
"DiGress", arXiv 2209.14734)::

    Qbar_t = kappa_t I + (1 - kappa_t) U,        kappa_t = alpha_bar(t)

with ``U`` row-stochastic and idempotent (``U U = U``), e.g. ``U = 1 m^T`` for a
distribution ``m`` (uniform ``m = 1/K``: D3PM; the data marginal: DiGress). ``kappa`` is
the keep probability: ``kappa(1) = 1`` (data), ``kappa(0) ~ 0`` (pure ``U`` noise).

These matrices compose in closed form, ``Q(a) Q(b) = Q(a b)`` because ``U^2 = U``:

    ab I + [a(1-b) + (1-a)b + (1-a)(1-b)] U = ab I + (1 - ab) U,

so the transition between two times ``t < s`` (``s`` nearer the data) is
``q(x_t | x_s) = Q(kappa_t / kappa_s)``, and ``Qbar_s Q(kappa_t/kappa_s) = Qbar_t``. The
stationary law ``m`` (``m^T U = m^T``) satisfies ``m^T Q = m^T`` and is the prior.

Posterior used for sampling, with the network's ``p1_hat(x1 | x_t)``::

    p(x_s | x_t) = sum_{x1} q(x_s | x_t, x1) p1_hat(x1),
    q(x_s | x_t, x1) = q(x_t | x_s) q(x_s | x1) / q(x_t | x1)

vectorised as ``Q_{t|s}[:, x_t] ⊙ ((p1_hat / Qbar_t[:, x_t]) Qbar_s)``. The transition math
lives in free functions of ``(p, kappa, U)`` so a joint atom–bond transition (Graph DiT's
``U`` with co-occurrence blocks) can reuse it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from gensci.core.mixture_path import MixtureBlock
from gensci.core.process import Condition, Corruption, Process, broadcast_time, masked_mean
from gensci.core.schedules import Schedule, make_schedule
from gensci.core.spaces import Categorical

__all__ = [
    "MixingTransition",
    "MarginalTransition",
    "UniformTransition",
    "CategoricalDiffusion",
    "mix_forward",
    "mix_backward",
    "mixing_matrix",
    "mixing_posterior",
    "sample_categorical",
]


# ---------------------------------------------------------------------- transition math
def mixing_matrix(kappa: Tensor, limit: Tensor) -> Tensor:
    """``Q(kappa) = kappa I + (1 - kappa) U`` for ``kappa`` of any shape: ``(..., K, K)``."""
    k = kappa[..., None, None]
    eye = torch.eye(limit.shape[-1], dtype=limit.dtype, device=limit.device)
    return k * eye + (1.0 - k) * limit


def mix_forward(p: Tensor, kappa: Tensor, limit: Tensor) -> Tensor:
    """Row vectors through the transition: ``p Q(kappa) = kappa p + (1 - kappa) p U``.

    ``p`` is ``(..., K)``, ``kappa`` broadcasts against ``p[..., :1]``."""
    return kappa * p + (1.0 - kappa) * (p @ limit)


def mix_backward(like: Tensor, kappa: Tensor, limit: Tensor) -> Tensor:
    """Column vectors through the transition: ``Q(kappa) l = kappa l + (1 - kappa) U l``
    (e.g. ``l = onehot(x_t)`` gives ``Q[:, x_t]``, the likelihood of an observed ``x_t``)."""
    return kappa * like + (1.0 - kappa) * (like @ limit.transpose(-1, -2))


def mixing_posterior(
    onehot_t: Tensor, p1: Tensor, kappa_t: Tensor, kappa_s: Tensor, limit: Tensor, eps: float = 1e-30
) -> Tensor:
    """``p(x_s | x_t) = Q_{t|s}[:, x_t] ⊙ ((p1 / Qbar_t[:, x_t]) Qbar_s)``, normalised.

    ``onehot_t``, ``p1``: ``(..., K)``; ``kappa_t <= kappa_s`` broadcast against ``(..., 1)``.

    Where the prediction gives no weight to any clean class that can lead to ``x_t`` (a row
    of zeros, e.g. ``x_t`` in a class of zero marginal that ``p1`` no longer predicts), the
    row falls back to ``q(x_s | x1 ~ p1) = p1 Qbar_s``."""
    like = mix_backward(onehot_t, kappa_t / kappa_s, limit)
    evidence = mix_backward(onehot_t, kappa_t, limit)
    probs = like * mix_forward(p1 / evidence.clamp_min(eps), kappa_s, limit)
    total = probs.sum(dim=-1, keepdim=True)
    fallback = mix_forward(p1, kappa_s, limit)
    return torch.where(total > eps, probs / total.clamp_min(eps),
                       fallback / fallback.sum(dim=-1, keepdim=True).clamp_min(eps))


def sample_categorical(probs: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """One class index per row of ``probs`` ``(..., K)`` (rows need not be normalised)."""
    flat = probs.reshape(-1, probs.shape[-1]).clamp_min(0.0)
    draws = torch.multinomial(flat.float(), 1, replacement=True, generator=generator)
    return draws.reshape(probs.shape[:-1])


# ---------------------------------------------------------------------- transitions
class MixingTransition:
    """``Q(kappa) = kappa I + (1 - kappa) U`` for a row-stochastic idempotent ``U``
    with stationary law ``m`` (``m^T U = m^T``)."""

    def __init__(self, limit: Tensor, stationary: Tensor):
        limit = torch.as_tensor(limit, dtype=torch.float64)
        m = torch.as_tensor(stationary, dtype=torch.float64)
        k = limit.shape[-1]
        if limit.shape != (k, k) or m.shape != (k,):
            raise ValueError(f"need U (K, K) and m (K,), got {tuple(limit.shape)} and {tuple(m.shape)}")
        if not torch.allclose(limit.sum(-1), torch.ones(k, dtype=limit.dtype), atol=1e-6):
            raise ValueError("U must be row-stochastic")
        if not torch.allclose(limit @ limit, limit, atol=1e-6):
            raise ValueError("U must be idempotent (U U = U) for the closed-form composition")
        if not torch.allclose(m @ limit, m, atol=1e-6):
            raise ValueError("m must be stationary for U (m^T U = m^T)")
        self.limit = limit
        self.stationary = m
        self.num_classes = k

    def limit_as(self, like: Tensor) -> Tensor:
        """``U`` in the dtype and on the device of ``like``."""
        return self.limit.to(dtype=like.dtype, device=like.device)

    def matrix(self, kappa: Tensor) -> Tensor:
        """``Q(kappa)``, shape ``kappa.shape + (K, K)``."""
        return mixing_matrix(kappa, self.limit_as(kappa))

    def forward(self, p: Tensor, kappa: Tensor) -> Tensor:
        """``p Q(kappa)``."""
        return mix_forward(p, kappa, self.limit_as(p))

    def backward(self, like: Tensor, kappa: Tensor) -> Tensor:
        """``Q(kappa) l``."""
        return mix_backward(like, kappa, self.limit_as(like))

    def posterior(self, onehot_t: Tensor, p1: Tensor, kappa_t: Tensor, kappa_s: Tensor) -> Tensor:
        """``p(x_s | x_t)`` given ``p1_hat``; see :func:`mixing_posterior`."""
        return mixing_posterior(onehot_t, p1, kappa_t, kappa_s, self.limit_as(p1))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(K={self.num_classes})"


class MarginalTransition(MixingTransition):
    """DiGress's marginal transition, ``U = 1 m^T`` with ``m`` the data's class marginal
    (counts are normalised)."""

    def __init__(self, marginal: Tensor):
        m = torch.as_tensor(marginal, dtype=torch.float64).flatten()
        if (m < 0).any() or m.sum() <= 0:
            raise ValueError("the marginal needs non-negative entries with a positive sum")
        m = m / m.sum()
        super().__init__(torch.ones(m.shape[0], 1, dtype=m.dtype) * m[None, :], m)


class UniformTransition(MarginalTransition):
    """D3PM's uniform transition, ``U = 1 1^T / K``."""

    def __init__(self, num_classes: int):
        super().__init__(torch.full((int(num_classes),), 1.0 / int(num_classes)))


# ---------------------------------------------------------------------- the process
class CategoricalDiffusion(Process):
    """Discrete diffusion over ``Categorical(K)`` with a mixing transition.

    The network returns logits over the clean class ``x1`` (shape ``x.shape + (K,)``);
    guidance mixes them as probabilities.

    Args:
        num_classes: K, or a :class:`Categorical` space.
        space: the :class:`Categorical` space (as a domain gives it); an alternative to ``num_classes``.
        transition: ``"uniform"``, ``"marginal"`` (needs ``marginal``) or a
            :class:`MixingTransition`.
        marginal: class frequencies (or counts) for the marginal transition.
        schedule: gives ``kappa_t = alpha_bar(t)`` (default cosine).
        timesteps: T-step grid ``k / T`` (default 500), or ``None`` for continuous time.
        class_weights: optional per-class cross-entropy weights.
    """

    capabilities = frozenset({"categorical_posterior", "mixture_path"})

    guidance_space = "probability"

    def __init__(
        self,
        num_classes: int | Categorical | None = None,
        transition: str | MixingTransition = "uniform",
        marginal: Tensor | None = None,
        schedule: Schedule | str = "cosine",
        timesteps: int | None = 500,
        class_weights: Tensor | None = None,
        space: Categorical | None = None,
    ):
        if space is not None:
            if not isinstance(space, Categorical):
                raise TypeError(f"CategoricalDiffusion needs a Categorical space, got {space!r}")
            if num_classes is not None and int(getattr(num_classes, "num_classes", num_classes)) != space.num_classes:
                raise ValueError(f"num_classes={num_classes} disagrees with the space's {space.num_classes} classes")
            num_classes = space
        if num_classes is None:
            raise ValueError("CategoricalDiffusion needs num_classes or a Categorical space")
        self.space = num_classes if isinstance(num_classes, Categorical) else Categorical(num_classes)
        k = self.space.num_classes
        if isinstance(transition, MixingTransition):
            self.transition = transition
        elif transition == "uniform":
            self.transition = UniformTransition(k)
        elif transition == "marginal":
            if marginal is None:
                raise ValueError("the marginal transition needs the data marginal `marginal`")
            self.transition = MarginalTransition(marginal)
        else:
            raise ValueError(f"transition must be 'uniform', 'marginal' or a MixingTransition, got {transition!r}")
        if self.transition.num_classes != k:
            raise ValueError(f"transition has {self.transition.num_classes} classes, space has {k}")
        self.schedule = make_schedule(schedule)
        if timesteps is not None and int(timesteps) < 1:
            raise ValueError(f"timesteps must be a positive integer or None, got {timesteps}")
        self.timesteps = None if timesteps is None else int(timesteps)
        self.class_weights = None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32)

    @property
    def num_classes(self) -> int:
        return self.space.num_classes

    def kappa(self, t: Tensor) -> Tensor:
        """Keep probability ``kappa_t = alpha_bar(t)`` in ``[0, 1]``."""
        return self.schedule.alpha_bar(t.clamp(0.0, 1.0)).clamp(0.0, 1.0)

    def _kappa_like(self, t: Tensor, x: Tensor, dtype: torch.dtype) -> Tensor:
        t = torch.as_tensor(t, device=x.device).to(dtype)
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        return broadcast_time(self.kappa(t), x).unsqueeze(-1)  # (B, 1, ..., 1, 1) against (B, ..., K)

    def marginal_matrix(self, t: Tensor) -> Tensor:
        """``Qbar_t`` (rows ``x1``, columns ``x_t``), shape ``t.shape + (K, K)``."""
        return self.transition.matrix(self.kappa(t))

    def step_matrix(self, t: Tensor, s: Tensor) -> Tensor:
        """``q(x_t | x_s) = Q(kappa_t / kappa_s)`` for ``t <= s`` (rows ``x_s``)."""
        return self.transition.matrix(self.kappa(t) / self.kappa(s))

    # ------------------------------------------------------------------ training
    def prior(self, shape, generator=None, device=None, mask=None, dtype=torch.float32) -> Tensor:
        """Class indices drawn from the stationary law ``m`` (``dtype`` is ignored: long)."""
        m = self.transition.stationary.to(device=device, dtype=torch.float32)
        x = sample_categorical(m.expand(*shape, self.num_classes), generator)
        return self.space.project(x, mask)

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
        """``x_t ~ q(x_t | x1) = onehot(x1) Qbar_t``, drawn as a mixture: keep ``x1`` with
        probability ``kappa_t``, else take ``x0 ~ onehot(x1) U`` (``= m`` for ``U = 1 m^T``).
        The target is ``x1``."""
        x1 = self.space.project(x1.long(), mask)
        if t is None:
            t = self.sample_time(x1.shape[0], generator=generator, device=x1.device)
        oh = self.space.one_hot(x1, torch.float32)
        if x0 is None:
            x0 = sample_categorical(oh @ self.transition.limit_as(oh), generator)
        kappa = broadcast_time(self.kappa(t.float()), x1)
        keep = torch.rand(x1.shape, generator=generator, device=x1.device) < kappa
        x_t = self.space.project(torch.where(keep, x1, x0.long()), mask)
        return Corruption(t=t, x_t=x_t, target=x1, x0=x0, x1=x1, cond=cond, mask=mask)

    def loss(self, prediction: Tensor, c: Corruption) -> tuple[Tensor, dict[str, Tensor]]:
        """Masked mean cross-entropy of the logits ``(..., K)`` on ``x1`` (optionally
        class-weighted)."""
        k = self.num_classes
        if prediction.shape != c.target.shape + (k,):
            raise ValueError(f"logits shape {tuple(prediction.shape)} != target shape {tuple(c.target.shape)} + ({k},)")
        w = None if self.class_weights is None else self.class_weights.to(prediction)
        per = F.cross_entropy(prediction.reshape(-1, k), c.target.reshape(-1), weight=w, reduction="none")
        per = per.reshape(c.target.shape)
        value = masked_mean(per, c.mask, c.weight)
        acc = masked_mean((prediction.argmax(-1) == c.target).float(), c.mask)
        return value, {"loss": value.detach(), "accuracy": acc.detach()}

    # ------------------------------------------------------------------ sampling
    def posterior_probs(self, x_t: Tensor, p1_hat: Tensor, t: Tensor, s: Tensor) -> Tensor:
        """``p(x_s | x_t) = sum_{x1} q(x_s | x_t, x1) p1_hat(x1)`` for ``s >= t``, shape
        ``x_t.shape + (K,)``. At ``s = 1`` it is ``p1_hat`` itself."""
        dtype = p1_hat.dtype
        kappa_t = self._kappa_like(t, x_t, dtype)
        kappa_s = self._kappa_like(s, x_t, dtype)
        oh = self.space.one_hot(x_t, dtype)
        return self.transition.posterior(oh, p1_hat, kappa_t, kappa_s)

    def mixture_blocks(self, x_t: Tensor, p1_hat: Tensor) -> list[MixtureBlock]:
        """The noise as a mixture path (:mod:`gensci.core.mixture_path`): one context per clean
        class ``x1`` with weight ``p1_hat(x1)`` and noise law ``U[x1]``."""
        k = self.num_classes
        clean = torch.arange(k, device=p1_hat.device)
        return [MixtureBlock(slice(None), p1_hat, clean, self.transition.limit_as(p1_hat))]

    def __repr__(self) -> str:
        return (
            f"CategoricalDiffusion(K={self.num_classes}, transition={self.transition!r}, "
            f"schedule={self.schedule!r}, timesteps={self.timesteps})"
        )
