"""`gensci sample --trajectory` writes each structure's denoising path as a multi-model PDB."""

from pathlib import Path

import numpy as np
import pytest
import torch

from gensci.checkpoint import save_checkpoint
from gensci.cli import main
from gensci.config import compose, to_plain
from gensci.model import build, load


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, data_dir) -> Path:
    """An untrained tiny flow model on the test chains (sampling needs weights, not skill);
    its zero-initialised output layer gets random weights so that the states move."""
    from gensci.config import instantiate

    torch.manual_seed(0)
    cfg = to_plain(compose("proteins/tiny", [f"domain.paths=[{data_dir}]", "model.hidden=16", "model.depth=1"]))
    domain = instantiate(cfg["domain"])
    domain.prepare()
    _, network = build(cfg, domain)
    with torch.no_grad():
        for p in network.final.parameters():
            p.normal_(0.0, 0.3)
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_checkpoint(path, cfg, network.state_dict(), domain.stats(), {})
    return path


def _models(path: Path) -> np.ndarray:
    from biotite.structure.io import pdb

    stack = pdb.PDBFile.read(str(path)).get_structure()  # every model, read by biotite
    return stack.coord


def test_trajectory_files_hold_the_path_ending_at_the_sample(checkpoint, tmp_path, capsys):
    out = tmp_path / "samples"
    code = main(["sample", str(checkpoint), "-n", "3", "--length", "20..30", "--steps", "12", "-o", str(out),
                 "--trajectory", "--trajectory-frames", "5", "-q"])
    assert code == 0, capsys.readouterr().err
    for i in range(3):
        sample = _models(out / f"sample_{i:03d}.pdb")[0]
        frames = _models(out / f"sample_{i:03d}_trajectory.pdb")
        assert frames.shape[0] == 5  # steps 0, 3, 6, 9, 12 of the 13 grid states
        assert frames.shape[1:] == sample.shape
        np.testing.assert_allclose(frames[-1], sample, atol=1e-3)  # the last model is the written sample
        # the source is noise: its backbone is far from the final one (beyond PDB rounding)
        assert np.abs(frames[0] - frames[-1]).max() > 1.0
        # every frame, noise included, is a chain with NeRF's bond lengths (N-CA 1.458 A)
        n_ca = np.linalg.norm(frames[:, 1::4] - frames[:, 0::4], axis=-1)
        np.testing.assert_allclose(n_ca, 1.458, atol=2e-3)


def test_trajectory_keeps_every_step_and_takes_a_file_for_one_structure(checkpoint, tmp_path):
    target = tmp_path / "path.pdb"
    code = main(["sample", str(checkpoint), "-n", "1", "--length", "15", "--steps", "6", "-o",
                 str(tmp_path / "one.pdb"), "--trajectory", str(target), "--trajectory-frames", "0", "-q"])
    assert code == 0
    assert _models(target).shape[0] == 7  # the source and all six steps


def test_trajectory_frames_match_the_python_api(checkpoint):
    model = load(checkpoint)
    samples, path = model.sample(2, length=12, steps=8, seed=3, progress=False, return_trajectory=True,
                                 trajectory_frames=3)
    assert len(path) == 3
    for got, want in zip(path[-1], samples):
        np.testing.assert_array_equal(got, want)


def test_bad_frame_count_is_a_user_error(checkpoint, tmp_path, capsys):
    code = main(["sample", str(checkpoint), "-n", "1", "-o", str(tmp_path / "x"), "--trajectory",
                 "--trajectory-frames", "1"])
    assert code == 2
    assert "--trajectory-frames" in capsys.readouterr().err
