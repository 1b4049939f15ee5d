import torch
from torch import nn

from gensci.training.ema import EMA


def test_ema_follows_the_formula_with_warmup():
    net = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(0.0)
    ema = EMA(net, decay=0.9)
    expected = 0.0
    for k in range(30):
        with torch.no_grad():
            net.weight.fill_(float(k + 1))
        ema.update(net)
        d = min(0.9, (1 + k) / (10 + k))
        expected = d * expected + (1 - d) * (k + 1)
        assert abs(ema.average.weight.item() - expected) < 1e-5
    assert not any(p.requires_grad for p in ema.average.parameters())
    assert "average.weight" in ema.state_dict() and "updates" in ema.state_dict()
