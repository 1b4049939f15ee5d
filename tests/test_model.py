"""GenerativeModel helpers: thinning a sampling path to a few frames."""

import pytest

from gensci.errors import GensciError
from gensci.model import thin_indices


def test_thin_keeps_first_and_last_evenly_spaced():
    assert thin_indices(1001, 5) == [0, 250, 500, 750, 1000]
    assert thin_indices(13, 5) == [0, 3, 6, 9, 12]
    idx = thin_indices(1001, 100)
    assert len(idx) == 100 and idx[0] == 0 and idx[-1] == 1000
    gaps = [b - a for a, b in zip(idx, idx[1:])]
    assert max(gaps) - min(gaps) <= 1


def test_thin_short_paths_are_kept_whole():
    assert thin_indices(4, 100) == [0, 1, 2, 3]


def test_thin_needs_two_frames():
    with pytest.raises(GensciError, match="at least 2 frames"):
        thin_indices(10, 1)


def test_bf16_network_gives_nearly_the_same_samples():
    import numpy as np

    import gensci

    model = gensci.load("points/moons")
    full = model.sample(500, seed=0, progress=False).x
    half = model.sample(500, seed=0, progress=False, precision="bf16").x
    # same noise, same path; bfloat16 keeps about 3 significant digits per network call
    assert np.median(np.abs(full - half)) < 0.02
    assert not np.array_equal(full, half)


def test_unknown_precision_is_a_user_error():
    import gensci

    with pytest.raises(GensciError, match="precision"):
        gensci.load("points/moons").sample(5, precision="fp8", progress=False)
