"""A network wrapper that times its calls: how benchmarks separate the network's cost from a
sampler's own arithmetic (``sample(network_wrapper=...)``)."""

from __future__ import annotations

import time
from typing import Any

from torch import nn

from gensci.core import state

__all__ = ["TimedNetwork"]


class TimedNetwork(nn.Module):
    """``network`` with the wall time of every call added to ``seconds`` and counted in ``calls``;
    ``rows`` sums the batch sizes of the calls' first argument (a guided call of ``B`` samples
    passes ``2B`` rows, a conditional one ``B``)."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network, self.seconds, self.calls, self.rows = network, 0.0, 0, 0

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        out = self.network(*args, **kwargs)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        if args:
            self.rows += state.batch_size(args[0])
        return out
