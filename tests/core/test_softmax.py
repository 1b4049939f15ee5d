"""Written-out softmax over short axes: the same values as PyTorch's kernels, NaN where they give NaN."""

import pytest
import torch

from gensci.core.softmax import SHORT_AXIS, log_softmax, softmax


@pytest.mark.parametrize("k", [1, 2, 9, SHORT_AXIS, SHORT_AXIS + 1, 100])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_equals_torch_kernels(k, dtype):
    g = torch.Generator().manual_seed(k)
    x = 8.0 * torch.randn(5, 7, k, generator=g, dtype=dtype)
    x[0, :, 0] = -1.0e4  # a blocked class, as Graph DiT writes it
    if k > 1:
        x[1, 0, -1] = float("-inf")  # a class with no mass
    tol = {"atol": 1e-6, "rtol": 1e-6} if dtype == torch.float32 else {"atol": 1e-12, "rtol": 1e-12}
    torch.testing.assert_close(softmax(x), torch.softmax(x, dim=-1), **tol)
    torch.testing.assert_close(log_softmax(x), torch.log_softmax(x, dim=-1), **tol)
    assert torch.allclose(softmax(x).sum(-1), torch.ones(5, 7, dtype=dtype))


def test_nan_rows_as_in_torch():
    x = torch.tensor([[float("-inf")] * 3, [1.0, float("inf"), 0.0], [0.0, -1.0e4, float("-inf")]])
    torch.testing.assert_close(softmax(x), torch.softmax(x, dim=-1), equal_nan=True)
    torch.testing.assert_close(log_softmax(x), torch.log_softmax(x, dim=-1), equal_nan=True)
    assert torch.isnan(softmax(x)[:2]).all() and softmax(x)[2].tolist() == [1.0, 0.0, 0.0]


def test_gradients_match_torch():
    x = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 6, dtype=torch.float64)
    for ours, theirs in [(softmax, torch.softmax), (log_softmax, torch.log_softmax)]:
        (g1,) = torch.autograd.grad((ours(x) * w).sum(), x)
        (g2,) = torch.autograd.grad((theirs(x, dim=-1) * w).sum(), x)
        torch.testing.assert_close(g1, g2)
