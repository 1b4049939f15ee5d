import pickle
from pathlib import Path

import pytest
import torch

from gensci.checkpoint import load_checkpoint, save_checkpoint
from gensci.errors import GensciError


def _save(path: Path) -> Path:
    return save_checkpoint(path, {"name": "x", "nested": {"a": [1, 2]}}, {"w": torch.arange(4.0)}, {"mean": [0.5]}, {"w2": 0.1})


def test_round_trip_with_weights_only(tmp_path: Path):
    path = _save(tmp_path / "m.pt")
    raw = torch.load(path, weights_only=True)  # must not need any code to unpickle
    assert raw["format"] == "gensci-checkpoint"
    payload = load_checkpoint(path)
    assert torch.equal(payload["state_dict"]["w"], torch.arange(4.0))
    assert payload["config"]["nested"]["a"] == [1, 2]
    assert payload["stats"] == {"mean": [0.5]}
    assert payload["metrics"] == {"w2": 0.1}


def test_missing_checkpoint(tmp_path: Path):
    with pytest.raises(GensciError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


def test_truncated_checkpoint(tmp_path: Path):
    path = _save(tmp_path / "m.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(GensciError, match="corrupt or truncated"):
        load_checkpoint(path)


class _Evil:
    def __reduce__(self):
        return (print, ("code ran",))


def test_checkpoint_with_code_is_refused(tmp_path: Path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "gensci-checkpoint", "obj": _Evil()}, path)
    with pytest.raises(GensciError, match="holds code"):
        load_checkpoint(path)


def test_random_bytes_are_called_corrupt_not_unsafe(tmp_path: Path):
    path = tmp_path / "noise.pt"
    path.write_bytes(bytes(range(256)) * 12)
    with pytest.raises(GensciError, match="corrupt") as err:
        load_checkpoint(path)
    assert "safely" not in str(err.value)


def test_foreign_file_is_refused(tmp_path: Path):
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(GensciError, match="not a gensci checkpoint"):
        load_checkpoint(path)
    text = tmp_path / "text.pt"
    text.write_bytes(pickle.dumps("hello"))
    with pytest.raises(GensciError):
        load_checkpoint(text)


def test_stages_travel_weights_only_and_version_1_files_still_load(tmp_path: Path):
    stages = {"autoencoder": {"state_dict": {"enc": torch.ones(2)}, "config": {"model": {"_target_": "x.Y"}},
                              "metrics": {"steps": 3}}}
    path = save_checkpoint(tmp_path / "s.pt", {"name": "x"}, {}, {}, stages=stages)
    raw = torch.load(path, weights_only=True)
    assert raw["version"] == 2 and raw["trained"] == ["autoencoder"]
    assert torch.equal(raw["stages"]["autoencoder"]["state_dict"]["enc"], torch.ones(2))
    full = save_checkpoint(tmp_path / "f.pt", {"name": "x"}, {"w": torch.zeros(1)}, {}, stages=stages)
    assert load_checkpoint(full)["trained"] == ["autoencoder", "generative"]
    old = {"format": "gensci-checkpoint", "version": 1, "config": {}, "state_dict": {"w": torch.zeros(1)}, "stats": {}}
    torch.save(old, tmp_path / "v1.pt")
    payload = load_checkpoint(tmp_path / "v1.pt")
    assert payload["stages"] == {} and payload["trained"] == ["generative"]
