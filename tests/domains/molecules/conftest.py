"""Shared settings of the molecules tests."""

import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """One BLAS thread: on a busy 2-core machine a second OpenBLAS thread makes the 512×512
    ``sqrtm`` of FCD several times slower."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(1):
        yield
