"""The shared shape of every reverse-time sampler.

A sampler walks the process's time grid from ``t = 0`` (source) to ``t = 1`` (data),
calling the (guided) network once or more per step::

    result = EulerSampler(steps=50).sample(model, process, (n, d), generator=g)
    result.x            # final states at t = 1
    result.trajectory   # states at every grid time when return_trajectory=True

Subclasses implement :meth:`Sampler.step`. Randomness comes only from the explicit
``torch.Generator``: the same seed gives the same samples.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from gensci.core.guidance import Guidance, GuidedModel
from gensci.core.process import Condition, Process

__all__ = ["Sampler", "SampleResult", "Denoiser"]

#: ``denoise(x, t, cond=None, mask=None) -> prediction``, already guided
Denoiser = Callable[..., Tensor]


@dataclass
class SampleResult:
    """Final samples, and the path when asked for."""

    x: Tensor
    times: Tensor
    trajectory: list[Tensor] | None = None


class Sampler(ABC):
    """Base class: time grid, guidance wrapping, progress bar, trajectory."""

    #: registry name used by configs and the CLI
    name: str = "sampler"
    #: step count when none is given
    default_steps: int = 100

    def __init__(self, steps: int | None = None, progress: bool = True):
        if steps is not None and int(steps) < 1:
            raise ValueError(f"steps must be a positive integer, got {steps}")
        self.steps = int(steps) if steps is not None else self.default_steps
        self.progress = progress

    def check(self, process: Process) -> None:
        """Raise a clear error if this sampler cannot drive ``process``."""

    @torch.no_grad()
    def sample(
        self,
        model: Callable[..., Tensor],
        process: Process,
        shape: tuple[int, ...],
        *,
        cond: Condition | None = None,
        mask: Tensor | None = None,
        guidance: Guidance | None = None,
        generator: torch.Generator | None = None,
        return_trajectory: bool = False,
        x_init: Tensor | None = None,
        device: torch.device | str | None = None,
    ) -> SampleResult:
        self.check(process)
        grid = process.time_grid(self.steps, device=device)
        x = x_init if x_init is not None else process.prior(shape, generator=generator, device=device, mask=mask)
        denoise = GuidedModel(model, guidance, process.guidance_space)
        path = [x.clone()] if return_trajectory else None
        n = x.shape[0]
        bar = tqdm(range(len(grid) - 1), desc=f"{self.name} sampling", disable=not self.progress, leave=False)
        for i in bar:
            t = grid[i].expand(n)
            s = grid[i + 1].expand(n)
            x = self.step(denoise, process, x, t, s, cond=cond, mask=mask, generator=generator)
            if path is not None:
                path.append(x.clone())
        return SampleResult(x=x, times=grid, trajectory=path)

    @abstractmethod
    def step(
        self,
        denoise: Denoiser,
        process: Process,
        x: Tensor,
        t: Tensor,
        s: Tensor,
        *,
        cond: Condition | None,
        mask: Tensor | None,
        generator: torch.Generator | None,
    ) -> Tensor:
        """Move the batch ``x`` from times ``t`` to the later times ``s`` (both ``(B,)``)."""
