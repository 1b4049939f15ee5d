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
    full = model.sample(500, seed=0, progress=False, precision="fp32").x
    half = model.sample(500, seed=0, progress=False, precision="bf16").x
    # same noise, same path; bfloat16 keeps about 3 significant digits per network call
    assert np.median(np.abs(full - half)) < 0.02
    assert not np.array_equal(full, half)


def test_unknown_precision_is_a_user_error():
    import gensci

    with pytest.raises(GensciError, match="precision"):
        gensci.load("points/moons").sample(5, precision="fp8", progress=False)


def test_rejected_samples_are_redrawn_and_the_rest_kept():
    """A domain that rejects points left of x = 0 gets them redrawn: the kept ones are the
    first draw's, and with enough redraws few rejects remain (a half-plane keeps about half of
    the moons, so k redraws leave about 2^-k)."""
    import numpy as np

    import gensci

    model = gensci.load("points/moons")
    domain = model.domain
    redrawn_at: list[int] = []
    domain.rejected = lambda samples: [i for i, row in enumerate(samples.x) if row[0] < 0]  # instance override
    original_replace = type(domain).replace

    def replace(samples, rows, fresh, attempt):
        redrawn_at.append(attempt)
        return original_replace(domain, samples, rows, fresh, attempt)

    domain.replace = replace
    first = model.sample(400, seed=3, progress=False, redraws=0).x
    again = model.sample(400, seed=3, progress=False, redraws=6).x
    kept = first[:, 0] >= 0
    assert np.array_equal(again[kept], first[kept])  # accepted samples are never touched
    assert 0.3 < (~kept).mean() < 0.7
    assert (again[:, 0] < 0).mean() < 0.05
    assert redrawn_at == sorted(redrawn_at) and redrawn_at[0] == 1 and len(redrawn_at) <= 6
    with pytest.raises(GensciError, match="redraws"):
        model.sample(10, seed=0, progress=False, redraws=-1)


def test_finish_corrects_the_final_states_once_and_the_trajectory_ends_on_them():
    """A domain's finish() sees the sampler's last states (and no other frame); the samples and
    the trajectory's last frame are the finished states, the earlier frames the sampler's own."""
    import numpy as np
    import torch

    import gensci

    model = gensci.load("points/moons")
    domain = model.domain
    seen: list[torch.Tensor] = []

    def finish(x, plan):
        seen.append(x.clone())
        return x.abs()  # fold every point into the positive quadrant

    plain, plain_path = model.sample(50, seed=4, steps=8, progress=False, return_trajectory=True)
    domain.finish = finish  # instance override
    folded, path = model.sample(50, seed=4, steps=8, progress=False, return_trajectory=True)
    assert len(seen) == 1 and np.allclose(seen[0].numpy(), plain.x)
    assert np.allclose(folded.x, np.abs(plain.x)) and not np.allclose(folded.x, plain.x)
    assert path[-1] is folded
    assert all(np.array_equal(a.x, b.x) for a, b in zip(path[:-1], plain_path[:-1]))
    assert len(path) == len(plain_path) == 9


@pytest.mark.parametrize("kwargs, message", [
    ({"steps": 0}, "steps must be a whole number of at least 1"),
    ({"n": "abc"}, "number of samples must be a whole number"),
    ({"n": 2.5}, "must be positive \\(a whole number\\)"),
    ({"n": 10**30}, "more than one call draws"),
    ({"steps": 2.5}, "steps must be a whole number"),
    ({"batch_size": 0}, "batch_size must be at least 1"),
    ({"guidance": -1.0, "conditions": {"label": "1"}}, "guidance scale must be 0"),
    ({"guidance": float("nan"), "conditions": {"label": "1"}}, "guidance scale must be 0"),
])
def test_sampling_options_are_checked_before_anything_runs(kwargs, message):
    import gensci

    model = gensci.load("points/labelled_moons")
    kwargs = {"n": 4, **kwargs}
    with pytest.raises(GensciError, match=message):
        model.sample(progress=False, **kwargs)


def test_sampler_config_names_whole_configs_and_options_over_the_default():
    from gensci.model import make_sampler, sampler_config

    default = {"_target_": "samplers.ode.EulerSampler", "steps": 100}
    assert sampler_config(None, default) == default
    assert sampler_config("heun")["_target_"] == "samplers.ode.HeunSampler"
    assert sampler_config({"distortion": "polydec"}, default) == {**default, "distortion": "polydec"}
    assert sampler_config({"name": "heun", "final_euler": True}, default)["final_euler"] is True
    sampler = make_sampler({"distortion": "power:3"}, steps=7, progress=False, default=default)
    assert sampler.steps == 7 and sampler.distortion == "power:3"
    with pytest.raises(GensciError, match="unknown sampler 'rk4'"):
        sampler_config("rk4")
    with pytest.raises(GensciError, match="takes no option 'eta'"):
        sampler_config({"eta": 1.0}, default)
    with pytest.raises(GensciError, match="_target_"):
        sampler_config({"distortion": "cos"})


def test_split_setting_reads_sampler_steps_and_options():
    from gensci.model import split_setting

    assert split_setting("euler:50") == ("euler", 50, [])
    assert split_setting(":50") == ("", 50, [])
    assert split_setting("heun") == ("heun", None, [])
    assert split_setting("heun:10:final_euler=true,distortion=power:2") == (
        "heun", 10, ["final_euler=true", "distortion=power:2"])
    with pytest.raises(GensciError, match="--compare euler:ten: STEPS must be an integer"):
        split_setting("euler:ten", what="--compare")
