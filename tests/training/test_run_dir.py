from pathlib import Path

from omegaconf import OmegaConf

from gensci.training.train import RUN_DIR_ENV, run_dir_for


def test_run_dir_comes_from_the_config_except_in_ddp_workers(monkeypatch, tmp_path: Path):
    cfg = OmegaConf.create({"run_dir": str(tmp_path / "mine"), "name": "x"})
    monkeypatch.setenv(RUN_DIR_ENV, str(tmp_path / "stale"))
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert run_dir_for(cfg) == (tmp_path / "mine").resolve(), "a leftover variable must not redirect a new run"
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert run_dir_for(cfg) == tmp_path / "stale", "a DDP worker writes where rank 0 does"
    monkeypatch.delenv("LOCAL_RANK")
    unnamed = OmegaConf.create({"run_dir": None, "name": "exp"})
    assert run_dir_for(unnamed).parent.name == "exp"
