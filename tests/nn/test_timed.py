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
    assert timed.rows == 8, "the batch sizes of both calls"


def test_timed_network_counts_the_rows_of_a_record_of_fields():
    from gensci.core.state import State

    timed = TimedNetwork(lambda x: x)
    timed(State(pos=torch.zeros(5, 3, 3), types=torch.zeros(5, 3, dtype=torch.long)))
    assert timed.calls == 1 and timed.rows == 5
