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

from gensci.core.process import Process
from samplers.base import Sampler, categorical_jump

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
    requires = "categorical_posterior"

    def __init__(
        self, steps: int | None = None, argmax_last: bool = False, temperature: float = 1.0, progress: bool = True,
        distortion: str = "process",
    ):
        super().__init__(steps=steps, progress=progress, distortion=distortion)
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.argmax_last = argmax_last
        self.temperature = float(temperature)

    def move(self, process: Process, x: Tensor, logits: Tensor, t: Tensor, s: Tensor, *, mask: Tensor | None,
             generator: torch.Generator | None) -> Tensor:
        return categorical_jump(process, x, logits, t, s, mask, generator, self.temperature, self.argmax_last)

    def jump(self, process: Process, x: Tensor, logits: Tensor, t: Tensor, s: Tensor, *, mask: Tensor | None,
             generator: torch.Generator | None) -> Tensor:
        return self.move(process, x, logits, t, s, mask=mask, generator=generator)
