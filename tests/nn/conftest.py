"""Network-part tests run small tensors, where a second intra-op thread only adds
synchronisation cost (tens of times slower on a busy 2-core machine): use one thread."""

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
