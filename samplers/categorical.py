"""Categorical posterior sampling for discrete diffusion (D3PM, Austin et al. 2021,
arXiv 2107.03006; DiGress, Vignac et al. 2023, arXiv 2209.14734).

The network gives logits of ``p(x1 | x_t)`` (guided models return normalised
log-probabilities, which are logits too). A step from ``t`` to the later ``s`` draws::

    x_s ~ p(x_s | x_t) = sum_{x1} q(x_s | x_t, x1) p1_hat(x1 | x_t)

and the step that reaches the data (``s = 1``) draws ``x1 ~ p1_hat`` (or takes its argmax
when ``argmax_last=True``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from gensci.core.categorical import sample_categorical
from gensci.core.process import Condition, Process
from samplers.base import Denoiser, Sampler

__all__ = ["CategoricalSampler"]


class CategoricalSampler(Sampler):
    """Ancestral sampling through the categorical posterior ``p(x_s | x_t)``.

    Args:
        steps: number of steps (on a T-grid at most T).
        argmax_last: the final step takes ``argmax p1_hat`` instead of a draw.
        temperature: logits are divided by it before the softmax (1 = exact).
    """

    name = "categorical"
    default_steps = 100

    def __init__(
        self, steps: int | None = None, argmax_last: bool = False, temperature: float = 1.0, progress: bool = True
    ):
        super().__init__(steps=steps, progress=progress)
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.argmax_last = argmax_last
        self.temperature = float(temperature)

    def check(self, process: Process) -> None:
        if not hasattr(process, "posterior_probs") or process.space.continuous:
            raise TypeError(
                f"CategoricalSampler drives categorical processes (e.g. CategoricalDiffusion); "
                f"{type(process).__name__} has no categorical posterior"
            )

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
        logits = denoise(x, t, cond=cond, mask=mask)
        p1 = torch.softmax(logits / self.temperature, dim=-1)
        if bool((s >= 1.0).all()):
            x1 = p1.argmax(dim=-1) if self.argmax_last else sample_categorical(p1, generator)
            return process.space.project(x1, mask)
        probs = process.posterior_probs(x, p1, t, s)
        return process.space.project(sample_categorical(probs, generator), mask)
