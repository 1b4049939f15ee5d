"""The opt-in compiled network: same outputs as eager; bad options refused in one line."""

import pytest
import torch

from gensci.errors import GensciError
from gensci.nn.compiled import Compiled, compiled
from gensci.nn.dit import DiTBlock


def test_bad_options_are_refused():
    with pytest.raises(GensciError, match="compile mode"):
        Compiled(mode="fastest")
    with pytest.raises(GensciError, match="only a torch module"):
        compiled(lambda x: x)


@pytest.mark.slow
def test_compiled_block_equals_eager():
    torch.manual_seed(0)
    block = DiTBlock(16, 4, cond_dim=8).eval()
    with torch.no_grad():
        for p in block.parameters():
            p.copy_(0.3 * torch.randn(p.shape))
        x, c = torch.randn(5, 9, 16), torch.randn(5, 8)
        mask = torch.arange(9)[None] < torch.tensor([9, 8, 5, 9, 2])[:, None]
        want = block(x, c, mask=mask)
        got = Compiled()(block)(x, c, mask=mask)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
