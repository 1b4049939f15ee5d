"""The shared shape of every reverse-time sampler.

A sampler walks the process's time grid from ``t = 0`` (source) to ``t = 1`` (data),
calling the (guided) network once or more per step::

    result = EulerSampler(steps=50).sample(model, process, (n, d), generator=g)
    result.x            # final states at t = 1
    result.trajectory   # states at every grid time when return_trajectory=True

A sampler declares the process capability its rule needs (:attr:`Sampler.requires`, e.g.
``"velocity"`` for the ODE samplers) and implements :meth:`Sampler.move`, the move of one
field from ``t`` to ``s`` given the network's prediction. States of several named fields
(:class:`~gensci.core.state.State`, driven by a
:class:`~gensci.core.product.ProductProcess`) are stepped field by field, each from
``tau_f(t)`` to ``tau_f(s)``: a field whose process offers the sampler's capability moves by
the sampler's rule, a categorical field by the categorical posterior jump
(:func:`categorical_jump`), a given field (:class:`~gensci.core.context.Context`) is kept as
it is, and any other field is refused in one line that names the
samplers that can drive it.

Every sampler walks the process's own grid by default; ``distortion`` bends it to
``t_k = D(k / N)`` (:mod:`samplers.grids`: e.g. ``polydec`` for short steps near the data).

Randomness comes only from the explicit ``torch.Generator``: the same seed gives the same
samples.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor
from tqdm.auto import tqdm

from gensci.core import state
from gensci.core.categorical import sample_categorical
from gensci.core.guidance import Guidance, GuidedModel
from gensci.core.process import Condition, Process
from gensci.core.product import ProductProcess
from gensci.core.softmax import softmax
from gensci.core.state import Mask, State, field_mask
from gensci.errors import IncompatibleSampler
from samplers.grids import check_distortion, distorted_grid

__all__ = ["Sampler", "SampleResult", "Denoiser", "categorical_jump", "field_processes"]

#: ``denoise(x, t, cond=None, mask=None) -> prediction``, already guided
Denoiser = Callable[..., Any]


@dataclass
class SampleResult:
    """Final samples, and the path when asked for."""

    x: Any
    times: Tensor
    trajectory: list[Any] | None = None


def field_processes(process: Process) -> dict[str | None, Process]:
    """``{field: process}`` of a product process, ``{None: process}`` otherwise."""
    if isinstance(process, ProductProcess):
        return dict(process.fields)
    return {None: process}


def categorical_jump(process: Process, x: Tensor, logits: Tensor, t: Tensor, s: Tensor, mask: Tensor | None,
                     generator: torch.Generator | None, temperature: float = 1.0, argmax_last: bool = False) -> Tensor:
    """``x_s ~ p(x_s | x_t) = sum_{x1} q(x_s | x_t, x1) p1_hat(x1)`` with ``p1_hat =
    softmax(logits / temperature)``; the step that reaches the data draws ``x1 ~ p1_hat``
    (its argmax with ``argmax_last``)."""
    p1 = softmax(logits if temperature == 1.0 else logits / temperature)
    if bool((s >= 1.0).all()):
        x1 = p1.argmax(dim=-1) if argmax_last else sample_categorical(p1, generator)
        return process.space.project(x1, mask)
    probs = process.posterior_probs(x, p1, t, s)
    return process.space.project(sample_categorical(probs, generator), mask)


class Sampler(ABC):
    """Base class: capability check, time grid, guidance wrapping, progress bar, trajectory."""

    #: registry name used by configs and the CLI (``--sampler NAME``)
    name: str = "sampler"
    #: step count when none is given
    default_steps: int = 100
    #: the process capability :meth:`move` needs (see :data:`gensci.core.process.CAPABILITIES`)
    requires: str = ""
    #: what :meth:`drives` asks of a process, in words, where it asks more than ``requires``
    needs: str = ""
    #: every concrete sampler by name, for error messages
    registry: ClassVar[dict[str, type[Sampler]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.requires and "name" in cls.__dict__:  # a base without its own name (TwoStageSampler) is not a sampler
            Sampler.registry[cls.name] = cls

    def __init__(self, steps: int | None = None, progress: bool = True, distortion: str = "process"):
        if steps is not None and int(steps) < 1:
            raise ValueError(f"steps must be a positive integer, got {steps}")
        check_distortion(distortion)
        self.steps = int(steps) if steps is not None else self.default_steps
        self.progress = progress
        self.distortion = distortion

    # ------------------------------------------------------------ capability
    @classmethod
    def drives(cls, process: Process) -> bool:
        """Whether this sampler's own rule can move states of the (single-field) ``process``."""
        return cls.requires in process.capabilities and (process.space.continuous or cls.requires == "categorical_posterior")

    def rule(self, process: Process) -> str:
        """``"own"`` if :meth:`move` drives ``process``, ``"jump"`` for a categorical field
        moved by the posterior jump, ``"keep"`` for a given (context) field, else ``""``."""
        if "context" in process.capabilities:
            return "keep"
        if self.drives(process):
            return "own"
        if "categorical_posterior" in process.capabilities and not process.space.continuous:
            return "jump"
        return ""

    def check(self, process: Process) -> None:
        """Raise :class:`~gensci.errors.IncompatibleSampler` if some field of ``process`` is
        one this sampler cannot move."""
        fields = field_processes(process)
        for name, p in fields.items():
            if self.rule(p) == "own" or (self.rule(p) in ("jump", "keep") and len(fields) > 1):
                continue
            able = sorted(n for n, cls in Sampler.registry.items() if cls.drives(p))
            what = type(p).__name__ if name is None else f"field {name!r} ({type(p).__name__})"
            raise IncompatibleSampler(
                f"sampler {self.name!r} needs {self.needs or f'a process with {self.requires!r}'} and {what} offers "
                f"{', '.join(sorted(p.capabilities)) or 'none'}; samplers that can drive it: {', '.join(able) or 'none'}")

    # ------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample(
        self,
        model: Callable[..., Any],
        process: Process,
        shape: Any,
        *,
        cond: Condition | None = None,
        mask: Mask = None,
        guidance: Guidance | None = None,
        generator: torch.Generator | None = None,
        return_trajectory: bool = False,
        x_init: Any = None,
        device: torch.device | str | None = None,
    ) -> SampleResult:
        """Walk the grid from a prior draw of ``shape`` (a tuple, or a dict field -> tuple for
        a product process) or from ``x_init``."""
        self.check(process)
        grid = self.time_grid(process, device=device)
        x = x_init if x_init is not None else process.prior(shape, generator=generator, device=device, mask=mask)
        denoise = GuidedModel(model, guidance, process.guidance_space)
        path = [x.clone()] if return_trajectory else None
        n = state.batch_size(x)
        bar = tqdm(range(len(grid) - 1), desc=f"{self.name} sampling", disable=not self.progress, leave=False)
        for i in bar:
            t = grid[i].expand(n)
            s = grid[i + 1].expand(n)
            x = self.step(denoise, process, x, t, s, cond=cond, mask=mask, generator=generator)
            if path is not None:
                path.append(x.clone())
        return SampleResult(x=x, times=grid, trajectory=path)

    def time_grid(self, process: Process, device: torch.device | str | None = None) -> Tensor:
        """The ``steps + 1`` times visited, from 0 to 1: the process's own grid (``distortion``
        ``"process"``, the default), else ``t_k = D(k / N)`` (:mod:`samplers.grids`)."""
        return distorted_grid(process, self.steps, self.distortion, device=device)

    def step(
        self,
        denoise: Denoiser,
        process: Process,
        x: Any,
        t: Tensor,
        s: Tensor,
        *,
        cond: Condition | None,
        mask: Mask,
        generator: torch.Generator | None,
    ) -> Any:
        """Move the batch ``x`` from times ``t`` to the later times ``s`` (both ``(B,)``): one
        network call, then every field by its rule."""
        prediction = denoise(x, t, cond=cond, mask=mask)
        return self.move_all(process, x, prediction, t, s, mask=mask, generator=generator)

    def move_all(self, process: Process, x: Any, prediction: Any, t: Tensor, s: Tensor, *, mask: Mask,
                 generator: torch.Generator | None, only: str | None = None) -> Any:
        """Every field of ``x`` moved from ``t`` to ``s`` given ``prediction`` (``only="own"``
        or ``"jump"`` moves just the fields of that rule and keeps the others)."""
        if not isinstance(process, ProductProcess):
            return self.move(process, x, prediction, t, s, mask=mask, generator=generator)
        out = {}
        for name, p in process.fields.items():
            rule = self.rule(p)
            if rule == "keep" or (only is not None and rule != only):
                out[name] = x[name]
                continue
            tf, sf = process.field_time(name, t), process.field_time(name, s)
            m = field_mask(mask, name)
            if rule == "own":
                out[name] = self.move(p, x[name], prediction[name], tf, sf, mask=m, generator=generator)
            else:
                out[name] = self.jump(p, x[name], prediction[name], tf, sf, mask=m, generator=generator)
        return State(out)

    def jump(self, process: Process, x: Tensor, logits: Tensor, t: Tensor, s: Tensor, *, mask: Tensor | None,
             generator: torch.Generator | None) -> Tensor:
        """The move of a categorical field beside continuous ones: the posterior jump."""
        return categorical_jump(process, x, logits, t, s, mask, generator)

    @abstractmethod
    def move(self, process: Process, x: Tensor, prediction: Tensor, t: Tensor, s: Tensor, *, mask: Tensor | None,
             generator: torch.Generator | None) -> Tensor:
        """Move one field ``x`` of ``process`` from ``t`` to ``s`` given the network's prediction."""
