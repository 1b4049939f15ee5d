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


@pytest.mark.parametrize("override, suggestion", [
    ("trainer.max_stepz=10", "did you mean 'trainer.max_steps'?"),
    ("domain.datset=moons", "did you mean 'domain.dataset'?"),
    ("optim.lrr=0.1", "did you mean 'optim.lr'?"),
])
def test_a_typo_names_the_key_meant(override, suggestion):
    with pytest.raises(GensciError) as err:
        compose("points/moons", [override])
    message = str(err.value)
    assert suggestion in message and f"+{override.split('=')[0]}=VALUE" in message and "\n" not in message


def test_an_unknown_key_without_a_near_one_suggests_nothing():
    with pytest.raises(GensciError) as err:
        compose("points/moons", ["zzz.qqq=1"])
    assert "did you mean" not in str(err.value) and "unknown config key 'zzz.qqq'" in str(err.value)


@pytest.mark.parametrize("group", ["${nope}", "${oc.env:GENSCI_SURELY_UNSET}"])
def test_a_key_under_an_unresolvable_group_is_a_user_error(group):
    """Looking for a near key must not trip over the group's own broken interpolation."""
    with pytest.raises(GensciError, match="unknown config key 'optim.lr'"):
        compose("points/moons", [f"optim={group}", "optim.lr=0"])


@pytest.mark.parametrize("settings, message", [
    ({"max_steps": "abc"}, "trainer.max_steps must be a number, got 'abc'"),
    ({"max_stepss": 3}, "unknown trainer setting trainer.max_stepss (did you mean trainer.max_steps?)"),
])
def test_trainer_settings_are_checked(settings, message):
    from gensci.training.train import check_trainer_settings

    with pytest.raises(GensciError) as err:
        check_trainer_settings(settings)
    assert message in str(err.value)
    check_trainer_settings({"max_steps": 10, "accelerator": "cpu", "val_check_interval": 100})  # good settings pass
