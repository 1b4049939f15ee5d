import torch
from torch import nn

from gensci.nn.timed import TimedNetwork


def test_timed_network_returns_the_network_output_and_counts_calls():
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    timed = TimedNetwork(net)
    x = torch.randn(4, 3)
    torch.testing.assert_close(timed(x), net(x))
    timed(x)
    assert timed.calls == 2 and timed.seconds > 0
