"""Bfloat16Network: autocast confined to the network, float32 outputs, fp32 is the identity."""

import pytest
import torch
from torch import nn

from gensci.nn.precision import Bfloat16Network, inference_fp32, with_precision


class _Pair(nn.Module):
    """Two outputs (a tuple and a dict) and an integer passthrough, to check the cast-back."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(8, 8)

    def forward(self, x, index):
        y = self.lin(x)
        return (y, {"logits": y @ y.transpose(-1, -2), "index": index})


def test_fp32_returns_the_network_itself():
    net = nn.Linear(3, 3)
    assert with_precision(net, "fp32") is net


def test_bf16_runs_matmuls_in_bfloat16_and_returns_float32():
    torch.manual_seed(0)
    net = _Pair()
    x, index = torch.randn(4, 8), torch.arange(4)
    wrapped = with_precision(net, "bf16")
    assert isinstance(wrapped, Bfloat16Network)
    y, extra = wrapped(x, index)
    assert y.dtype == torch.float32 and extra["logits"].dtype == torch.float32
    assert extra["index"].dtype == torch.int64
    y_ref, extra_ref = net(x, index)
    # bfloat16 keeps 8 significand bits: relative error per product about 2^-8, not zero
    err = (y - y_ref).abs().max() / y_ref.abs().max()
    assert 0 < err < 2e-2
    # outside the wrapper nothing is lowered: the caller's own matmul stays float32
    product = y @ y.T
    assert product.dtype == torch.float32


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision"):
        with_precision(nn.Linear(2, 2), "fp8")


def test_inference_fp32_holds_only_for_float32_cpu_tensors_outside_autograd_and_autocast():
    x = torch.zeros(2, 3)
    assert not inference_fp32(x)  # autograd on
    with torch.no_grad():
        assert inference_fp32(x)
        assert not inference_fp32(x.double())
        assert not inference_fp32(x.bfloat16())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert not inference_fp32(x)
    with torch.inference_mode():
        assert inference_fp32(torch.zeros(2, 3))
