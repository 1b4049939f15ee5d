"""Train the tiny protein preset for a few steps, load it, sample and write PDB files."""

import torch

import gensci
from gensci.config import compose
from gensci.training.train import train

torch.set_num_threads(1)


def test_train_load_sample_write(tmp_path, data_dir):
    from biotite.structure.io import pdb

    cfg = compose("proteins/tiny", [
        "trainer.max_steps=20", f"domain.paths=[{data_dir}]", f"run_dir={tmp_path / 'run'}",
        "trainer.enable_progress_bar=false", "trainer.log_every_n_steps=5",
    ])
    path = train(cfg)
    model = gensci.load(path)
    samples = model.sample(2, length=30, steps=5, seed=0, progress=False)
    out = model.write(samples, tmp_path / "samples")
    files = sorted(out.glob("*.pdb"))
    assert len(files) == 2
    for f in files:
        atoms = pdb.PDBFile.read(str(f)).get_structure(model=1)
        assert len(atoms) == 120
    again = model.sample(2, length=30, steps=5, seed=0, progress=False)
    assert all((a == b).all() for a, b in zip(samples, again))
    assert set(model.evaluate(samples)) >= {"ca_ca_mean", "clash_free_fraction", "radius_of_gyration"}
    # the CLI writes the metrics JSON and the Ramachandran plot beside it
    import json

    from gensci.cli import main

    metrics_path = tmp_path / "metrics.json"
    assert main(["evaluate", str(path), "--samples", str(out), "-o", str(metrics_path)]) == 0
    metrics = json.loads(metrics_path.read_text())["metrics"]
    assert {"kl_ramachandran", "baseline_kl_ramachandran", "ss_dssp_helix", "ss_psea_helix"} <= set(metrics)
    assert (tmp_path / "metrics_ramachandran.png").read_bytes()[:4] == b"\x89PNG"
