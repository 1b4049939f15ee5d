"""Shared test settings: quiet progress bars, small thread count for a 2-core machine."""

import os

import pytest
import torch

os.environ.setdefault("TQDM_DISABLE", "1")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)
