import pytest

from gensci.config import compose, list_experiments, list_group, to_plain
from gensci.errors import GensciError


def test_experiments_and_groups_are_listed():
    assert "points/moons" in list_experiments()
    assert {"euler", "heun", "ddpm", "ddim", "sde"} <= set(list_group("sampler"))


def test_experiment_and_overrides_compose():
    cfg = compose("points/moons", ["trainer.max_steps=7", "process=otcfm", "seed=3"])
    assert cfg.trainer.max_steps == 7
    assert cfg.process.coupling._target_.endswith("ExactOTCoupling")
    assert cfg.seed == 3 and cfg.name == "points-moons"


@pytest.mark.parametrize("override", ["trainer.max_steps==3", "nosuchkey=1", "process=nosuchprocess"])
def test_bad_overrides_are_user_errors(override):
    with pytest.raises(GensciError):
        compose("points/moons", [override])


def test_unknown_experiment_lists_the_known_ones():
    with pytest.raises(GensciError, match="points/moons"):
        compose("points/nothing")


def test_missing_mandatory_value_names_the_key():
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"domain": {"path": "???"}})
    with pytest.raises(GensciError, match="domain.path must be set"):
        to_plain(cfg)
