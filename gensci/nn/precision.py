"""Running a network in bfloat16 while the sampler's arithmetic stays float32.

``torch.autocast`` around a whole sampling loop would also lower the sampler's own matrix
products (a categorical posterior's contraction with its transition table, an ODE step's
``einsum``) to bfloat16. :class:`Bfloat16Network` confines autocast to the network call and
returns float32 outputs, so only the network trades precision (about 3 significant digits
per call) for speed: on CPUs with AVX-512 BF16 or AMX a transformer's matrix products run
about twice as fast.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["PRECISIONS", "Bfloat16Network", "inference_fp32", "with_precision"]

PRECISIONS = ("fp32", "bf16")


def inference_fp32(x: Tensor) -> bool:
    """A float32 CPU tensor with autograd and autocast off: where a network may take a fast route
    that autograd could not follow (activations overwritten in place, outputs written into
    preallocated buffers)."""
    return (x.dtype == torch.float32 and x.device.type == "cpu" and not torch.is_grad_enabled()
            and not torch.is_autocast_enabled("cpu"))


def _to_float32(value: Any) -> Any:
    """Floating tensors in ``value`` (a tensor, or tuples, lists and dicts of them) as float32."""
    if isinstance(value, Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, (tuple, list)):
        return type(value)(_to_float32(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_float32(v) for k, v in value.items()}
    return value


class Bfloat16Network(nn.Module):
    """``network`` called under bfloat16 autocast, its floating outputs cast back to float32."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        device = next(self.network.parameters()).device.type
        with torch.autocast(device, dtype=torch.bfloat16):
            out = self.network(*args, **kwargs)
        return _to_float32(out)


def with_precision(network: nn.Module, precision: str) -> nn.Module:
    """``network`` itself for ``"fp32"``; wrapped in :class:`Bfloat16Network` for ``"bf16"``."""
    if precision == "fp32":
        return network
    if precision == "bf16":
        return Bfloat16Network(network)
    raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
