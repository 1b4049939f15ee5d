"""Condition encoder for multi-property guidance (Graph DiT, Liu et al. 2024, arXiv 2401.13858).

Conditions travel as ``dict[name, Tensor (B,)]`` (:data:`gensci.core.process.Condition`), or
``(B, D)`` for a vector condition; NaN marks a missing or dropped value (for a vector, a row
with any NaN) and categorical values are class indices stored as floats. Each property gets
its own embedder and the embeddings are summed::

    c_cond = sum_k  e_k(y_k)                      (one term per ConditionSpec, in spec order)
    e_k(y) = null_k                              if y is NaN or the sample is dropped
    numeric:      e_k(y) = W2 softmax(W1 (y - mean) / std + b1)   (soft clusters, W2 no bias)
    categorical:  e_k(y) = E_k[y]                 (row K of E_k is the null token)
    vector:       e_k(y) = W2 SiLU(W1 y + b1) + b2                (y in R^D: an embedding of an
                                                  image, a spectrum, another model's latent)

In training, all conditions of a sample are dropped *jointly* with probability ``dropout``
(one Bernoulli per sample), so the model learns the unconditional branch that
classifier-free guidance (Ho & Salimans 2022, arXiv 2207.12598) needs. With
``dropout_each = q > 0`` each property of a kept sample is also dropped on its own with
probability ``q``, so every subset of the properties is seen in training::

    P(property k kept) = (1 - dropout)(1 - q),   P(exactly the subset S kept) =
    (1 - dropout) (1 - q)^|S| q^(K - |S|)          (S non-empty)

Without it, a model trained on fully labelled data never sees "only the gap given, the
rest null", yet that is what sampling with a subset of the conditions asks of it. Missing
labels go through the same null path, so partly labelled data trains, and ``cond=None``,
an all-NaN ``cond`` and a fully dropped sample give bit-identical embeddings.

Unlike Graph DiT, no Gaussian noise is added to the condition embeddings.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "ConditionSpec",
    "as_spec",
    "specs_to_dicts",
    "specs_from_dicts",
    "DESCRIPTIVE_KEYS",
    "SoftClusterEmbedding",
    "CategoricalEmbedding",
    "VectorEmbedding",
    "ConditionEncoder",
    "KINDS",
]


#: the kinds of condition
KINDS = ("numeric", "categorical", "vector")
#: how a numeric property is normalised (:attr:`ConditionSpec.scale`)
SCALES = ("linear", "log")


@dataclass
class ConditionSpec:
    """One conditioning property.

    Attributes:
        name: key in the condition dict.
        kind: ``"numeric"``, ``"categorical"`` or ``"vector"`` (a ``(B, dim)`` value).
        num_classes: number of classes (categorical only).
        dim: the vector's length (vector only).
        low, high: training range of a numeric property (domains refuse requests outside it,
            :func:`gensci.domain.check_conditions`).
        mean, std: normaliser of a numeric property, ``(y - mean) / std``; with
            ``scale="log"`` they are the mean and spread of ``log y``, and the network sees
            ``(log y - mean) / std``.
        scale: ``"linear"`` (default) or ``"log"``, for a positive property whose training
            values span orders of magnitude (a part's size in mm), so that the encoder sees
            a spread-out input and requested values are judged relatively. ``low`` and
            ``high`` stay in the property's own units either way.
    """

    name: str
    kind: str = "numeric"
    num_classes: int | None = None
    low: float | None = None
    high: float | None = None
    mean: float = 0.0
    std: float = 1.0
    dim: int | None = None
    scale: str = "linear"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"condition name must be a non-empty string, got {self.name!r}")
        if self.kind not in KINDS:
            raise ValueError(f"condition {self.name!r}: kind must be one of {', '.join(map(repr, KINDS))}, "
                             f"got {self.kind!r}")
        if self.kind == "categorical":
            if self.num_classes is None or int(self.num_classes) < 1:
                raise ValueError(f"categorical condition {self.name!r} needs num_classes >= 1")
            self.num_classes = int(self.num_classes)
        if self.kind == "vector":
            if self.dim is None or int(self.dim) < 1:
                raise ValueError(f"vector condition {self.name!r} needs dim >= 1")
            self.dim = int(self.dim)
        self.mean = float(self.mean)
        self.std = float(self.std)
        if not (self.std > 0.0 and math.isfinite(self.std)):
            raise ValueError(f"condition {self.name!r}: std must be positive and finite, got {self.std}")
        self.low = None if self.low is None else float(self.low)
        self.high = None if self.high is None else float(self.high)
        if self.scale not in SCALES:
            raise ValueError(f"condition {self.name!r}: scale must be one of {', '.join(map(repr, SCALES))}, "
                             f"got {self.scale!r}")
        if self.scale == "log" and (self.kind != "numeric" or (self.low is not None and not self.low > 0)):
            raise ValueError(f"condition {self.name!r}: a log scale needs a numeric property with positive values")

    def to_dict(self) -> dict[str, Any]:
        """Plain python types only, safe for ``torch.load(weights_only=True)``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ConditionSpec:
        """A spec from a domain's condition dict as it is: the :data:`DESCRIPTIVE_KEYS`
        (``classes``, ``unit``, ``description``) are ignored, except that ``classes`` gives
        ``num_classes = len(classes)`` when that is absent (and must agree with it when
        present); any other unknown key is an error."""
        d = dict(d)
        classes = d.pop("classes", None)
        for key in DESCRIPTIVE_KEYS:
            d.pop(key, None)
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            known = sorted(set(cls.__dataclass_fields__) | set(DESCRIPTIVE_KEYS))
            raise ValueError(f"condition spec {d.get('name')!r}: unknown field(s) {unknown}; known: {known}")
        if classes is not None and d.get("kind") == "categorical":
            if d.get("num_classes") is None:
                d["num_classes"] = len(classes)
            elif int(d["num_classes"]) != len(classes):
                raise ValueError(f"condition spec {d.get('name')!r}: num_classes={d['num_classes']} but "
                                 f"{len(classes)} classes are named")
        return cls(**d)

    @classmethod
    def from_values(cls, name: str, values: Tensor, kind: str = "numeric", num_classes: int | None = None,
                    scale: str = "linear") -> ConditionSpec:
        """Fit a spec to training labels (NaN ignored): mean/std/low/high (mean and std of
        ``log y`` with ``scale="log"``), the class count, or (``kind="vector"``, values
        ``(N, D)``) the vector's length."""
        if kind == "vector":
            values = torch.as_tensor(values)
            if values.ndim != 2:
                raise ValueError(f"vector condition {name!r} needs values of shape (N, D), got {tuple(values.shape)}")
            return cls(name, "vector", dim=int(values.shape[1]))
        v = torch.as_tensor(values, dtype=torch.float64).flatten()
        v = v[~torch.isnan(v)]
        if v.numel() == 0:
            raise ValueError(f"condition {name!r} has no labelled values")
        if kind == "categorical":
            n = int(v.max().item()) + 1 if num_classes is None else num_classes
            return cls(name, "categorical", num_classes=n)
        if scale == "log" and not bool((v > 0).all()):
            raise ValueError(f"condition {name!r}: a log scale needs positive values")
        u = torch.log(v) if scale == "log" else v
        std = float(u.std(unbiased=False).item()) if u.numel() > 1 else 1.0
        return cls(name, kind, low=float(v.min()), high=float(v.max()), mean=float(u.mean()), std=std if std > 0 else 1.0,
                   scale=scale)


#: keys of a domain's condition dicts that describe a property for people (class names, the
#: unit, a description) and that the network does not need; :meth:`ConditionSpec.from_dict`
#: ignores them
DESCRIPTIVE_KEYS = ("classes", "unit", "description")


def as_spec(spec: ConditionSpec | Mapping[str, Any]) -> ConditionSpec:
    """Accept a spec or its dict form."""
    return spec if isinstance(spec, ConditionSpec) else ConditionSpec.from_dict(spec)


def specs_to_dicts(specs: Iterable[ConditionSpec | Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [as_spec(s).to_dict() for s in specs]


def specs_from_dicts(dicts: Iterable[ConditionSpec | Mapping[str, Any]]) -> list[ConditionSpec]:
    return [as_spec(d) for d in dicts]


class SoftClusterEmbedding(nn.Module):
    """Numeric embedder: ``Linear(1, C) -> softmax over C soft clusters -> Linear(C, dim, bias=False)``.

    ``forward(y, keep)`` takes normalised values ``(B,)``; rows where ``y`` is NaN or ``keep``
    is False get the learned null vector.
    """

    def __init__(self, dim: int, clusters: int | None = None):
        super().__init__()
        self.clusters = int(clusters) if clusters is not None else dim
        self.assign = nn.Linear(1, self.clusters)
        self.centers = nn.Linear(self.clusters, dim, bias=False)
        self.null = nn.Parameter(nn.init.normal_(torch.empty(dim), std=0.02))

    def forward(self, y: Tensor, keep: Tensor | None = None) -> Tensor:
        valid = ~torch.isnan(y)
        if keep is not None:
            valid = valid & keep
        y0 = torch.where(valid, y, torch.zeros_like(y)).to(self.null.dtype)
        emb = self.centers(torch.softmax(self.assign(y0[:, None]), dim=-1))
        return torch.where(valid[:, None], emb, self.null.expand_as(emb))


class CategoricalEmbedding(nn.Module):
    """``nn.Embedding(num_classes + 1, dim)``; the last row is the null token.

    ``forward(y, keep)`` takes class indices as floats ``(B,)``; NaN or ``keep`` False map to
    the null row. Non-integer or out-of-range indices raise ``ValueError``.
    """

    def __init__(self, num_classes: int, dim: int, name: str = "categorical"):
        super().__init__()
        self.num_classes = int(num_classes)
        self.name = name
        self.table = nn.Embedding(self.num_classes + 1, dim)

    def forward(self, y: Tensor, keep: Tensor | None = None) -> Tensor:
        valid = ~torch.isnan(y)
        yv = y[valid]
        if yv.numel() and (
            bool(((yv < 0) | (yv >= self.num_classes)).any()) or bool((yv != torch.round(yv)).any())
        ):
            bad = yv[(yv < 0) | (yv >= self.num_classes) | (yv != torch.round(yv))][:5].tolist()
            raise ValueError(
                f"condition {self.name!r}: class indices must be integers in [0, {self.num_classes - 1}] "
                f"(or NaN for missing); got {bad}"
            )
        if keep is not None:
            valid = valid & keep
        idx = torch.where(valid, torch.nan_to_num(y, nan=0.0), torch.full_like(y, float(self.num_classes)))
        return self.table(idx.long())

    @property
    def null(self) -> Tensor:
        return self.table.weight[self.num_classes]


class VectorEmbedding(nn.Module):
    """Vector embedder: ``Linear(D, dim) -> SiLU -> Linear(dim, dim)``.

    ``forward(y, keep)`` takes vectors ``(B, D)``; rows holding a NaN or where ``keep`` is
    False get the learned null vector.
    """

    def __init__(self, in_dim: int, dim: int, name: str = "vector"):
        super().__init__()
        self.in_dim = int(in_dim)
        self.name = name
        self.net = nn.Sequential(nn.Linear(self.in_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.null = nn.Parameter(nn.init.normal_(torch.empty(dim), std=0.02))

    def forward(self, y: Tensor, keep: Tensor | None = None) -> Tensor:
        valid = ~torch.isnan(y).any(dim=-1)
        if keep is not None:
            valid = valid & keep
        y0 = torch.where(valid[:, None], y, torch.zeros_like(y)).to(self.null.dtype)
        emb = self.net(y0)
        return torch.where(valid[:, None], emb, self.null.expand_as(emb))


class ConditionEncoder(nn.Module):
    """Sum of one embedding per :class:`ConditionSpec`, with joint classifier-free dropout.

    Args:
        specs: the properties (specs or their dict forms), summed in this order.
        dim: embedding width.
        dropout: probability of dropping all conditions of a sample (training mode only).
        dropout_each: probability of dropping each property of a kept sample on its own
            (training mode only; drawn after the joint drop, so 0 reproduces the joint draws).
        clusters: soft clusters per numeric property (default ``dim``).

    Attributes:
        generator: optional ``torch.Generator`` for the dropout draws (an argument to
            :meth:`forward` overrides it).
    """

    def __init__(
        self,
        specs: Sequence[ConditionSpec | Mapping[str, Any]],
        dim: int,
        dropout: float = 0.1,
        clusters: int | None = None,
        dropout_each: float = 0.0,
    ):
        super().__init__()
        self.specs: list[ConditionSpec] = specs_from_dicts(specs)
        names = [s.name for s in self.specs]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate condition names in {names}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout must lie in [0, 1], got {dropout}")
        if not 0.0 <= dropout_each < 1.0:
            raise ValueError(f"dropout_each must lie in [0, 1), got {dropout_each}")
        self.dim = dim
        self.dropout = float(dropout)
        self.dropout_each = float(dropout_each)
        self.generator: torch.Generator | None = None
        self.embedders = nn.ModuleList(
            CategoricalEmbedding(s.num_classes, dim, name=s.name) if s.kind == "categorical"
            else VectorEmbedding(s.dim, dim, name=s.name) if s.kind == "vector"
            else SoftClusterEmbedding(dim, clusters)
            for s in self.specs
        )
        self.register_buffer("_mean", torch.tensor([s.mean for s in self.specs], dtype=torch.float32), persistent=False)
        self.register_buffer("_std", torch.tensor([s.std for s in self.specs], dtype=torch.float32), persistent=False)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    def _place(self, device) -> tuple[torch.device, torch.dtype]:
        """Target device (argument, else the parameters') and the parameters' dtype."""
        p = next(self.parameters(), None)
        dev = torch.device(device) if device is not None else (p.device if p is not None else torch.device("cpu"))
        return dev, (p.dtype if p is not None else torch.float32)

    def _check(self, cond: Mapping[str, Tensor] | None) -> None:
        if not cond:
            return
        unknown = sorted(set(cond) - set(self.names))
        if unknown:
            known = ", ".join(repr(n) for n in self.names) or "none (unconditional model)"
            raise ValueError(f"unknown condition(s) {unknown}; known conditions: {known}")

    def _values(self, cond: Mapping[str, Tensor] | None, i: int, batch_size: int, device: torch.device) -> Tensor:
        """Property ``i`` as float32 ``(B,)`` (a vector: ``(B, D)``), NaN when absent."""
        spec = self.specs[i]
        name = spec.name
        if spec.kind == "vector":
            if cond is None or name not in cond:
                return torch.full((batch_size, spec.dim), float("nan"), device=device)
            v = torch.as_tensor(cond[name], device=device).to(torch.float32)
            if v.shape == (spec.dim,):  # one vector for every sample
                v = v.expand(batch_size, spec.dim)
            if v.shape != (batch_size, spec.dim):
                raise ValueError(f"vector condition {name!r} must have shape ({batch_size}, {spec.dim}), "
                                 f"got {tuple(v.shape)}")
            return v
        if cond is None or name not in cond:
            return torch.full((batch_size,), float("nan"), device=device)
        v = torch.as_tensor(cond[name], device=device).to(torch.float32)
        if v.ndim == 0:
            v = v.expand(batch_size)
        if v.shape != (batch_size,):
            raise ValueError(f"condition {name!r} must have shape ({batch_size},), got {tuple(v.shape)}")
        return v

    def draw_keep(self, batch_size: int, device=None, generator: torch.Generator | None = None) -> Tensor | None:
        """Per-sample keep mask ``(B,)`` for the joint drop, or ``None`` when nothing is dropped."""
        if not self.training or self.dropout <= 0.0:
            return None
        g = generator if generator is not None else self.generator
        dev = self._place(device)[0]
        u = torch.rand(batch_size, generator=g, device=g.device if g is not None else dev)
        return (u >= self.dropout).to(dev)

    def draw_keep_each(self, batch_size: int, device=None, generator: torch.Generator | None = None) -> Tensor | None:
        """Per-sample, per-property keep mask ``(B, K)`` for the separate drops, or ``None``."""
        if not self.training or self.dropout_each <= 0.0:
            return None
        g = generator if generator is not None else self.generator
        dev = self._place(device)[0]
        u = torch.rand(batch_size, len(self.specs), generator=g, device=g.device if g is not None else dev)
        return (u >= self.dropout_each).to(dev)

    def forward(
        self,
        cond: Mapping[str, Tensor] | None,
        batch_size: int,
        device=None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Summed condition embedding ``(B, dim)``."""
        self._check(cond)
        dev, dtype = self._place(device)
        keep = self.draw_keep(batch_size, dev, generator)
        keep_each = self.draw_keep_each(batch_size, dev, generator)
        if keep_each is not None and keep is not None:
            keep_each = keep_each & keep[:, None]
        out = torch.zeros(batch_size, self.dim, device=dev, dtype=dtype)
        for i, (spec, emb) in enumerate(zip(self.specs, self.embedders)):
            y = self._values(cond, i, batch_size, dev)
            if spec.kind == "numeric":
                y = ((torch.log(y) if spec.scale == "log" else y) - self._mean[i]) / self._std[i]
            out = out + emb(y, keep if keep_each is None else keep_each[:, i])
        return out

    def null(self, batch_size: int, device=None) -> Tensor:
        """The fully dropped embedding ``(B, dim)``; equals ``forward(None, B)`` bit for bit."""
        dev, dtype = self._place(device)
        out = torch.zeros(batch_size, self.dim, device=dev, dtype=dtype)
        for emb in self.embedders:
            out = out + emb.null.to(dev).expand(batch_size, self.dim)
        return out

    def extra_repr(self) -> str:
        return f"names={self.names}, dim={self.dim}, dropout={self.dropout}, dropout_each={self.dropout_each}"
